// The base64 decoder (core/base64.h) behind imp serve's data: URLs and MMBench's TSV images.
#include "imp/core/base64.h"

#include <gtest/gtest.h>

namespace imp {
namespace {

std::string ok(std::string_view in, bool skip_whitespace = false) {
  const Base64 r = decode_base64(in, skip_whitespace);
  EXPECT_EQ(r.error, "") << "'" << in << "'";
  return r.bytes;
}

std::string error(std::string_view in, bool skip_whitespace = false) {
  return decode_base64(in, skip_whitespace).error;
}

TEST(Base64, DecodesWithOrWithoutPadding) {
  EXPECT_EQ(ok("aGVsbG8="), "hello");
  EXPECT_EQ(ok("aGVsbG8"), "hello");
  EXPECT_EQ(ok("aGVsbA=="), "hell");
  EXPECT_EQ(ok(""), "");
  EXPECT_EQ(ok("AP8A/w=="), std::string("\x00\xff\x00\xff", 4));
}

TEST(Base64, AcceptsTheUrlSafeAlphabet) { EXPECT_EQ(ok("-_-_"), ok("+/+/")); }

TEST(Base64, NamesWhatIsWrong) {
  EXPECT_EQ(error("a"), "bad length");
  EXPECT_EQ(error("aGVsb"), "bad length");
  EXPECT_EQ(error("aGVs bG8="), "unexpected character at offset 4");
  EXPECT_EQ(error("aGVsbG8==="), "unexpected character at offset 9");
  EXPECT_EQ(error("aG=VsbG8"), "unexpected character at offset 3");  // padding only at the end
  EXPECT_EQ(error("aGVs%bG8"), "unexpected character at offset 4");
}

TEST(Base64, SkipsLineBreaksOnlyWhenAsked) {
  EXPECT_EQ(ok("aGVs\nbG8=\r\n", true), "hello");
  EXPECT_EQ(ok(" aGVsbA= = ", true), "hell");
  EXPECT_EQ(error("aGVs\nbG8=", false), "unexpected character at offset 4");
}

}  // namespace
}  // namespace imp
