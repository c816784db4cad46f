#include "ble-reader/att_client.hpp"

#include <deque>

#include <gtest/gtest.h>

#include "ble-reader/gatt_client.hpp"
#include "ble-reader/gatt_peripheral.hpp"

namespace c4i::reader {
namespace {

using att::Bytes;

// Records what the client sends (the scripted-peer style of BlueZ's unit/test-gatt.c).
struct RecordingIo : AttIo {
  std::vector<Bytes> sent;
  bool fail = false;
  bool send(std::span<const std::uint8_t> pdu) override {
    if (fail) return false;
    sent.emplace_back(pdu.begin(), pdu.end());
    return true;
  }
};

TEST(AttClient, OneRequestOutstandingAtATime) {
  RecordingIo io;
  AttClient c(io);
  int done = 0;
  c.request(att::encode_read_req(3), [&](const AttOutcome& o) { EXPECT_TRUE(o.ok()); ++done; }, 0);
  c.request(att::encode_read_req(9), [&](const AttOutcome& o) { EXPECT_TRUE(o.ok()); ++done; }, 0);
  ASSERT_EQ(io.sent.size(), 1u);
  c.receive(Bytes{0x0B, 0x41}, 1);
  ASSERT_EQ(io.sent.size(), 2u);
  EXPECT_EQ(io.sent[1], att::encode_read_req(9));
  c.receive(Bytes{0x0B, 0x01}, 2);
  EXPECT_EQ(done, 2);
  EXPECT_TRUE(c.idle());
}

TEST(AttClient, ErrorResponseCompletesWithAClearMessage) {
  RecordingIo io;
  AttClient c(io);
  AttOutcome got;
  c.request(att::encode_read_req(9), [&](const AttOutcome& o) { got = o; }, 0);
  c.receive(att::encode_error_rsp(0x0A, 9, 0x05), 1);
  EXPECT_EQ(got.kind, AttOutcome::Kind::att_error);
  EXPECT_TRUE(got.is_att_error(0x05));
  EXPECT_EQ(got.message,
            "Read Request on handle 0x0009 failed: Insufficient Authentication (ATT error 0x05): the attribute requires "
            "authentication (pairing) before it can be read or written");
  EXPECT_TRUE(c.open());
}

TEST(AttClient, UnansweredRequestTimesOutAndClosesTheBearer) {
  RecordingIo io;
  AttClient c(io, AttClientOptions{500});
  AttOutcome first, second;
  c.request(att::encode_exchange_mtu_req(247), [&](const AttOutcome& o) { first = o; }, 1000);
  c.request(att::encode_read_req(1), [&](const AttOutcome& o) { second = o; }, 1000);
  EXPECT_EQ(c.next_deadline(), 1500);
  c.tick(1499);
  EXPECT_TRUE(c.open());
  c.tick(1500);
  EXPECT_FALSE(c.open());
  EXPECT_EQ(first.kind, AttOutcome::Kind::timeout);
  EXPECT_EQ(first.message, "ATT Exchange MTU Request got no response within 500 ms");
  EXPECT_EQ(second.kind, AttOutcome::Kind::disconnected);
  // Core v5.3, Vol 3, Part F, 3.3.3: nothing more goes out on a timed-out bearer.
  EXPECT_EQ(c.request(att::encode_read_req(1), nullptr, 2000), 0u);
  EXPECT_EQ(io.sent.size(), 1u);
}

TEST(AttClient, DisconnectFailsEveryQueuedRequest) {
  RecordingIo io;
  AttClient c(io);
  int failed = 0;
  for (int i = 0; i < 3; ++i)
    c.request(att::encode_read_req(static_cast<std::uint16_t>(i + 1)), [&](const AttOutcome& o) {
      EXPECT_EQ(o.kind, AttOutcome::Kind::disconnected);
      ++failed;
    }, 0);
  c.close("the device disconnected");
  EXPECT_EQ(failed, 3);
  EXPECT_EQ(c.close_reason(), "the device disconnected");
}

TEST(AttClient, IndicationsAreConfirmedAfterTheHandlerNotificationsAreNot) {
  RecordingIo io;
  AttClient c(io);
  std::vector<std::uint16_t> seen;
  c.set_value_handler([&](const att::HandleValue& hv) {
    seen.push_back(hv.handle);
    EXPECT_TRUE(io.sent.empty() || io.sent.back() != att::encode_confirmation() || seen.size() > 1);
  });
  c.receive(Bytes{0x1B, 0x06, 0x00, 0x06, 0x48}, 0);
  EXPECT_TRUE(io.sent.empty());
  c.receive(Bytes{0x1D, 0x06, 0x00, 0x06, 0x49}, 0);
  ASSERT_EQ(io.sent.size(), 1u);
  EXPECT_EQ(io.sent[0], att::encode_confirmation());
  EXPECT_EQ(seen, (std::vector<std::uint16_t>{6, 6}));
}

TEST(AttClient, StrayAndMalformedPdusAreCountedNotFatal) {
  RecordingIo io;
  AttClient c(io);
  c.receive(Bytes{0x0B, 0x00}, 0);         // response with nothing outstanding
  c.receive(Bytes{0x1B, 0x06}, 0);         // notification too short
  c.receive(Bytes{}, 0);
  EXPECT_EQ(c.stats().unexpected, 1u);
  EXPECT_EQ(c.stats().malformed, 2u);
  // A request from the peer is answered with Request Not Supported.
  c.receive(att::encode_read_req(1), 0);
  ASSERT_EQ(io.sent.size(), 1u);
  EXPECT_EQ(io.sent[0], att::encode_error_rsp(0x0A, 0, 0x06));
  EXPECT_TRUE(c.open());
}

TEST(AttClient, CancelledRequestKeepsTheBearerUntilItsResponse) {
  RecordingIo io;
  AttClient c(io);
  bool called = false;
  const unsigned id = c.request(att::encode_read_req(3), [&](const AttOutcome&) { called = true; }, 0);
  c.request(att::encode_read_req(4), nullptr, 0);
  EXPECT_TRUE(c.cancel(id));
  EXPECT_EQ(io.sent.size(), 1u);
  c.receive(Bytes{0x0B}, 1);
  EXPECT_FALSE(called);
  EXPECT_EQ(io.sent.size(), 2u);
}

// The whole client against the emulated peripheral in memory: PDUs are
// queued both ways and pumped, so no callback runs inside another.
struct Link : AttIo {
  GattPeripheral& peripheral;
  std::deque<Bytes> to_client;
  explicit Link(GattPeripheral& p) : peripheral(p) {}
  bool send(std::span<const std::uint8_t> pdu) override {
    for (auto& r : peripheral.receive(pdu, 0)) to_client.push_back(r);
    return true;
  }
  bool step(AttClient& c, std::int64_t now) {
    if (to_client.empty()) return false;
    Bytes p = std::move(to_client.front());
    to_client.pop_front();
    c.receive(p, now);
    return true;
  }
  void pump(AttClient& c, std::int64_t now) {
    for (auto& n : peripheral.poll(now)) to_client.push_back(n);
    while (!to_client.empty()) {
      Bytes p = std::move(to_client.front());
      to_client.pop_front();
      c.receive(p, now);
    }
  }
};

struct SessionRun {
  std::vector<Sample> samples;
  std::vector<std::string> problems;
  bool streaming = false, stopped = false, fatal = false;
  Session::Callbacks callbacks() {
    Session::Callbacks cb;
    cb.sample = [this](const Sample& s) { samples.push_back(s); };
    cb.problem = [this](const std::string& l, bool f) {
      problems.push_back(l);
      fatal = fatal || f;
    };
    cb.streaming = [this](std::size_t) { streaming = true; };
    cb.stopped = [this] { stopped = true; };
    return cb;
  }
};

TEST(GattSession, DiscoversSubscribesStreamsAndUnsubscribes) {
  GattPeripheral p;
  p.connect(0);
  Link link(p);
  AttClient c(link);
  SessionRun run;
  Session s(c, SessionOptions{}, run.callbacks());
  s.start(0);
  link.pump(c, 0);
  ASSERT_TRUE(run.streaming);
  EXPECT_EQ(c.mtu(), 185);
  ASSERT_EQ(s.database().services.size(), 3u);
  EXPECT_EQ(s.database().services[1].uuid.str(), "180d");
  const auto* hr = s.database().find_by_value_handle(GattPeripheral::kHeartRateMeasurementHandle);
  ASSERT_NE(hr, nullptr);
  EXPECT_EQ(hr->cccd(), GattPeripheral::kHeartRateCccdHandle);
  EXPECT_EQ(p.cccd(GattPeripheral::kHeartRateCccdHandle), 0x0001);
  EXPECT_EQ(p.cccd(GattPeripheral::kBatteryCccdHandle), 0x0001);
  // Reads: Body Sensor Location and Battery Level.
  ASSERT_EQ(run.samples.size(), 2u);
  EXPECT_EQ(run.samples[0].source, Sample::Source::read);
  for (int t = 1000; t <= 3000; t += 1000) link.pump(c, t);
  ASSERT_EQ(run.samples.size(), 5u);
  EXPECT_EQ(run.samples.back().uuid->str(), "2a37");
  EXPECT_EQ(run.samples.back().value[1], 72 + 2);
  s.stop(4000);
  link.pump(c, 4000);
  EXPECT_TRUE(run.stopped);
  EXPECT_EQ(p.cccd(GattPeripheral::kHeartRateCccdHandle), 0);
  EXPECT_EQ(p.cccd(GattPeripheral::kBatteryCccdHandle), 0);
  EXPECT_TRUE(run.problems.empty());
}

TEST(GattSession, StopWhileSubscribingUndoesEveryCccdItEnables) {
  GattPeripheral p;
  p.connect(0);
  Link link(p);
  AttClient c(link);
  SessionRun run;
  Session s(c, SessionOptions{}, run.callbacks());
  s.start(0);
  while (s.state() != Session::State::subscribing && link.step(c, 0)) {
  }
  ASSERT_EQ(s.state(), Session::State::subscribing);
  s.stop(0);
  link.pump(c, 0);
  EXPECT_TRUE(run.stopped);
  const auto& w = p.stats().cccd_writes;
  ASSERT_EQ(w.size(), 4u);  // both enables still went out, then both disables
  EXPECT_EQ(w[2].value, 0);
  EXPECT_EQ(w[3].value, 0);
  EXPECT_EQ(p.cccd(GattPeripheral::kHeartRateCccdHandle), 0);
  EXPECT_EQ(p.cccd(GattPeripheral::kBatteryCccdHandle), 0);
}

TEST(GattSession, IndicationsAreEnabledAndConfirmed) {
  PeripheralConfig cfg;
  cfg.heart_rate_indications = true;
  GattPeripheral p(cfg);
  p.connect(0);
  Link link(p);
  AttClient c(link);
  SessionRun run;
  Session s(c, SessionOptions{}, run.callbacks());
  s.start(0);
  link.pump(c, 0);
  EXPECT_EQ(p.cccd(GattPeripheral::kHeartRateCccdHandle), 0x0002);
  for (int t = 1000; t <= 3000; t += 1000) link.pump(c, t);
  EXPECT_EQ(p.stats().indications, 3u);
  EXPECT_EQ(p.stats().confirmations, 3u);
  EXPECT_EQ(run.samples.back().source, Sample::Source::indication);
}

TEST(GattSession, AttErrorOnAReadIsReportedAndStreamingGoesOn) {
  PeripheralConfig cfg;
  cfg.inject_error = PeripheralConfig::InjectedError{0x0A, GattPeripheral::kBodySensorLocationHandle, 0x08};
  GattPeripheral p(cfg);
  p.connect(0);
  Link link(p);
  AttClient c(link);
  SessionRun run;
  Session s(c, SessionOptions{}, run.callbacks());
  s.start(0);
  link.pump(c, 0);
  EXPECT_TRUE(run.streaming);
  ASSERT_EQ(run.problems.size(), 1u);
  EXPECT_NE(run.problems[0].find("Insufficient Authorization (ATT error 0x08)"), std::string::npos);
  EXPECT_FALSE(run.fatal);
}

TEST(GattSession, SelectedCharacteristicOnly) {
  GattPeripheral p;
  p.connect(0);
  Link link(p);
  AttClient c(link);
  SessionRun run;
  SessionOptions o;
  o.characteristics = {Uuid::from16(0x2A37)};
  Session s(c, o, run.callbacks());
  s.start(0);
  link.pump(c, 0);
  ASSERT_EQ(s.subscriptions().size(), 1u);
  EXPECT_EQ(p.cccd(GattPeripheral::kBatteryCccdHandle), 0);
}

TEST(GattSession, DiscoveryFailureIsFatal) {
  PeripheralConfig cfg;
  cfg.inject_error = PeripheralConfig::InjectedError{0x10, 0, 0x11};
  GattPeripheral p(cfg);
  p.connect(0);
  Link link(p);
  AttClient c(link);
  SessionRun run;
  Session s(c, SessionOptions{}, run.callbacks());
  s.start(0);
  link.pump(c, 0);
  EXPECT_TRUE(run.fatal);
  EXPECT_EQ(s.state(), Session::State::failed);
  EXPECT_NE(run.problems.at(0).find("primary service discovery: Read By Group Type Request on handle 0x0001 failed: Insufficient Resources"),
            std::string::npos);
}

}  // namespace
}  // namespace c4i::reader
