#include "imp/train/tensorboard.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>

#include "imp/core/error.h"

namespace imp::train {
namespace {

uint32_t masked(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

template <typename T>
void put_fixed(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
  out.append(buf, sizeof(T));
}

void put_bytes(std::string& out, uint32_t field, const std::string& bytes) {
  put_varint(out, (field << 3) | 2);
  put_varint(out, bytes.size());
  out += bytes;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
std::string event(int64_t step, const std::string* file_version, const std::string* summary) {
  std::string e;
  put_varint(e, (1 << 3) | 1);
  put_fixed<double>(e, now_seconds());
  if (step != 0) {
    put_varint(e, 2 << 3);
    put_varint(e, static_cast<uint64_t>(step));
  }
  if (file_version) put_bytes(e, 3, *file_version);
  if (summary) put_bytes(e, 5, *summary);
  return e;
}

// Minimal protobuf reading for read_tensorboard_scalars.
struct Reader {
  const std::string& s;
  size_t i = 0;
  std::string origin;
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      IMP_CHECK(i < s.size(), origin, ": truncated varint");
      const auto b = static_cast<uint8_t>(s[i++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    IMP_FAIL(origin, ": bad varint");
  }
  std::string bytes() {
    const uint64_t n = varint();
    IMP_CHECK(n <= s.size() - i, origin, ": field runs past the record");
    std::string out = s.substr(i, n);
    i += n;
    return out;
  }
  void skip(uint32_t wire) {
    if (wire == 0) varint();
    else if (wire == 1) i += 8;
    else if (wire == 2) bytes();
    else if (wire == 5) i += 4;
    else IMP_FAIL(origin, ": unsupported wire type ", wire);
    IMP_CHECK(i <= s.size(), origin, ": field runs past the record");
  }
};

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  static const auto table = [] {
    std::vector<uint32_t> t(256);
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82f63b78u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  uint32_t crc = 0xffffffffu;
  auto p = static_cast<const uint8_t*>(data);
  for (size_t k = 0; k < size; ++k) crc = table[(crc ^ p[k]) & 0xff] ^ (crc >> 8);
  return crc ^ 0xffffffffu;
}

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  IMP_CHECK_KIND(!ec, ErrorKind::io, dir, ": cannot create the TensorBoard folder: ", ec.message());
  char host[256] = "localhost";
  ::gethostname(host, sizeof(host) - 1);
  path_ = dir + "/events.out.tfevents." + std::to_string(static_cast<int64_t>(now_seconds())) + "." + host + "." +
          std::to_string(::getpid()) + ".0";
  out_.open(path_, std::ios::binary | std::ios::app);
  IMP_CHECK_KIND(out_.good(), ErrorKind::io, path_, ": cannot open for writing");
  const std::string version = "brain.Event:2";
  write_record(event(0, &version, nullptr));
  flush();
}

void TensorBoardWriter::write_record(const std::string& payload) {
  std::string header;
  put_fixed<uint64_t>(header, payload.size());
  std::string rec = header;
  put_fixed<uint32_t>(rec, masked(crc32c(header.data(), header.size())));
  rec += payload;
  put_fixed<uint32_t>(rec, masked(crc32c(payload.data(), payload.size())));
  out_.write(rec.data(), static_cast<std::streamsize>(rec.size()));
}

void TensorBoardWriter::scalar(const std::string& tag, double value, int64_t step) {
  // Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; }
  std::string v;
  put_bytes(v, 1, tag);
  put_varint(v, (2 << 3) | 5);
  put_fixed<float>(v, static_cast<float>(value));
  std::string summary;
  put_bytes(summary, 1, v);
  write_record(event(step, nullptr, &summary));
}

void TensorBoardWriter::flush() { out_.flush(); }

std::vector<ScalarEvent> read_tensorboard_scalars(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  IMP_CHECK_KIND(in.good(), ErrorKind::io, path, ": cannot open");
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<ScalarEvent> out;
  size_t pos = 0;
  while (pos < data.size()) {
    IMP_CHECK(data.size() - pos >= 12, path, ": truncated record header at byte ", pos);
    uint64_t len;
    uint32_t len_crc;
    std::memcpy(&len, data.data() + pos, 8);
    std::memcpy(&len_crc, data.data() + pos + 8, 4);
    IMP_CHECK(masked(crc32c(data.data() + pos, 8)) == len_crc, path, ": bad length CRC at byte ", pos);
    IMP_CHECK(len <= data.size() - pos - 16, path, ": record at byte ", pos, " runs past the end");
    const std::string payload = data.substr(pos + 12, len);
    uint32_t crc;
    std::memcpy(&crc, data.data() + pos + 12 + len, 4);
    IMP_CHECK(masked(crc32c(payload.data(), payload.size())) == crc, path, ": bad data CRC at byte ", pos);
    pos += 16 + len;
    Reader e{payload, 0, path};
    int64_t step = 0;
    std::vector<std::pair<std::string, float>> values;
    while (e.i < payload.size()) {
      const uint64_t key = e.varint();
      const auto field = static_cast<uint32_t>(key >> 3), wire = static_cast<uint32_t>(key & 7);
      if (field == 2 && wire == 0) {
        step = static_cast<int64_t>(e.varint());
      } else if (field == 5 && wire == 2) {
        const std::string summary = e.bytes();
        Reader s{summary, 0, path};
        while (s.i < summary.size()) {
          const uint64_t sk = s.varint();
          if (sk != ((1 << 3) | 2)) {
            s.skip(static_cast<uint32_t>(sk & 7));
            continue;
          }
          const std::string value = s.bytes();
          Reader v{value, 0, path};
          std::pair<std::string, float> tv;
          while (v.i < value.size()) {
            const uint64_t vk = v.varint();
            if (vk == ((1 << 3) | 2)) {
              tv.first = v.bytes();
            } else if (vk == ((2 << 3) | 5)) {
              IMP_CHECK(value.size() - v.i >= 4, path, ": truncated float");
              std::memcpy(&tv.second, value.data() + v.i, 4);
              v.i += 4;
            } else {
              v.skip(static_cast<uint32_t>(vk & 7));
            }
          }
          values.push_back(tv);
        }
      } else {
        e.skip(wire);
      }
    }
    for (const auto& [tag, value] : values) out.push_back({tag, step, value});
  }
  return out;
}

}  // namespace imp::train
