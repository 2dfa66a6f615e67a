// imp::st: the SEC-1 corruption matrix (design/reliability.md §1e), round trips through
// write_file / write_sharded / open_dir, and the file-system failure paths. Torch-free.
#include "imp/io/safetensors.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "imp/core/error.h"

namespace fs = std::filesystem;
using namespace imp::st;

namespace {

std::string le64(uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out;
}

// A file with the given header text followed by data bytes.
std::string st_file(const std::string& header, const std::string& data = "") {
  return le64(header.size()) + header + data;
}

// One U8 tensor entry: "name":{"dtype":"U8","shape":[n],"data_offsets":[b,b+n]}.
std::string u8(const std::string& name, int begin, int n) {
  return "\"" + name + "\":{\"dtype\":\"U8\",\"shape\":[" + std::to_string(n) + "],\"data_offsets\":[" +
         std::to_string(begin) + "," + std::to_string(begin + n) + "]}";
}

// An entry with raw JSON pieces for dtype, shape and data_offsets.
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":" + dtype + ",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_all(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// Runs f, expects an imp::Error of the given kind whose message contains every needle.
template <typename F>
void expect_error(F&& f, imp::ErrorKind kind, std::initializer_list<const char*> needles) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const imp::Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    for (const char* n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << "want '" << n << "' in: " << e.what();
  }
}

// ---- the SEC-1 corruption matrix for parse() -------------------------------------------------

struct Case {
  std::string name;
  std::string bytes;
  const char* expect;  // nullptr: must be accepted; else a substring of the error message
};

