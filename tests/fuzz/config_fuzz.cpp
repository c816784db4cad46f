// Fuzzes the YAML config loader and the validating accessors: any document
// either loads or gives an error naming what is wrong; nothing else escapes.
#include <cstdint>
#include <string>

#include "common/config.hpp"

namespace {
void walk(const c4i::config::Node& n, int depth) {
  if (depth > 64) return;
  if (n.is_map()) {
    for (auto& [k, v] : n.entries()) walk(v, depth + 1);
    (void)n.str_or("name", "x");
    (void)n.number_in_or("cpu_high", 0, 1, 0.5);
    (void)n.integer_in_or("cpu_m", 0, 1 << 30, 1);
    (void)n.boolean_or("pinned", false);
    n.reject_unknown({"name", "cpu_high", "cpu_m", "pinned", "tiers", "policy"});
  } else if (n.is_sequence()) {
    for (auto& v : n.items()) walk(v, depth + 1);
  } else if (!n.is_null()) {
    (void)n.str();
    (void)n.one_of({"gateway", "edge", "cloud"});
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto doc = c4i::config::load_string(text, "fuzz.yaml");
  if (!doc) {
    if (doc.error().message.empty()) __builtin_trap();
    return 0;
  }
  auto r = c4i::config::parse(*doc, [](const c4i::config::Node& n) {
    walk(n, 0);
    return 0;
  });
  if (!r && r.error().message.find("fuzz.yaml") == std::string::npos) __builtin_trap();
  return 0;
}
