// `c4i-reader replay` against tshark on the same captures: the handle and
// value of every ATT notification and indication, in order.
#include <cstdio>
#include <filesystem>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/ble-reader/capture_builder.hpp"
#include "tests/support/testlib.hpp"

namespace c4i::reader {
namespace {

namespace t = c4i::testing;

std::string reader_bin() { return t::binary_dir() + "/ble-reader/c4i-reader"; }

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

// "0x000b\t41542b..." per notification, as tshark prints -e btatt.handle -e btatt.value.
std::vector<std::string> tshark_values(const std::string& file) {
  auto r = t::run({"tshark", "-r", file, "-Y", "btatt.opcode==0x1b || btatt.opcode==0x1d", "-T", "fields", "-e",
                   "btatt.handle", "-e", "btatt.value"},
                  std::chrono::seconds(120));
  EXPECT_EQ(r.code, 0) << r.err;
  return split_lines(r.out);
}

std::vector<std::string> reader_values(const std::string& file, std::string* err = nullptr) {
  auto r = t::run({reader_bin(), "replay", file, "--format", "jsonl"}, std::chrono::seconds(120));
  EXPECT_EQ(r.code, 0) << r.err;
  if (err) *err = r.err;
  std::vector<std::string> out;
  for (const auto& line : split_lines(r.out)) {
    auto j = nlohmann::json::parse(line);
    char h[8];
    std::snprintf(h, sizeof h, "0x%04x", j["handle"].get<int>());
    out.push_back(std::string(h) + "\t" + j["value"].get<std::string>());
  }
  return out;
}

void expect_same_as_tshark(const std::string& file, std::size_t expected_count) {
  const auto ts = tshark_values(file);
  std::string err;
  const auto ours = reader_values(file, &err);
  ASSERT_EQ(ts.size(), expected_count) << "tshark saw a different capture than the README describes";
  ASSERT_EQ(ours.size(), ts.size());
  for (std::size_t i = 0; i < ts.size(); ++i) ASSERT_EQ(ours[i], ts[i]) << "notification #" << i + 1;
  // The summary is one line on stderr.
  EXPECT_EQ(split_lines(err).size(), 1u) << err;
  EXPECT_NE(err.find(std::to_string(expected_count) + " notifications"), std::string::npos) << err;
}

TEST(ReplayMatchesTshark, Dsd6TrackerCapture) {
  expect_same_as_tshark(t::testdata_dir() + "/hci-dsd6-tracker.btsnoop", 28);
}

TEST(ReplayMatchesTshark, Horizon74TreadmillCapture) {
  expect_same_as_tshark(t::testdata_dir() + "/hci-horizon74-treadmill.btsnoop", 1047);
}

TEST(ReplayMatchesTshark, FragmentedL2capFramesAreReassembledLikeTshark) {
  // tshark prints btatt.value only for characteristics it has no dissector
  // for and tracks discovered handles across connections, so this capture
  // has no discovery: only fragmented notifications and an indication.
  testing::CaptureBuilder b;
  b.le_connection(0x0040, 0x11);
  std::vector<std::uint8_t> long_ntf{0x1B, 0x06, 0x00};
  for (int i = 0; i < 60; ++i) long_ntf.push_back(static_cast<std::uint8_t>(i));
  b.att(0x0040, true, long_ntf, 20);           // 4 ACL fragments
  b.att(0x0040, true, {0x1D, 0x0C, 0x00, 0x5A});
  b.att(0x0040, false, {0x1E});
  b.le_connection(0x0041, 0x99);
  b.att(0x0041, true, {0x1B, 0x21, 0x00, 0xAB, 0xCD, 0xEF}, 5);
  b.att(0x0040, true, {0x1B, 0x06, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}, 4);
  t::TempDir dir;
  const auto& bytes = b.bytes();
  t::write_file(dir.file("frag.btsnoop"), std::string(bytes.begin(), bytes.end()));
  const auto ts = tshark_values(dir.file("frag.btsnoop"));
  const auto ours = reader_values(dir.file("frag.btsnoop"));
  ASSERT_EQ(ts.size(), 4u);
  EXPECT_EQ(ts[0].size(), 7u + 120u) << "tshark did not reassemble the long notification";
  EXPECT_EQ(ours, ts);
}

TEST(ReplayMatchesTshark, DecodedFieldsForCharacteristicsDiscoveredInTheCapture) {
  auto r = t::run({reader_bin(), "replay", t::testdata_dir() + "/hci-dsd6-tracker.btsnoop", "--format", "jsonl"});
  ASSERT_EQ(r.code, 0);
  auto first = nlohmann::json::parse(split_lines(r.out).at(0));
  EXPECT_EQ(first["conn"], 2);
  EXPECT_EQ(first["uuid"], "0002");
  EXPECT_EQ(first["decoded"]["hex"], first["value"]);
  EXPECT_EQ(first["t"].get<std::string>().substr(0, 10), "2020-05-17");
}

TEST(ReplayCli, UnreadableOrBadFileIsOneLineAndExit2) {
  auto missing = t::run({reader_bin(), "replay", "/nonexistent/capture.btsnoop", "--format", "jsonl"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_EQ(split_lines(missing.err).size(), 1u) << missing.err;
  EXPECT_TRUE(missing.out.empty());
  t::TempDir dir;
  t::write_file(dir.file("junk.btsnoop"), std::string(100, 'x'));
  auto junk = t::run({reader_bin(), "replay", dir.file("junk.btsnoop"), "--format", "jsonl"});
  EXPECT_EQ(junk.code, 2);
  EXPECT_EQ(split_lines(junk.err).size(), 1u) << junk.err;
  EXPECT_NE(junk.err.find("junk.btsnoop"), std::string::npos);
  auto fmt = t::run({reader_bin(), "replay", dir.file("junk.btsnoop"), "--format", "csv"});
  EXPECT_EQ(fmt.code, 2);
}

}  // namespace
}  // namespace c4i::reader
