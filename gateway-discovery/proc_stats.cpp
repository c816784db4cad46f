#include "gateway-discovery/proc_stats.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <vector>

namespace c4i::discovery {

namespace {
std::string_view first_line_with(std::string_view text, std::string_view prefix) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    auto line = text.substr(pos, end - pos);
    if (line.starts_with(prefix)) return line;
    pos = end + 1;
  }
  return {};
}

std::optional<std::uint64_t> number_after(std::string_view line, std::size_t& pos) {
  while (pos < line.size() && line[pos] == ' ') ++pos;
  std::uint64_t v = 0;
  auto r = std::from_chars(line.data() + pos, line.data() + line.size(), v);
  if (r.ec != std::errc()) return std::nullopt;
  pos = static_cast<std::size_t>(r.ptr - line.data());
  return v;
}
}  // namespace

std::optional<CpuTimes> parse_proc_stat(std::string_view text) {
  auto line = first_line_with(text, "cpu ");
  if (line.empty()) return std::nullopt;
  std::size_t pos = 4;
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  std::vector<std::uint64_t> f;
  for (int i = 0; i < 8; ++i) {
    auto v = number_after(line, pos);
    if (!v) break;
    f.push_back(*v);
  }
  if (f.size() < 4) return std::nullopt;
  // Counters that do not fit a 64-bit sum are not /proc/stat: refuse them
  // rather than wrap into busy > total.
  CpuTimes t;
  for (auto v : f)
    if (__builtin_add_overflow(t.total, v, &t.total)) return std::nullopt;
  std::uint64_t idle = f[3];
  if (f.size() > 4 && __builtin_add_overflow(idle, f[4], &idle)) return std::nullopt;
  t.busy = t.total - idle;
  return t;
}

double cpu_busy_share(const CpuTimes& a, const CpuTimes& b) {
  if (b.total <= a.total || b.busy < a.busy) return 0.0;
  const double share = static_cast<double>(b.busy - a.busy) / static_cast<double>(b.total - a.total);
  return share < 0 ? 0 : share > 1 ? 1 : share;
}

double MemInfo::used_share() const {
  if (total_kb == 0 || available_kb > total_kb) return 0.0;
  return 1.0 - static_cast<double>(available_kb) / static_cast<double>(total_kb);
}

std::optional<MemInfo> parse_meminfo(std::string_view text) {
  MemInfo m;
  auto total = first_line_with(text, "MemTotal:");
  auto avail = first_line_with(text, "MemAvailable:");
  if (total.empty() || avail.empty()) return std::nullopt;
  std::size_t p = 9;
  auto t = number_after(total, p);
  p = 13;
  auto a = number_after(avail, p);
  if (!t || !a || *t == 0) return std::nullopt;
  m.total_kb = *t;
  m.available_kb = *a;
  return m;
}

std::string kube_arch(std::string_view m) {
  if (m == "x86_64" || m == "amd64") return "amd64";
  if (m == "aarch64" || m == "arm64") return "arm64";
  if (m.starts_with("armv") || m == "arm") return "arm";
  if (m == "i386" || m == "i486" || m == "i586" || m == "i686") return "386";
  if (m == "riscv64") return "riscv64";
  if (m == "ppc64le") return "ppc64le";
  if (m == "s390x") return "s390x";
  return std::string(m);
}

std::optional<UsageOverride> parse_usage_override(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto cpu = j.find("cpu");
  auto mem = j.find("mem");
  if (cpu == j.end() || !cpu->is_number() || mem == j.end() || !mem->is_number()) return std::nullopt;
  UsageOverride u{cpu->get<double>(), mem->get<double>()};
  if (!(u.cpu >= 0 && u.cpu <= 1 && u.mem >= 0 && u.mem <= 1)) return std::nullopt;
  return u;
}

}  // namespace c4i::discovery
