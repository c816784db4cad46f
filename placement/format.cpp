#include "placement/format.hpp"

#include <charconv>
#include <cmath>

namespace c4i::placement::detail {

std::string shortest(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string fixed2(double v) {
  if (!std::isfinite(v)) return v > 0 ? "inf" : (v < 0 ? "-inf" : "nan");
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 2);
  std::string s(buf, r.ptr);
  if (s == "-0.00") s = "0.00";
  return s;
}

std::string db(double v) {
  if (!std::isfinite(v)) return shortest(v);
  double r = std::round(v * 10.0) / 10.0;
  if (r == std::floor(r) && std::fabs(r) < 1e15) return std::to_string(static_cast<long long>(r));
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, r, std::chars_format::fixed, 1);
  return std::string(buf, res.ptr);
}

std::string cpu(std::int64_t millis) { return std::to_string(millis) + "m"; }

std::string memory(std::int64_t bytes) {
  constexpr std::int64_t Ki = 1024, Mi = Ki * 1024, Gi = Mi * 1024;
  if (bytes != 0 && bytes % Gi == 0) return std::to_string(bytes / Gi) + "Gi";
  if (bytes != 0 && bytes % Mi == 0) return std::to_string(bytes / Mi) + "Mi";
  if (bytes != 0 && bytes % Ki == 0) return std::to_string(bytes / Ki) + "Ki";
  return std::to_string(bytes);
}

std::string seconds(std::int64_t ms) { return std::to_string(ms / 1000) + "s"; }

}  // namespace c4i::placement::detail
