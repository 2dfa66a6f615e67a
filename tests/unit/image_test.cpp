// imp::image: decoding and preprocessing bit-exact with Pillow 9.4 + Imp's ImpImageProcessor
// (goldens from scripts/make_image_fixtures.py, layout in tests/data/images/README.md), Pillow's
// BICUBIC resize, and the bad-input matrix of design/reliability.md §1d (truncated, corrupt, empty,
// missing, mislabelled files, decompression bombs). Torch-free.
#include "imp/image/image.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "imp/core/error.h"
#include "imp/io/safetensors.h"

#ifndef IMP_TEST_DATA
#define IMP_TEST_DATA "tests/data"
#endif

namespace fs = std::filesystem;
using namespace imp::image;

namespace {

std::string data_path(const std::string& rel) { return std::string(IMP_TEST_DATA) + "/" + rel; }

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The golden file, opened once.
const imp::st::File& golden() {
  static const imp::st::File f = imp::st::File::open(data_path("golden/images.safetensors"));
  return f;
}

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

Tensor tensor(const std::string& name) {
  const imp::st::TensorInfo* t = golden().find(name);
  if (!t) throw std::runtime_error("golden tensor missing: " + name);
  const uint8_t* p = golden().data(*t);
  return Tensor{t->shape, std::vector<uint8_t>(p, p + t->nbytes())};
}

// Golden names under a prefix, e.g. "decode/" -> {"decode/jpeg_420", ...}.
std::vector<std::string> names(const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& t : golden().header().tensors)
    if (t.name.compare(0, prefix.size(), prefix) == 0) out.push_back(t.name);
  return out;
}

// tests/data/images/<stem>.<ext> for a golden stem.
std::string image_file(const std::string& stem) {
  static std::map<std::string, std::string> by_stem = [] {
    std::map<std::string, std::string> m;
    for (const auto& e : fs::directory_iterator(data_path("images")))
      if (e.path().extension() != ".md") m[e.path().stem().string()] = e.path().string();
    return m;
  }();
  auto it = by_stem.find(stem);
  if (it == by_stem.end()) throw std::runtime_error("no test image for " + stem);
  return it->second;
}

std::string last_part(const std::string& name) { return name.substr(name.rfind('/') + 1); }

// Index and values of the first difference, for failure messages.
std::string first_diff(const uint8_t* a, const uint8_t* b, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return "first difference at byte " + std::to_string(i) + ": " + std::to_string(a[i]) + " vs " + std::to_string(b[i]);
  return "equal";
}

::testing::AssertionResult same_image(const Image& got, const Tensor& want, const std::string& label) {
  if (want.shape.size() != 3 || want.shape[2] != 3 || got.height != want.shape[0] || got.width != want.shape[1])
    return ::testing::AssertionFailure() << label << ": size " << got.width << "x" << got.height << " vs golden "
                                         << want.shape[1] << "x" << want.shape[0];
  if (got.rgb.size() != want.bytes.size() || std::memcmp(got.rgb.data(), want.bytes.data(), got.rgb.size()) != 0)
    return ::testing::AssertionFailure() << label << ": pixels differ, "
                                         << first_diff(got.rgb.data(), want.bytes.data(), std::min(got.rgb.size(), want.bytes.size()));
  return ::testing::AssertionSuccess();
}

// The generator's hash of a float32 tensor: sum(u32[i] * P^i) mod 2^64.
uint64_t word_hash(const std::vector<float>& v) {
  const uint64_t p = 0x100000001B3ull;
  uint64_t h = 0, pw = 1;
  for (float f : v) {
    uint32_t w;
    std::memcpy(&w, &f, 4);
    h += w * pw;
    pw *= p;
  }
  return h;
}

AspectMode mode_of(const std::string& s) { return parse_aspect_mode(s); }

