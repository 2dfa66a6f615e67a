// File-system helpers; see fs.h.
#include "imp/core/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "imp/core/error.h"

namespace imp {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  IMP_CHECK_KIND(in.good(), ErrorKind::io, path, ": cannot open for reading: ", std::strerror(errno));
  const std::streamoff size = in.tellg();
  IMP_CHECK_KIND(size >= 0, ErrorKind::io, path, ": not a regular file");
  std::string data(static_cast<size_t>(size), '\0');  // one buffer of the file's size, no stream copy
  in.seekg(0);
  in.read(data.data(), size);
  IMP_CHECK_KIND(in.gcount() == size, ErrorKind::io, path, ": read failed: ", std::strerror(errno));
  return data;
}

void atomic_write(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  IMP_CHECK_KIND(fd >= 0, ErrorKind::io, path, ": cannot create ", tmp, ": ", std::strerror(errno),
                 "\nhint: check that the directory exists and is writable");
  size_t done = 0;
  int err = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    IMP_CHECK_KIND(false, ErrorKind::io, path, ": write failed: ", std::strerror(err),
                   " (the previous file, if any, is untouched)");
  }
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string strip_trailing_slashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

std::string base_name(const std::string& path) {
  const std::string p = strip_trailing_slashes(path);
  const auto slash = p.find_last_of('/');
  return slash == std::string::npos || p.size() == 1 ? p : p.substr(slash + 1);
}

std::string join_path(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (!b.empty() && b[0] == '/') return b;
  return a.back() == '/' ? a + b : a + "/" + b;
}

}  // namespace imp
