// Fuzzes the Docker Engine API parsers of the docker backend (bytes from an
// engine): info, container list and inspect, image inspect, stats, the
// JSON-lines splitter fed in two pieces (pull progress, events), events, the
// multiplexed log stream, Docker times, image references and endpoints.
// Never crash; the splitter gives the same values however the bytes are cut.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "orchestrator/docker_api.hpp"

namespace dk = c4i::orchestrator::docker;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto i = dk::parse_info(in)) {
    if (i->arch.empty() || i->ncpu <= 0 || i->mem_total_bytes <= 0) std::abort();
  }
  (void)dk::parse_container_list(in);
  (void)dk::parse_inspect(in);
  (void)dk::parse_image_inspect(in);
  if (auto s = dk::parse_stats(in)) {
    double share = dk::cpu_share(dk::StatsSample{}, *s);
    if (share < 0 || share > 1) std::abort();
  }
  (void)dk::error_message(in);
  (void)dk::parse_docker_time_ms(in);
  if (auto r = dk::parse_image_ref(in)) {
    if (r->repo.empty() || r->tag.empty()) std::abort();
  }
  (void)dk::parse_endpoint(std::string(in));
  if (auto l = dk::demux_logs(in)) {
    if (l->out.size() + l->err.size() > in.size()) std::abort();
  }
  std::vector<nlohmann::json> whole, split;
  dk::JsonLines a(4096), b(4096);
  auto sa = a.feed(in, whole);
  auto sb1 = b.feed(in.substr(0, size / 2), split);
  auto sb2 = sb1 ? b.feed(in.substr(size / 2), split) : sb1;
  if (sa.ok() && sb2.ok() && whole != split) std::abort();
  for (const auto& m : whole) {
    (void)dk::check_pull_message(m);
    (void)dk::parse_event(m);
  }
  return 0;
}
