// c4i-fn-omh: Open mHealth heart-rate consolidation (the eHealth use case).
// Reads the reader's heart-rate samples (JSON lines) from stdin or a Unix
// socket, closes one window per --window seconds of sample time (or, when the
// device falls silent, --grace seconds of wall time after the window's end)
// and writes one consolidated Open mHealth data point per window to stdout
// or POSTs it to --upstream.
#include <unistd.h>

#include <array>
#include <cstdio>
#include <iostream>
#include <memory>
#include <random>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "common/log.hpp"
#include "images/function_io.hpp"
#include "images/upstream_sender.hpp"
#include "images/heart_rate.hpp"
#include "images/samples.hpp"
#include "images/window.hpp"

namespace fn = c4i::functions;

namespace {

constexpr const char* kProgram = "c4i-fn-omh";

int usage_error(const std::string& what) {
  std::cerr << kProgram << ": " << what << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Open mHealth heart-rate consolidation: one data point per window", kProgram};
  std::string input = fn::default_input_spec(), upstream, upstream_ca, upstream_cert, upstream_key, upstream_token;
  std::string log_format = "text", log_level = "info";
  double window_s = 60, grace_s = 5;
  std::size_t buffer = 1000, max_samples = 100'000;
  app.add_option("--input", input, "- (stdin) or unix:PATH (a stream socket the reader connects to); default unix:$C4I_READER_SOCKET when set, else -");
  app.add_option("--window", window_s, "window length in seconds of sample time")->check(CLI::Range(0.1, 86400.0));
  app.add_option("--grace", grace_s, "seconds of silence past a window's end before the wall clock closes it")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--max-samples", max_samples, "samples kept per window (more are counted and dropped)")
      ->check(CLI::Range(1, 10'000'000));
  app.add_option("--upstream", upstream, "https://host[:port]/path to POST each data point to (default: stdout)");
  app.add_option("--upstream-ca", upstream_ca, "PEM CA bundle for the upstream (default: the system store)");
  app.add_option("--upstream-cert", upstream_cert, "client certificate (PEM) for mutual TLS");
  app.add_option("--upstream-key", upstream_key, "client key (PEM) for mutual TLS");
  app.add_option("--upstream-token", upstream_token, "bearer token for the upstream");
  app.add_option("--buffer", buffer, "data points kept while the upstream is down (oldest dropped first)")
      ->check(CLI::Range(1, 1'000'000));
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
  if (upstream_cert.empty() != upstream_key.empty()) return usage_error("--upstream-cert and --upstream-key go together");

  c4i::log::init(kProgram, *fmt, *lvl);
  std::unique_ptr<fn::UpstreamSender> sender;
  if (!upstream.empty()) {
    auto url = fn::parse_https_url(upstream);
    if (!url) return usage_error("--upstream " + url.error().message);
    fn::UpstreamOptions o;
    o.url = *url;
    o.client.host = url->host;
    o.client.port = url->port;
    o.client.server_name = url->host;
    o.client.tls.ca_file = upstream_ca;
    o.client.tls.cert_file = upstream_cert;
    o.client.tls.key_file = upstream_key;
    o.client.bearer_token = upstream_token;
    o.client.user_agent = kProgram;
    o.client.connect_timeout = std::chrono::milliseconds(3000);
    o.client.request_timeout = std::chrono::milliseconds(5000);
    o.client.retry = {3, std::chrono::milliseconds(200), std::chrono::milliseconds(10'000)};
    o.buffer_capacity = buffer;
    sender = std::make_unique<fn::UpstreamSender>(std::move(o));
  }

  const fn::FunctionIdentity who = fn::identity_from_env();
  spdlog::info("starting: node '{}' function '{}' device '{}', window {} s, input {}, output {}", who.node, who.function,
               who.device, window_s, input, upstream.empty() ? "stdout" : upstream);

  std::mt19937_64 rng{std::random_device{}()};
  fn::Windower<fn::HeartRateSample> windows(window_s, grace_s, max_samples);
  std::uint64_t lines = 0, samples = 0, malformed = 0, ignored = 0, emitted = 0;

  auto emit = [&](const fn::ClosedWindow<fn::HeartRateSample>& w) {
    if (w.samples.empty()) return;
    std::array<std::uint8_t, 16> rnd;
    for (auto& b : rnd) b = static_cast<std::uint8_t>(rng());
    const auto dp = fn::make_heart_rate_data_point(fn::consolidate(w), who, fn::uuid_v4(rnd), fn::unix_now_s());
    ++emitted;
    if (sender) {
      sender->submit(dp.dump());
    } else {
      const std::string line = dp.dump() + "\n";
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fflush(stdout);
    }
  };

  fn::LoopCallbacks cb;
  cb.on_line = [&](std::string_view line) {
    ++lines;
    auto parsed = fn::parse_heart_rate_line(line);
    if (!parsed) {
      ++malformed;
      spdlog::warn("malformed sample skipped (line {}): {} ({} skipped so far)", lines, parsed.error().message, malformed);
      return;
    }
    if (!parsed->sample) {
      ++ignored;
      return;
    }
    ++samples;
    const double t = parsed->sample->t_s;
    if (auto closed = windows.add(t, std::move(*parsed->sample), fn::monotonic_s())) emit(*closed);
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
  spdlog::info("stopping ({}): {} lines, {} samples, {} malformed, {} other, {} late, {} over the window bound, {} data points",
               *end == fn::LoopEnd::stop_requested ? "signal" : "end of input", lines, samples, malformed, ignored, wc.late,
               wc.overflow, emitted);
  if (sender) {
    // Half a second to deliver what is buffered keeps the whole stop under one second.
    const bool joined = sender->stop(0.5);
    const auto c = sender->counters();
    spdlog::info("upstream: {} delivered, {} left undelivered, {} dropped (buffer full), {} rejected, {} failed attempts",
                 c.delivered, c.buffered, c.dropped_oldest, c.rejected, c.failed_attempts);
    if (!joined) {
      // The sender thread is blocked in a request the HTTPS client cannot cancel.
      spdlog::default_logger()->flush();
      std::fflush(stdout);
      ::_exit(0);
    }
  }
  return 0;
}
