// Private helpers of src/data: read a JSON file with one-line errors that name the file.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace headprune::data::detail {

/// Parses the whole file. UserError "<path>: file not found" / "<path>: malformed JSON at line L,
/// column C: <reason> (expected <what>)". `callback` (nlohmann's parser callback) lets a caller
/// convert and discard records as they complete, so a large file never becomes a whole DOM.
nlohmann::json read_json_file(const std::string& path, const std::string& what,
                              const nlohmann::json::parser_callback_t& callback = nullptr);

/// "262148000" for an integer, the string itself for a string, the dump otherwise.
std::string json_scalar_text(const nlohmann::json& value);

}  // namespace headprune::data::detail
