// Private helpers of src/data: read a JSON file with one-line errors that name the file.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace headprune::data::detail {

/// Parses the whole file. UserError "<path>: file not found" / "<path>: malformed JSON at line L,
/// column C: <reason> (expected <what>)".
nlohmann::json read_json_file(const std::string& path, const std::string& what);

/// "262148000" for an integer, the string itself for a string, the dump otherwise.
std::string json_scalar_text(const nlohmann::json& value);

}  // namespace headprune::data::detail
