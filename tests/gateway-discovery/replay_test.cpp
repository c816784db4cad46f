// `c4i-discovery replay` against tshark, report by report, on the real
// captures in ../shared/testdata and on synthetic ones (several reports per
// event, datalink 1001, malformed events). tshark runs in the same test.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>
#include <tuple>
#include <vector>

#include "common/btsnoop.hpp"
#include "tests/support/testlib.hpp"

namespace {

using c4i::testing::run;
using Report = std::tuple<long, std::string, int>;  // frame, addr, rssi

std::string discovery() { return c4i::testing::binary_dir() + "/gateway-discovery/c4i-discovery"; }

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

// tshark prints one line per event; several reports of one event come as
// comma-separated values in each field.
std::vector<Report> tshark_reports(const std::string& file) {
  auto r = run({"tshark", "-r", file, "-Y", "bthci_evt.le_meta_subevent==0x02", "-T", "fields", "-e", "frame.number",
                "-e", "bthci_evt.bd_addr", "-e", "bthci_evt.rssi"});
  EXPECT_EQ(r.code, 0) << r.err;
  std::vector<Report> out;
  for (const auto& line : split(r.out, '\n')) {
    if (line.empty()) continue;
    auto f = split(line, '\t');
    EXPECT_EQ(f.size(), 3u) << line;
    if (f.size() != 3) continue;
    auto addrs = split(f[1], ',');
    auto rssis = split(f[2], ',');
    EXPECT_EQ(addrs.size(), rssis.size()) << line;
    for (std::size_t i = 0; i < addrs.size() && i < rssis.size(); ++i)
      out.emplace_back(std::stol(f[0]), addrs[i], std::stoi(rssis[i]));
  }
  return out;
}

struct Replay {
  std::vector<Report> legacy;
  std::vector<nlohmann::json> lines;
  std::string summary;
};

Replay our_reports(const std::string& file) {
  auto r = run({discovery(), "replay", file, "--format", "jsonl"});
  EXPECT_EQ(r.code, 0) << r.err;
  Replay rep;
  rep.summary = r.err;
  for (const auto& line : split(r.out, '\n')) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    rep.lines.push_back(j);
    if (j["subevent"] == 2) rep.legacy.emplace_back(j["frame"].get<long>(), j["addr"], j["rssi"].get<int>());
  }
  return rep;
}

TEST(Replay, MatchesTsharkReportByReportOnRealCaptures) {
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(c4i::testing::testdata_dir())) {
    if (e.path().extension() != ".btsnoop") continue;
    ++files;
    SCOPED_TRACE(e.path().string());
    const auto theirs = tshark_reports(e.path());
    const auto ours = our_reports(e.path());
    ASSERT_FALSE(theirs.empty());
    ASSERT_EQ(ours.legacy.size(), theirs.size());
    for (std::size_t i = 0; i < theirs.size(); ++i) EXPECT_EQ(ours.legacy[i], theirs[i]) << "report " << i;
    EXPECT_NE(ours.summary.find("reports=" + std::to_string(ours.lines.size())), std::string::npos) << ours.summary;
  }
  EXPECT_GE(files, 2);
}

TEST(Replay, EmitsTheContractFieldsWithDecodedAdvertisingData) {
  const auto ours = our_reports(c4i::testing::testdata_dir() + "/hci-horizon74-treadmill.btsnoop");
  ASSERT_FALSE(ours.lines.empty());
  const auto& first = ours.lines.front();
  // tshark decodes this report's AD as: name GVH5072_6FAB, 16-bit UUID ec88,
  // flags 0x05, manufacturer 0xec88 with data 0002d0174200.
  EXPECT_EQ(first["addr"], "a4:c1:38:bf:6f:ab");
  EXPECT_EQ(first["addr_type"], "public");
  EXPECT_EQ(first["rssi"], -49);
  EXPECT_EQ(first["event_type"], "adv_ind");
  EXPECT_TRUE(first["t"].is_number_integer());
  EXPECT_EQ(first["name"], "GVH5072_6FAB");
  EXPECT_EQ(first["services"], nlohmann::json::array({"ec88"}));
  EXPECT_EQ(first["flags"], 5);
  EXPECT_EQ(first["manufacturer_id"], 0xec88);
  EXPECT_EQ(first["manufacturer_data"], "0002d0174200");
  for (const auto& j : ours.lines) {
    const std::string a = j["addr"];
    EXPECT_EQ(a.size(), 17u);
    EXPECT_EQ(a.find_first_of("ABCDEF"), std::string::npos) << a;
  }
}

std::vector<std::uint8_t> report(std::uint8_t type, std::uint8_t last, std::vector<std::uint8_t> ad, std::int8_t rssi) {
  std::vector<std::uint8_t> r = {type, 1, last, 0x55, 0x44, 0x33, 0x22, 0x11, static_cast<std::uint8_t>(ad.size())};
  r.insert(r.end(), ad.begin(), ad.end());
  r.push_back(static_cast<std::uint8_t>(rssi));
  return r;
}

