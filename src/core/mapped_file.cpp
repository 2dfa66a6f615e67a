// Read-only file mappings; see mapped_file.h.
#include "imp/core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "imp/core/error.h"

namespace imp {
namespace {

[[noreturn]] void io_fail(const std::string& path, const std::string& problem, int err) {
  throw Error(str(path, ": ", problem, " (", std::strerror(err), ")"), ErrorKind::io);
}

}  // namespace

MappedFile MappedFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO must not block
  if (fd < 0) io_fail(path, "cannot open", errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }  // closing after mmap keeps the mapping
  } closer{fd};
  struct stat st {};
  const int err = ::fstat(fd, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : !S_ISREG(st.st_mode) ? EINVAL : 0;
  if (err) io_fail(path, "is not a regular file that can be read", err);

  MappedFile f;
  f.path_ = path;
  f.size_ = static_cast<size_t>(st.st_size);
  if (f.size_ == 0) return f;
  void* p = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) io_fail(path, "cannot memory-map", errno);
  f.data_ = static_cast<const uint8_t*>(p);
  // A file truncated under us would SIGBUS on access; catch the common case of one being rewritten.
  struct stat again {};
  if (::fstat(fd, &again) != 0 || static_cast<size_t>(again.st_size) != f.size_)
    throw Error(path + ": the file changed size while being opened; is another process writing it?", ErrorKind::io);
  return f;
}

MappedFile::MappedFile(MappedFile&& o) noexcept
    : path_(std::move(o.path_)), data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    release();
    path_ = std::move(o.path_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

MappedFile::~MappedFile() { release(); }

void MappedFile::release() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace imp
