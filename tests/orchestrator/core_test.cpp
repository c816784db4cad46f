// Unit tests of the orchestrator's pure logic: event batches, paging tokens,
// settings, topology and token files.
#include "orchestrator/events.hpp"
#include "orchestrator/paging.hpp"
#include "orchestrator/settings.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace c4i::orchestrator {
namespace {

using nlohmann::json;

json good_batch() {
  return json{{"gateway", "gw-1"},
              {"boot_id", "3f0c1c4e-8a52-4c1e-9d1b-2a7f6f3e9b10"},
              {"seq", 41},
              {"events",
               {{{"seq", 41}, {"type", "device.seen"}, {"t", 1763899200123}, {"reason", "enter"}, {"addr", "c4:7c:8d:6a:3e:01"},
                 {"addr_type", "public"}, {"rssi", -61}, {"name", "HRM-Pro"}, {"services", {"180d"}}, {"future_field", 1}},
                {{"seq", 42}, {"type", "device.lost"}, {"t", 1763899260456}, {"reason", "timeout"}, {"addr", "c4:7c:8d:6a:3e:01"},
                 {"addr_type", "public"}, {"rssi", -74}, {"last_seen_t", 1763899230001}},
                {{"seq", 43}, {"type", "gateway.heartbeat"}, {"t", 1763899261000}, {"cpu", 0.41}, {"mem", 0.30},
                 {"arch", "arm64"}, {"cpu_capacity_m", 4000}, {"mem_capacity_mb", 4096}}}}};
}

TEST(EventBatch, ParsesTheReadmeExampleAndIgnoresUnknownFields) {
  auto b = parse_event_batch(good_batch().dump());
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->gateway, "gw-1");
  EXPECT_EQ(b->seq, 41);
  ASSERT_EQ(b->events.size(), 3u);
  EXPECT_EQ(b->events[0].type, EventType::device_seen);
  EXPECT_EQ(b->events[0].rssi_dbm, -61);
  EXPECT_EQ(b->events[0].services, std::vector<std::string>{"180d"});
  EXPECT_EQ(b->events[1].type, EventType::device_lost);
  EXPECT_EQ(b->events[1].last_seen_t_ms, 1763899230001);
  EXPECT_EQ(b->events[2].type, EventType::gateway_heartbeat);
  EXPECT_DOUBLE_EQ(b->events[2].cpu, 0.41);
  EXPECT_EQ(b->events[2].cpu_capacity_m, 4000);
}

TEST(EventBatch, AnErrorNamesTheEventIndexAndField) {
  auto j = good_batch();
  j["events"][2]["cpu"] = "busy";
  auto b = parse_event_batch(j.dump());
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, "invalid_batch");
  EXPECT_EQ(b.error().message, "events[2].cpu: must be a number");
  j = good_batch();
  j["events"][0].erase("rssi");
  EXPECT_EQ(parse_event_batch(j.dump()).error().message, "events[0].rssi: is required");
  j = good_batch();
  j["events"][1]["addr"] = "C4:7C:8D:6A:3E:01";
  EXPECT_EQ(parse_event_batch(j.dump()).error().message.rfind("events[1].addr:", 0), 0u);
  j = good_batch();
  j["events"][0]["type"] = "device.teleported";
  EXPECT_EQ(parse_event_batch(j.dump()).error().message.rfind("events[0].type:", 0), 0u);
}

TEST(EventBatch, SeqMustBeContiguousFromTheBatchSeq) {
  auto j = good_batch();
  j["events"][1]["seq"] = 44;
  auto b = parse_event_batch(j.dump());
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().message.rfind("events[1].seq: must be 42", 0), 0u);
}

TEST(EventBatch, RejectsEnvelopeProblems) {
  EXPECT_EQ(parse_event_batch("{").error().code, "invalid_json");
  EXPECT_EQ(parse_event_batch("[]").error().code, "invalid_batch");
  auto j = good_batch();
  j.erase("boot_id");
  EXPECT_EQ(parse_event_batch(j.dump()).error().message, "boot_id: is required");
  j = good_batch();
  j["events"] = json::array();
  EXPECT_EQ(parse_event_batch(j.dump()).error().message, "events: must hold at least one event");
  j = good_batch();
  j["seq"] = 0;
  EXPECT_EQ(parse_event_batch(j.dump()).error().message.rfind("seq:", 0), 0u);
  j = good_batch();
  j["seq"] = 18446744073709551615ull;
  EXPECT_FALSE(parse_event_batch(j.dump()));
}

