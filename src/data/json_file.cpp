#include "json_file.hpp"

#include <filesystem>
#include <fstream>
#include <vector>

#include "headprune/common/error.hpp"

namespace headprune::data::detail {

nlohmann::json read_json_file(const std::string& path, const std::string& what,
                              const nlohmann::json::parser_callback_t& callback) {
  if (!std::filesystem::is_regular_file(path)) throw UserError(path + ": file not found (expected " + what + ")");
  // Parsed from the stream: the text is never held whole (VQA val annotations are ~170 MB).
  std::vector<char> buffer(1 << 20);
  std::ifstream in;
  in.rdbuf()->pubsetbuf(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  in.open(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot open for reading");
  try {
    return nlohmann::json::parse(in, callback);
  } catch (const nlohmann::json::parse_error& e) {
    // "[json.exception.parse_error.101] parse error at line 3, column 20: syntax error while
    // parsing ..." -> "at line 3, column 20: syntax error while parsing ...".
    std::string reason = e.what();
    if (auto pos = reason.find("parse error at line "); pos != std::string::npos)
      reason = reason.substr(pos + std::string("parse error ").size());
    else if (auto colon = reason.find("] "); colon != std::string::npos)
      reason = reason.substr(colon + 2);
    throw UserError(path + ": malformed JSON " + reason + " (expected " + what + ")");
  }
}

std::string json_scalar_text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return std::to_string(value.get<int64_t>());
  return value.dump();
}

}  // namespace headprune::data::detail
