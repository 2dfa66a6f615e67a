// imp::pkl against torch.save goldens (tests/data/pickle, scripts/make_pickle_fixtures.py): every case in
// zip and legacy format reads as the tensors of its .safetensors twin, refused files name the global or
// the problem, and truncated or hand-made hostile pickles fail with imp::Error. Torch-free.
#include "imp/io/torch_pickle.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "imp/core/error.h"

using namespace imp;

namespace {

std::string fixture(const std::string& rel) { return std::string(IMP_TEST_DATA) + "/pickle/" + rel; }

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

pkl::Checkpoint parse_bytes(const std::string& bytes, const std::string& origin = "t.pt") {
  return pkl::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), origin);
}

// A byte string literal that may contain NUL bytes.
template <size_t N>
std::string B(const char (&s)[N]) {
  return std::string(s, N - 1);
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::input) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

// Every tensor of the checkpoint equals the tensor of the same name in the safetensors golden.
void expect_matches(const std::string& pt, const std::string& golden) {
  SCOPED_TRACE(pt);
  const pkl::File f = pkl::File::open(pt);
  const st::File g = st::File::open(golden);
  ASSERT_EQ(f.checkpoint.tensors.size(), g.header().tensors.size());
  for (const auto& t : f.checkpoint.tensors) {
    const st::TensorInfo* want = g.find(t.name);
    ASSERT_NE(want, nullptr) << t.name;
    EXPECT_EQ(st::dtype_name(t.dtype), std::string(st::dtype_name(want->dtype))) << t.name;
    EXPECT_EQ(t.shape, want->shape) << t.name;
    ASSERT_EQ(t.nbytes(), want->nbytes()) << t.name;
    std::vector<uint8_t> got(t.nbytes());
    pkl::read_tensor(f.checkpoint, t, got.data());
    EXPECT_EQ(0, std::memcmp(got.data(), g.data(*want), got.size())) << t.name << " differs";
  }
}

TEST(TorchPickle, CasesMatchTheirSafetensorsInBothFormats) {
  for (const char* name : {"dtypes", "views", "module_state", "parameters"}) {
    expect_matches(fixture(std::string("cases/") + name + ".pt"), fixture(std::string("cases/") + name + ".safetensors"));
    expect_matches(fixture(std::string("cases/") + name + "_legacy.pt"),
                   fixture(std::string("cases/") + name + ".safetensors"));
  }
  for (const char* name : {"protocol4", "protocol5", "big_endian"})
    expect_matches(fixture(std::string("cases/") + name + ".pt"), fixture(std::string("cases/") + name + ".safetensors"));
}

TEST(TorchPickle, ImpArtefactsMatchTheSafetensorsTheyCameFrom) {
  const std::string data = IMP_TEST_DATA;
  expect_matches(fixture("stage1/mm_projector.bin"), data + "/golden/train_pretrain_phi2_final.safetensors");
  expect_matches(fixture("imp_phi2_lora/adapter_model.bin"), data + "/models/imp_phi2_lora/adapter_model.safetensors");
  expect_matches(fixture("imp_phi2_lora/non_lora_trainables.bin"),
                 data + "/models/imp_phi2_lora/non_lora_trainables.safetensors");
}

TEST(TorchPickle, FormatsAndSharingAreReported) {
  const pkl::File zip = pkl::File::open(fixture("cases/views.pt"));
  EXPECT_TRUE(zip.checkpoint.zip);
  EXPECT_FALSE(zip.checkpoint.big_endian);
  EXPECT_EQ(zip.checkpoint.storages.size(), 2u);  // the float base and the bf16 arange
  EXPECT_EQ(zip.checkpoint.tensors.size(), 9u);
  const pkl::File legacy = pkl::File::open(fixture("cases/views_legacy.pt"));
  EXPECT_FALSE(legacy.checkpoint.zip);
  EXPECT_EQ(legacy.checkpoint.storages.size(), 2u);
  EXPECT_TRUE(pkl::File::open(fixture("cases/big_endian.pt")).checkpoint.big_endian);
  for (const auto& t : zip.checkpoint.tensors) {
    if (t.name == "transposed") {
      EXPECT_EQ(t.stride, (std::vector<int64_t>{1, 6}));
    } else if (t.name == "expanded") {
      EXPECT_EQ(t.stride, (std::vector<int64_t>{0, 0}));
    } else if (t.name == "block") {
      EXPECT_EQ(t.offset, 8);
    }
  }
}

