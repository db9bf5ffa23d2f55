#include "json_file.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "headprune/common/error.hpp"

namespace headprune::data::detail {

nlohmann::json read_json_file(const std::string& path, const std::string& what,
                              const nlohmann::json::parser_callback_t& callback) {
  if (!std::filesystem::is_regular_file(path)) throw UserError(path + ": file not found (expected " + what + ")");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot open for reading");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    return nlohmann::json::parse(text, callback);
  } catch (const nlohmann::json::parse_error& e) {
    // Line and column of the byte where parsing stopped (nlohmann counts from 1).
    size_t byte = e.byte == 0 ? 0 : std::min<size_t>(e.byte - 1, text.size());
    size_t line = 1, column = 1;
    for (size_t i = 0; i < byte; ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    // Keep nlohmann's reason ("syntax error while parsing object - unexpected '}'; ..."), not its prefix.
    std::string reason = e.what();
    auto pos = reason.find(": ");
    if (reason.rfind("[json.exception", 0) == 0 && pos != std::string::npos) reason = reason.substr(pos + 2);
    throw UserError(path + ": malformed JSON at line " + std::to_string(line) + ", column " + std::to_string(column) +
                    ": " + reason + " (expected " + what + ")");
  }
}

std::string json_scalar_text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return std::to_string(value.get<int64_t>());
  return value.dump();
}

}  // namespace headprune::data::detail
