// Zip central directory (APPNOTE 6.3.x sections 4.3.12-4.3.16, 4.5.3): see zip_reader.h.
#include "zip_reader.h"

#include <set>

#include "imp/core/error.h"
#include "little_endian.h"

namespace imp::zip {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;
constexpr size_t kEndSize = 22, kCentralSize = 46, kLocalSize = 30, kLocatorSize = 20, kEnd64Size = 56;

[[noreturn]] void bad(const std::string& origin, const std::string& problem) {
  throw Error(origin + ": " + problem +
                  "; the zip archive is corrupt or truncated (re-download or re-save the checkpoint)",
              ErrorKind::input);
}

// The zip64 "extended information" extra field (id 1) replaces the 32-bit fields that are 0xFFFFFFFF, in
// the order uncompressed size, compressed size, local header offset.
void apply_zip64_extra(const uint8_t* p, size_t n, Entry& e, uint64_t& local, const std::string& origin) {
  size_t i = 0;
  while (i + 4 <= n) {
    const uint64_t id = load_le(p + i, 2), len = load_le(p + i + 2, 2);
    if (len > n - i - 4) bad(origin, "an extra field of entry " + quote(e.name) + " runs past its end");
    if (id == 1) {
      size_t k = i + 4;
      const size_t end = i + 4 + len;
      for (uint64_t* field : {&e.raw_size, &e.size, &local}) {
        if (*field != 0xFFFFFFFFu) continue;
        if (k + 8 > end) bad(origin, "the zip64 field of entry " + quote(e.name) + " is too short");
        *field = load_le(p + k, 8);
        k += 8;
      }
    }
    i += 4 + len;
  }
}

}  // namespace

std::vector<Entry> read_entries(const uint8_t* b, size_t size, const std::string& origin) {
  if (size < kEndSize) bad(origin, "too short for a zip archive");
  // The end record is the last 22 bytes plus a comment of at most 65535 bytes.
  size_t end = size - kEndSize;
  const size_t lowest = size - kEndSize > 65535 ? size - kEndSize - 65535 : 0;
  while (load_le(b + end, 4) != kEndSig || kEndSize + load_le(b + end + 20, 2) != size - end) {
    if (end == lowest) bad(origin, "no end-of-central-directory record");
    --end;
  }
  uint64_t disk = load_le(b + end + 4, 2), cd_disk = load_le(b + end + 6, 2);
  uint64_t count = load_le(b + end + 10, 2), cd_size = load_le(b + end + 12, 4), cd_offset = load_le(b + end + 16, 4);
  if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_offset == 0xFFFFFFFFu) {
    if (end < kLocatorSize || load_le(b + end - kLocatorSize, 4) != kLocator64Sig)
      bad(origin, "the zip64 end-of-central-directory locator is missing");
    const uint64_t at = load_le(b + end - kLocatorSize + 8, 8);
    if (at > end - kLocatorSize || end - kLocatorSize - at < kEnd64Size || load_le(b + at, 4) != kEnd64Sig)
      bad(origin, "the zip64 end-of-central-directory record is missing");
    disk = load_le(b + at + 16, 4), cd_disk = load_le(b + at + 20, 4);
    count = load_le(b + at + 32, 8), cd_size = load_le(b + at + 40, 8), cd_offset = load_le(b + at + 48, 8);
  }
  if (disk != 0 || cd_disk != 0) bad(origin, "multi-disk (split) archives are not supported");
  if (cd_offset > size || cd_size > size - cd_offset) bad(origin, "the central directory lies outside the file");
  if (count > cd_size / kCentralSize) bad(origin, "the entry count does not fit the central directory");

  std::vector<Entry> entries;
  entries.reserve(static_cast<size_t>(count));
  std::set<std::string> names;
  const uint8_t* p = b + cd_offset;
  uint64_t left = cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    if (left < kCentralSize || load_le(p, 4) != kCentralSig) bad(origin, "a central directory entry is malformed");
    const uint64_t flags = load_le(p + 8, 2), name_len = load_le(p + 28, 2), extra_len = load_le(p + 30, 2);
    const uint64_t comment_len = load_le(p + 32, 2);
    const uint64_t total = kCentralSize + name_len + extra_len + comment_len;
    if (total > left) bad(origin, "a central directory entry runs past the directory");
    Entry e;
    e.name.assign(reinterpret_cast<const char*>(p + kCentralSize), static_cast<size_t>(name_len));
    e.method = static_cast<uint16_t>(load_le(p + 10, 2));
    e.size = load_le(p + 20, 4);
    e.raw_size = load_le(p + 24, 4);
    uint64_t local = load_le(p + 42, 4);
    apply_zip64_extra(p + kCentralSize + name_len, static_cast<size_t>(extra_len), e, local, origin);
    if (flags & 1) bad(origin, "entry " + quote(e.name) + " is encrypted");
    if (!names.insert(e.name).second) bad(origin, "entry " + quote(e.name) + " appears twice");
    if (local > size || size - local < kLocalSize || load_le(b + local, 4) != kLocalSig)
      bad(origin, "the local header of entry " + quote(e.name) + " is missing");
    const uint64_t data = local + kLocalSize + load_le(b + local + 26, 2) + load_le(b + local + 28, 2);
    if (data > size || e.size > size - data) bad(origin, "the data of entry " + quote(e.name) + " runs past the end of the file");
    e.offset = data;
    entries.push_back(std::move(e));
    p += total;
    left -= total;
  }
  return entries;
}

}  // namespace imp::zip