std::vector<Case> header_cases() {
  const std::string deep(100000, '[');
  std::string deep_objects;
  for (int i = 0; i < 100000; ++i) deep_objects += "{\"k\":";
  const std::string ok = u8("a", 0, 4);
  return {
      {"empty_file", "", "the file is empty"},
      {"seven_bytes", std::string(7, '\0'), "too small for the 8-byte header length"},
      {"n_max_u64", std::string(8, '\xff') + "{}",
       "header length 18446744073709551615 exceeds the 100000000-byte limit"},
      {"n_100mb_plus_1", le64(100000001) + "{}", "exceeds the 100000000-byte limit"},
      {"n_past_file", le64(100) + "{}", "runs past the end of the file"},
      {"n_zero", le64(0), "must start with '{'"},
      {"non_utf8", st_file("{\"a\xff\":{}}"), "not valid UTF-8"},
      {"overlong_utf8", st_file("{\"\xc0\xaf\":{}}"), "not valid UTF-8"},
      {"surrogate_utf8", st_file("{\"\xed\xa0\x80\":{}}"), "not valid UTF-8"},
      {"escaped_lone_surrogate", st_file("{\"\\ud800\":{}}"), "not valid JSON"},
      {"array_not_object", st_file("[]"), "must start with '{'"},
      {"string_not_object", st_file("\"x\""), "must start with '{'"},
      {"leading_space", st_file(" {}"), "must start with '{'"},
      {"space_padding_ok", st_file("{" + ok + "}    ", "abcd"), nullptr},
      {"whitespace_padding_ok", st_file("{}\n\t\r  "), nullptr},
      {"empty_object_ok", st_file("{}"), nullptr},
      {"garbage_after_object", st_file("{} x"), "not valid JSON"},
      {"unterminated", st_file("{\"a\":{\"dtype\":\"U8\""), "not valid JSON"},
      {"trailing_bytes_polyglot", st_file("{" + ok + "}", "abcdX"), "1 trailing bytes"},
      {"data_without_tensors", st_file("{}", "PK"), "2 trailing bytes"},
      {"missing_bytes", st_file("{" + ok + "}", "abc"), "truncated"},
      {"overlapping_offsets", st_file("{" + u8("a", 0, 4) + "," + u8("b", 2, 4) + "}", "abcdef"),
       "overlaps tensor 'a'"},
      {"gap_in_offsets", st_file("{" + u8("a", 0, 2) + "," + u8("b", 4, 2) + "}", "abcdef"), "gap of 2 bytes"},
      {"offsets_not_from_zero", st_file("{" + u8("a", 2, 2) + "}", "abcd"), "gap of 2 bytes"},
      {"reversed_offsets", st_file("{" + entry("a", "\"U8\"", "[4]", "[8,4]") + "}", "abcdefgh"), "[8,4] are reversed"},
      {"negative_offset", st_file("{" + entry("a", "\"U8\"", "[4]", "[-1,3]") + "}", "abcd"), "negative number -1"},
      {"float_offset", st_file("{" + entry("a", "\"U8\"", "[4]", "[0.0,4]") + "}", "abcd"), "non-integer number 0.0"},
      {"string_offset", st_file("{" + entry("a", "\"U8\"", "[4]", "[\"0\",4]") + "}", "abcd"), "got a string '0'"},
      {"offset_beyond_u64", st_file("{" + entry("a", "\"U8\"", "[4]", "[0,99999999999999999999]") + "}", "abcd"),
       "non-integer"},
      {"offset_huge", st_file("{" + entry("a", "\"U8\"", "[0]", "[18446744073709551615,18446744073709551615]") + "}"),
       "gap of"},
      {"three_offsets", st_file("{" + entry("a", "\"U8\"", "[4]", "[0,4,4]") + "}", "abcd"), "got a third entry"},
      {"one_offset", st_file("{" + entry("a", "\"U8\"", "[4]", "[4]") + "}", "abcd"), "has 1 entries"},
      {"offsets_not_array", st_file("{" + entry("a", "\"U8\"", "[4]", "4") + "}", "abcd"),
       "data_offsets of tensor 'a' must be an array"},
      {"shape_overflow", st_file("{" + entry("a", "\"F32\"", "[4294967296,4294967296]", "[0,0]") + "}"), "overflows"},
      {"shape_bytes_overflow", st_file("{" + entry("a", "\"F64\"", "[9223372036854775807]", "[0,0]") + "}"),
       "overflows"},
      {"dim_beyond_int64", st_file("{" + entry("a", "\"U8\"", "[9223372036854775808]", "[0,0]") + "}"), "too large"},
      {"negative_dim", st_file("{" + entry("a", "\"U8\"", "[-1]", "[0,0]") + "}"), "negative number -1"},
      {"float_dim", st_file("{" + entry("a", "\"U8\"", "[1.5]", "[0,0]") + "}"), "non-integer"},
      {"unknown_dtype", st_file("{" + entry("a", "\"F7\"", "[1]", "[0,1]") + "}", "x"),
       "unknown dtype 'F7' (accepted: BOOL"},
      {"dtype_not_string", st_file("{" + entry("a", "1", "[1]", "[0,1]") + "}", "x"),
       "dtype of tensor 'a' must be a string"},
      {"size_mismatch", st_file("{" + entry("a", "\"F32\"", "[2]", "[0,4]") + "}", "abcd"), "needs 8 bytes"},
      {"scalar_ok", st_file("{" + entry("s", "\"F64\"", "[]", "[0,8]") + "}", "12345678"), nullptr},
      {"empty_tensors_ok",
       st_file("{" + entry("e", "\"F32\"", "[0,3]", "[0,0]") + "," + entry("f", "\"U8\"", "[0]", "[0,0]") + "}"),
       nullptr},
      {"duplicate_tensor_name", st_file("{" + u8("a", 0, 2) + "," + u8("a", 2, 2) + "}", "abcd"),
       "duplicate tensor name 'a'"},
      {"duplicate_metadata", st_file("{\"__metadata__\":{},\"__metadata__\":{}}"), "duplicate key '__metadata__'"},
      {"duplicate_metadata_key", st_file("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}"),
       "duplicate key 'k' in __metadata__"},
      {"duplicate_field", st_file("{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}"),
       "duplicate field 'dtype'"},
      {"metadata_number_value", st_file("{\"__metadata__\":{\"k\":1}}"),
       "value for key 'k' must be a string, got the number 1"},
      {"metadata_object_value", st_file("{\"__metadata__\":{\"k\":{}}}"), "must be a string, got an object"},
      {"metadata_not_object", st_file("{\"__metadata__\":\"x\"}"), "entry '__metadata__' must be a JSON object"},
      {"metadata_ok", st_file("{\"__metadata__\":{\"format\":\"pt\"}}"), nullptr},
      {"tensor_not_object", st_file("{\"a\":null}"), "entry 'a' must be a JSON object, got null"},
      {"unknown_field", st_file("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0],\"x\":1}}"),
       "unknown field 'x'"},
      {"missing_field", st_file("{\"a\":{\"dtype\":\"U8\",\"shape\":[0]}}"), "lacks the field data_offsets"},
      {"empty_name", st_file("{" + u8("", 0, 1) + "}", "x"), "empty name"},
      {"name_1025_bytes", st_file("{" + u8(std::string(1025, 'n'), 0, 1) + "}", "x"), "the limit is 1024"},
      {"name_1024_bytes_ok", st_file("{" + u8(std::string(1024, 'n'), 0, 1) + "}", "x"), nullptr},
      // 10^5 levels stop at the shared JSON limit (core/json.h) before the schema is looked at ...
      {"deep_arrays_1e5", st_file("{\"a\":" + deep), "JSON nested deeper than 64 levels (line 1, column 69)"},
      {"deep_objects_1e5", st_file("{\"a\":" + deep_objects), "the limit for safetensors header"},
      {"deep_in_shape_1e5", st_file("{\"a\":{\"dtype\":\"U8\",\"shape\":" + deep), "nested deeper than 64"},
      {"deep_in_metadata_1e5", st_file("{\"__metadata__\":{\"k\":" + deep), "nested deeper than 64"},
      // ... and nesting within the limit at the first bracket the schema does not allow.
      {"nested_arrays_60", st_file("{\"a\":" + deep.substr(0, 60)), "entry 'a' must be a JSON object, got an array"},
      {"nested_in_shape_60", st_file("{\"a\":{\"dtype\":\"U8\",\"shape\":" + deep.substr(0, 60)),
       "must contain non-negative integers, got an array"},
  };
}

