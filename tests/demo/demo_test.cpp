// The README's first command, in its short mode: the whole embedded demo runs
// (orchestrator, simulator, four discovery daemons, readers and functions as
// real processes over real TLS) and its summary must show the paper's two use
// cases complete.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/testlib.hpp"

namespace c4i {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

TEST(Demo, ShortRunRoamsOffloadsComesBackAndLeavesNothingRunning) {
  testing::TempDir dir;
  std::string summary_path = dir.file("summary.json");
  auto r = testing::run({testing::binary_dir() + "/demo/c4i-demo", "--short", "--dir", dir.file("demo"), "--bin-dir",
                         testing::binary_dir(), "--source-dir", testing::source_dir(), "--summary-json", summary_path},
                        240s);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto summary = json::parse(testing::read_file(summary_path));

  // Two patients walk gw-1 -> gw-2 -> gw-3: four roams, each with every step
  // from detected to first_data.
  int roams = 0;
  std::map<std::string, std::vector<std::string>> path;
  for (const auto& m : summary["migrations"]) {
    if (m["kind"] == "roam") {
      roams++;
      EXPECT_TRUE(m["complete_timeline"].get<bool>()) << m.dump();
      path[m["function"]].push_back(m["to"]);
    }
  }
  EXPECT_GE(roams, 4);
  EXPECT_EQ(path["hr-patient-a"], (std::vector<std::string>{"gw-2", "gw-3"}));
  EXPECT_EQ(path["hr-patient-b"], (std::vector<std::string>{"gw-2", "gw-3"}));

  // The engine function goes up when gw-3 (then edge-1) is loaded, and comes back.
  std::vector<std::string> engine;
  for (const auto& m : summary["migrations"])
    if (m["function"] == "engine-7" && m["state"] == "done") engine.push_back(m["kind"].get<std::string>() + ":" + m["to"].get<std::string>());
  ASSERT_FALSE(engine.empty());
  EXPECT_EQ(engine.front(), "offload_up:edge-1") << r.out;
  EXPECT_NE(std::find(engine.begin(), engine.end(), "offload_up:cloud-1"), engine.end()) << r.out;
  EXPECT_EQ(engine.back(), "bring_down:gw-3") << r.out;

  EXPECT_TRUE(summary["violations"].empty()) << summary["violations"].dump();
  EXPECT_NE(r.out.find("no function ran twice; everything the demo started has stopped"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace c4i
