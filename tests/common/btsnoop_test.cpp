#include "common/btsnoop.hpp"

#include <gtest/gtest.h>

#include "tests/support/testlib.hpp"

namespace c4i::btsnoop {
namespace {

std::uint64_t count_records(const std::string& file, Stats* stats = nullptr) {
  auto bytes = read_file(testing::testdata_dir() + "/" + file);
  EXPECT_TRUE(bytes.ok()) << bytes.error().message;
  auto r = Reader::open(*bytes);
  EXPECT_TRUE(r.ok());
  Packet p;
  std::uint64_t n = 0;
  while (r->next(p)) n++;
  if (stats) *stats = r->stats();
  EXPECT_EQ(r->datalink(), kDatalinkH4);
  return n;
}

// The frame counts are tshark's (see shared/testdata/README.md).
TEST(Btsnoop, ReadsEveryFrameOfTheTreadmillCapture) {
  Stats s;
  EXPECT_EQ(count_records("hci-horizon74-treadmill.btsnoop", &s), 2572u);
  EXPECT_FALSE(s.truncated);
}

TEST(Btsnoop, ReadsEveryFrameOfTheTrackerCapture) { EXPECT_EQ(count_records("hci-dsd6-tracker.btsnoop"), 571u); }

TEST(Btsnoop, RoundTripsWhatItWrites) {
  std::vector<std::uint8_t> f;
  append_header(f, kDatalinkH4);
  const std::uint8_t evt[] = {0x04, 0x0e, 0x04, 0x01, 0x03, 0x0c, 0x00};
  append_record(f, 1'700'000'000'123'456, 3, evt);
  auto r = Reader::open(f);
  ASSERT_TRUE(r.ok());
  Packet p;
  ASSERT_TRUE(r->next(p));
  EXPECT_EQ(p.type, PacketType::event);
  EXPECT_TRUE(p.received);
  EXPECT_EQ(p.unix_us, 1'700'000'000'123'456);
  ASSERT_EQ(p.data.size(), 6u);
  EXPECT_EQ(p.data[0], 0x0e);
  EXPECT_FALSE(r->next(p));
}

TEST(Btsnoop, TruncatedRecordIsCountedNotRead) {
  std::vector<std::uint8_t> f;
  append_header(f, kDatalinkH4);
  const std::uint8_t evt[] = {0x04, 0x0e, 0x04, 0x01, 0x03, 0x0c, 0x00};
  append_record(f, 0, 3, evt);
  append_record(f, 0, 3, evt);
  f.resize(f.size() - 3);
  auto r = Reader::open(f);
  Packet p;
  EXPECT_TRUE(r->next(p));
  EXPECT_FALSE(r->next(p));
  EXPECT_TRUE(r->stats().truncated);
  EXPECT_EQ(r->stats().skipped, 1u);
}

TEST(Btsnoop, UnknownH4TypeIsSkipped) {
  std::vector<std::uint8_t> f;
  append_header(f, kDatalinkH4);
  const std::uint8_t bad[] = {0x09, 0x00};
  const std::uint8_t empty[] = {0};
  append_record(f, 0, 0, bad);
  append_record(f, 0, 0, std::span<const std::uint8_t>(empty, 0));
  auto r = Reader::open(f);
  Packet p;
  EXPECT_FALSE(r->next(p));
  EXPECT_EQ(r->stats().skipped, 2u);
}

TEST(Btsnoop, HeaderErrorsSayWhatIsWrong) {
  std::vector<std::uint8_t> f = {'n', 'o', 't'};
  EXPECT_EQ(Reader::open(f).error().message, "btsnoop: file shorter than its 16-byte header");
  f.assign(16, 0);
  EXPECT_EQ(Reader::open(f).error().message, "btsnoop: bad magic, not a btsnoop file");
  f.clear();
  append_header(f, 1003);
  EXPECT_EQ(Reader::open(f).error().message, "btsnoop: datalink 1003 is not supported (1001, 1002, 2001 are)");
}

TEST(Btsnoop, H1DatalinkTakesTypeFromFlags) {
  std::vector<std::uint8_t> f;
  append_header(f, kDatalinkH1);
  const std::uint8_t pkt[] = {0x01, 0x02};
  append_record(f, 0, 0, pkt);  // sent data: ACL
  append_record(f, 0, 2, pkt);  // sent command
  append_record(f, 0, 3, pkt);  // received event
  auto r = Reader::open(f);
  Packet p;
  ASSERT_TRUE(r->next(p));
  EXPECT_EQ(p.type, PacketType::acl);
  ASSERT_TRUE(r->next(p));
  EXPECT_EQ(p.type, PacketType::command);
  ASSERT_TRUE(r->next(p));
  EXPECT_EQ(p.type, PacketType::event);
  EXPECT_EQ(p.data.size(), 2u);
}

}  // namespace
}  // namespace c4i::btsnoop

namespace c4i::btsnoop {
namespace {
// Found by fuzz_btsnoop: a timestamp near INT64_MIN overflowed the epoch shift.
TEST(Btsnoop, ExtremeTimestampDoesNotOverflow) {
  std::vector<std::uint8_t> f;
  append_header(f, kDatalinkH4);
  const std::uint8_t rec[] = {0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0,
                              0x80, 0, 0, 0, 0, 0, 0, 0, 0x04, 0x0e};
  f.insert(f.end(), rec, rec + sizeof rec);
  auto r = Reader::open(f);
  Packet p;
  ASSERT_TRUE(r->next(p));
  EXPECT_EQ(p.data.size(), 1u);
}
}  // namespace
}  // namespace c4i::btsnoop
