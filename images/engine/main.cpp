// c4i-fn-engine: engine vibration diagnostics (the industrial use case).
// Reads accelerometer samples (JSON lines) from stdin or a Unix socket and
// writes one JSON report per window to stdout: RMS, peak, crest factor,
// kurtosis, the dominant frequencies and a fault band, in the paper's
// intensive or relaxed mode (--mode, C4I_MODE, or auto from C4I_TIER).
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "common/log.hpp"
#include "images/function_io.hpp"
#include "images/samples.hpp"
#include "images/vibration.hpp"
#include "images/window.hpp"

namespace fn = c4i::functions;

namespace {

constexpr const char* kProgram = "c4i-fn-engine";

int usage_error(const std::string& what) {
  std::cerr << kProgram << ": " << what << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Engine vibration diagnostics: features and fault band per window", kProgram};
  std::string input = fn::default_input_spec(), mode_flag, fault_band_text, log_format = "text", log_level = "info";
  double window_s = 0, grace_s = 2, fault_ratio = 0.5;
  std::size_t max_samples = 1'000'000;
  app.add_option("--input", input, "- (stdin) or unix:PATH (a stream socket the reader connects to); default unix:$C4I_READER_SOCKET when set, else -");
  app.add_option("--mode", mode_flag, "intensive|relaxed|auto (default: C4I_MODE, else auto from C4I_TIER)");
  app.add_option("--window", window_s, "window length in seconds (default: 1 intensive, 10 relaxed)")
      ->check(CLI::Range(0.01, 3600.0));
  app.add_option("--grace", grace_s, "seconds of silence past a window's end before the wall clock closes it")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--fault-band", fault_band_text, "LOW-HIGH in Hz: flag a fault when this band holds --fault-ratio of the power");
  app.add_option("--fault-ratio", fault_ratio, "share of the AC power in the fault band that flags a fault")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--max-samples", max_samples, "samples kept per window (more are counted and dropped)")
      ->check(CLI::Range(1, 50'000'000));
  app.add_option("--log-format", log_format, "text|json");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }
  auto fmt = c4i::log::parse_format(log_format);
  if (!fmt) return usage_error("--log-format: " + fmt.error().message);
  auto lvl = c4i::log::parse_level(log_level);
  if (!lvl) return usage_error("--log-level: " + lvl.error().message);
  if (input != "-" && input.rfind("unix:", 0) != 0) return usage_error("--input '" + input + "' is neither - nor unix:PATH");
  auto mode = fn::resolve_mode(mode_flag, fn::env_or_empty("C4I_MODE"), fn::env_or_empty("C4I_TIER"));
  if (!mode) return usage_error(mode.error().message);
  std::optional<fn::FaultBand> band;
  if (!fault_band_text.empty()) {
    auto b = fn::parse_fault_band(fault_band_text);
    if (!b) return usage_error("--fault-band: " + b.error().message);
    b->energy_ratio_threshold = fault_ratio;
    band = *b;
  }
  if (window_s <= 0) window_s = fn::profile(mode->mode).window_s;

  c4i::log::init(kProgram, *fmt, *lvl);
  const fn::FunctionIdentity who = fn::identity_from_env();
  spdlog::info("starting: node '{}' function '{}' device '{}', mode {} ({}), window {} s, input {}", who.node, who.function,
               who.device, fn::to_string(mode->mode), mode->why, window_s, input);

  fn::Windower<fn::AccelSample> windows(window_s, grace_s, max_samples);
  std::uint64_t lines = 0, samples = 0, malformed = 0, reports = 0, faults = 0;
  auto emit = [&](const fn::ClosedWindow<fn::AccelSample>& w) {
    if (w.samples.empty()) return;
    const auto r = fn::analyse(w, mode->mode, band);
    ++reports;
    if (r.fault) ++faults;
    const std::string line = fn::report_json(r, who, band).dump() + "\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  };

  fn::LoopCallbacks cb;
  cb.on_line = [&](std::string_view line) {
    ++lines;
    auto s = fn::parse_accel_line(line);
    if (!s) {
      ++malformed;
      spdlog::warn("malformed sample skipped (line {}): {} ({} skipped so far)", lines, s.error().message, malformed);
      return;
    }
    ++samples;
    const double t = s->t_s;
    if (auto closed = windows.add(t, *s, fn::monotonic_s())) emit(*closed);
  };
  cb.on_oversized_line = [&] {
    ++lines;
    ++malformed;
    spdlog::warn("malformed sample skipped (line {}): longer than {} bytes ({} skipped so far)", lines,
                 fn::kMaxSampleLineBytes, malformed);
  };
  cb.next_deadline = [&] { return windows.deadline(); };
  cb.on_deadline = [&] {
    if (auto closed = windows.poll(fn::monotonic_s())) emit(*closed);
  };
  auto end = fn::run_line_loop(input, cb);
  if (!end) {
    spdlog::error("{}", end.error().message);
    return 1;
  }
  if (auto closed = windows.flush()) emit(*closed);
  const auto& wc = windows.counters();
  spdlog::info("stopping ({}): {} lines, {} samples, {} malformed, {} late, {} over the window bound, {} reports, {} with a fault",
               *end == fn::LoopEnd::stop_requested ? "signal" : "end of input", lines, samples, malformed, wc.late,
               wc.overflow, reports, faults);
  return 0;
}
