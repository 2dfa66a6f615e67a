// Scratch files for fuzz targets whose code under test reads paths: one private directory per
// process (removed at exit), files rewritten for every input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace imp::fuzz {

inline const std::string& scratch_dir() {
  // Never destroyed, so the exit handler that removes it can still read it.
  static const std::string* const dir = [] {
    auto* tmpl = new std::string((std::filesystem::temp_directory_path() / "imp-fuzz-XXXXXX").string());
    if (!::mkdtemp(tmpl->data())) std::abort();
    std::atexit([] { std::filesystem::remove_all(scratch_dir()); });
    return tmpl;
  }();
  return *dir;
}

// Writes `bytes` to scratch_dir()/name.
inline std::string write_scratch(const std::string& name, const std::string& bytes) {
  const std::string path = scratch_dir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0) std::abort();
  return path;
}

}  // namespace imp::fuzz