TEST(EventBatch, TooManyEventsIsItsOwnError) {
  auto b = parse_event_batch(good_batch().dump(), BatchLimits{2});
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, "too_many_events");
}

TEST(Paging, ContinueTokensRoundTripAndForeignTokensFail) {
  for (const std::string& key : std::vector<std::string>{"", "a", "ab", "abc", "fn-aa-bb-cc-dd-ee-01", "42", std::string("\0\xff", 2)}) {
    auto t = encode_continue(key);
    EXPECT_EQ(t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), std::string::npos);
    EXPECT_EQ(decode_continue(t), key);
  }
  EXPECT_FALSE(decode_continue("not a token!"));
  EXPECT_FALSE(decode_continue(base64url_encode("x1.abc")));
  EXPECT_FALSE(decode_continue(""));
}

TEST(Settings, ABadFieldNamesFileLineAndField) {
  auto root = config::load_string("listen: 127.0.0.1:8443\ncontrol:\n  retry_base_ms: -5\n", "orch.yaml");
  ASSERT_TRUE(root);
  Settings s;
  auto st = parse_settings(*root, s);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("control.retry_base_ms"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("orch.yaml:3"), std::string::npos) << st.error().message;
  root = config::load_string("listen: 127.0.0.1:8443\nlistn: x\n", "orch.yaml");
  EXPECT_NE(parse_settings(*root, s).error().message.find("listn"), std::string::npos);
}

TEST(Settings, MigrationRetentionIsSecondsFromZeroUp) {
  Settings s;
  EXPECT_EQ(s.migration_retention_s, 86'400);  // a day unless told
  auto root = config::load_string("control: {migration_retention_s: 3600}\n", "orch.yaml");
  ASSERT_TRUE(root);
  ASSERT_TRUE(parse_settings(*root, s));
  EXPECT_EQ(s.migration_retention_s, 3600);
  root = config::load_string("control: {migration_retention_s: -1}\n", "orch.yaml");
  auto st = parse_settings(*root, s);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("control.migration_retention_s"), std::string::npos) << st.error().message;
}

TEST(Settings, ListenAcceptsHostPortAndPortAlone) {
  std::string a = "127.0.0.1";
  std::uint16_t p = 1;
  ASSERT_TRUE(parse_listen("0.0.0.0:0", a, p));
  EXPECT_EQ(a, "0.0.0.0");
  EXPECT_EQ(p, 0);
  ASSERT_TRUE(parse_listen("9443", a, p));
  EXPECT_EQ(p, 9443);
  ASSERT_TRUE(parse_listen("[::1]:8443", a, p));
  EXPECT_EQ(a, "::1");
  EXPECT_FALSE(parse_listen("host:99999", a, p));
  EXPECT_FALSE(parse_listen("host:", a, p));
}

TEST(Topology, NodesNeedKnownTiersAndUniqueNames) {
  auto ok = config::load_string("nodes:\n  - {name: gw-1, tier: gateway, arch: arm64, labels: {room: a}}\n  - {name: cloud-1, tier: cloud}\n", "t.yaml");
  auto nodes = parse_topology(*ok);
  ASSERT_TRUE(nodes) << nodes.error().message;
  EXPECT_EQ(nodes->size(), 2u);
  EXPECT_EQ((*nodes)[0].labels.at("room"), "a");
  auto bad = config::load_string("nodes:\n  - {name: gw-1, tier: gateway}\n  - {name: gw-1, tier: fog}\n", "t.yaml");
  auto r = parse_topology(*bad);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("nodes[1]"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("t.yaml:3"), std::string::npos) << r.error().message;
}

TEST(Tokens, RolesAndHashesAreChecked) {
  std::string h(64, 'a');
  auto ok = config::load_string("tokens:\n  - {name: a, role: operator, sha256: " + h + "}\n", "tok.yaml");
  auto t = parse_tokens(*ok);
  ASSERT_TRUE(t);
  EXPECT_EQ((*t)[0].role, Role::operator_);
  auto bad = config::load_string("tokens:\n  - {name: a, role: root, sha256: " + h + "}\n", "tok.yaml");
  auto r = parse_tokens(*bad);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("tokens[0].role"), std::string::npos) << r.error().message;
  auto short_hash = config::load_string("tokens:\n  - {name: a, role: admin, sha256: abc}\n", "tok.yaml");
  EXPECT_NE(parse_tokens(*short_hash).error().message.find("tokens[0].sha256"), std::string::npos);
}

}  // namespace
}  // namespace c4i::orchestrator
