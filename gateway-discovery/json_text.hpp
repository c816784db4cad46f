// A small append-only JSON text writer for the hot replay path: no DOM, no
// allocation beyond the output string. Strings from the air are not trusted
// to be UTF-8: invalid sequences are written as U+FFFD so the output is
// always valid JSON.
#pragma once

#include <charconv>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace c4i::discovery::json_text {

void append_string(std::string& out, std::string_view s);  // with the quotes
void append_hex(std::string& out, std::span<const std::uint8_t> bytes);  // bare lowercase hex

template <typename T>
void append_int(std::string& out, T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

}  // namespace c4i::discovery::json_text
