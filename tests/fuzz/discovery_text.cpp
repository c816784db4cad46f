// Fuzzes the discovery daemon's small text parsers: the usage override file
// (shares stay within 0..1), /proc/stat and /proc/meminfo (busy never above
// total), and the simulator's parser of the daemon's greeting line (a name
// that parses greets the same way again).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "gateway-discovery/proc_stats.hpp"
#include "gateway-discovery/sim_wire.hpp"

using namespace c4i::discovery;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto u = parse_usage_override(in)) {
    if (!(u->cpu >= 0 && u->cpu <= 1 && u->mem >= 0 && u->mem <= 1)) std::abort();
  }
  if (auto s = parse_proc_stat(in)) {
    if (s->busy > s->total) std::abort();
    double share = cpu_busy_share(CpuTimes{}, *s);
    if (!(share >= 0 && share <= 1)) std::abort();
  }
  if (auto m = parse_meminfo(in)) {
    double used = m->used_share();
    if (!(used >= 0 && used <= 1) && m->total_kb > 0) std::abort();
  }
  if (auto name = sim::parse_hello(in)) {
    auto again = sim::parse_hello(sim::hello_line(*name));
    if (!again || *again != *name) std::abort();
  }
  return 0;
}
