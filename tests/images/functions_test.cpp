// The IoT functions as real processes: c4i-fn-omh and c4i-fn-engine fed over
// stdin and over the Unix socket the reader connects to, an HTTPS upstream on
// 127.0.0.1 with the test PKI, SIGTERM, malformed samples and bad flags.
#include <signal.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <numbers>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/https_server.hpp"
#include "images/samples.hpp"
#include "tests/support/testlib.hpp"

namespace c4i::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string omh_bin() { return binary_dir() + "/images/c4i-fn-omh"; }
std::string engine_bin() { return binary_dir() + "/images/c4i-fn-engine"; }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// A heart-rate sample as the reader writes it (an Open mHealth body) at t seconds after 12:00.
std::string hr_line(double t, double bpm, std::vector<double> rr = {}) {
  json j{{"heart_rate", {{"value", bpm}, {"unit", "beats/min"}}},
         {"effective_time_frame", {{"date_time", functions::format_rfc3339(1795435200.0 + t)}}}};
  if (!rr.empty()) j["rr_intervals_ms"] = rr;
  return j.dump() + "\n";
}

std::string accel_stream(double fs, double seconds, double hz, double amplitude) {
  std::string s;
  const auto n = static_cast<std::size_t>(fs * seconds);
  for (std::size_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / fs;
    char buf[160];
    std::snprintf(buf, sizeof buf, "{\"t\":%.6f,\"x\":%.9f,\"y\":0.01,\"z\":9.81}\n", t,
                  amplitude * std::sin(2 * std::numbers::pi * hz * t));
    s += buf;
  }
  return s;
}

// The reader's side of --input unix:PATH.
class ReaderConnection {
 public:
  explicit ReaderConnection(const std::string& path) {
    EXPECT_TRUE(wait_until(
        [&] {
          fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
          sockaddr_un a{};
          a.sun_family = AF_UNIX;
          std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
          if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return true;
          ::close(fd_);
          fd_ = -1;
          return false;
        },
        10s))
        << "nothing listens on " << path;
  }
  ~ReaderConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  void send(const std::string& data) {
    std::size_t at = 0;
    while (at < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + at, data.size() - at, MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << std::strerror(errno);
      at += static_cast<std::size_t>(n);
    }
  }

 private:
  int fd_ = -1;
};

// --- c4i-fn-omh ---

TEST(OmhFunction, OutputValidatesAgainstOpenMHealthSchemas) {
  TempDir tmp;
  std::string in;
  for (int i = 0; i < 120; ++i) in += hr_line(i, 60 + i % 20, {1000.0 - (i % 5) * 10, 990});
  for (int i = 120; i < 150; ++i) in += hr_line(i, 70);  // a window without RR intervals
  auto r = run({"env", "C4I_NODE=gw-1", "C4I_FUNCTION=omh-hr1", "C4I_DEVICE=hr1", "C4I_DEVICE_ADDR=AA:BB:CC:DD:EE:01",
                omh_bin(), "--window", "60"},
               60s, in);
  ASSERT_EQ(r.code, 0) << r.err;
  auto points = lines_of(r.out);
  ASSERT_EQ(points.size(), 3u) << r.out;
  auto first = json::parse(points[0]);
  EXPECT_EQ(first["header"]["cloud4iot"]["node"], "gw-1");
  EXPECT_EQ(first["header"]["cloud4iot"]["function"], "omh-hr1");
  EXPECT_EQ(first["header"]["cloud4iot"]["device"], "hr1");
  EXPECT_EQ(first["body"]["consolidation"]["sample_count"], 60);
  EXPECT_EQ(first["body"]["consolidation"]["minimum"]["value"], 60.0);
  EXPECT_EQ(first["body"]["consolidation"]["maximum"]["value"], 79.0);
  EXPECT_DOUBLE_EQ(first["body"]["heart_rate"]["value"].get<double>(), 69.5);
  EXPECT_TRUE(first["body"]["consolidation"]["heart_rate_variability"].contains("rmssd"));
  EXPECT_FALSE(json::parse(points[2])["body"]["consolidation"].contains("heart_rate_variability"));
  EXPECT_NE(json::parse(points[0])["header"]["id"], json::parse(points[1])["header"]["id"]);

  write_file(tmp.file("points.jsonl"), r.out);
  const std::string schemas = source_dir() + "/tests/images/schemas";
  const std::string validator = source_dir() + "/tests/images/validate_omh.py";
  auto v = run({"/usr/bin/python3", validator, schemas, tmp.file("points.jsonl")});
  EXPECT_EQ(v.code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("3 valid, 0 invalid"), std::string::npos) << v.out;

  // The validator has teeth: a wrong unit and a bad date are refused.
  std::string broken = points[0];
  broken.replace(broken.find("\"heart_rate\":{\"unit\":\"beats/min\""), 32, "\"heart_rate\":{\"unit\":\"bpm\"");
  write_file(tmp.file("broken.jsonl"), broken + "\n");
  auto b = run({"/usr/bin/python3", validator, schemas, tmp.file("broken.jsonl")});
  EXPECT_EQ(b.code, 1) << b.out << b.err;
  EXPECT_NE(b.out.find("'bpm' is not one of"), std::string::npos) << b.out;
}

