// The real c4i-reader binary against the emulated peripheral on a Unix
// SOCK_SEQPACKET socket: discovery, CCCD writes, notifications, indications,
// an ATT error, a disconnect mid-stream, a silent peer, SIGTERM cleanup, the
// first_data mark over HTTPS, and the radio path on a kernel without Bluetooth.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <sstream>
#include <thread>

#include <bluetooth/bluetooth.h>
#include <bluetooth/l2cap.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ble-reader/peripheral_server.hpp"
#include "common/https_server.hpp"
#include "tests/support/testlib.hpp"

namespace c4i::reader {
namespace {

namespace t = c4i::testing;
using namespace std::chrono_literals;

std::string reader_bin() { return t::binary_dir() + "/ble-reader/c4i-reader"; }

std::vector<nlohmann::json> json_lines(const std::string& s) {
  std::vector<nlohmann::json> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(j);
  }
  return out;
}

std::size_t count_source(const std::string& out, const std::string& source) {
  std::size_t n = 0;
  for (const auto& j : json_lines(out))
    if (j.value("source", "") == source) ++n;
  return n;
}

struct Emulated {
  t::TempDir dir;
  PeripheralServer server;
  explicit Emulated(PeripheralConfig cfg) : server(dir.file("hr.sock"), std::move(cfg)) {
    auto s = server.start();
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
  }
  std::vector<std::string> args(std::vector<std::string> extra = {}) {
    std::vector<std::string> a{reader_bin(), "--connect", "unix:" + server.path(), "--reconnect-min-ms", "50",
                               "--reconnect-max-ms", "200"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
};

PeripheralConfig fast() {
  PeripheralConfig c;
  c.heart_rate_interval_ms = 50;
  return c;
}

TEST(ReaderEndToEnd, DiscoversSubscribesAndStreamsDecodedHeartRate) {
  Emulated emu(fast());
  t::Child reader(emu.args());
  ASSERT_TRUE(t::wait_until([&] { return count_source(reader.out(), "notification") >= 3; }, 10s)) << reader.err();
  auto st = emu.server.stats();
  EXPECT_EQ(st.heart_rate_cccd, 0x0001);  // CCCD written by the reader
  EXPECT_EQ(st.battery_cccd, 0x0001);
  auto lines = json_lines(reader.out());
  // Reads first: Body Sensor Location and Battery Level.
  ASSERT_GE(lines.size(), 5u);
  EXPECT_EQ(lines[0]["source"], "read");
  EXPECT_EQ(lines[0]["decoded"]["location"], "Chest");
  EXPECT_EQ(lines[1]["decoded"]["battery_level_percent"], 95);
  const auto& hr = lines[2];
  EXPECT_EQ(hr["uuid"], "2a37");
  EXPECT_EQ(hr["handle"], GattPeripheral::kHeartRateMeasurementHandle);
  EXPECT_EQ(hr["value"], "16485503");  // flags 0x16, 72 bpm, RR 0x0355 = 853/1024 s (60 s / 72)
  EXPECT_EQ(hr["decoded"]["heart_rate_bpm"], 72);
  EXPECT_EQ(hr["decoded"]["sensor_contact"], "detected");
  EXPECT_EQ(hr["omh"]["heart_rate"]["unit"], "beats/min");
  EXPECT_EQ(hr["omh"]["effective_time_frame"]["date_time"], hr["t"]);
  EXPECT_EQ(lines[3]["decoded"]["heart_rate_bpm"], 73);
  reader.signal(SIGTERM);
  EXPECT_EQ(reader.wait(10s), 0) << reader.err();
}

TEST(ReaderEndToEnd, SigtermDisablesNotificationsThenExitsZero) {
  Emulated emu(fast());
  t::Child reader(emu.args());
  ASSERT_TRUE(t::wait_until([&] { return count_source(reader.out(), "notification") >= 2; }, 10s)) << reader.err();
  reader.signal(SIGTERM);
  ASSERT_EQ(reader.wait(10s), 0) << reader.err();
  auto writes = emu.server.stats().peripheral.cccd_writes;
  ASSERT_EQ(writes.size(), 4u);  // on, on, off, off
  EXPECT_EQ(writes[2].value, 0);
  EXPECT_EQ(writes[3].value, 0);
  EXPECT_EQ(writes[2].handle, GattPeripheral::kHeartRateCccdHandle);
  EXPECT_EQ(writes[3].handle, GattPeripheral::kBatteryCccdHandle);
  // The reader closed the connection itself.
  EXPECT_TRUE(t::wait_until([&] { return !emu.server.stats().connected; }, 5s));
}

TEST(ReaderEndToEnd, IndicationsAreStreamedAndConfirmed) {
  auto cfg = fast();
  cfg.heart_rate_indications = true;
  Emulated emu(cfg);
  t::Child reader(emu.args());
  ASSERT_TRUE(t::wait_until([&] { return count_source(reader.out(), "indication") >= 3; }, 10s)) << reader.err();
  EXPECT_EQ(emu.server.stats().heart_rate_cccd, 0x0002);
  // Each indication is confirmed, or the peripheral would have sent no second one.
  EXPECT_TRUE(t::wait_until([&] { return emu.server.stats().peripheral.confirmations >= 3; }, 5s));
  reader.signal(SIGTERM);
  EXPECT_EQ(reader.wait(10s), 0);
}

TEST(ReaderEndToEnd, AttErrorIsOneClearLineAndStreamingContinues) {
  auto cfg = fast();
  cfg.inject_error = PeripheralConfig::InjectedError{0x0A, GattPeripheral::kBodySensorLocationHandle, 0x05};
  Emulated emu(cfg);
  t::Child reader(emu.args());
  ASSERT_TRUE(t::wait_until([&] { return count_source(reader.out(), "notification") >= 2; }, 10s)) << reader.err();
  EXPECT_NE(reader.err().find("read of 2a38: Read Request on handle 0x0009 failed: Insufficient Authentication (ATT "
                              "error 0x05): the attribute requires authentication"),
            std::string::npos)
      << reader.err();
  EXPECT_EQ(count_source(reader.out(), "read"), 1u);  // only the Battery Level read succeeded
  reader.signal(SIGTERM);
  EXPECT_EQ(reader.wait(10s), 0);
}

TEST(ReaderEndToEnd, DisconnectMidStreamReconnectsAndResubscribes) {
  auto cfg = fast();
  cfg.disconnect_after_notifications = 3;
  Emulated emu(cfg);
  t::Child reader(emu.args());
  ASSERT_TRUE(t::wait_until([&] { return emu.server.stats().connections >= 3 && count_source(reader.out(), "notification") >= 7; }, 15s))
      << reader.err();
  EXPECT_NE(reader.err().find("the device disconnected; reconnecting in"), std::string::npos) << reader.err();
  // Every connection subscribed again (CCCDs start at 0 on a new connection).
  std::size_t enables = 0;
  for (const auto& w : emu.server.stats().peripheral.cccd_writes)
    if (w.handle == GattPeripheral::kHeartRateCccdHandle && w.value == 1) ++enables;
  EXPECT_GE(enables, 3u);
  EXPECT_TRUE(reader.running());
  reader.signal(SIGTERM);
  EXPECT_EQ(reader.wait(10s), 0);
}

TEST(ReaderEndToEnd, SilentPeerTimesOutAndIsRetried) {
  auto cfg = fast();
  cfg.silent = true;
  Emulated emu(cfg);
  t::Child reader(emu.args({"--att-timeout-ms", "300"}));
  ASSERT_TRUE(t::wait_until([&] { return emu.server.stats().connections >= 2; }, 10s)) << reader.err();
  EXPECT_NE(reader.err().find("ATT Exchange MTU Request got no response within 300 ms"), std::string::npos) << reader.err();
  EXPECT_TRUE(reader.out().empty());
  reader.signal(SIGTERM);
  EXPECT_EQ(reader.wait(10s), 0);
}

TEST(ReaderEndToEnd, OmhFormatWritesOpenMHealthDataPoints) {
  Emulated emu(fast());
  t::Child reader(emu.args({"--format", "omh"}));
  ASSERT_TRUE(t::wait_until([&] { return json_lines(reader.out()).size() >= 2; }, 10s)) << reader.err();
  auto dp = json_lines(reader.out()).at(0);
  EXPECT_EQ(dp["header"]["schema_id"]["name"], "heart-rate");
  EXPECT_EQ(dp["header"]["schema_id"]["version"], "2.0");
  EXPECT_EQ(dp["body"]["heart_rate"]["value"], 72);
  EXPECT_TRUE(dp["body"]["effective_time_frame"]["date_time"].get<std::string>().ends_with("Z"));
  reader.signal(SIGTERM);
  EXPECT_EQ(reader.wait(10s), 0);
}

TEST(ReaderEndToEnd, OutputToAUnixSocket) {
  Emulated emu(fast());
  const std::string path = emu.dir.file("fn.sock");
  int ls = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(ls, 1), 0);
  t::Child reader(emu.args({"--output", "unix:" + path}));
  const int fd = ::accept(ls, nullptr, nullptr);
  ASSERT_GE(fd, 0);
  std::string got;
  char buf[4096];
  while (json_lines(got).size() < 3) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_EQ(json_lines(got)[2]["uuid"], "2a37");
  EXPECT_TRUE(reader.out().empty());
  reader.signal(SIGTERM);
  EXPECT_EQ(reader.wait(10s), 0);
  ::close(fd);
  ::close(ls);
}

// A real HTTPS server (common/https_server.hpp) standing in for the orchestrator's marks endpoint.
struct MarksServer {
  http::Server server;
  std::thread thread;
  std::mutex mu;
  std::vector<http::Request> requests;
  MarksServer() : server(options()) {
    server.route("POST", "/v1/functions/{function}/marks", [this](http::Request& req) {
      std::lock_guard lock(mu);
      requests.push_back(req);
      return http::json_response(201, nlohmann::json{{"ok", true}});
    });
    auto s = server.start();
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    thread = std::thread([this] { server.run(); });
  }
  ~MarksServer() {
    server.shutdown();
    thread.join();
  }
  static http::ServerOptions options() {
    http::ServerOptions o;
    o.tls.cert_file = t::test_pki().cert("server");
    o.tls.key_file = t::test_pki().key("server");
    return o;
  }
  std::size_t count() {
    std::lock_guard lock(mu);
    return requests.size();
  }
};

TEST(ReaderEndToEnd, FirstSampleIsPostedAsTheFirstDataMarkOnce) {
  MarksServer marks;
  Emulated emu(fast());
  const auto before_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  t::Child reader(emu.args({"--orchestrator", "https://127.0.0.1:" + std::to_string(marks.server.port()), "--ca",
                            t::test_pki().ca(), "--token", "reader-token"}),
                  {{"C4I_FUNCTION", "fn-hr-7"}});
  ASSERT_TRUE(t::wait_until([&] { return marks.count() >= 1; }, 15s)) << reader.err();
  ASSERT_TRUE(t::wait_until([&] { return count_source(reader.out(), "notification") >= 4; }, 10s));
  const auto after_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
  reader.signal(SIGTERM);
  EXPECT_EQ(reader.wait(10s), 0) << reader.err();
  std::lock_guard lock(marks.mu);
  ASSERT_EQ(marks.requests.size(), 1u);
  const auto& req = marks.requests[0];
  EXPECT_EQ(req.path, "/v1/functions/fn-hr-7/marks");
  ASSERT_NE(req.header("authorization"), nullptr);
  EXPECT_EQ(*req.header("authorization"), "Bearer reader-token");
  auto body = nlohmann::json::parse(req.body);
  EXPECT_EQ(body["mark"], "first_data");
  const auto t_ms = body["t"].get<std::int64_t>();
  EXPECT_GE(t_ms, before_ms);
  EXPECT_LE(t_ms, after_ms);
  // The mark's time is the first sample's time.
  EXPECT_EQ(json_lines(reader.out()).at(0)["t"].get<std::string>().substr(11, 12).size(), 12u);
}

TEST(GattPeripheralProgram, ServesTheReaderAndReportsOnSigterm) {
  t::TempDir dir;
  const std::string sock = dir.file("hr.sock");
  t::Child periph({t::binary_dir() + "/ble-reader/c4i-gatt-peripheral", "--listen", sock, "--interval-ms", "20",
                   "--indications", "--bpm", "120", "--rate-16bit"});
  ASSERT_TRUE(t::wait_until([&] { return periph.err().find("listening on") != std::string::npos; }, 10s)) << periph.err();
  t::Child reader({reader_bin(), "--connect", "unix:" + sock});
  ASSERT_TRUE(t::wait_until([&] { return count_source(reader.out(), "indication") >= 2; }, 10s)) << reader.err();
  auto lines = json_lines(reader.out());
  EXPECT_EQ(lines.at(2)["decoded"]["heart_rate_bpm"], 120);
  EXPECT_EQ(lines.at(2)["value"].get<std::string>().substr(0, 6), "177800");  // flags 0x17: uint16 rate
  reader.signal(SIGTERM);
  EXPECT_EQ(reader.wait(10s), 0) << reader.err();
  periph.signal(SIGTERM);
  EXPECT_EQ(periph.wait(10s), 0);
  EXPECT_NE(periph.err().find("stopped: 1 connections"), std::string::npos) << periph.err();
  auto bad = t::run({t::binary_dir() + "/ble-reader/c4i-gatt-peripheral", "--listen", sock, "--error", "read"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_EQ(bad.err, "c4i-gatt-peripheral: --error 'read' is not OPCODE:HANDLE:CODE (e.g. 0x0a:0x0009:0x05)\n");
}

TEST(ReaderCli, BluetoothConnectOnAKernelWithoutBluetoothIsOneLineAndNonZero) {
  const int probe = ::socket(PF_BLUETOOTH, SOCK_SEQPACKET, BTPROTO_L2CAP);
  if (probe >= 0) {
    ::close(probe);
    GTEST_SKIP() << "this kernel has Bluetooth; the no-radio path cannot be shown here";
  }
  auto r = t::run({reader_bin(), "--connect", "C0:FF:EE:00:00:01", "--address-type", "random", "--security", "medium"},
                  10s);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "c4i-reader: cannot open a Bluetooth L2CAP socket: Address family not supported by protocol (this "
                   "kernel has no Bluetooth support)\n");
  EXPECT_TRUE(r.out.empty());
}

TEST(ReaderCli, BadArgumentsAreOneLineAndExit2) {
  auto bad_addr = t::run({reader_bin(), "--connect", "not-an-address"});
  EXPECT_EQ(bad_addr.code, 2);
  EXPECT_NE(bad_addr.err.find("'not-an-address' is neither a Bluetooth address"), std::string::npos) << bad_addr.err;
  auto no_fn = t::run({reader_bin(), "--connect", "unix:/tmp/x", "--orchestrator", "https://127.0.0.1:1"}, 10s, "");
  EXPECT_EQ(no_fn.code, 2);
  EXPECT_NE(no_fn.err.find("--function or C4I_FUNCTION"), std::string::npos) << no_fn.err;
  auto bad_sec = t::run({reader_bin(), "--connect", "unix:/tmp/x", "--security", "extreme"});
  EXPECT_EQ(bad_sec.code, 2);
  auto bad_char = t::run({reader_bin(), "--connect", "unix:/tmp/x", "--char", "heart"});
  EXPECT_EQ(bad_char.code, 2);
  EXPECT_EQ(bad_char.err, "c4i-reader: --char 'heart' is not a UUID (2a37 or 128-bit form)\n");
}

}  // namespace
}  // namespace c4i::reader
