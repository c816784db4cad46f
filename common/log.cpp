#include "common/log.hpp"

#include <chrono>
#include <ctime>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace c4i::log {

namespace {
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    auto t = msg.time;
    auto secs = time_point_cast<seconds>(t);
    auto us = duration_cast<microseconds>(t - secs).count();
    std::time_t tt = system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char ts[40];
    std::size_t n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(ts + n, sizeof ts - n, ".%06lldZ", static_cast<long long>(us));
    nlohmann::json j{{"ts", ts},
                     {"level", std::string(spdlog::level::to_string_view(msg.level).data(),
                                           spdlog::level::to_string_view(msg.level).size())},
                     {"logger", std::string(msg.logger_name.data(), msg.logger_name.size())},
                     {"msg", std::string(msg.payload.data(), msg.payload.size())}};
    std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};
}  // namespace

Result<Format> parse_format(const std::string& s) {
  if (s == "text") return Format::text;
  if (s == "json") return Format::json;
  return Error{"invalid_argument", "log format must be text or json, got " + s};
}

Result<spdlog::level::level_enum> parse_level(const std::string& s) {
  auto l = spdlog::level::from_str(s);
  if (l == spdlog::level::off && s != "off")
    return Error{"invalid_argument", "log level must be trace, debug, info, warn, error or off, got " + s};
  return l;
}

void init(const std::string& program, Format format, spdlog::level::level_enum level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(spdlog::color_mode::automatic);
  auto logger = std::make_shared<spdlog::logger>(program, sink);
  if (format == Format::json) logger->set_formatter(make_json_formatter());
  else logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %n: %v");
  logger->set_level(level);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

std::unique_ptr<spdlog::formatter> make_json_formatter() { return std::make_unique<JsonFormatter>(); }

}  // namespace c4i::log