TEST(OmhFunction, ReadsReaderLinesAndIgnoresOtherCharacteristics) {
  std::string in;
  for (int i = 0; i < 5; ++i) {
    const std::string t = functions::format_rfc3339(1795435200.0 + i);
    in += json{{"t", t},
               {"device", "AA:BB:CC:DD:EE:01"},
               {"decoded", {{"type", "heart_rate_measurement"}, {"heart_rate_bpm", 70 + i}, {"rr_intervals_ms", {850, 860}}}},
               {"omh", {{"heart_rate", {{"value", 70 + i}, {"unit", "beats/min"}}}, {"effective_time_frame", {{"date_time", t}}}}}}
              .dump() +
          "\n";
    in += json{{"t", t}, {"decoded", {{"type", "battery_level"}, {"percent", 90}}}}.dump() + "\n";
  }
  auto r = run({omh_bin(), "--window", "60"}, 30s, in);
  ASSERT_EQ(r.code, 0) << r.err;
  auto points = lines_of(r.out);
  ASSERT_EQ(points.size(), 1u);
  auto p = json::parse(points[0]);
  EXPECT_EQ(p["body"]["consolidation"]["sample_count"], 5);
  EXPECT_EQ(p["body"]["consolidation"]["heart_rate_variability"]["rr_interval_count"], 10);
  EXPECT_NE(r.err.find("10 lines, 5 samples, 0 malformed, 5 other"), std::string::npos) << r.err;
  EXPECT_EQ(count(r.err, "malformed sample skipped"), 0u);
}

