// Paging for list endpoints: results are ordered by key; the continue token is
// the opaque (base64url) form of the last key returned. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace c4i::orchestrator {

std::string encode_continue(std::string_view last_key);
// nullopt when the token is not one we made.
std::optional<std::string> decode_continue(std::string_view token);

std::string base64url_encode(std::string_view in);
std::optional<std::string> base64url_decode(std::string_view in);

}  // namespace c4i::orchestrator