TEST(TorchPickle, RefusesCodeAndNonStateDicts) {
  struct Refusal {
    const char* file;
    std::vector<const char*> needles;
  };
  const std::vector<Refusal> cases = {
      {"refuse_os_system.pt", {"refuse_os_system.pt: ", "refuses the pickle global 'posix.system'", "weights_only",
                               "safetensors.torch.save_file"}},
      {"refuse_os_system_legacy.pt", {"refuses the pickle global 'posix.system'"}},
      {"refuse_eval.pt", {"refuses the pickle global 'builtins.eval'"}},
      {"refuse_module.pt", {"refuses the pickle global 'torch.nn.modules.linear.Linear'"}},
      {"refuse_list.pt", {"holds a list, not a state dict"}},
      {"refuse_deflated.pt", {"is compressed (zip method 8)", "zip -0"}},
      {"refuse_past_storage.pt", {"reaches past the end of storage", "(16 bytes)"}},
      {"refuse_negative_stride.pt", {"a tensor's stride has the negative entry -1"}},
      {"refuse_expanded.pt", {"tensor 'x' and others expand small storages (stride 0)", "t.contiguous()"}},
  };
  for (const auto& c : cases) {
    const std::string msg = error_of([&] { pkl::File::open(fixture(std::string("cases/") + c.file)); });
    for (const char* n : c.needles) EXPECT_NE(msg.find(n), std::string::npos) << "want '" << n << "' in: " << msg;
  }
}

// Every prefix of a valid file is refused cleanly (no crash, no out-of-bounds read under ASan).
TEST(TorchPickle, TruncatedFilesFailCleanly) {
  for (const char* name : {"cases/views.pt", "cases/views_legacy.pt", "cases/protocol4.pt"}) {
    const std::string bytes = read_all(fixture(name));
    ASSERT_FALSE(bytes.empty());
    for (size_t n = 0; n < bytes.size(); ++n) {
      const std::string cut = bytes.substr(0, n);
      EXPECT_THROW(parse_bytes(cut), Error) << name << " cut at " << n;
    }
  }
}

// Hand-made pickles in the legacy layout's data position would need the magic prefix; a bare pickle is
// read as a legacy file, so its own errors show first.
TEST(TorchPickle, HostilePicklesFailWithClearErrors) {
  const std::string p2 = "\x80\x02";
  struct Bad {
    std::string bytes;
    const char* needle;
  };
  const std::vector<Bad> cases = {
      {p2 + B("}q\x00."), "not with torch.save's magic number"},
      {p2 + "h\x05.", "memo entry 5 is read before it is written"},
      {p2 + "j\xff\xff\xff\x7f.", "memo entry 2147483647 is read before it is written"},
      {p2 + "X\xff\xff\xff\xff" "abc", "the pickle is truncated"},
      {p2 + "cos\nsystem\n", "refuses the pickle global 'os.system'"},
      {p2 + "cbuiltins\ngetattr\n", "refuses the pickle global 'builtins.getattr'"},
      {p2 + "ctorch\nFloatStorage\n)R.", "REDUCE calls a torch class or dtype"},
      {p2 + "ccollections\nOrderedDict\nK\x01\x85R.", "OrderedDict is called with arguments"},
      {p2 + "K\x01)R.", "REDUCE calls a int"},
      {p2 + "K\x01K\x02" "a.", "APPEND on a int"},
      {p2 + "]K\x01K\x02s.", "SETITEM on a list"},
      {p2 + "0", "pop from an empty pickle stack"},
      {p2 + "(.", "pop from an empty pickle stack"},
      {p2 + "t", "no MARK"},
      {p2 + "S'x'\n.", "pickle opcode 0x53 is not supported"},
      {"\x80\x09.", "pickle protocol 9 is not supported"},
      {p2 + "\x8a\x41", "integer is too long"},
      {p2 + "K\x01Q.", "persistent id is not a tuple"},
      {p2 + "cposix\nsystem" + std::string(2000, 'x'), "GLOBAL line is unterminated or too long"},
      {std::string("PK\x03\x04", 4) + std::string(30, '\0'), "no end-of-central-directory record"},
      {"garbage", "neither a zip archive nor a pickle"},
  };
  for (const auto& c : cases) {
    const std::string msg = error_of([&] { parse_bytes(c.bytes, "hostile.pt"); });
    EXPECT_NE(msg.find("hostile.pt: "), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.needle), std::string::npos) << "want '" << c.needle << "' in: " << msg;
  }
  // Deep MARK nesting and a long list stay within the bounds instead of exhausting memory.
  EXPECT_NE(error_of([&] { parse_bytes(p2 + std::string(70000, '(')); }).find("too many nested MARKs"),
            std::string::npos);
  std::string dups = p2 + B("]q\x00");
  for (int i = 0; i < (1 << 20); ++i) dups += B("h\x00");
  EXPECT_NE(error_of([&] { parse_bytes(dups); }).find("pickle stack grows past"), std::string::npos);
}

// ---- ZIP64 (torch.save writes it for checkpoints over 4 GiB) ------------------------------------

uint64_t get_le(const std::string& s, size_t at, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(s[at + static_cast<size_t>(i)]);
  return v;
}