// Runs f and returns the imp::Error it throws (fails the test if it throws nothing or something else).
template <typename F>
imp::Error error_of(F&& f) {
  try {
    f();
  } catch (const imp::Error& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-imp exception: " << e.what();
    return imp::Error("wrong exception", imp::ErrorKind::internal);
  }
  ADD_FAILURE() << "did not throw";
  return imp::Error("no exception", imp::ErrorKind::internal);
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// CRC-32 (IEEE, as in PNG chunks).
uint32_t crc32_of(const std::string& s, uint32_t crc = 0) {
  crc = ~crc;
  for (unsigned char ch : s) {
    crc ^= ch;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// A PNG chunk with its CRC.
std::string png_chunk(const std::string& type, const std::string& data) {
  std::string out;
  const uint32_t n = static_cast<uint32_t>(data.size());
  for (int i = 3; i >= 0; --i) out += static_cast<char>(n >> (8 * i));
  out += type + data;
  const uint32_t crc = crc32_of(type + data);
  for (int i = 3; i >= 0; --i) out += static_cast<char>(crc >> (8 * i));
  return out;
}

std::string be32(uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// A well-formed PNG header (signature + IHDR, valid CRC) claiming w x h RGB, then a few IDAT bytes.
std::string png_claiming(uint32_t w, uint32_t h) {
  std::string ihdr = be32(w) + be32(h) + std::string("\x08\x02\x00\x00\x00", 5);
  return std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) + png_chunk("IDAT", std::string("\x78\x9c\x63\x00\x00", 5)) +
         png_chunk("IEND", "");
}

Image decode_str(const std::string& s, const std::string& origin, const DecodeLimits& l = {}) {
  return decode_bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size(), origin, l);
}

Image make_image(int w, int h, uint32_t seed) {
  Image im;
  im.width = w;
  im.height = h;
  im.rgb.resize(static_cast<size_t>(w) * h * 3);
  std::mt19937 rng(seed);
  for (auto& v : im.rgb) v = static_cast<uint8_t>(rng());
  return im;
}

std::string tmp_dir() {
  static std::string dir = [] {
    std::string d = (fs::temp_directory_path() / ("imp_image_test_" + std::to_string(::getpid()))).string();
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Goldens

TEST(ImageGolden, GoldenFileHasEveryKind) {
  EXPECT_GE(names("decode/").size(), 40u);
  EXPECT_GE(names("proc/").size(), 100u);
  EXPECT_GE(names("hash/").size(), 100u);
  EXPECT_GE(names("resize/").size(), 15u);
  EXPECT_FALSE(names("trunc/").empty());
  EXPECT_FALSE(names("error/").empty());
}

TEST(ImageGolden, DecodeMatchesPillowConvertRGB) {
  for (const std::string& name : names("decode/")) {
    const std::string stem = last_part(name);
    SCOPED_TRACE(stem);
    Image im;
    try {
      im = decode_file(image_file(stem));
    } catch (const std::exception& e) {
      ADD_FAILURE() << stem << ": " << e.what();
      continue;
    }
    EXPECT_TRUE(same_image(im, tensor(name), stem));
  }
}

TEST(ImageGolden, ProbeMatchesDecodedSize) {
  for (const std::string& name : names("decode/")) {
    const std::string stem = last_part(name);
    const Tensor t = tensor(name);
    const ImageInfo info = probe_file(image_file(stem));
    EXPECT_EQ(info.width, t.shape[1]) << stem;
    EXPECT_EQ(info.height, t.shape[0]) << stem;
    const std::string ext = fs::path(image_file(stem)).extension().string();
    const Format want = ext == ".jpg" ? Format::jpeg : ext == ".png" ? Format::png : ext == ".bmp" ? Format::bmp : Format::webp;
    EXPECT_EQ(info.format, want) << stem;
  }
}

// proc/<mode>/<size>/<stem>: u8 [3, size, size] whose LUT values are the reference's float32 tensor
// (the generator asserts that factoring is lossless). Compared bit for bit.
TEST(ImageGolden, ProcessMatchesImpImageProcessor) {
  const Tensor lut_t = tensor("lut");
  ASSERT_EQ(lut_t.bytes.size(), 3u * 256 * 4);
  std::vector<float> lut(3 * 256);
  std::memcpy(lut.data(), lut_t.bytes.data(), lut_t.bytes.size());
  size_t checked = 0;
  for (const std::string& name : names("proc/")) {
    // proc/<mode>/<size>/<stem>
    const size_t a = name.find('/'), b = name.find('/', a + 1), c = name.find('/', b + 1);
    const std::string mode = name.substr(a + 1, b - a - 1), stem = name.substr(c + 1);
    const int size = std::stoi(name.substr(b + 1, c - b - 1));
    SCOPED_TRACE(name);
    const Tensor want = tensor(name);
    ASSERT_EQ(want.bytes.size(), 3u * size * size);
    std::vector<float> expected(want.bytes.size());
    const size_t plane = static_cast<size_t>(size) * size;
    for (size_t i = 0; i < expected.size(); ++i) expected[i] = lut[(i / plane) * 256 + want.bytes[i]];
    ProcessorConfig cfg;
    cfg.size = size;
    std::vector<float> got;
    try {
      got = process(decode_file(image_file(stem)), mode_of(mode), cfg);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
      continue;
    }
    ASSERT_EQ(got.size(), expected.size());
    if (std::memcmp(got.data(), expected.data(), got.size() * 4) != 0) {
      size_t i = 0;
      while (got[i] == expected[i]) ++i;
      ADD_FAILURE() << "float tensor differs: first at [" << i / plane << "," << (i % plane) / size << "," << i % size
                    << "]: " << got[i] << " vs " << expected[i];
    }
    ++checked;
  }
  EXPECT_GE(checked, 100u);
}

TEST(ImageGolden, ProcessAt384MatchesHash) {
  size_t checked = 0;
  for (const std::string& name : names("hash/")) {
    const size_t a = name.find('/'), b = name.find('/', a + 1), c = name.find('/', b + 1);
    const std::string mode = name.substr(a + 1, b - a - 1), stem = name.substr(c + 1);
    ASSERT_EQ(name.substr(b + 1, c - b - 1), "384");
    SCOPED_TRACE(name);
    const Tensor want = tensor(name);
    ASSERT_EQ(want.bytes.size(), 8u);
    uint64_t h;
    std::memcpy(&h, want.bytes.data(), 8);
    try {
      const std::vector<float> got = process(decode_file(image_file(stem)), mode_of(mode));
      ASSERT_EQ(got.size(), 3u * 384 * 384);
      EXPECT_EQ(word_hash(got), h);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
    ++checked;
  }
  EXPECT_GE(checked, 100u);
}

// error/<mode>/<size>/<stem>: the reference raised (images 1 pixel high after the aspect step).
TEST(ImageGolden, ReferenceFailuresAreErrors) {
  const auto errs = names("error/");
  ASSERT_FALSE(errs.empty());
  for (const std::string& name : errs) {
    const size_t a = name.find('/'), b = name.find('/', a + 1), c = name.find('/', b + 1);
    const std::string mode = name.substr(a + 1, b - a - 1), stem = name.substr(c + 1);
    ProcessorConfig cfg;
    cfg.size = std::stoi(name.substr(b + 1, c - b - 1));
    const Image im = decode_file(image_file(stem));
    const imp::Error e = error_of([&] { process(im, mode_of(mode), cfg); });
    EXPECT_EQ(e.kind(), imp::ErrorKind::input) << name;
    EXPECT_TRUE(contains(e.what(), "1 pixel high")) << e.what();
  }
}

TEST(ImageGolden, ResizeMatchesPillowBicubic) {
  size_t checked = 0;
  for (const std::string src_name : {"resize/src", "resize/big"}) {
    const Tensor s = tensor(src_name);
    Image src;
    src.height = static_cast<int>(s.shape[0]);
    src.width = static_cast<int>(s.shape[1]);
    src.rgb = s.bytes;
    for (const std::string& name : names(src_name + "/")) {
      const std::string wh = last_part(name);
      const int w = std::stoi(wh.substr(0, wh.find('x'))), h = std::stoi(wh.substr(wh.find('x') + 1));
      EXPECT_TRUE(same_image(resize_bicubic(src, w, h), tensor(name), name));
      ++checked;
    }
  }
  EXPECT_GE(checked, 15u);
}

// trunc/<stem>: rows (bytes cut from the end, Pillow loads it). JPEG follows Pillow exactly (rejected iff
// the data ends before the last scanline). PNG goes through libpng, which needs the chunks after the
// image data that Pillow does not read: a PNG Pillow accepts may be rejected (README), never the reverse.
TEST(ImageGolden, TruncationVerdictsMatchPillow) {
  for (const std::string& name : names("trunc/")) {
    const std::string stem = last_part(name);
    const std::vector<uint8_t> full = read_bytes(image_file(stem));
    const Image ref = decode_file(image_file(stem));
    const Tensor t = tensor(name);
    const auto* rows = reinterpret_cast<const int64_t*>(t.bytes.data());
    for (int64_t i = 0; i < t.shape[0]; ++i) {
      const size_t cut = static_cast<size_t>(rows[2 * i]);
      const bool pillow_ok = rows[2 * i + 1] != 0;
      SCOPED_TRACE(stem + " minus " + std::to_string(cut) + " bytes");
      bool ok = false;
      Image got;
      std::string why;
      try {
        got = decode_bytes(full.data(), full.size() - cut, stem, {});
        ok = true;
      } catch (const imp::Error& e) {
        why = e.what();
        EXPECT_EQ(e.kind(), imp::ErrorKind::input);
      }
      if (stem.rfind("jpeg", 0) == 0) {
        EXPECT_EQ(ok, pillow_ok) << why;
        if (!ok) {
          EXPECT_TRUE(contains(why, "truncated")) << why;
        }
      } else if (!pillow_ok) {
        EXPECT_FALSE(ok);
      }
      if (ok) {
        EXPECT_EQ(got.rgb, ref.rgb);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Bad input (reliability §1d)

TEST(ImageBadInput, DecompressionBombPngRejectedBeforeDecoding) {
  const std::string bomb = png_claiming(100000, 100000);
  const auto t0 = std::chrono::steady_clock::now();
  const imp::Error e = error_of([&] { decode_str(bomb, "bomb.png"); });
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
  EXPECT_EQ(e.kind(), imp::ErrorKind::input);
  EXPECT_TRUE(contains(e.what(), "bomb.png")) << e.what();
  EXPECT_TRUE(contains(e.what(), "100000x100000")) << e.what();
  EXPECT_TRUE(contains(e.what(), "decompression bomb")) << e.what();
  EXPECT_THROW(probe_bytes(reinterpret_cast<const uint8_t*>(bomb.data()), bomb.size(), "bomb.png"), imp::Error);
  // Just over Pillow's MAX_IMAGE_PIXELS (89478485 = 9459 x 9459 + 4): rejected; a custom limit is honoured.
  EXPECT_THROW(decode_str(png_claiming(9460, 9460), "big.png"), imp::Error);
  DecodeLimits tiny;
  tiny.max_pixels = 100;
  const std::vector<uint8_t> jpg = read_bytes(image_file("jpeg_420"));
  const imp::Error e2 = error_of([&] { decode_bytes(jpg.data(), jpg.size(), "x.jpg", tiny); });
  EXPECT_TRUE(contains(e2.what(), "96x72")) << e2.what();
}

TEST(ImageBadInput, DecompressionBombJpegRejectedBeforeDecoding) {
  // A real JPEG whose SOF0 size is patched to 65000 x 65000.
  std::vector<uint8_t> jpg = read_bytes(image_file("jpeg_420"));
  size_t p = 2;
  while (p + 9 < jpg.size() && !(jpg[p] == 0xFF && jpg[p + 1] == 0xC0)) ++p;
  ASSERT_LT(p + 9, jpg.size());
  jpg[p + 5] = jpg[p + 7] = 0xFD;
  jpg[p + 6] = jpg[p + 8] = 0xE8;
  const auto t0 = std::chrono::steady_clock::now();
  const imp::Error e = error_of([&] { decode_bytes(jpg.data(), jpg.size(), "bomb.jpg"); });
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
  EXPECT_TRUE(contains(e.what(), "65000x65000")) << e.what();
}

TEST(ImageBadInput, OversizedFileRejectedByByteLimit) {
  const std::string path = data_path("golden/images.safetensors");
  DecodeLimits l;
  l.max_bytes = 1000;
  const imp::Error e = error_of([&] { decode_file(path, l); });
  EXPECT_EQ(e.kind(), imp::ErrorKind::input);
  EXPECT_TRUE(contains(e.what(), "over the limit")) << e.what();
}

TEST(ImageBadInput, TruncatedFilesAreRejected) {
  for (const char* stem : {"jpeg_420", "jpeg_progressive", "jpeg_cmyk", "jpeg_gray", "png_rgb", "png_interlaced",
                           "png_p_trns", "png_gray16", "bmp_24", "bmp_8_palette", "webp_lossy", "webp_lossless_rgba"}) {
    const std::vector<uint8_t> full = read_bytes(image_file(stem));
    const Image ref = decode_file(image_file(stem));
    const size_t step = std::max<size_t>(1, full.size() / 97);
    for (size_t n = 0; n < full.size(); n += step) {
      try {
        const Image im = decode_bytes(full.data(), n, stem);
        // Nothing cut short is accepted today; should a decoder accept a prefix, it must be the whole image.
        EXPECT_EQ(im.width, ref.width);
        EXPECT_EQ(im.height, ref.height);
        ADD_FAILURE() << stem << " accepted when cut to " << n << " of " << full.size() << " bytes";
      } catch (const imp::Error& e) {
        EXPECT_EQ(e.kind(), imp::ErrorKind::input) << e.what();
        EXPECT_TRUE(contains(e.what(), stem)) << e.what();
      }
    }
  }
}

TEST(ImageBadInput, TruncatedJpegMessageSaysTruncated) {
  const std::vector<uint8_t> full = read_bytes(image_file("jpeg_420"));
  for (size_t n : {size_t{3}, size_t{100}, full.size() / 2, full.size() - 1}) {
    const imp::Error e = error_of([&] { decode_bytes(full.data(), n, "cut.jpg"); });
    EXPECT_EQ(e.kind(), imp::ErrorKind::input);
    EXPECT_TRUE(contains(e.what(), "cut.jpg")) << e.what();
    EXPECT_TRUE(contains(e.what(), "truncated")) << e.what();
  }
}

TEST(ImageBadInput, TruncatedPngIsRejected) {
  const std::vector<uint8_t> full = read_bytes(image_file("png_rgb"));
  for (size_t n : {size_t{20}, size_t{40}, full.size() / 2, full.size() - 100}) {
    const imp::Error e = error_of([&] { decode_bytes(full.data(), n, "cut.png"); });
    EXPECT_EQ(e.kind(), imp::ErrorKind::input);
    EXPECT_TRUE(contains(e.what(), "cut.png")) << e.what();
  }
}

TEST(ImageBadInput, CorruptedBytesNeverCrash) {
  std::mt19937 rng(7);
  for (const char* stem : {"jpeg_420", "jpeg_progressive", "png_rgb", "png_p_trns", "bmp_24", "webp_lossy"}) {
    const std::vector<uint8_t> full = read_bytes(image_file(stem));
    for (int trial = 0; trial < 60; ++trial) {
      std::vector<uint8_t> d = full;
      const int flips = 1 + static_cast<int>(rng() % 8);
      for (int i = 0; i < flips; ++i) d[rng() % d.size()] = static_cast<uint8_t>(rng());
      try {
        const Image im = decode_bytes(d.data(), d.size(), stem);
        EXPECT_EQ(im.rgb.size(), static_cast<size_t>(im.width) * im.height * 3);
        (void)process(im, AspectMode::pad, ProcessorConfig{16});
      } catch (const imp::Error& e) {
        EXPECT_TRUE(e.kind() == imp::ErrorKind::input) << e.what();
      }
    }
  }
}

TEST(ImageBadInput, RandomBytesAreNotAnImage) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<uint8_t> d(1 + rng() % 600);
    for (auto& b : d) b = static_cast<uint8_t>(rng());
    // Half the trials start with a real signature so the format parsers see garbage after it.
    static const std::vector<std::string> magics = {"\xFF\xD8\xFF", std::string("\x89PNG\r\n\x1a\n", 8), "BM",
                                                    std::string("RIFF\0\0\0\0WEBPVP8 ", 16)};
    if (trial % 2) {
      const std::string& m = magics[trial / 2 % magics.size()];
      if (d.size() < m.size()) d.resize(m.size());
      std::memcpy(d.data(), m.data(), m.size());
    }
    const imp::Error e = error_of([&] { decode_bytes(d.data(), d.size(), "random.bin"); });
    EXPECT_EQ(e.kind(), imp::ErrorKind::input) << e.what();
    EXPECT_TRUE(contains(e.what(), "random.bin")) << e.what();
  }
  const std::vector<uint8_t> d = {0x00, 0x01, 0xfe, 0xff, 0x10};
  const imp::Error e = error_of([&] { decode_bytes(d.data(), d.size(), "r.bin"); });
  EXPECT_TRUE(contains(e.what(), "not an image")) << e.what();
  EXPECT_TRUE(contains(e.what(), "00 01 fe ff 10")) << e.what();
}

TEST(ImageBadInput, EmptyFile) {
  const std::string path = tmp_dir() + "/empty.jpg";
  { std::ofstream(path, std::ios::binary); }
  const imp::Error e = error_of([&] { decode_file(path); });
  EXPECT_EQ(e.kind(), imp::ErrorKind::input);
  EXPECT_TRUE(contains(e.what(), path)) << e.what();
  EXPECT_TRUE(contains(e.what(), "empty file")) << e.what();
  EXPECT_THROW(decode_bytes(nullptr, 0, "nothing"), imp::Error);
}

TEST(ImageBadInput, MissingFileAndDirectoryAreIoErrors) {
  const std::string path = tmp_dir() + "/does_not_exist.jpg";
  const imp::Error e = error_of([&] { decode_file(path); });
  EXPECT_EQ(e.kind(), imp::ErrorKind::io);
  EXPECT_TRUE(contains(e.what(), path)) << e.what();
  EXPECT_TRUE(contains(e.what(), "no such file")) << e.what();
  EXPECT_EQ(error_of([&] { probe_file(path); }).kind(), imp::ErrorKind::io);
  const imp::Error d = error_of([&] { decode_file(tmp_dir()); });
  EXPECT_EQ(d.kind(), imp::ErrorKind::io);
  EXPECT_TRUE(contains(d.what(), "directory")) << d.what();
}

TEST(ImageBadInput, UnreadableFileIsIoError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files without read permission";
  const std::string path = tmp_dir() + "/noperm.png";
  fs::copy_file(image_file("png_rgb"), path, fs::copy_options::overwrite_existing);
  ::chmod(path.c_str(), 0);
  EXPECT_EQ(error_of([&] { decode_file(path); }).kind(), imp::ErrorKind::io);
}

TEST(ImageBadInput, TextFileNamedJpg) {
  const std::string path = tmp_dir() + "/caption.jpg";
  std::ofstream(path) << "A photo of a cat sitting on a mat.\n";
  const imp::Error e = error_of([&] { decode_file(path); });
  EXPECT_EQ(e.kind(), imp::ErrorKind::input);
  EXPECT_TRUE(contains(e.what(), path)) << e.what();
  EXPECT_TRUE(contains(e.what(), "not an image")) << e.what();
  EXPECT_TRUE(contains(e.what(), "text \"A photo of a cat")) << e.what();
}

TEST(ImageBadInput, PngNamedJpgIsDecodedByContent) {
  const std::string path = tmp_dir() + "/really_a_png.jpg";
  fs::copy_file(image_file("png_rgb"), path, fs::copy_options::overwrite_existing);
  EXPECT_EQ(decode_file(path).rgb, decode_file(image_file("png_rgb")).rgb);
  EXPECT_EQ(probe_file(path).format, Format::png);
}

TEST(ImageBadInput, UnsupportedFormatsNamed) {
  const std::string gif = "GIF89a\x01\x00\x01\x00\x00\x00\x00;";
  const imp::Error e = error_of([&] { decode_str(gif, "anim.gif"); });
  EXPECT_TRUE(contains(e.what(), "GIF")) << e.what();
  EXPECT_TRUE(contains(e.what(), "convert")) << e.what();
  const std::string tiff("II*\0\x08\0\0\0", 8);
  EXPECT_TRUE(contains(error_of([&] { decode_str(tiff, "x.tif"); }).what(), "TIFF"));
}

TEST(ImageBadInput, CorruptPngHeaders) {
  std::string bad = png_claiming(0, 10);
  EXPECT_TRUE(contains(error_of([&] { decode_str(bad, "zero.png"); }).what(), "size 0x10"));
  std::string depth = png_claiming(4, 4);
  depth[24] = 3;  // bit depth 3 is invalid (the CRC no longer matches either; the header check comes first)
  EXPECT_TRUE(contains(error_of([&] { decode_str(depth, "depth.png"); }).what(), "bit depth 3"));
  // A plausible header with no valid image data: libpng's error becomes an imp::Error.
  EXPECT_EQ(error_of([&] { decode_str(png_claiming(4, 4), "nodata.png"); }).kind(), imp::ErrorKind::input);
}

TEST(ImageBadInput, WrongImageSizesAreUsageOrInternalErrors) {
  const Image im = make_image(4, 4, 1);
  EXPECT_EQ(error_of([&] { resize_bicubic(im, 0, 5); }).kind(), imp::ErrorKind::usage);
  Image broken = im;
  broken.rgb.pop_back();
  EXPECT_EQ(error_of([&] { resize_bicubic(broken, 5, 5); }).kind(), imp::ErrorKind::internal);
  ProcessorConfig cfg;
  cfg.size = 3;
  EXPECT_EQ(error_of([&] { process(im, AspectMode::square, cfg); }).kind(), imp::ErrorKind::usage);
  EXPECT_EQ(error_of([&] { parse_aspect_mode("squash"); }).kind(), imp::ErrorKind::usage);
}

// ---------------------------------------------------------------------------------------------------
// Geometry and the processor's options

TEST(ImageOps, Expand2SquareAndCenterCrop) {
  const Image wide = make_image(5, 2, 3);
  const Image sq = expand2square(wide, 127, 1, 2);
  ASSERT_EQ(sq.width, 5);
  ASSERT_EQ(sq.height, 5);
  // (5 - 2) // 2 = 1: row 0 and rows 3..4 are background, rows 1..2 the image.
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 5; ++x)
      for (int c = 0; c < 3; ++c) {
        const uint8_t v = sq.rgb[(y * 5 + x) * 3 + c];
        if (y == 1 || y == 2) {
          EXPECT_EQ(v, wide.rgb[((y - 1) * 5 + x) * 3 + c]);
        } else {
          EXPECT_EQ(v, c == 0 ? 127 : c);
        }
      }
  const Image tall = make_image(2, 7, 4);
  const Image sq2 = expand2square(tall, 9, 9, 9);
  ASSERT_EQ(sq2.width, 7);
  EXPECT_EQ(sq2.rgb[(0 * 7 + 2) * 3], tall.rgb[0]);  // pasted at x = (7 - 2) // 2 = 2
  EXPECT_EQ(sq2.rgb[(0 * 7 + 1) * 3], 9);

  const Image crop = center_crop_square(make_image(8, 3, 5));
  ASSERT_EQ(crop.width, 3);
  const Image src = make_image(8, 3, 5);
  EXPECT_EQ(crop.rgb[0], src.rgb[(0 * 8 + 2) * 3]);  // left = (8 - 3) // 2 = 2
  const Image crop2 = center_crop_square(make_image(3, 8, 6));
  EXPECT_EQ(crop2.rgb[0], make_image(3, 8, 6).rgb[(2 * 3 + 0) * 3]);
  EXPECT_EQ(expand2square(make_image(4, 4, 1), 0, 0, 0).rgb, make_image(4, 4, 1).rgb);
}

TEST(ImageOps, ResizeSameSizeIsCopyAndPassesAreSeparable) {
  const Image im = make_image(13, 9, 8);
  EXPECT_EQ(resize_bicubic(im, 13, 9).rgb, im.rgb);
  // Pillow resamples horizontally, then vertically: doing it in two calls gives the same bits.
  const Image both = resize_bicubic(im, 29, 4);
  EXPECT_EQ(resize_bicubic(resize_bicubic(im, 29, 9), 29, 4).rgb, both.rgb);
  // A constant image stays constant whatever the scale (weights sum to 1 in fixed point, then clip).
  Image flat = make_image(17, 11, 0);
  std::fill(flat.rgb.begin(), flat.rgb.end(), 200);
  for (auto [w, h] : {std::pair{3, 2}, std::pair{40, 70}, std::pair{1, 1}, std::pair{384, 384}}) {
    const Image r = resize_bicubic(flat, w, h);
    for (uint8_t v : r.rgb) ASSERT_EQ(v, 200);
  }
}

// process() never builds the padded/cropped square (the background enters the sums analytically): it
// must equal processing the square built by expand2square / center_crop_square, for any shape.
TEST(ImageOps, VirtualPadAndCropEqualMaterialised) {
  std::mt19937 rng(5);
  const std::vector<std::pair<int, int>> shapes = {{5, 2}, {2, 5}, {40, 7}, {7, 40}, {100, 99}, {99, 100}, {64, 30},
                                                   {30, 64}, {300, 16}, {16, 300}, {17, 4}, {4, 17}, {1, 9}, {9, 2},
                                                   {63, 64}, {65, 64}, {128, 8}, {8, 129}};
  for (auto [w, h] : shapes)
    for (int size : {4, 16, 33, 64}) {
      SCOPED_TRACE(std::to_string(w) + "x" + std::to_string(h) + " -> " + std::to_string(size));
      const Image im = make_image(w, h, rng());
      ProcessorConfig cfg;
      cfg.size = size;
      cfg.reference_channel_quirk = false;
      EXPECT_EQ(process(im, AspectMode::pad, cfg), process(expand2square(im, 127, 127, 127), AspectMode::square, cfg));
      EXPECT_EQ(process(im, AspectMode::crop, cfg), process(center_crop_square(im), AspectMode::square, cfg));
      cfg.reference_channel_quirk = true;
      const Image sq = expand2square(im, 127, 127, 127);
      if (sq.height != 1) {
        EXPECT_EQ(process(im, AspectMode::pad, cfg), process(sq, AspectMode::square, cfg));
      }
    }
}

TEST(ImageOps, ChannelQuirkCanBeTurnedOff) {
  const Image im = decode_file(image_file("png_7x3"));
  ProcessorConfig cfg;
  cfg.size = 16;
  cfg.reference_channel_quirk = false;
  const std::vector<float> plain = process(im, AspectMode::square, cfg);
  // Without the quirk it is the ordinary pipeline: resize the 7x3 image, then the per-value map.
  const Image r = resize_bicubic(im, 16, 16);
  for (size_t i = 0; i < 256; ++i)
    for (int c = 0; c < 3; ++c) {
      const float v = static_cast<float>(r.rgb[i * 3 + c] * (1.0 / 255.0));
      ASSERT_EQ(plain[c * 256 + i], (v - 0.5f) / 0.5f);
    }
  cfg.reference_channel_quirk = true;
  EXPECT_NE(process(im, AspectMode::square, cfg), plain);
  // Height 1: the reference raises; without the quirk it is processed.
  const Image line = decode_file(image_file("png_5x1"));
  EXPECT_THROW(process(line, AspectMode::square), imp::Error);
  cfg.reference_channel_quirk = false;
  EXPECT_EQ(process(line, AspectMode::square, cfg).size(), 3u * 16 * 16);
}

TEST(ImageOps, PadColourComesFromMean) {
  ProcessorConfig cfg;
  cfg.size = 8;
  cfg.mean[0] = 0.48145466;  // CLIP's mean: int(x * 255) = 122, 116, 104 (LLaVA's demo colour)
  cfg.mean[1] = 0.4578275;
  cfg.mean[2] = 0.40821073;
  Image wide = make_image(8, 2, 1);
  const std::vector<float> out = process(wide, AspectMode::pad, cfg);
  // Pixel (0,0) is background (rows 0..2 of the 8x8 square), untouched by the 8 -> 8 "resize".
  const uint8_t bg[3] = {122, 116, 104};
  for (int c = 0; c < 3; ++c) {
    const float v = static_cast<float>(bg[c] * (1.0 / 255.0));
    EXPECT_EQ(out[c * 64], (v - static_cast<float>(cfg.mean[c])) / static_cast<float>(cfg.std[c])) << c;
  }
}

TEST(ImageOps, ParallelDecodingIsDeterministic) {
  const std::vector<std::string> stems = {"jpeg_420", "jpeg_cmyk", "png_rgba", "png_gray16", "webp_lossy", "bmp_24"};
  std::vector<std::vector<float>> ref;
  for (const auto& s : stems) ref.push_back(process(decode_file(image_file(s)), AspectMode::pad, ProcessorConfig{48}));
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 5; ++rep)
        for (size_t i = 0; i < stems.size(); ++i) {
          const size_t k = (i + t) % stems.size();
          if (process(decode_file(image_file(stems[k])), AspectMode::pad, ProcessorConfig{48}) != ref[k]) ++bad;
        }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}
