// Small file-system helpers: whole-file reads and atomic writes (temp file, fsync, rename).
#pragma once

#include <string>

namespace imp {

std::string read_text_file(const std::string& path);
// Writes `data` to `path` via "<path>.tmp.<pid>" + fsync + rename, so a crash or a full disk never
// leaves a half-written file at `path`. Throws imp::Error(io) naming the path.
void atomic_write(const std::string& path, const std::string& data);
bool path_exists(const std::string& path);
bool is_directory(const std::string& path);
std::string join_path(const std::string& a, const std::string& b);
// `path` without trailing slashes ("out/" -> "out"; "/" stays "/").
std::string strip_trailing_slashes(std::string path);
// The last component of `path`, trailing slashes ignored ("runs/stage1/" -> "stage1").
std::string base_name(const std::string& path);

}  // namespace imp