class HeaderMatrix : public testing::TestWithParam<Case> {};

TEST_P(HeaderMatrix, AcceptsOrRejectsCleanly) {
  const Case& c = GetParam();
  const auto* bytes = reinterpret_cast<const uint8_t*>(c.bytes.data());
  if (!c.expect) {
    EXPECT_NO_THROW(parse(bytes, c.bytes.size(), "m.safetensors"));
    return;
  }
  expect_error([&] { parse(bytes, c.bytes.size(), "m.safetensors"); }, imp::ErrorKind::input,
               {"m.safetensors: ", c.expect, "re-download or re-export"});
}

INSTANTIATE_TEST_SUITE_P(Sec1, HeaderMatrix, testing::ValuesIn(header_cases()),
                         [](const testing::TestParamInfo<Case>& i) { return i.param.name; });

// ---- the shard-index rows of the matrix ------------------------------------------------------

std::vector<Case> index_cases() {
  auto wm = [](const std::string& file) { return "{\"weight_map\":{\"a\":\"" + file + "\"}}"; };
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "[";
  return {
      {"ok", wm("model-00001-of-00002.safetensors"), nullptr},
      {"ok_with_total_size", "{\"metadata\":{\"total_size\":12,\"format\":\"pt\"},\"weight_map\":{}}", nullptr},
      {"ok_integral_float_total_size", "{\"metadata\":{\"total_size\":1e3},\"weight_map\":{}}", nullptr},
      {"dot_dot", wm("../x.safetensors"), "'../x.safetensors', which is not a plain file name"},
      {"absolute", wm("/abs.safetensors"), "not a plain file name"},
      {"subdirectory", wm("sub/x.safetensors"), "not a plain file name"},
      {"backslash", wm("sub\\\\x.safetensors"), "not a plain file name"},
      {"empty_file_name", wm(""), "not a plain file name"},
      {"not_safetensors", wm("pytorch_model.bin"), "not a plain file name"},
      {"file_not_string", "{\"weight_map\":{\"a\":3}}", "to 3, which is not a plain file name"},
      {"duplicate_tensor", "{\"weight_map\":{\"a\":\"x.safetensors\",\"a\":\"y.safetensors\"}}", "duplicate key 'a'"},
      {"duplicate_top_level", "{\"weight_map\":{},\"weight_map\":{}}", "duplicate key 'weight_map'"},
      {"negative_total_size", "{\"metadata\":{\"total_size\":-1},\"weight_map\":{}}",
       "total_size must be a non-negative integer"},
      {"string_total_size", "{\"metadata\":{\"total_size\":\"1\"},\"weight_map\":{}}",
       "total_size must be a non-negative integer"},
      {"fractional_total_size", "{\"metadata\":{\"total_size\":1.5},\"weight_map\":{}}",
       "total_size must be a non-negative integer"},
      {"no_weight_map", "{\"metadata\":{}}", "lacks the \"weight_map\" object"},
      {"array_root", "[]", "must be a JSON object"},
      {"deep_1e5", deep, "nested deeper than 16 levels"},
      {"invalid_json", "{\"weight_map\":", "not valid JSON"},
  };
}

