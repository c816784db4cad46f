// Fuzzes the btsnoop reader through the whole replay pipeline (reader ->
// HCI event decoder -> AD decoder -> JSON lines): every line must be JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include <nlohmann/json.hpp>

#include "gateway-discovery/replay.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::uint64_t lines = 0;
  auto sum = c4i::discovery::replay_jsonl(std::span<const std::uint8_t>(data, size), [&](std::string_view chunk) {
    std::size_t pos = 0;
    while (pos < chunk.size()) {
      auto end = chunk.find('\n', pos);
      if (end == std::string_view::npos) std::abort();  // chunks end on a line
      if (!nlohmann::json::accept(chunk.substr(pos, end - pos))) std::abort();
      pos = end + 1;
      ++lines;
    }
  });
  if (sum && sum->reports != lines) std::abort();
  return 0;
}
