// Helpers of the eval tests: the tiny generation fixtures and their HF goldens.
#pragma once

#include <fstream>
#include <string>
#include <vector>

#include "imp/core/json.h"
#include "imp/eval/session.h"
#include "test_utils.h"

namespace imp::test {

inline const std::vector<std::string>& decoders() {
  static const std::vector<std::string> d = {"phi2", "qwen2", "phi3"};
  return d;
}

inline std::vector<Json> read_jsonl(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << path;
  std::vector<Json> out;
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) out.push_back(parse_json(line, path));
  return out;
}

inline eval::Session open_gen_model(const std::string& dec) {
  eval::SessionOptions o;
  o.model_path = model_dir("gen_" + dec);
  o.device = "cpu";
  o.dtype = "float32";
  return eval::Session::open(o);
}

}  // namespace imp::test