class IndexMatrix : public testing::TestWithParam<Case> {};

TEST_P(IndexMatrix, AcceptsOrRejectsCleanly) {
  const Case& c = GetParam();
  if (!c.expect) {
    EXPECT_NO_THROW(parse_index(c.bytes, "i.json"));
    return;
  }
  expect_error([&] { parse_index(c.bytes, "i.json"); }, imp::ErrorKind::input, {"i.json: ", c.expect});
}

INSTANTIATE_TEST_SUITE_P(Sec1, IndexMatrix, testing::ValuesIn(index_cases()),
                         [](const testing::TestParamInfo<Case>& i) { return i.param.name; });

TEST(SafetensorsIndex, ReadsFields) {
  const ShardIndex idx = parse_index(
      "{\"metadata\":{\"total_size\":7,\"n\":2,\"s\":\"x\"},\"weight_map\":{\"a\":\"m.safetensors\"}}", "i.json");
  EXPECT_TRUE(idx.has_total_size);
  EXPECT_EQ(idx.total_size, 7u);
  EXPECT_EQ(idx.weight_map.at("a"), "m.safetensors");
  EXPECT_EQ(idx.metadata_extra.at("n"), "2");
  EXPECT_EQ(idx.metadata_extra.at("s"), "x");
  EXPECT_FALSE(parse_index("{\"weight_map\":{}}", "i.json").has_total_size);
}

// ---- parse() details -------------------------------------------------------------------------

TEST(SafetensorsParse, SortsByOffsetAndReadsEverything) {
  const std::string f = st_file("{\"__metadata__\":{\"format\":\"pt\"}," + entry("b", "\"F32\"", "[2,1]", "[2,10]") +
                                    "," + entry("a", "\"BF16\"", "[]", "[0,2]") + "}  ",
                                "0123456789");
  const Header h = parse(reinterpret_cast<const uint8_t*>(f.data()), f.size(), "x");
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].name, "a");
  EXPECT_EQ(h.tensors[0].dtype, DType::BF16);
  EXPECT_TRUE(h.tensors[0].shape.empty());
  EXPECT_EQ(h.tensors[0].numel(), 1);
  EXPECT_EQ(h.tensors[1].name, "b");
  EXPECT_EQ(h.tensors[1].shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(h.tensors[1].begin, 2u);
  EXPECT_EQ(h.tensors[1].nbytes(), 8u);
  EXPECT_EQ(h.metadata.at("format"), "pt");
  EXPECT_EQ(h.data_start, f.size() - 10);
}

// 200k one-byte tensors listed in reverse order: one sort, no quadratic pass (10^6 behaves the same).
TEST(SafetensorsParse, ManyTinyTensors) {
  const int n = 200000;
  std::string header = "{";
  for (int i = n - 1; i >= 0; --i) header += u8("t" + std::to_string(i), i, 1) + (i ? "," : "}");
  const std::string f = st_file(header, std::string(n, 'x'));
  const Header h = parse(reinterpret_cast<const uint8_t*>(f.data()), f.size(), "many");
  ASSERT_EQ(h.tensors.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ASSERT_EQ(h.tensors[i].begin, static_cast<uint64_t>(i));
}

TEST(SafetensorsDType, NamesSizesAndErrors) {
  const std::vector<std::pair<const char*, size_t>> all = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},   {"I16", 2}, {"U16", 2}, {"I32", 4},     {"U32", 4},    {"I64", 8},
      {"U64", 8},  {"F16", 2}, {"BF16", 2}, {"F32", 4}, {"F64", 8}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  for (const auto& [name, size] : all) {
    EXPECT_STREQ(dtype_name(parse_dtype(name)), name);
    EXPECT_EQ(dtype_size(parse_dtype(name)), size) << name;
  }
  expect_error([] { parse_dtype("f32"); }, imp::ErrorKind::input, {"unknown dtype 'f32'", "BF16", "F8_E5M2"});
}

