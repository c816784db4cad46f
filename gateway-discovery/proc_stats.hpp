// Parsing of /proc/stat and /proc/meminfo (proc(5)) for the heartbeat, and
// the Kubernetes name of the machine's architecture. Pure: text in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace c4i::discovery {

struct CpuTimes {
  std::uint64_t busy = 0;   // jiffies not idle
  std::uint64_t total = 0;  // all jiffies
};
// The aggregate "cpu" line of /proc/stat.
std::optional<CpuTimes> parse_proc_stat(std::string_view text);
// Share of CPU time busy between two samples, 0..1 (0 when no time passed).
double cpu_busy_share(const CpuTimes& before, const CpuTimes& after);

struct MemInfo {
  std::uint64_t total_kb = 0;
  std::uint64_t available_kb = 0;
  double used_share() const;  // 1 - available/total
};
std::optional<MemInfo> parse_meminfo(std::string_view text);

// A usage override file {"cpu":0.93,"mem":0.5} (fractions 0..1), written by
// the device simulator for a simulated gateway; nullopt when malformed.
struct UsageOverride {
  double cpu = 0, mem = 0;
};
std::optional<UsageOverride> parse_usage_override(std::string_view text);

// "x86_64" -> "amd64", "aarch64" -> "arm64", "armv7l" -> "arm", ...
std::string kube_arch(std::string_view machine);

}  // namespace c4i::discovery
