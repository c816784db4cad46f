// Presence logic (time is an input), the event JSON, config parsing and /proc parsing.
#include "gateway-discovery/presence.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "gateway-discovery/daemon_config.hpp"
#include "gateway-discovery/events.hpp"
#include "gateway-discovery/proc_stats.hpp"

namespace c4i::discovery {
namespace {

BdAddr addr(const char* s) {
  BdAddr a;
  EXPECT_TRUE(BdAddr::parse(s, a));
  return a;
}

PresenceConfig config() {
  PresenceConfig c;
  c.threshold_dbm = -70;
  c.hysteresis_db = 6;
  c.smoothing_alpha = 1.0;  // no smoothing unless a test sets it
  c.lost_after_ms = 10'000;
  c.refresh_ms = 0;
  return c;
}

struct Feed {
  Presence p;
  std::vector<PresenceEvent> out;
  void see(const char* a, int rssi, std::int64_t t, const AdvertisingData* ad = nullptr) {
    p.observe(Sighting{addr(a), 0, rssi, t, ad}, out);
  }
};

TEST(Presence, EntersAtThresholdAndLeavesOnlyBelowHysteresis) {
  Feed f{Presence(config(), {}), {}};
  f.see("aa:00:00:00:00:01", -75, 0);
  EXPECT_TRUE(f.out.empty());
  f.see("aa:00:00:00:00:01", -70, 100);
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_EQ(f.out[0].change, PresenceChange::enter);
  EXPECT_EQ(f.out[0].rssi_dbm, -70);
  // Between T - H and T: stays present, no event (no flapping).
  f.see("aa:00:00:00:00:01", -74, 200);
  f.see("aa:00:00:00:00:01", -76, 300);
  EXPECT_EQ(f.out.size(), 1u);
  f.see("aa:00:00:00:00:01", -77, 400);
  ASSERT_EQ(f.out.size(), 2u);
  EXPECT_EQ(f.out[1].change, PresenceChange::below_threshold);
  EXPECT_FALSE(f.out[1].seen());
}

TEST(Presence, SmoothingDampsASingleStrongAdvert) {
  auto c = config();
  c.smoothing_alpha = 0.25;
  Feed f{Presence(c, {}), {}};
  f.see("aa:00:00:00:00:02", -90, 0);
  f.see("aa:00:00:00:00:02", -50, 10);  // smoothed: -80
  EXPECT_TRUE(f.out.empty());
  for (int i = 0; i < 10; ++i) f.see("aa:00:00:00:00:02", -50, 20 + i);
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_EQ(f.out[0].change, PresenceChange::enter);
  EXPECT_GE(f.out[0].rssi_dbm, -70);
}

TEST(Presence, LostAfterTimeoutOnTick) {
  Feed f{Presence(config(), {}), {}};
  f.see("aa:00:00:00:00:03", -60, 1000);
  ASSERT_EQ(f.out.size(), 1u);
  f.p.tick(10'999, f.out);
  EXPECT_EQ(f.out.size(), 1u);
  f.p.tick(11'000, f.out);
  ASSERT_EQ(f.out.size(), 2u);
  EXPECT_EQ(f.out[1].change, PresenceChange::timeout);
  EXPECT_EQ(f.out[1].last_seen_ms, 1000);
  EXPECT_EQ(f.p.tracked(), 0u);
  // Seen again later: a new enter.
  f.see("aa:00:00:00:00:03", -60, 20'000);
  ASSERT_EQ(f.out.size(), 3u);
  EXPECT_EQ(f.out[2].change, PresenceChange::enter);
}

TEST(Presence, RefreshesPeriodicallyOnlyWhilePresent) {
  auto c = config();
  c.refresh_ms = 5000;
  c.lost_after_ms = 60'000;
  Feed f{Presence(c, {}), {}};
  f.see("aa:00:00:00:00:04", -60, 0);
  for (std::int64_t t = 100; t < 5000; t += 100) f.see("aa:00:00:00:00:04", -60, t);
  EXPECT_EQ(f.out.size(), 1u);  // adverts alone are not events
  f.see("aa:00:00:00:00:04", -60, 5000);
  ASSERT_EQ(f.out.size(), 2u);
  EXPECT_EQ(f.out[1].change, PresenceChange::refresh);
  f.p.tick(10'000, f.out);
  ASSERT_EQ(f.out.size(), 3u);
  EXPECT_EQ(f.out[2].change, PresenceChange::refresh);
  f.see("aa:00:00:00:00:05", -90, 10'000);  // absent device: never refreshed
  f.p.tick(15'000, f.out);
  EXPECT_EQ(f.out.size(), 4u);
}

TEST(Presence, FiltersByNamePrefixUsingTheScanResponseName) {
  Filters flt;
  flt.name_prefixes = {"HRM"};
  Feed f{Presence(config(), flt), {}};
  AdvertisingData none, named;
  named.has_name = true;
  named.name_complete = true;
  named.name = "HRM-Pro";
  f.see("aa:00:00:00:00:06", -60, 0, &none);   // ADV_IND without name: not yet matching
  EXPECT_TRUE(f.out.empty());
  f.see("aa:00:00:00:00:06", -60, 10, &named);  // SCAN_RSP with the name
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_EQ(f.out[0].device.name, "HRM-Pro");
  AdvertisingData phone;
  phone.has_name = true;
  phone.name = "Pixel";
  f.see("aa:00:00:00:00:07", -40, 20, &phone);
  EXPECT_EQ(f.out.size(), 1u);
  EXPECT_GE(f.p.stats().filtered_out, 2u);
}

TEST(Presence, FiltersByAddressServiceAndManufacturer) {
  Filters flt;
  flt.addresses = {addr("aa:00:00:00:00:08")};
  flt.service_uuids = {*Uuid::parse("0000180d-0000-1000-8000-00805f9b34fb")};
  flt.manufacturer_ids = {0x0059};
  Feed f{Presence(config(), flt), {}};
  AdvertisingData ad;
  ad.services = {*Uuid::parse("180d")};
  ad.manufacturer_id = 0x0059;
  AdvertisingData wrong_mfr = ad;
  wrong_mfr.manufacturer_id = 0x004C;
  f.see("aa:00:00:00:00:09", -50, 0, &ad);  // wrong address
  f.see("aa:00:00:00:00:08", -50, 0, &wrong_mfr);
  EXPECT_TRUE(f.out.empty());
  f.see("aa:00:00:00:00:08", -50, 10, &ad);  // 16-bit UUID matches the 128-bit filter
  ASSERT_EQ(f.out.size(), 1u);
}

TEST(Presence, RssiNotAvailableIsIgnored) {
  Feed f{Presence(config(), {}), {}};
  f.see("aa:00:00:00:00:0a", 127, 0);
  EXPECT_TRUE(f.out.empty());
  EXPECT_EQ(f.p.stats().rssi_unavailable, 1u);
}

TEST(Presence, DeviceCapIsEnforced) {
  auto c = config();
  c.max_devices = 2;
  Feed f{Presence(c, {}), {}};
  f.see("aa:00:00:00:00:01", -60, 0);
  f.see("aa:00:00:00:00:02", -60, 0);
  f.see("aa:00:00:00:00:03", -60, 0);
  EXPECT_EQ(f.out.size(), 2u);
  EXPECT_EQ(f.p.stats().dropped_full, 1u);
}

TEST(Events, SeenLostAndBatchFollowTheDocumentedSchema) {
  PresenceEvent e;
  e.change = PresenceChange::enter;
  e.device.addr = addr("C4:7C:8D:6A:3E:01");
  e.device.addr_type = 1;
  e.device.name = "HRM";
  e.device.services = {*Uuid::parse("180d")};
  e.device.manufacturer_id = 89;
  e.rssi_dbm = -61;
  e.t_ms = 1700000000123;
  PresenceEvent lost = e;
  lost.change = PresenceChange::timeout;
  lost.last_seen_ms = 1700000000000;
  Heartbeat h{1700000001000, 0.5, 0.25, "arm64", 4000, 4096};
  std::vector<OutboxRow> rows = {{7, presence_event_json(e)}, {8, presence_event_json(lost)}, {9, heartbeat_json(h)}};
  auto j = nlohmann::json::parse(batch_body("gw-1", "b0075e1d-0000-4000-8000-000000000000", rows));
  EXPECT_EQ(j["gateway"], "gw-1");
  EXPECT_EQ(j["seq"], 7);
  ASSERT_EQ(j["events"].size(), 3u);
  const auto& s = j["events"][0];
  EXPECT_EQ(s["seq"], 7);
  EXPECT_EQ(s["type"], "device.seen");
  EXPECT_EQ(s["reason"], "enter");
  EXPECT_EQ(s["addr"], "c4:7c:8d:6a:3e:01");
  EXPECT_EQ(s["addr_type"], "random");
  EXPECT_EQ(s["rssi"], -61);
  EXPECT_EQ(s["t"], 1700000000123);
  EXPECT_EQ(s["services"], nlohmann::json::array({"180d"}));
  EXPECT_EQ(s["manufacturer_id"], 89);
  const auto& l = j["events"][1];
  EXPECT_EQ(l["type"], "device.lost");
  EXPECT_EQ(l["reason"], "timeout");
  EXPECT_EQ(l["last_seen_t"], 1700000000000);
  const auto& hb = j["events"][2];
  EXPECT_EQ(hb["seq"], 9);
  EXPECT_EQ(hb["type"], "gateway.heartbeat");
  EXPECT_EQ(hb["arch"], "arm64");
  EXPECT_EQ(hb["cpu_capacity_m"], 4000);
  EXPECT_EQ(hb["mem_capacity_mb"], 4096);
  EXPECT_DOUBLE_EQ(hb["cpu"].get<double>(), 0.5);
}

TEST(Config, ReadsTheDocumentedFileAndNamesBadFields) {
  const std::string yaml = R"(gateway: gw-2
source: sim:unix:/tmp/sim.sock
scan: {active: true, interval_ms: 200, window_ms: 100}
presence: {threshold_dbm: -65, hysteresis_db: 4, smoothing_alpha: 0.5, lost_after_s: 12, refresh_s: 0}
filters: {addresses: ["AA:BB:CC:DD:EE:FF"], name_prefixes: [HRM], service_uuids: ["180d"], manufacturer_ids: [89]}
orchestrator: {url: "https://127.0.0.1:8443", ca_file: ca.pem, cert_file: c.pem, key_file: c.key}
outbox: {path: /tmp/o.db}
delivery: {batch_max: 10}
heartbeat: {interval_s: 5}
log: {format: json}
)";
  auto c = load_config_text(yaml, "d.yaml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->gateway, "gw-2");
  EXPECT_TRUE(c->scan_active);
  EXPECT_EQ(c->presence.threshold_dbm, -65);
  EXPECT_EQ(c->presence.lost_after_ms, 12'000);
  EXPECT_EQ(c->filters.addresses[0].str(), "aa:bb:cc:dd:ee:ff");
  EXPECT_EQ(c->batch_max, 10);
  EXPECT_EQ(c->log_format, "json");
  EXPECT_TRUE(validate(*c));

  auto bad = load_config_text("presence:\n  smoothing_alpha: 1.5\n", "d.yaml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("presence.smoothing_alpha"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("d.yaml:2"), std::string::npos) << bad.error().message;
  auto typo = load_config_text("presense: {}\n", "d.yaml");
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().message.find("presense"), std::string::npos);
  auto badaddr = load_config_text("filters: {addresses: [nope]}\n", "d.yaml");
  ASSERT_FALSE(badaddr);
}

TEST(Config, EnrolmentInsteadOfCertificateFiles) {
  const std::string base = "gateway: gw-2\norchestrator: {url: \"https://127.0.0.1:8443\", ca_file: ca.pem}\n"
                           "outbox: {path: /var/lib/c4i/o.db}\n";
  auto c = load_config_text(base + "enrolment: {dir: /var/lib/c4i/id, token_file: /etc/c4i/t, renew_at: 0.5}\n", "d.yaml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->identity_dir, "/var/lib/c4i/id");
  EXPECT_EQ(c->enrol_token_file, "/etc/c4i/t");
  EXPECT_DOUBLE_EQ(c->renew_at, 0.5);
  EXPECT_TRUE(enrols(*c));
  EXPECT_TRUE(validate(*c));
  // The identity directory defaults to the outbox's.
  auto t = load_config_text(base, "d.yaml");
  ASSERT_TRUE(t);
  EXPECT_FALSE(enrols(*t));
  t->enrol_token = "bt-1.x";
  EXPECT_TRUE(enrols(*t));
  EXPECT_EQ(identity_dir_of(*t), "/var/lib/c4i");
  // Certificate files and enrolment exclude each other, as do the two token sources.
  auto both = *t;
  both.cert_file = "c.pem";
  both.key_file = "c.key";
  ASSERT_FALSE(validate(both));
  EXPECT_NE(validate(both).error().message.find("exclusive"), std::string::npos);
  auto two = *c;
  two.enrol_token = "bt-1.x";
  EXPECT_FALSE(validate(two));
  auto late = load_config_text(base + "enrolment: {renew_at: 0.99}\n", "d.yaml");
  ASSERT_FALSE(late);
  EXPECT_NE(late.error().message.find("enrolment.renew_at"), std::string::npos) << late.error().message;
}

TEST(Config, ParsesSources) {
  auto b = parse_source("btsnoop:/x/y.btsnoop@0");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->kind, SourceSpec::Kind::btsnoop);
  EXPECT_EQ(b->path, "/x/y.btsnoop");
  EXPECT_EQ(b->speed, 0);
  auto s = parse_source("sim:127.0.0.1:7001");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->sim_host, "127.0.0.1");
  EXPECT_EQ(s->sim_port, 7001);
  auto h = parse_source("hci:hci1");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->hci_device, "hci1");
  EXPECT_FALSE(parse_source("btsnoop:f@fast"));
  EXPECT_FALSE(parse_source("sim:nohost"));
  EXPECT_FALSE(parse_source("radio"));
  auto u = parse_https_url("https://orch.example:8443/");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "orch.example");
  EXPECT_EQ(u->port, 8443);
  EXPECT_FALSE(parse_https_url("http://x"));
}

TEST(ProcStats, CpuAndMemoryShares) {
  auto a = parse_proc_stat("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n");
  auto b = parse_proc_stat("cpu  200 0 200 1400 0 0 0 0 0 0\n");
  ASSERT_TRUE(a && b);
  EXPECT_DOUBLE_EQ(cpu_busy_share(*a, *b), 0.25);
  // Found by fuzz_discovery_text: counters whose sum wraps 64 bits made busy > total.
  EXPECT_FALSE(parse_proc_stat("cpu  5 0 0 18446744073709551615 0\n"));  // busy 5 > total 4
  EXPECT_FALSE(parse_proc_stat("cpu  0 0 0 18446744073709551615 1\n"));
  auto m = parse_meminfo("MemTotal:        4096000 kB\nMemFree: 1 kB\nMemAvailable:    3072000 kB\n");
  ASSERT_TRUE(m);
  EXPECT_DOUBLE_EQ(m->used_share(), 0.25);
  EXPECT_FALSE(parse_meminfo("MemTotal: 1 kB\n"));
  EXPECT_EQ(kube_arch("x86_64"), "amd64");
  EXPECT_EQ(kube_arch("aarch64"), "arm64");
  EXPECT_EQ(kube_arch("armv7l"), "arm");
}

}  // namespace
}  // namespace c4i::discovery

namespace c4i::discovery {
namespace {
// A simulated gateway's load comes from a file the device simulator writes.
TEST(UsageOverride, ParsesFractionsAndRefusesAnythingElse) {
  auto u = parse_usage_override(R"({"cpu":0.93,"mem":0.5})");
  ASSERT_TRUE(u.has_value());
  EXPECT_DOUBLE_EQ(u->cpu, 0.93);
  EXPECT_DOUBLE_EQ(u->mem, 0.5);
  EXPECT_FALSE(parse_usage_override("").has_value());
  EXPECT_FALSE(parse_usage_override(R"({"cpu":1.5,"mem":0.5})").has_value());
  EXPECT_FALSE(parse_usage_override(R"({"cpu":"high","mem":0.5})").has_value());
  EXPECT_FALSE(parse_usage_override(R"({"cpu":0.5})").has_value());
}
}  // namespace
}  // namespace c4i::discovery