// ---- files on disk ---------------------------------------------------------------------------

class SafetensorsFiles : public testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::path(testing::TempDir()) / ("imp_st_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }
  std::string p(const std::string& name) const { return (dir_ / name).string(); }
  std::vector<std::string> listing(const fs::path& d) const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(d)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

// Tensors with random bytes; the views point into store.
std::vector<TensorView> make_views(std::vector<std::string>& store,
                                   const std::vector<std::pair<std::string, uint64_t>>& spec) {
  std::mt19937 rng(42);
  store.clear();
  store.reserve(spec.size());
  std::vector<TensorView> views;
  for (const auto& [name, n] : spec) {
    store.emplace_back(n, '\0');
    for (auto& c : store.back()) c = static_cast<char>(rng());
    views.push_back({name, DType::U8, {static_cast<int64_t>(n)}, store.back().data(), n});
  }
  return views;
}

void expect_same(const File& f, const TensorView& v) {
  const TensorInfo* t = f.find(v.name);
  ASSERT_NE(t, nullptr) << v.name;
  EXPECT_EQ(t->dtype, v.dtype) << v.name;
  EXPECT_EQ(t->shape, v.shape) << v.name;
  ASSERT_EQ(t->nbytes(), v.nbytes) << v.name;
  if (v.nbytes) {
    EXPECT_EQ(std::memcmp(f.data(*t), v.data, v.nbytes), 0) << v.name;
  }
}

TEST_F(SafetensorsFiles, RoundTripEveryDType) {
  const DType all[] = {DType::BOOL, DType::U8,  DType::I8,  DType::I16,     DType::U16,
                       DType::I32,  DType::U32, DType::I64, DType::U64,     DType::F16,
                       DType::BF16, DType::F32, DType::F64, DType::F8_E4M3, DType::F8_E5M2};
  std::vector<std::string> store;
  std::vector<TensorView> views;
  std::mt19937 rng(1);
  store.reserve(3 * std::size(all));
  for (DType d : all) {
    const std::string n = dtype_name(d);
    for (auto [suffix, shape] :
         {std::pair<std::string, std::vector<int64_t>>{"_mat", {3, 2}}, {"_scalar", {}}, {"_empty", {0, 4}}}) {
      int64_t numel = 1;
      for (int64_t s : shape) numel *= s;
      store.emplace_back(static_cast<size_t>(numel) * dtype_size(d), '\0');
      for (auto& c : store.back()) c = static_cast<char>(rng());
      views.push_back({n + suffix, d, shape, store.back().data(), store.back().size()});
    }
  }
  write_file(p("all.safetensors"), views, {{"note", "hello"}});
  const File f = File::open(p("all.safetensors"));
  EXPECT_EQ(f.header().tensors.size(), views.size());
  for (const auto& v : views) expect_same(f, v);
  EXPECT_EQ(f.header().metadata, (std::map<std::string, std::string>{{"format", "pt"}, {"note", "hello"}}));
  EXPECT_EQ(f.header().data_start % 8, 0u);
  EXPECT_EQ(f.find("absent"), nullptr);
  EXPECT_EQ(listing(dir_), std::vector<std::string>{"all.safetensors"});  // no tmp file left behind
}

TEST_F(SafetensorsFiles, WritesTheRustCrateLayout) {
  const float data[2] = {1.0f, 2.0f};
  const char zero = 0;
  write_file(p("a.safetensors"), {{"w", DType::F32, {2}, data, 8}, {"b", DType::U8, {1}, &zero, 1}});
  const std::string bytes = read_all(p("a.safetensors"));
  const std::string json =
      "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
      "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]}}";
  const size_t padded = (json.size() + 7) / 8 * 8;
  ASSERT_EQ(bytes.size(), 8 + padded + 9);
  EXPECT_EQ(bytes.substr(0, 8), le64(padded));
  EXPECT_EQ(bytes.substr(8, padded), json + std::string(padded - json.size(), ' '));
  EXPECT_EQ(bytes.substr(8 + padded, 1), std::string(1, '\0'));  // name order: b before w
  EXPECT_EQ(std::memcmp(bytes.data() + 8 + padded + 1, data, 8), 0);
}

TEST_F(SafetensorsFiles, WriteRejectsBadViews) {
  const char buf[4] = {};
  expect_error(
      [&] {
        write_file(p("x.safetensors"), {{"a", DType::F32, {2}, buf, 4}});
      },
      imp::ErrorKind::internal, {"'a'"});
  expect_error(
      [&] {
        write_file(p("x.safetensors"), {{"a", DType::U8, {1}, buf, 1}, {"a", DType::U8, {1}, buf, 1}});
      },
      imp::ErrorKind::internal, {"given twice"});
  expect_error(
      [&] {
        write_file(p("x.safetensors"), {{"", DType::U8, {1}, buf, 1}});
      },
      imp::ErrorKind::internal, {"name"});
  EXPECT_TRUE(listing(dir_).empty());
}

TEST_F(SafetensorsFiles, OpenErrors) {
  expect_error([&] { File::open(p("missing.safetensors")); }, imp::ErrorKind::io, {"missing.safetensors: cannot open"});
  expect_error([&] { File::open(dir_.string()); }, imp::ErrorKind::io, {"not a regular file"});
  ASSERT_EQ(::mkfifo(p("fifo.safetensors").c_str(), 0644), 0);  // must fail, not block
  expect_error([&] { File::open(p("fifo.safetensors")); }, imp::ErrorKind::io, {"not a regular file"});
  write_all(p("empty.safetensors"), "");
  expect_error([&] { File::open(p("empty.safetensors")); }, imp::ErrorKind::input,
               {"empty.safetensors: the file is empty"});
  write_all(p("bad.safetensors"), st_file("{" + u8("a", 0, 4) + "}", "abcdEXTRA"));
  expect_error([&] { File::open(p("bad.safetensors")); }, imp::ErrorKind::input,
               {"bad.safetensors: there are 5 trailing bytes"});
}

TEST_F(SafetensorsFiles, WriteIntoMissingDirectoryIsIoError) {
  const char b = 1;
  const fs::path missing = dir_ / "nope";
  expect_error(
      [&] {
        write_file((missing / "x.safetensors").string(), {{"a", DType::U8, {1}, &b, 1}});
      },
      imp::ErrorKind::io, {"x.safetensors: cannot create the temporary file"});
  EXPECT_FALSE(fs::exists(missing));
  EXPECT_TRUE(listing(dir_).empty());
}

TEST_F(SafetensorsFiles, WriteIntoReadOnlyDirectoryIsIoError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can write into read-only directories";
  const char b = 1;
  fs::create_directories(dir_ / "ro");
  fs::permissions(dir_ / "ro", fs::perms::owner_read | fs::perms::owner_exec);
  expect_error(
      [&] {
        write_file((dir_ / "ro" / "x.safetensors").string(), {{"a", DType::U8, {1}, &b, 1}});
      },
      imp::ErrorKind::io, {"Permission denied"});
  EXPECT_TRUE(listing(dir_ / "ro").empty());
}

// A full disk, simulated with RLIMIT_FSIZE (write fails with EFBIG once SIGXFSZ is ignored).
TEST_F(SafetensorsFiles, FullDiskLeavesTheOldFileUntouched) {
  const char b = 7;
  write_file(p("m.safetensors"), {{"old", DType::U8, {1}, &b, 1}});
  const std::string before = read_all(p("m.safetensors"));
  const std::string big(1 << 20, 'x');
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit small = saved;
  small.rlim_cur = 64 * 1024;
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  try {
    write_file(p("m.safetensors"), {{"new", DType::U8, {1 << 20}, big.data(), big.size()}});
    ADD_FAILURE() << "no error";
  } catch (const imp::Error& e) {
    EXPECT_EQ(e.kind(), imp::ErrorKind::io);
    EXPECT_NE(std::string(e.what()).find("write failed"), std::string::npos) << e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_EQ(read_all(p("m.safetensors")), before);
  EXPECT_EQ(listing(dir_), std::vector<std::string>{"m.safetensors"});
}

// ---- sharding --------------------------------------------------------------------------------

TEST_F(SafetensorsFiles, ShardsGreedilyAndOpensTheDirectory) {
  std::vector<std::string> store;
  const auto views = make_views(store, {{"t4", 100}, {"t0", 100}, {"t1", 100}, {"t2", 100}, {"t3", 100}});
  const auto files = write_sharded(dir_.string(), views, 250);
  EXPECT_EQ(files, (std::vector<std::string>{"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                             "model-00003-of-00003.safetensors", "model.safetensors.index.json"}));
  const std::string index = read_all(p("model.safetensors.index.json"));
  const std::string head = "{\n  \"metadata\": {\n    \"total_size\": 500\n  },\n  \"weight_map\": {\n";
  EXPECT_EQ(index.substr(0, head.size()), head);
  EXPECT_NE(index.find("\"t2\": \"model-00002-of-00003.safetensors\",\n"), std::string::npos) << index;
  EXPECT_EQ(index.back(), '\n');
  const ShardedFiles sf = open_dir(dir_.string());
  ASSERT_EQ(sf.files.size(), 3u);
  ASSERT_EQ(sf.by_name.size(), 5u);
  EXPECT_EQ(sf.by_name.at("t4").first, 2u);
  for (const auto& v : views) expect_same(sf.files[sf.by_name.at(v.name).first], v);
}

TEST_F(SafetensorsFiles, OversizedTensorGetsItsOwnShard) {
  std::vector<std::string> store;
  const auto views = make_views(store, {{"a", 100}, {"b", 1000}, {"c", 100}});
  write_sharded(dir_.string(), views, 250, "shard");
  const ShardIndex idx = parse_index(read_all(p("shard.safetensors.index.json")), "i");
  EXPECT_EQ(idx.weight_map.at("b"), "shard-00001-of-00002.safetensors");  // as huggingface_hub orders them
  EXPECT_EQ(idx.weight_map.at("a"), "shard-00002-of-00002.safetensors");
  EXPECT_EQ(idx.weight_map.at("c"), "shard-00002-of-00002.safetensors");
  EXPECT_EQ(idx.total_size, 1200u);
  EXPECT_EQ(open_dir(dir_.string(), "shard").by_name.size(), 3u);
}

TEST_F(SafetensorsFiles, ResavingRemovesStaleFiles) {
  std::vector<std::string> store;
  const auto views = make_views(store, {{"a", 100}, {"b", 100}, {"c", 100}});
  write_all(p("notes.txt"), "keep me");
  write_sharded(dir_.string(), views, 150);  // 3 shards
  EXPECT_EQ(write_sharded(dir_.string(), views, 1000), std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ(listing(dir_), (std::vector<std::string>{"model.safetensors", "notes.txt"}));
  write_sharded(dir_.string(), views, 250);  // 2 shards replace the single file
  EXPECT_EQ(listing(dir_),
            (std::vector<std::string>{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                      "model.safetensors.index.json", "notes.txt"}));
  write_sharded(dir_.string(), views, 150);  // 3 shards replace the 2
  EXPECT_EQ(listing(dir_).size(), 5u);
  EXPECT_FALSE(fs::exists(p("model-00001-of-00002.safetensors")));
  for (const auto& v : views) {
    const ShardedFiles sf = open_dir(dir_.string());
    expect_same(sf.files[sf.by_name.at(v.name).first], v);
  }
}

TEST_F(SafetensorsFiles, ShardingRejectsDuplicateNames) {
  const char b[2] = {};
  expect_error(
      [&] {
        write_sharded(dir_.string(), {{"a", DType::U8, {2}, b, 2}, {"a", DType::U8, {2}, b, 2}}, 3);
      },
      imp::ErrorKind::internal, {"'a' given twice"});
  EXPECT_TRUE(listing(dir_).empty());
}

class BrokenCheckpoint : public SafetensorsFiles {
 protected:
  void SetUp() override {
    SafetensorsFiles::SetUp();
    views_ = make_views(store_, {{"t0", 10}, {"t1", 10}, {"t2", 10}});
    write_sharded(dir_.string(), views_, 25);  // shards {t0, t1} and {t2}
  }
  void edit_index(const std::string& from, const std::string& to) {
    std::string text = read_all(p("model.safetensors.index.json"));
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    write_all(p("model.safetensors.index.json"), text.replace(at, from.size(), to));
  }
  std::vector<std::string> store_;
  std::vector<TensorView> views_;
};

TEST_F(BrokenCheckpoint, MissingShard) {
  fs::remove(p("model-00002-of-00002.safetensors"));
  expect_error([&] { open_dir(dir_.string()); }, imp::ErrorKind::io,
               {"model.safetensors.index.json: the shard 'model-00002-of-00002.safetensors' it lists is missing"});
}

TEST_F(BrokenCheckpoint, TensorMissingFromItsShard) {
  edit_index("\"t0\":", "\"ghost\": \"model-00001-of-00002.safetensors\",\n    \"t0\":");
  expect_error([&] { open_dir(dir_.string()); }, imp::ErrorKind::input,
               {"lists tensor 'ghost' in shard 'model-00001-of-00002.safetensors', which does not contain it"});
}

TEST_F(BrokenCheckpoint, TensorNotInTheMap) {
  edit_index("\"t1\": \"model-00001-of-00002.safetensors\",", "");
  expect_error([&] { open_dir(dir_.string()); }, imp::ErrorKind::input,
               {"tensor 't1' of shard", "is not listed in the weight_map"});
}

TEST_F(BrokenCheckpoint, TensorInTheWrongShard) {
  edit_index("\"t0\": \"model-00001", "\"t0\": \"model-00002");
  expect_error([&] { open_dir(dir_.string()); }, imp::ErrorKind::input, {"weight_map puts tensor 't0' in"});
}

TEST_F(BrokenCheckpoint, TensorInTwoShards) {
  write_file(p("model-00002-of-00002.safetensors"), {views_[2], views_[0]});
  expect_error([&] { open_dir(dir_.string()); }, imp::ErrorKind::input, {"tensor 't0' is in two shards"});
}

TEST_F(BrokenCheckpoint, WrongTotalSize) {
  edit_index("\"total_size\": 30", "\"total_size\": 31");
  expect_error([&] { open_dir(dir_.string()); }, imp::ErrorKind::input,
               {"total_size is 31 but the shards hold 30 bytes"});
}

TEST_F(BrokenCheckpoint, EscapingShardName) {
  edit_index("\"t0\": \"model-00001", "\"t0\": \"../model-00001");
  expect_error([&] { open_dir(dir_.string()); }, imp::ErrorKind::input, {"not a plain file name"});
}

TEST_F(SafetensorsFiles, OpenDirWithoutCheckpoint) {
  expect_error([&] { open_dir(dir_.string()); }, imp::ErrorKind::io,
               {"no checkpoint found (looked for model.safetensors.index.json, model.safetensors, "
                "pytorch_model.bin.index.json and pytorch_model.bin)"});
  write_all(p("model.pt"), "PK\x03\x04");
  expect_error([&] { open_dir(dir_.string()); }, imp::ErrorKind::input,
               {"found the pickle file 'model.pt'", "Rename it to pytorch_model.bin",
                "save_pretrained(dir, safe_serialization=True)"});
  expect_error([&] { open_dir(p("nope")); }, imp::ErrorKind::io, {"nope: is not a directory"});
}

TEST_F(SafetensorsFiles, OpenDirSingleFile) {
  std::vector<std::string> store;
  const auto views = make_views(store, {{"x", 3}, {"y", 0}});
  write_file(p("model.safetensors"), views);
  const ShardedFiles sf = open_dir(dir_.string());
  ASSERT_EQ(sf.files.size(), 1u);
  for (const auto& v : views) expect_same(sf.files[0], v);
  EXPECT_EQ(sf.by_name.at("y").second, sf.files[0].find("y"));
}

TEST_F(SafetensorsFiles, FileIsMovable) {
  const char b = 5;
  write_file(p("m.safetensors"), {{"a", DType::U8, {1}, &b, 1}});
  File f = File::open(p("m.safetensors"));
  const TensorInfo* t = f.find("a");
  File g = std::move(f);
  EXPECT_EQ(g.find("a"), t);  // the header does not move with the File
  EXPECT_EQ(*g.data(*t), 5);
  f = std::move(g);
  EXPECT_EQ(*f.data(*f.find("a")), 5);
}

}  // namespace
