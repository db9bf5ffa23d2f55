// Standard base64 (RFC 4648, '+' '/' alphabet, '=' padding): the encoding of the array columns
// of LXMERT's obj36 TSV files, which Python writes with base64.b64encode(ndarray.tobytes()).
//
// Decoding is strict: a character outside the alphabet, a length that is not a multiple of 4, or
// padding anywhere but the end is an error (Python's b64decode would reject the last two as well).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace headprune::data {

/// Encodes `size` bytes at `data`.
std::string base64_encode(const void* data, size_t size);

/// Number of bytes `text` decodes to, from its length and padding alone (no validation);
/// 0 for an empty string.
size_t base64_decoded_size(std::string_view text);

/// Decodes `text` into exactly `size` bytes at `out`. Returns false and sets *error (one phrase,
/// e.g. "invalid character '*' at offset 17") when the text is not valid base64 or does not
/// decode to exactly `size` bytes; `out` is then unspecified.
bool base64_decode_into(std::string_view text, void* out, size_t size, std::string* error);

}  // namespace headprune::data
