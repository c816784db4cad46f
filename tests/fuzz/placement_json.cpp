// Fuzzes the placement engine's JSON decoding (policy and world), and plans
// over whatever decodes, checking what must hold for any input:
//  * decoding never throws or crashes, and an accepted value re-encodes and
//    decodes to an equal value;
//  * planning is deterministic and its applied result is a fixed point.
// Input: a JSON document {"policy": {...}, "world": {...}, "now_ms": N}; the
// raw bytes are also fed to each decoder on its own.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "placement/placement.hpp"

namespace pl = c4i::placement;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)pl::policy_from_json_text(text);
  (void)pl::world_from_json_text(text);

  nlohmann::json doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return 0;
  auto p = doc.find("policy");
  auto w = doc.find("world");
  if (p == doc.end() || w == doc.end()) return 0;
  auto policy = pl::policy_from_json(*p);
  auto world = pl::world_from_json(*w);
  if (policy) {
    auto back = pl::policy_from_json(pl::to_json(*policy));
    check(back.ok() && *back == *policy);
  }
  if (world) {
    auto back = pl::world_from_json(pl::to_json(*world));
    check(back.ok() && *back == *world);
  }
  if (!policy || !world) return 0;
  if (world->nodes.size() > 64 || world->functions.size() > 256) return 0;  // keep each run fast
  pl::Millis now = 1'763'900'000'000;
  if (auto n = doc.find("now_ms"); n != doc.end() && n->is_number_integer()) {
    auto v = n->get<std::int64_t>();
    if (v > -(std::int64_t{1} << 60) && v < (std::int64_t{1} << 60)) now = v;
  }

  pl::Planner planner(*policy);
  auto plan = planner.plan(*world, now);
  check(plan.ok());
  check(planner.plan(now).decisions == plan->decisions);
  pl::World applied = *world;
  check(pl::apply_decisions(applied, plan->decisions, now) == 0);
  pl::Planner again(*policy);
  auto second = again.plan(applied, now);
  check(second.ok());
  for (const auto& d : second->decisions) check(d.kind == pl::DecisionKind::stay);
  return 0;
}