// An LE Advertising Report event with the given reports, as an HCI event packet.
std::vector<std::uint8_t> adv_event(const std::vector<std::vector<std::uint8_t>>& reports) {
  std::vector<std::uint8_t> params = {0x02, static_cast<std::uint8_t>(reports.size())};
  for (const auto& r : reports) params.insert(params.end(), r.begin(), r.end());
  std::vector<std::uint8_t> e = {0x3E, static_cast<std::uint8_t>(params.size())};
  e.insert(e.end(), params.begin(), params.end());
  return e;
}

std::string write_capture(const c4i::testing::TempDir& dir, std::uint32_t datalink) {
  std::vector<std::uint8_t> file;
  c4i::btsnoop::append_header(file, datalink);
  const std::vector<std::vector<std::uint8_t>> events = {
      adv_event({report(0, 0x66, {2, 1, 6}, -40), report(4, 0x67, {4, 9, 'a', 'b', 'c'}, -50),
                 report(3, 0x68, {}, -90)}),
      adv_event({report(2, 0x6A, {2, 1, 6}, -77), report(0, 0x6B, {2, 1, 6}, -78)}),
  };
  std::int64_t t = 1'700'000'000'000'000;
  for (const auto& ev : events) {
    std::vector<std::uint8_t> pkt;
    if (datalink == c4i::btsnoop::kDatalinkH4) pkt.push_back(0x04);
    pkt.insert(pkt.end(), ev.begin(), ev.end());
    c4i::btsnoop::append_record(file, t += 1000, datalink == c4i::btsnoop::kDatalinkH4 ? 1 : 3, pkt);
  }
  const std::string path = dir.file("synthetic-" + std::to_string(datalink) + ".btsnoop");
  c4i::testing::write_file(path, std::string(file.begin(), file.end()));
  return path;
}

TEST(Replay, SeveralReportsPerEventMatchTsharkOnBothDatalinks) {
  c4i::testing::TempDir dir;
  for (std::uint32_t dl : {c4i::btsnoop::kDatalinkH4, c4i::btsnoop::kDatalinkH1}) {
    SCOPED_TRACE(dl);
    const auto path = write_capture(dir, dl);
    const auto theirs = tshark_reports(path);
    const auto ours = our_reports(path);
    ASSERT_EQ(theirs.size(), 5u);
    EXPECT_EQ(ours.legacy, theirs);
    ASSERT_EQ(ours.lines.size(), 5u);
    EXPECT_EQ(ours.lines[1]["name"], "abc");
    EXPECT_EQ(ours.lines[1]["event_type"], "scan_rsp");
    EXPECT_EQ(ours.lines[3]["event_type"], "adv_scan_ind");
    EXPECT_NE(ours.summary.find("frames=2 reports=5 malformed_events=0 malformed_ad=0"), std::string::npos)
        << ours.summary;
  }
}

// (tshark stops dissecting a report at a malformed AD structure and loses its
// RSSI, so these cases are checked against the expected counts only.)
TEST(Replay, TruncatedEventsAndMalformedAdAreSkippedAndCounted) {
  c4i::testing::TempDir dir;
  std::vector<std::uint8_t> file;
  c4i::btsnoop::append_header(file, c4i::btsnoop::kDatalinkH4);
  // A 16-bit UUID list with one byte: the structure is skipped, the report kept.
  auto good = adv_event({report(0, 0x70, {3, 0x03, 0x0D}, -40)});
  auto cut = adv_event({report(0, 0x71, {2, 1, 6}, -41), report(0, 0x72, {2, 1, 6}, -42)});
  cut.resize(cut.size() - 3);  // the packet ends inside the second report
  for (const auto& ev : {good, cut, good}) {
    std::vector<std::uint8_t> pkt = {0x04};
    pkt.insert(pkt.end(), ev.begin(), ev.end());
    c4i::btsnoop::append_record(file, 1'700'000'000'000'000, 1, pkt);
  }
  file.resize(file.size() - 5);  // and the last record is cut short
  const auto path = dir.file("cut.btsnoop");
  c4i::testing::write_file(path, std::string(file.begin(), file.end()));
  auto r = run({discovery(), "replay", path, "--format", "jsonl"});
  EXPECT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(split(r.out, '\n').size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(split(r.out, '\n')[0])["ad_malformed"], 1);
  EXPECT_NE(r.err.find("frames=2 reports=1 malformed_events=1 malformed_ad=1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("truncated=1"), std::string::npos) << r.err;
}

TEST(Replay, BadFileIsOneLineAndExitTwo) {
  c4i::testing::TempDir dir;
  c4i::testing::write_file(dir.file("not.btsnoop"), "this is not a capture at all");
  for (const std::string& path : {dir.file("missing.btsnoop"), dir.file("not.btsnoop")}) {
    auto r = run({discovery(), "replay", path, "--format", "jsonl"});
    EXPECT_EQ(r.code, 2);
    EXPECT_TRUE(r.out.empty());
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
  }
  auto fmt = run({discovery(), "replay", dir.file("not.btsnoop"), "--format", "xml"});
  EXPECT_EQ(fmt.code, 2);
  EXPECT_EQ(std::count(fmt.err.begin(), fmt.err.end(), '\n'), 1) << fmt.err;
}

TEST(Daemon, MissingAdapterIsOneLineAndExitThree) {
  // This machine's kernel has no Bluetooth: the real error path.
  auto r = run({discovery(), "--hci", "hci0"}, std::chrono::seconds(20));
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("hci0"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("Assertion"), std::string::npos);
}

}  // namespace
