#include "headprune/data/base64.hpp"

#include <array>
#include <cstdint>

namespace headprune::data {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// 0..63 for alphabet characters, 64 for '=', 255 for anything else.
constexpr std::array<uint8_t, 256> make_decode_table() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = 255;
  for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(kAlphabet[i])] = static_cast<uint8_t>(i);
  t[static_cast<uint8_t>('=')] = 64;
  return t;
}
constexpr std::array<uint8_t, 256> kDecode = make_decode_table();

std::string describe_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
  static const char hex[] = "0123456789abcdef";
  return std::string("byte 0x") + hex[u >> 4] + hex[u & 15];
}

}  // namespace

std::string base64_encode(const void* data, size_t size) {
  const auto* in = static_cast<const uint8_t*>(data);
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    uint32_t v = (uint32_t(in[i]) << 16) | (uint32_t(in[i + 1]) << 8) | in[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (size - i == 1) {
    uint32_t v = uint32_t(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (size - i == 2) {
    uint32_t v = (uint32_t(in[i]) << 16) | (uint32_t(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

size_t base64_decoded_size(std::string_view text) {
  size_t n = text.size() / 4 * 3;
  if (!text.empty() && text.back() == '=') --n;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --n;
  return n;
}

bool base64_decode_into(std::string_view text, void* out, size_t size, std::string* error) {
  auto fail = [&](const std::string& why) {
    if (error) *error = why;
    return false;
  };
  if (text.size() % 4 != 0)
    return fail("length " + std::to_string(text.size()) + " is not a multiple of 4 (truncated?)");
  size_t decoded = base64_decoded_size(text);
  if (decoded != size)
    return fail("decodes to " + std::to_string(decoded) + " bytes, expected " + std::to_string(size));
  auto* o = static_cast<uint8_t*>(out);
  const size_t n = text.size();
  for (size_t i = 0; i < n; i += 4) {
    uint8_t q[4];
    for (int k = 0; k < 4; ++k) {
      q[k] = kDecode[static_cast<uint8_t>(text[i + k])];
      if (q[k] == 255) return fail("invalid character " + describe_char(text[i + k]) + " at offset " + std::to_string(i + k));
    }
    const bool last = i + 4 == n;
    // '=' only as the last one or two characters of the text.
    if (q[0] == 64 || q[1] == 64 || (q[2] == 64 && q[3] != 64) || (!last && (q[2] == 64 || q[3] == 64)))
      return fail("misplaced '=' padding at offset " + std::to_string(i));
    uint32_t v = (uint32_t(q[0]) << 18) | (uint32_t(q[1]) << 12) | (uint32_t(q[2] & 63) << 6) | (q[3] & 63);
    *o++ = static_cast<uint8_t>(v >> 16);
    if (q[2] != 64) *o++ = static_cast<uint8_t>(v >> 8);
    if (q[3] != 64) *o++ = static_cast<uint8_t>(v);
  }
  return true;
}

}  // namespace headprune::data
