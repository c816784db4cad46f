#include "ble-reader/gatt_peripheral.hpp"

#include <gtest/gtest.h>

namespace c4i::reader {
namespace {

using att::Bytes;

Bytes one(const std::vector<Bytes>& v) { return v.size() == 1 ? v[0] : Bytes{}; }

TEST(GattPeripheral, AnswersDiscoveryLikeAGattServer) {
  GattPeripheral p;
  p.connect(0);
  EXPECT_EQ(one(p.receive(att::encode_exchange_mtu_req(247), 0)), att::encode_exchange_mtu_rsp(185));
  auto groups = att::parse_read_by_group_type_rsp(one(p.receive(att::encode_read_by_group_type_req(1, 0xFFFF, Uuid::from16(0x2800)), 0)));
  ASSERT_TRUE(groups);
  ASSERT_EQ(groups->size(), 3u);
  EXPECT_EQ((*groups)[2].end, 0xFFFF);
  // Only primary services group here (Vol 3, Part F, 3.4.4.9).
  EXPECT_EQ(one(p.receive(att::encode_read_by_group_type_req(1, 0xFFFF, Uuid::from16(0x2803)), 0)),
            att::encode_error_rsp(0x10, 1, 0x10));
  EXPECT_EQ(one(p.receive(att::encode_read_by_type_req(0x0E, 0xFFFF, Uuid::from16(0x2803)), 0)),
            att::encode_error_rsp(0x08, 0x0E, 0x0A));
  EXPECT_EQ(one(p.receive(att::encode_find_info_req(5, 4), 0)), att::encode_error_rsp(0x04, 5, 0x01));
}

TEST(GattPeripheral, EnforcesPermissionsAndCccdLength) {
  GattPeripheral p;
  p.connect(0);
  EXPECT_EQ(one(p.receive(att::encode_read_req(GattPeripheral::kHeartRateMeasurementHandle), 0)),
            att::encode_error_rsp(0x0A, GattPeripheral::kHeartRateMeasurementHandle, 0x02));
  EXPECT_EQ(one(p.receive(att::encode_read_req(0x0100), 0)), att::encode_error_rsp(0x0A, 0x0100, 0x01));
  const std::uint8_t three[3] = {1, 0, 0};
  EXPECT_EQ(one(p.receive(att::encode_write_req(GattPeripheral::kHeartRateCccdHandle, three), 0)),
            att::encode_error_rsp(0x12, GattPeripheral::kHeartRateCccdHandle, 0x0D));
  const std::uint8_t on[2] = {1, 0};
  EXPECT_EQ(one(p.receive(att::encode_write_req(GattPeripheral::kBodySensorLocationHandle, on), 0)),
            att::encode_error_rsp(0x12, GattPeripheral::kBodySensorLocationHandle, 0x03));
  EXPECT_EQ(one(p.receive(Bytes{0x16, 0x01, 0x00, 0x00, 0x00}, 0)), att::encode_error_rsp(0x16, 0, 0x06));
}

TEST(GattPeripheral, NotifiesAtItsRateAndDisconnectsAfterN) {
  PeripheralConfig cfg;
  cfg.heart_rate_interval_ms = 100;
  cfg.disconnect_after_notifications = 2;
  GattPeripheral p(cfg);
  p.connect(0);
  const std::uint8_t on[2] = {1, 0};
  p.receive(att::encode_write_req(GattPeripheral::kHeartRateCccdHandle, on), 0);
  EXPECT_EQ(p.next_due(), 0);
  EXPECT_EQ(p.poll(0).size(), 1u);
  EXPECT_TRUE(p.poll(50).empty());
  EXPECT_EQ(p.next_due(), 100);
  EXPECT_EQ(p.poll(100).size(), 1u);
  EXPECT_TRUE(p.wants_disconnect());
  EXPECT_FALSE(p.next_due());
  // A new connection starts with notifications off (no bonding).
  p.connect(200);
  EXPECT_FALSE(p.wants_disconnect());
  EXPECT_EQ(p.cccd(GattPeripheral::kHeartRateCccdHandle), 0);
}

TEST(GattPeripheral, SilentModeAnswersNothing) {
  PeripheralConfig cfg;
  cfg.silent = true;
  GattPeripheral p(cfg);
  p.connect(0);
  EXPECT_TRUE(p.receive(att::encode_exchange_mtu_req(247), 0).empty());
  EXPECT_EQ(p.stats().requests, 1u);
}

TEST(GattPeripheral, OneIndicationAtATime) {
  PeripheralConfig cfg;
  cfg.heart_rate_indications = true;
  cfg.heart_rate_interval_ms = 10;
  GattPeripheral p(cfg);
  p.connect(0);
  const std::uint8_t ind[2] = {2, 0};
  p.receive(att::encode_write_req(GattPeripheral::kHeartRateCccdHandle, ind), 0);
  EXPECT_EQ(p.poll(0).size(), 1u);
  EXPECT_TRUE(p.poll(100).empty());
  p.receive(att::encode_confirmation(), 100);
  EXPECT_EQ(p.poll(100).size(), 1u);
  EXPECT_EQ(p.stats().confirmations, 1u);
}

}  // namespace
}  // namespace c4i::reader
