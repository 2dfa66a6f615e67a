// /proc readers; see proc_memory.h.
#include "imp/core/proc_memory.h"

#include <fstream>

namespace imp {
namespace {

int64_t kb_line_bytes(const char* file, const std::string& key) {
  std::ifstream in(file);
  const std::string prefix = key + ":";
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) return std::stoll(line.substr(prefix.size())) * 1024;
  return -1;
}

}  // namespace

int64_t proc_status_bytes(const std::string& key) { return kb_line_bytes("/proc/self/status", key); }

int64_t meminfo_bytes(const std::string& key) { return kb_line_bytes("/proc/meminfo", key); }

bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  return static_cast<bool>(f << "5" << std::flush);
}

}  // namespace imp
