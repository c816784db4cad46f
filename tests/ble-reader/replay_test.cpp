#include "ble-reader/replay.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/ble-reader/capture_builder.hpp"

namespace c4i::reader {
namespace {

using testing::CaptureBuilder;

std::vector<std::string> lines(const std::vector<std::uint8_t>& capture, ReplayStats* stats = nullptr) {
  std::vector<std::string> out;
  auto s = replay(capture, [&](const ReplayRecord& r) { out.push_back(replay_json_line(r)); });
  EXPECT_TRUE(s) << (s ? "" : s.error().message);
  if (s && stats) *stats = *s;
  return out;
}

TEST(Replay, ReassemblesFragmentsAndNamesCharacteristicsFromDiscovery) {
  ReplayStats st;
  auto out = lines(testing::fragmented_capture(), &st);
  ASSERT_EQ(out.size(), 3u);
  auto first = nlohmann::json::parse(out[0]);
  EXPECT_EQ(first["conn"], 0x40);
  EXPECT_EQ(first["handle"], 6);
  EXPECT_EQ(first["opcode"], "notification");
  EXPECT_EQ(first["uuid"], "2a37");
  EXPECT_EQ(first["decoded"]["heart_rate_bpm"], 72);
  EXPECT_EQ(first["decoded"]["rr_intervals_1024"].size(), 20u);
  EXPECT_EQ(first["value"].get<std::string>().size(), 2u * 42);
  EXPECT_EQ(first["t"], "2023-11-14T22:13:20.060Z");
  auto ind = nlohmann::json::parse(out[1]);
  EXPECT_EQ(ind["opcode"], "indication");
  EXPECT_EQ(ind["decoded"]["battery_level_percent"], 90);
  // The second connection saw no discovery: no UUID, no decoded.
  auto other = nlohmann::json::parse(out[2]);
  EXPECT_EQ(other["conn"], 0x41);
  EXPECT_EQ(other["value"], "abcdef");
  EXPECT_FALSE(other.contains("decoded"));
  EXPECT_EQ(st.notifications, 2u);
  EXPECT_EQ(st.indications, 1u);
  EXPECT_EQ(st.acl.reassembled, 2u);  // the long notification and the second connection's
  EXPECT_EQ(st.decoded, 2u);
}

TEST(Replay, DiscoveryFollowsThePeerAcrossConnectionHandles) {
  CaptureBuilder b;
  b.le_connection(0x0001, 0x11);
  b.att(0x0001, false, {0x08, 0x01, 0x00, 0xFF, 0xFF, 0x03, 0x28});
  b.att(0x0001, true, testing::read_by_type_chars({{0x0005, 0x10, 0x0006, 0x2A37}}));
  b.disconnection(0x0001);
  b.le_connection(0x0002, 0x11);  // same device, new handle, cached database
  b.att(0x0002, true, {0x1B, 0x06, 0x00, 0x00, 0x50});
  b.le_connection(0x0001, 0x77);  // the old handle now reaches another device
  b.att(0x0001, true, {0x1B, 0x06, 0x00, 0x00, 0x50});
  auto out = lines(b.bytes());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(out[0])["decoded"]["heart_rate_bpm"], 80);
  EXPECT_FALSE(nlohmann::json::parse(out[1]).contains("uuid"));
}

TEST(Replay, MalformedPacketsAreCountedAndSkipped) {
  CaptureBuilder b;
  b.raw({0x02, 0x40, 0x10, 0x05, 0x00, 0x01}, true);          // ACL length says 5, has 1
  b.raw({0x02, 0x40, 0x10, 0x02, 0x00, 0x01, 0x00}, true);    // continuation with no start
  b.raw({0x02, 0x40, 0x20, 0x05, 0x00, 0x01, 0x00, 0x04, 0x00, 0x1B}, true);  // L2CAP length 1, ATT too short
  b.att(0x0040, true, {0x1B, 0x01, 0x00, 0x01});
  ReplayStats st;
  auto out = lines(b.bytes(), &st);
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(st.acl.malformed, 1u);
  EXPECT_EQ(st.acl.orphan_fragments, 1u);
  EXPECT_EQ(st.att_malformed, 1u);
  EXPECT_NE(summary(st).find("1 orphan fragments"), std::string::npos);
}

TEST(Replay, NotABtsnoopFileIsAnError) {
  std::vector<std::uint8_t> junk(64, 0x41);
  auto s = replay(junk, [](const ReplayRecord&) {});
  EXPECT_FALSE(s);
}

TEST(AclReassembler, StartReplacingAnUnfinishedFrameIsCounted) {
  AclReassembler r;
  const std::vector<std::uint8_t> start{0x40, 0x20, 0x05, 0x00, 0x0A, 0x00, 0x04, 0x00, 0x1B};
  EXPECT_FALSE(r.feed(start, true));
  EXPECT_FALSE(r.feed(start, true));
  EXPECT_EQ(r.stats().dropped_partial, 1u);
  // The other direction is reassembled separately.
  EXPECT_FALSE(r.feed(start, false));
  const std::vector<std::uint8_t> rest{0x40, 0x10, 0x09, 0x00, 0x06, 0x00, 1, 2, 3, 4, 5, 6, 7};
  auto f = r.feed(rest, false);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->cid, 4);
  EXPECT_EQ(f->payload.size(), 10u);
}

}  // namespace
}  // namespace c4i::reader
