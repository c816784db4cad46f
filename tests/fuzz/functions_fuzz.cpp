// Fuzzes the sample lines the IoT functions read from the BLE reader: the
// heart-rate parser (Open mHealth bodies, data points, reader lines), the
// accelerometer parser, RFC 3339 times and the upstream URL; a parsed sample
// then goes through a window and the consolidation or the features, so the
// arithmetic sees hostile values too. The first byte picks the parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "images/heart_rate.hpp"
#include "images/samples.hpp"
#include "images/upstream.hpp"
#include "images/vibration.hpp"
#include "images/window.hpp"

using namespace c4i::functions;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto r = parse_heart_rate_line(text);
      if (r && r->sample) {
        Windower<HeartRateSample> w(60, 5, 16);
        const double t = r->sample->t_s;
        (void)w.add(t, *r->sample, 0);
        if (auto c = w.flush()) (void)make_heart_rate_data_point(consolidate(*c), {}, "id", t);
      }
      break;
    }
    case 1: {
      Windower<AccelSample> w(1, 1, 4096);
      std::size_t at = 0;
      // Several lines: the features see a window of fuzzer-chosen samples.
      while (at <= text.size()) {
        auto nl = text.find('\n', at);
        if (nl == std::string_view::npos) nl = text.size();
        if (auto s = parse_accel_line(text.substr(at, nl - at))) (void)w.add(s->t_s, *s, 0);
        at = nl + 1;
      }
      if (auto c = w.flush()) {
        (void)report_json(analyse(*c, VibrationMode::intensive, FaultBand{10, 20, 0.5}), {}, std::nullopt);
        (void)analyse(*c, VibrationMode::relaxed, std::nullopt);
      }
      break;
    }
    case 2:
      if (auto t = parse_rfc3339(text)) (void)format_rfc3339(*t);
      break;
    default:
      (void)parse_https_url(text);
      (void)parse_fault_band(text);
      break;
  }
  return 0;
}
