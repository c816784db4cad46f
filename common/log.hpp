// Logging: spdlog, as text for a terminal or JSON lines (--log-format json).
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "common/result.hpp"

namespace c4i::log {

enum class Format { text, json };

// Parses "text" or "json".
Result<Format> parse_format(const std::string& s);
// Parses trace|debug|info|warn|error|off.
Result<spdlog::level::level_enum> parse_level(const std::string& s);

// Installs the default logger (to stderr) named after the program.
void init(const std::string& program, Format format, spdlog::level::level_enum level = spdlog::level::info);

// A formatter writing one JSON object per line: {"ts","level","logger","msg"}.
std::unique_ptr<spdlog::formatter> make_json_formatter();

}  // namespace c4i::log
