// ctest-labels: fast
// Base64 against RFC 4648's vectors and arrays encoded by Python (base64.b64encode(a.tobytes())).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "headprune/data/base64.hpp"

using namespace headprune::data;

namespace {
std::string decode(const std::string& text) {
  std::string out(base64_decoded_size(text), '\0');
  std::string error;
  EXPECT_TRUE(base64_decode_into(text, out.data(), out.size(), &error)) << error;
  return out;
}
std::string decode_error(const std::string& text, size_t size) {
  std::vector<char> out(size + 8);
  std::string error;
  EXPECT_FALSE(base64_decode_into(text, out.data(), size, &error));
  return error;
}
}  // namespace

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain, std::strlen(plain)), encoded);
    EXPECT_EQ(decode(encoded), plain);
  }
}

TEST(Base64, DecodesArraysWrittenByPython) {
  // np.array([1.0, -2.5], np.float32)
  float f[2];
  std::string error;
  ASSERT_TRUE(base64_decode_into("AACAPwAAIMA=", f, sizeof f, &error)) << error;
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_EQ(f[1], -2.5f);
  // np.array([1, -1, 1099511627783], np.int64)
  int64_t q[3];
  ASSERT_TRUE(base64_decode_into("AQAAAAAAAAD//////////wcAAAAAAQAA", q, sizeof q, &error)) << error;
  EXPECT_EQ(q[0], 1);
  EXPECT_EQ(q[1], -1);
  EXPECT_EQ(q[2], 1099511627783LL);
  // A box: np.array([10.5, 20.25, 300, 479.75], np.float32)
  float box[4];
  ASSERT_TRUE(base64_decode_into("AAAoQQAAokEAAJZDAODvQw==", box, sizeof box, &error)) << error;
  EXPECT_EQ(box[2], 300.0f);
  EXPECT_EQ(box[3], 479.75f);
  EXPECT_EQ(base64_encode(box, sizeof box), "AAAoQQAAokEAAJZDAODvQw==");
}

TEST(Base64, RoundTripsEveryByte) {
  std::vector<uint8_t> bytes(256 * 3 + 2);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + 3);
  for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, bytes.size()}) {
    std::string text = base64_encode(bytes.data(), n);
    std::vector<uint8_t> back(n);
    std::string error;
    ASSERT_TRUE(base64_decode_into(text, back.data(), n, &error)) << error;
    EXPECT_TRUE(std::equal(back.begin(), back.end(), bytes.begin()));
  }
}

TEST(Base64, RejectsMalformedText) {
  EXPECT_EQ(decode_error("Zm9vY", 3), "length 5 is not a multiple of 4 (truncated?)");
  EXPECT_EQ(decode_error("Zm9v", 6), "decodes to 3 bytes, expected 6");
  EXPECT_EQ(decode_error("Zm*v", 3), "invalid character '*' at offset 2");
  EXPECT_EQ(decode_error("Zm\tv", 3), "invalid character byte 0x09 at offset 2");
  EXPECT_EQ(decode_error("Zg==Zm8=", 5), "misplaced '=' padding at offset 0");
  EXPECT_EQ(decode_error("Z=8=", 2), "misplaced '=' padding at offset 0");
}
