#include "simulator/scenario.hpp"

#include <gtest/gtest.h>

#include "tests/support/testlib.hpp"

namespace c4i::sim {
namespace {

Scenario demo() {
  auto s = load_scenario(testing::source_dir() + "/demo/scenario.yaml");
  EXPECT_TRUE(s.ok()) << s.error().message;
  return *s;
}

TEST(Scenario, DemoScenarioLoads) {
  auto s = demo();
  EXPECT_EQ(s.gateways.size(), 3u);
  EXPECT_EQ(s.devices.size(), 3u);
  EXPECT_EQ(s.devices[2].kind, DeviceKind::engine);
}

TEST(Scenario, PositionIsInterpolatedAlongThePath) {
  auto s = demo();
  const auto& a = s.devices[0];
  EXPECT_DOUBLE_EQ(position_at(a, 0).x, 2);
  EXPECT_DOUBLE_EQ(position_at(a, 35).x, 21);  // halfway from t=20 (x=2) to t=50 (x=40)
  EXPECT_DOUBLE_EQ(position_at(a, 1000).x, 78);
}

TEST(Scenario, PatientWalksOutOfWardAIntoWardB) {
  auto s = demo();
  const auto& a = s.devices[0];
  auto rssi_at = [&](double t, int g) { return mean_rssi_dbm(s.rssi, distance(position_at(a, t), s.gateways[g].at)); };
  EXPECT_GT(rssi_at(10, 0), -70);  // in ward A, above the demo's -70 dBm threshold
  EXPECT_LT(rssi_at(10, 1), -76);
  EXPECT_GT(rssi_at(60, 1), -70);  // in ward B
  EXPECT_LT(rssi_at(60, 0), -76);
}

TEST(Scenario, LogDistanceModel) {
  RssiModel m;
  EXPECT_DOUBLE_EQ(mean_rssi_dbm(m, 1), -45);
  EXPECT_NEAR(mean_rssi_dbm(m, 10), -67, 1e-9);
}

TEST(Scenario, SamplerIsSeededAndRespectsSensitivity) {
  RssiModel m;
  RssiSampler a(m, 1), b(m, 1);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.sample(5), b.sample(5));
  EXPECT_FALSE(a.sample(10000).has_value());
}

TEST(Scenario, LoadIsTheLastStepAtOrBeforeT) {
  auto s = demo();
  EXPECT_DOUBLE_EQ(load_at(s, "gw-3", 54).cpu, 0.25);
  EXPECT_DOUBLE_EQ(load_at(s, "gw-3", 55).cpu, 0.95);
  EXPECT_DOUBLE_EQ(load_at(s, "gw-1", 60).cpu, 0.0);
}

TEST(Scenario, ErrorsNameTheField) {
  auto doc = config::load_string("gateways: [{name: gw-1, x: 0, y: 0}]\ndevices:\n  - addr: nope\n    path: [{t: 0, x: 0, y: 0}]\n", "s.yaml");
  auto s = scenario_from_yaml(*doc);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "devices[0].addr: must be a Bluetooth address aa:bb:cc:dd:ee:ff, got nope (s.yaml:3)");
  doc = config::load_string("gateways: []\ndevices: []\nload:\n  gw-9: [{t: 5, cpu: 0.5}, {t: 1, cpu: 0.2}]\n", "s.yaml");
  s = scenario_from_yaml(*doc);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "load.gw-9[1].t: load steps must be in time order (s.yaml:4)");
}

}  // namespace
}  // namespace c4i::sim
