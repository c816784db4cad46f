#include "ctl/render.hpp"

#include <regex>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "tests/ctl/golden.hpp"
#include "tests/support/testlib.hpp"

namespace c4i::ctl {
namespace {

using nlohmann::json;
using testing::expect_golden;

json fixtures() {
  static json f = json::parse(c4i::testing::read_file(testing::golden_path("fixtures.json")));
  return f;
}
std::int64_t now() { return fixtures()["now_ms"].get<std::int64_t>(); }
std::vector<json> items(const std::string& kind) { return fixtures()[kind].get<std::vector<json>>(); }

std::string strip_ansi(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\x1b') {
      while (i < s.size() && s[i] != 'm') ++i;
      continue;
    }
    out += s[i];
  }
  return out;
}

class CtlGoldenTables : public ::testing::TestWithParam<std::string> {};

TEST_P(CtlGoldenTables, TableMatchesGolden) {
  expect_golden(GetParam() + ".txt", make_table(GetParam(), items(GetParam()), false, now()).render(false));
}
TEST_P(CtlGoldenTables, WideTableMatchesGolden) {
  expect_golden(GetParam() + "-wide.txt", make_table(GetParam(), items(GetParam()), true, now()).render(false));
}

// Every cell starts in the column its header starts in: alignment checked on
// its own, whatever the golden file says.
TEST_P(CtlGoldenTables, CellsStartUnderTheirHeader) {
  for (bool wide : {false, true}) {
    Table t = make_table(GetParam(), items(GetParam()), wide, now());
    std::string text = t.render(false);
    std::vector<std::string> lines;
    std::size_t pos = 0;
    while (pos < text.size()) {
      auto nl = text.find('\n', pos);
      lines.push_back(text.substr(pos, nl - pos));
      pos = nl + 1;
    }
    ASSERT_EQ(lines.size(), t.rows.size() + 1);
    std::vector<std::size_t> starts;
    for (const auto& h : t.header) starts.push_back(lines[0].find(h, starts.empty() ? 0 : starts.back() + 1));
    for (std::size_t r = 0; r < t.rows.size(); ++r)
      for (std::size_t c = 0; c < t.rows[r].size(); ++c) {
        ASSERT_GE(lines[r + 1].size(), starts[c] + t.rows[r][c].text.size()) << lines[r + 1];
        EXPECT_EQ(lines[r + 1].substr(starts[c], t.rows[r][c].text.size()), t.rows[r][c].text)
            << GetParam() << (wide ? " wide" : "") << " row " << r << " column " << t.header[c];
      }
    for (const auto& l : lines) EXPECT_TRUE(l.empty() || l.back() != ' ') << "trailing space: [" << l << "]";
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, CtlGoldenTables,
                         ::testing::Values("nodes", "devices", "functions", "templates", "migrations"));

TEST(CtlDescribe, DoneMigrationShowsEveryStepWithGaps) {
  std::string out = describe_migration(items("migrations")[0], now(), false);
  expect_golden("describe-migration-done.txt", out);
  EXPECT_NE(out.find("notified     2025-11-23T12:11:39.180Z   60ms"), std::string::npos) << out;
  EXPECT_NE(out.find("Total:        detected -> first_data 1.78s"), std::string::npos) << out;
}

TEST(CtlDescribe, FailedMigrationNamesTheStepAndTheError) {
  std::string out = describe_migration(items("migrations")[1], now(), false);
  expect_golden("describe-migration-failed.txt", out);
  EXPECT_NE(out.find("failed: exec /usr/bin/c4i-fn-engine: No such file or directory"), std::string::npos) << out;
  EXPECT_NE(out.find("step started: exec"), std::string::npos) << out;
}

TEST(CtlDescribe, PendingMigrationMarksTheStepItWaitsFor) {
  std::string out = describe_migration(items("migrations")[2], now(), false);
  expect_golden("describe-migration-pending.txt", out);
  EXPECT_TRUE(std::regex_search(out, std::regex("\n  applied +- +waiting\n"))) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("\n  scheduled +-\n"))) << out;
}

TEST(CtlDescribe, DockerMigrationShowsPullCreateAndStartAsRows) {
  json m = items("migrations")[0];
  const std::int64_t applied = m["timeline"]["applied"].get<std::int64_t>();
  m["steps"] = {{"stopped", applied - 5}, {"pulled", applied + 7}, {"created", applied + 9}};
  std::string out = describe_migration(m, now(), false);
  EXPECT_TRUE(std::regex_search(out, std::regex("\n  decided .*\n  stopped .*\n  applied .*\n  scheduled .*\n  pulled .*\n"
                                                "  created .*2ms.*\n  started "))) << out;
  // Other backends' migrations have no such rows.
  EXPECT_EQ(describe_migration(items("migrations")[0], now(), false).find("pulled"), std::string::npos);
}

TEST(CtlDescribe, FunctionWithItsMigrations) {
  expect_golden("describe-function.txt", describe_function(items("functions")[0], {items("migrations")[0]}, now(), false));
  std::string unplaced = describe_function(items("functions")[2], {}, now(), false);
  EXPECT_NE(unplaced.find("Desired:      - (not placed yet)"), std::string::npos) << unplaced;
  EXPECT_NE(unplaced.find("Migrations:   <none>"), std::string::npos) << unplaced;
}