TEST(OmhFunction, MalformedSampleIsCountedAndSkippedWithOneLogLine) {
  std::string in = hr_line(0, 60) + "{not json\n" + hr_line(1, 62) +
                   R"({"heart_rate":{"value":61,"unit":"bpm"},"effective_time_frame":{"date_time":"2026-11-23T12:00:02Z"}})" +
                   "\n" + std::string(70'000, 'x') + "\n" + hr_line(3, 64);
  auto r = run({omh_bin(), "--window", "60"}, 30s, in);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(count(r.err, "malformed sample skipped"), 3u) << r.err;
  EXPECT_NE(r.err.find("(line 2): not JSON (1 skipped so far)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(line 4): heart_rate.unit is not \"beats/min\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(line 5): longer than 65536 bytes"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("6 lines, 3 samples, 3 malformed"), std::string::npos) << r.err;
  auto points = lines_of(r.out);
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(json::parse(points[0])["body"]["consolidation"]["sample_count"], 3);
}

TEST(OmhFunction, SilentDeviceWindowIsClosedByTheWallClock) {
  TempDir tmp;
  const std::string sock = tmp.file("in.sock");
  Child fn({omh_bin(), "--input", "unix:" + sock, "--window", "1", "--grace", "0.2"});
  ReaderConnection reader(sock);
  reader.send(hr_line(0.1, 70) + hr_line(0.5, 80));
  // No more samples and the connection stays open: only the wall clock can close the window.
  ASSERT_TRUE(wait_until([&] { return fn.out().find("\"closed_by\":\"wall_clock\"") != std::string::npos; }, 10s))
      << fn.out() << fn.err();
  auto p = json::parse(lines_of(fn.out()).at(0));
  EXPECT_EQ(p["body"]["consolidation"]["sample_count"], 2);
  EXPECT_DOUBLE_EQ(p["body"]["heart_rate"]["value"].get<double>(), 75.0);
  fn.signal(SIGTERM);
  EXPECT_EQ(fn.wait(5s), 0);
}

// The docker and kubernetes backends run the reader beside the function and
// set C4I_READER_SOCKET: without --input, the function listens there.
TEST(OmhFunction, ListensOnTheReaderSocketTheEnvironmentNames) {
  TempDir tmp;
  const std::string sock = tmp.file("samples.sock");
  Child fn({omh_bin(), "--window", "1", "--grace", "0.2"}, {{"C4I_READER_SOCKET", sock}});
  ReaderConnection reader(sock);
  reader.send(hr_line(0.1, 70) + hr_line(0.5, 80));
  ASSERT_TRUE(wait_until([&] { return fn.out().find("\"sample_count\":2") != std::string::npos; }, 10s)) << fn.out() << fn.err();
  fn.signal(SIGTERM);
  EXPECT_EQ(fn.wait(5s), 0);
}

TEST(OmhFunction, StopsOnSigtermWithinOneSecondAndFlushesTheOpenWindow) {
  TempDir tmp;
  const std::string sock = tmp.file("in.sock");
  Child fn({omh_bin(), "--input", "unix:" + sock, "--window", "60"});
  ReaderConnection reader(sock);
  reader.send(hr_line(1, 70) + hr_line(2, 72));
  ASSERT_TRUE(wait_until([&] { return fn.err().find("starting") != std::string::npos; }, 10s));
  // The samples are in once the socket is read; give the loop a line to prove it.
  reader.send("{bad\n");
  ASSERT_TRUE(wait_until([&] { return fn.err().find("malformed sample skipped") != std::string::npos; }, 10s));
  const auto t0 = std::chrono::steady_clock::now();
  fn.signal(SIGTERM);
  EXPECT_EQ(fn.wait(1s), 0) << fn.err();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_NE(fn.err().find("stopping (signal)"), std::string::npos) << fn.err();
  auto points = lines_of(fn.out());
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(json::parse(points[0])["body"]["consolidation"]["sample_count"], 2);
  EXPECT_FALSE(std::ifstream(sock).good()) << "the socket file is removed";
}

// An HTTPS collector on 127.0.0.1 that answers 503 to its first `failures` requests.
class Collector {
 public:
  explicit Collector(int failures) : server_(options()), failures_(failures) {
    server_.route("POST", "/v1/points", [this](http::Request& req) {
      std::lock_guard lock(mu_);
      ++requests_;
      if (failures_ > 0) {
        --failures_;
        return http::error_response(503, "unavailable", "try later");
      }
      bodies_.push_back(req.body);
      return http::json_response(201, json{{"ok", true}});
    });
    auto s = server_.start();
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    thread_ = std::thread([this] { server_.run(); });
  }
  ~Collector() {
    server_.shutdown();
    thread_.join();
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(server_.port()) + "/v1/points"; }
  std::vector<std::string> bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }
  int requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  static http::ServerOptions options() {
    http::ServerOptions o;
    o.tls.cert_file = test_pki().cert("server");
    o.tls.key_file = test_pki().key("server");
    o.tls.client_ca_file = test_pki().ca();
    return o;
  }
  http::Server server_;
  std::mutex mu_;
  int failures_;
  int requests_ = 0;
  std::vector<std::string> bodies_;
  std::thread thread_;
};

TEST(OmhFunction, PostsDataPointsUpstreamAndRetriesAfterFailures) {
  Collector collector(2);
  TempDir tmp;
  const std::string sock = tmp.file("in.sock");
  Child fn({omh_bin(), "--input", "unix:" + sock, "--window", "10", "--upstream", collector.url(), "--upstream-ca",
            test_pki().ca()},
           {{"C4I_DEVICE", "hr7"}});
  ReaderConnection reader(sock);
  std::string in;
  for (int i = 0; i < 25; ++i) in += hr_line(i, 60 + i);
  reader.send(in);  // two windows closed by sample time, the third still open
  ASSERT_TRUE(wait_until([&] { return collector.bodies().size() == 2; }, 20s)) << fn.err();
  EXPECT_GE(collector.requests(), 4);  // two 503s were retried
  auto first = json::parse(collector.bodies()[0]);
  EXPECT_EQ(first["header"]["schema_id"]["name"], "heart-rate");
  EXPECT_EQ(first["header"]["cloud4iot"]["device"], "hr7");
  EXPECT_EQ(first["body"]["consolidation"]["sample_count"], 10);
  EXPECT_EQ(json::parse(collector.bodies()[1])["body"]["consolidation"]["minimum"]["value"], 70.0);
  EXPECT_TRUE(fn.out().empty()) << "with --upstream nothing goes to stdout";
  fn.signal(SIGTERM);
  EXPECT_EQ(fn.wait(2s), 0);
  // The open window was flushed at the stop and delivered within the drain.
  EXPECT_EQ(collector.bodies().size(), 3u) << fn.err();
  EXPECT_NE(fn.err().find("upstream: 3 delivered, 0 left undelivered"), std::string::npos) << fn.err();
}

TEST(OmhFunction, DropsTheOldestDataPointsWhenTheUpstreamIsDownAndTheBufferFull) {
  // A port nothing listens on: every delivery fails at once (connection refused).
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  ::close(s);
  std::string in;
  for (int i = 0; i < 4; ++i) in += hr_line(i * 10 + 1, 70);
  auto r = run({omh_bin(), "--window", "10", "--buffer", "1", "--upstream",
                "https://127.0.0.1:" + std::to_string(port) + "/v1/points", "--upstream-ca", test_pki().ca()},
               30s, in);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(count(r.err, "upstream buffer full (1 results): dropped the oldest"), 3u) << r.err;
  EXPECT_NE(r.err.find("upstream: 0 delivered, 1 left undelivered, 3 dropped (buffer full)"), std::string::npos) << r.err;
}

TEST(OmhFunction, StopsWithinOneSecondWhileTheUpstreamHangs) {
  // A listener that never answers: the TLS handshake blocks in the sender thread.
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(s, 8), 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  TempDir tmp;
  const std::string sock = tmp.file("in.sock");
  Child fn({omh_bin(), "--input", "unix:" + sock, "--window", "1", "--upstream",
            "https://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/v1/points", "--upstream-ca", test_pki().ca()});
  ReaderConnection reader(sock);
  reader.send(hr_line(0.5, 70) + hr_line(1.5, 70));  // closes the first window: a POST starts and hangs
  reader.send("{bad\n");
  ASSERT_TRUE(wait_until([&] { return fn.err().find("malformed sample skipped") != std::string::npos; }, 10s));
  const auto t0 = std::chrono::steady_clock::now();
  fn.signal(SIGTERM);
  EXPECT_EQ(fn.wait(1s), 0) << fn.err();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_NE(fn.err().find("left undelivered"), std::string::npos) << fn.err();
  ::close(s);
}

TEST(FunctionFlags, BadFlagsExitTwoWithOneLine) {
  const std::vector<std::vector<std::string>> cases = {
      {omh_bin(), "--bogus"},
      {omh_bin(), "--window", "abc"},
      {omh_bin(), "--window", "0"},
      {omh_bin(), "--input", "tcp:1234"},
      {omh_bin(), "--upstream", "http://collector/"},
      {omh_bin(), "--upstream-cert", "a.pem"},
      {omh_bin(), "--log-format", "xml"},
      {engine_bin(), "--bogus"},
      {engine_bin(), "--mode", "fast"},
      {engine_bin(), "--fault-band", "110-90"},
      {engine_bin(), "--fault-ratio", "2"},
      {"env", "C4I_MODE=slow", engine_bin()},
      {"env", "C4I_TIER=moon", engine_bin(), "--mode", "auto"},
  };
  for (const auto& argv : cases) {
    auto r = run(argv, 10s);
    std::string joined;
    for (const auto& a : argv) joined += a + " ";
    EXPECT_EQ(r.code, 2) << joined << r.err;
    EXPECT_EQ(count(r.err, "\n"), 1u) << joined << r.err;
    EXPECT_TRUE(r.err.rfind("c4i-fn-", 0) == 0) << joined << r.err;
  }
  auto mode = run({engine_bin(), "--mode", "fast"}, 10s);
  EXPECT_EQ(mode.err, "c4i-fn-engine: --mode 'fast' is not intensive, relaxed or auto\n");
}

// --- c4i-fn-engine ---

TEST(EngineFunction, ReportsTheFeaturesOfAKnownSine) {
  auto r = run({"env", "C4I_NODE=gw-2", "C4I_FUNCTION=engine-1", "C4I_DEVICE=eng1", engine_bin(), "--mode", "intensive"}, 60s,
               accel_stream(1000, 2, 50, 2));
  ASSERT_EQ(r.code, 0) << r.err;
  auto reports = lines_of(r.out);
  ASSERT_EQ(reports.size(), 2u) << r.out;
  for (const auto& line : reports) {
    auto j = json::parse(line);
    EXPECT_EQ(j["mode"], "intensive");
    EXPECT_EQ(j["node"], "gw-2");
    EXPECT_EQ(j["function"], "engine-1");
    EXPECT_EQ(j["device"], "eng1");
    EXPECT_EQ(j["samples"], 1000);
    EXPECT_NEAR(j["sample_rate_hz"].get<double>(), 1000, 0.01);
    const auto& x = j["axes"]["x"];
    EXPECT_NEAR(x["rms"].get<double>(), 1.414, 1e-3);
    EXPECT_NEAR(x["peak"].get<double>(), 2.0, 1e-3);
    EXPECT_NEAR(x["crest_factor"].get<double>(), 1.414, 1e-3);
    EXPECT_NEAR(x["kurtosis"].get<double>(), 1.5, 1e-3);
    EXPECT_NEAR(x["dominant"][0]["hz"].get<double>(), 50.0, 1.0);
    EXPECT_NEAR(x["dominant"][0]["amplitude"].get<double>(), 2.0, 0.02);
    EXPECT_NEAR(j["axes"]["z"]["mean"].get<double>(), 9.81, 1e-6);
    EXPECT_FALSE(x.contains("fault_band"));
  }
}

TEST(EngineFunction, FlagsTheConfiguredFaultBand) {
  auto r = run({engine_bin(), "--mode", "intensive", "--fault-band", "90-110", "--fault-ratio", "0.5"}, 60s,
               accel_stream(1000, 1, 100, 1));
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = json::parse(lines_of(r.out).at(0));
  EXPECT_EQ(j["fault"], true);
  EXPECT_EQ(j["axes"]["x"]["fault_band"]["fault"], true);
  EXPECT_GT(j["axes"]["x"]["fault_band"]["energy_ratio"].get<double>(), 0.99);
  EXPECT_EQ(j["axes"]["y"]["fault_band"]["fault"], false);
  auto quiet = run({engine_bin(), "--mode", "intensive", "--fault-band", "90-110"}, 60s, accel_stream(1000, 1, 20, 1));
  EXPECT_EQ(json::parse(lines_of(quiet.out).at(0))["fault"], false);
}

TEST(EngineFunction, AutoModeFollowsTheTier) {
  const std::string in = accel_stream(1000, 10, 5, 1);
  auto cloud = run({"env", "C4I_TIER=cloud", engine_bin(), "--mode", "auto"}, 60s, in);
  ASSERT_EQ(cloud.code, 0) << cloud.err;
  auto c = lines_of(cloud.out);
  ASSERT_EQ(c.size(), 1u);  // relaxed: one 10 s window
  auto cj = json::parse(c[0]);
  EXPECT_EQ(cj["mode"], "relaxed");
  EXPECT_NEAR(cj["analysed_rate_hz"].get<double>(), 100, 0.01);
  EXPECT_FALSE(cj["axes"]["x"].contains("dominant"));
  EXPECT_NEAR(cj["axes"]["x"]["rms"].get<double>(), std::sqrt(0.5), 0.01);
  EXPECT_NE(cloud.err.find("mode relaxed (--mode auto, tier cloud)"), std::string::npos) << cloud.err;

  auto gateway = run({"env", "C4I_TIER=gateway", "C4I_MODE=auto", engine_bin()}, 60s, in);
  ASSERT_EQ(gateway.code, 0) << gateway.err;
  auto g = lines_of(gateway.out);
  ASSERT_EQ(g.size(), 10u);  // intensive: 1 s windows
  EXPECT_EQ(json::parse(g[0])["mode"], "intensive");
  EXPECT_TRUE(json::parse(g[0])["axes"]["x"].contains("dominant"));
}

TEST(EngineFunction, MalformedSampleIsCountedAndSkippedWithOneLogLine) {
  std::string in = accel_stream(100, 0.5, 5, 1);
  in += "{\"t\":0.6,\"x\":1}\n";
  in += "{\"t\":0.7,\"a\":1}\n";  // a single-axis sample is valid
  auto r = run({engine_bin(), "--mode", "intensive"}, 30s, in);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(count(r.err, "malformed sample skipped"), 1u) << r.err;
  EXPECT_NE(r.err.find("(line 51): y is missing or not a finite number"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("52 lines, 51 samples, 1 malformed"), std::string::npos) << r.err;
}

TEST(EngineFunction, StopsOnSigtermWithinOneSecond) {
  TempDir tmp;
  const std::string sock = tmp.file("in.sock");
  Child fn({engine_bin(), "--input", "unix:" + sock, "--mode", "intensive"});
  ReaderConnection reader(sock);
  reader.send(accel_stream(1000, 0.5, 50, 1) + "{bad\n");
  ASSERT_TRUE(wait_until([&] { return fn.err().find("malformed sample skipped") != std::string::npos; }, 10s)) << fn.err();
  const auto t0 = std::chrono::steady_clock::now();
  fn.signal(SIGTERM);
  EXPECT_EQ(fn.wait(1s), 0) << fn.err();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_NE(fn.err().find("stopping (signal)"), std::string::npos);
  auto reports = lines_of(fn.out());
  ASSERT_EQ(reports.size(), 1u);  // the open half-second window, flushed at the stop
  EXPECT_EQ(json::parse(reports[0])["samples"], 500);
}

TEST(EngineFunction, AcceptsAReconnectingReader) {
  TempDir tmp;
  const std::string sock = tmp.file("in.sock");
  Child fn({engine_bin(), "--input", "unix:" + sock, "--mode", "intensive", "--window", "1"});
  {
    ReaderConnection first(sock);
    first.send(accel_stream(100, 1, 5, 1));
  }
  ReaderConnection second(sock);
  std::string later;
  for (int i = 100; i < 200; ++i) later += "{\"t\":" + std::to_string(i / 100.0) + ",\"x\":0,\"y\":0,\"z\":0}\n";
  second.send(later);
  ASSERT_TRUE(wait_until([&] { return lines_of(fn.out()).size() >= 1; }, 10s)) << fn.err();
  EXPECT_EQ(json::parse(lines_of(fn.out())[0])["samples"], 100);
  fn.signal(SIGTERM);
  EXPECT_EQ(fn.wait(2s), 0);
}

}  // namespace
}  // namespace c4i::testing