void put_le(std::string& s, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) s += static_cast<char>(v >> (8 * i));
}

// Rewrites a small stored zip with every size and offset in ZIP64 extra fields and ZIP64 end records, the
// way writers do for archives over 4 GiB.
std::string to_zip64(const std::string& zip) {
  const size_t end = zip.rfind(std::string("PK\x05\x06", 4));
  const uint64_t count = get_le(zip, end + 10, 2);
  size_t cd = get_le(zip, end + 16, 4);
  std::string body, central;
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t name_len = get_le(zip, cd + 28, 2), size = get_le(zip, cd + 20, 4), local = get_le(zip, cd + 42, 4);
    const std::string name = zip.substr(cd + 46, name_len);
    const size_t data = local + 30 + get_le(zip, local + 26, 2) + get_le(zip, local + 28, 2);
    const uint64_t at = body.size();
    body += std::string("PK\x03\x04", 4);
    put_le(body, 45, 2), put_le(body, 0, 2), put_le(body, 0, 2), put_le(body, 0, 4), put_le(body, 0, 4);
    put_le(body, 0xFFFFFFFFu, 4), put_le(body, 0xFFFFFFFFu, 4), put_le(body, name_len, 2), put_le(body, 20, 2);
    body += name;
    put_le(body, 1, 2), put_le(body, 16, 2), put_le(body, size, 8), put_le(body, size, 8);
    body += zip.substr(data, size);
    central += std::string("PK\x01\x02", 4);
    put_le(central, 45, 2), put_le(central, 45, 2), put_le(central, 0, 2), put_le(central, 0, 2);
    put_le(central, 0, 4), put_le(central, 0, 4), put_le(central, 0xFFFFFFFFu, 4), put_le(central, 0xFFFFFFFFu, 4);
    put_le(central, name_len, 2), put_le(central, 28, 2), put_le(central, 0, 2), put_le(central, 0, 2);
    put_le(central, 0, 2), put_le(central, 0, 4), put_le(central, 0xFFFFFFFFu, 4);
    central += name;
    put_le(central, 1, 2), put_le(central, 24, 2), put_le(central, size, 8), put_le(central, size, 8);
    put_le(central, at, 8);
    cd += 46 + name_len + get_le(zip, cd + 30, 2) + get_le(zip, cd + 32, 2);
  }
  std::string out = body + central;
  const uint64_t end64 = out.size();
  out += std::string("PK\x06\x06", 4);
  put_le(out, 44, 8), put_le(out, 45, 2), put_le(out, 45, 2), put_le(out, 0, 4), put_le(out, 0, 4);
  put_le(out, count, 8), put_le(out, count, 8), put_le(out, central.size(), 8), put_le(out, body.size(), 8);
  out += std::string("PK\x06\x07", 4);
  put_le(out, 0, 4), put_le(out, end64, 8), put_le(out, 1, 4);
  out += std::string("PK\x05\x06", 4);
  put_le(out, 0, 4), put_le(out, 0xFFFF, 2), put_le(out, 0xFFFF, 2), put_le(out, 0xFFFFFFFFu, 4);
  put_le(out, 0xFFFFFFFFu, 4), put_le(out, 0, 2);
  return out;
}

TEST(TorchPickle, Zip64ArchivesRead) {
  const std::string zip64 = to_zip64(read_all(fixture("cases/views.pt")));
  ASSERT_NE(zip64.find(std::string("PK\x06\x06", 4)), std::string::npos);
  const pkl::Checkpoint c = parse_bytes(zip64, "zip64.pt");
  const st::File g = st::File::open(fixture("cases/views.safetensors"));
  ASSERT_EQ(c.tensors.size(), g.header().tensors.size());
  for (const auto& t : c.tensors) {
    std::vector<uint8_t> got(t.nbytes());
    pkl::read_tensor(c, t, got.data());
    EXPECT_EQ(0, std::memcmp(got.data(), g.data(*g.find(t.name)), got.size())) << t.name;
  }
  for (size_t n = zip64.size() - 120; n < zip64.size(); ++n)
    EXPECT_THROW(parse_bytes(zip64.substr(0, n)), Error) << "cut at " << n;
}

TEST(TorchPickle, SniffsTheTwoFormats) {
  const std::string zip = read_all(fixture("cases/views.pt")), legacy = read_all(fixture("cases/views_legacy.pt"));
  auto looks = [](const std::string& s) { return pkl::looks_like_torch_save(reinterpret_cast<const uint8_t*>(s.data()), s.size()); };
  EXPECT_TRUE(looks(zip));
  EXPECT_TRUE(looks(legacy));
  EXPECT_FALSE(looks(read_all(fixture("cases/views.safetensors"))));
  EXPECT_FALSE(looks(""));
}

}  // namespace