TEST(CtlPolicyHistory, ListsWhatEachVersionChanged) {
  std::string out = policy_history_table(items("policy_history"), now()).render(false);
  expect_golden("policy-history.txt", out);
  EXPECT_NE(out.find("cooldown_s: 60 -> 30; tiers.gateway.cpu_high: 0.85 -> 0.9"), std::string::npos) << out;
  EXPECT_NE(out.find("pinned: [] -> [\"omh-new\"]"), std::string::npos) << out;
}

TEST(CtlColour, PaintsStatesWithoutMovingColumns) {
  Table t = make_table("functions", items("functions"), false, now());
  std::string plain = t.render(false);
  std::string coloured = t.render(true);
  EXPECT_NE(coloured.find("\x1b[32mrunning\x1b[0m"), std::string::npos);
  EXPECT_NE(coloured.find("\x1b[33mbackoff\x1b[0m"), std::string::npos);
  EXPECT_EQ(plain.find('\x1b'), std::string::npos);
  EXPECT_EQ(strip_ansi(coloured), plain);
}

TEST(CtlTable, WidthsCountCharactersNotBytes) {
  Table t;
  t.header = {"NAME", "X"};
  t.rows = {{{"Bracelet é"}, {"1"}}, {{"ab"}, {"2"}}};
  EXPECT_EQ(t.render(false), "NAME         X\nBracelet é   1\nab           2\n");
}

TEST(CtlFormat, AgesAsKubectlPrintsThem) {
  EXPECT_EQ(format_age(-5000), "0s");
  EXPECT_EQ(format_age(0), "0s");
  EXPECT_EQ(format_age(119'999), "119s");
  EXPECT_EQ(format_age(120'000), "2m");
  EXPECT_EQ(format_age(150'000), "2m30s");
  EXPECT_EQ(format_age(10 * 60'000), "10m");
  EXPECT_EQ(format_age(179 * 60'000), "179m");
  EXPECT_EQ(format_age((5 * 60 + 3) * 60'000), "5h3m");
  EXPECT_EQ(format_age(30 * 3'600'000LL), "30h");
  EXPECT_EQ(format_age((6 * 24 + 4) * 3'600'000LL), "6d4h");
  EXPECT_EQ(format_age(40 * 86'400'000LL), "40d");
  EXPECT_EQ(format_age((3 * 365 + 2) * 86'400'000LL), "3y2d");
}

TEST(CtlFormat, GapsAndTimes) {
  EXPECT_EQ(format_gap(0), "0ms");
  EXPECT_EQ(format_gap(850), "850ms");
  EXPECT_EQ(format_gap(1234), "1.23s");
  EXPECT_EQ(format_gap(125'000), "2m5s");
  EXPECT_EQ(format_gap(-40), "-40ms");
  EXPECT_EQ(format_time(1763899899120), "2025-11-23T12:11:39.120Z");
  EXPECT_EQ(format_time(0), "1970-01-01T00:00:00.000Z");
}

// YAML -> JSON with the core schema, to check to_yaml's output reads back.
json yaml_to_json(const YAML::Node& n) {
  if (n.IsMap()) {
    json o = json::object();
    for (const auto& kv : n) o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
    return o;
  }
  if (n.IsSequence()) {
    json a = json::array();
    for (const auto& x : n) a.push_back(yaml_to_json(x));
    return a;
  }
  if (n.IsNull()) return nullptr;
  std::string s = n.Scalar();
  if (n.Tag() == "!") return s;
  if (s == "true" || s == "false") return s == "true";
  try {
    std::size_t used = 0;
    long long i = std::stoll(s, &used);
    if (used == s.size()) return i;
    double d = std::stod(s, &used);
    if (used == s.size()) return d;
  } catch (const std::exception&) {
  }
  return s;
}

TEST(CtlYaml, EveryFixtureReadsBackEqual) {
  for (const char* kind : {"nodes", "devices", "functions", "templates", "migrations", "policy_history"}) {
    json doc{{"items", items(kind)}};
    EXPECT_EQ(yaml_to_json(YAML::Load(to_yaml(doc))), doc) << kind << "\n" << to_yaml(doc);
  }
}

TEST(CtlYaml, StringsThatLookLikeOtherTypesStayStrings) {
  json doc{{"a", "true"}, {"b", "123"}, {"c", ""}, {"d", "-"}, {"e", "key: value"}, {"f", "null"},
           {"g", json::array()}, {"h", json::object()}, {"i", nullptr}, {"j", 0.85}, {"k", -80}, {"l", "# not a comment"},
           {"m", "line\nbreak"}, {"no", "no"}, {"1.5", "x"}};
  EXPECT_EQ(yaml_to_json(YAML::Load(to_yaml(doc))), doc) << to_yaml(doc);
}

TEST(CtlKinds, AliasesMapToTheApiNames) {
  EXPECT_EQ(canonical_kind("node"), "nodes");
  EXPECT_EQ(canonical_kind("fn"), "functions");
  EXPECT_EQ(canonical_kind("migration"), "migrations");
  EXPECT_EQ(canonical_kind("pods"), "");
}

}  // namespace
}  // namespace c4i::ctl
