// Fuzzes c4ictl's SSE parser (GET /v1/watch): never crash, never keep a line
// longer than its limit, and the events do not depend on how the bytes were
// cut into pieces (the first byte chooses the cuts).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "ctl/sse.hpp"

namespace {
struct Seen {
  std::string id, event, data;
  bool operator==(const Seen&) const = default;
};

std::vector<Seen> parse(std::string_view in, std::size_t piece, std::size_t max_line) {
  c4i::ctl::SseParser p(max_line);
  std::vector<Seen> out;
  auto on = [&](const c4i::ctl::SseEvent& e) {
    if (e.data.size() > in.size() || e.event.size() > max_line || e.id.size() > max_line) std::abort();
    out.push_back({e.id, e.event, e.data});
  };
  for (std::size_t at = 0; at < in.size(); at += piece) p.feed(in.substr(at, piece), on);
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::size_t piece = data[0] % 17 + 1;
  const std::size_t max_line = 64;
  auto whole = parse(in, in.size() + 1, max_line);
  if (parse(in, piece, max_line) != whole) std::abort();
  return 0;
}
