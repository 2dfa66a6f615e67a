// The IMP_FAULT test hook; see fault.h.
#include "imp/core/fault.h"

#include <cstdlib>

namespace imp {

std::string fault_argument(std::string_view kind) {
  const char* env = std::getenv("IMP_FAULT");
  if (!env) return {};
  const std::string_view spec(env);
  if (spec.size() <= kind.size() || spec.substr(0, kind.size()) != kind || spec[kind.size()] != ':') return {};
  return std::string(spec.substr(kind.size() + 1));
}

}  // namespace imp
