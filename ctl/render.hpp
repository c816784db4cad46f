// What c4ictl prints: aligned tables of the API's objects (kubectl-style),
// YAML from JSON, and the `describe` views with a migration's timeline.
// Pure: every function takes the current time as an argument (`now_ms`, Unix
// milliseconds), so golden tests with fixed data give fixed text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace c4i::ctl {

// The kinds `get` lists, as the API names them (/v1/<kind>).
inline constexpr std::string_view kKinds[] = {"nodes", "devices", "functions", "templates", "migrations"};
// "node", "nodes", "no", "fn"... -> the API kind, or "" when unknown.
std::string canonical_kind(std::string_view word);

// ANSI colour of a cell; none when output is not a terminal or NO_COLOR is set.
enum class Colour { none, green, yellow, red, grey };

struct Cell {
  std::string text;
  Colour colour = Colour::none;
};

// Columns separated by three spaces, each as wide as its widest cell (header
// included); no trailing spaces. Widths count UTF-8 code points, and colour
// codes are added after padding so they never shift a column.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<Cell>> rows;
  std::string render(bool colour) const;
  // Only the rows (same widths as render() would give with `header`): for a
  // watch printing one row at a time under a header printed earlier.
  std::string render_rows(bool colour, const std::vector<std::size_t>& widths) const;
  std::vector<std::size_t> widths() const;
};

// kubectl's human durations: 45s, 3m12s, 27m, 5h3m, 30h, 6d4h, 40d, 2y3d.
std::string format_age(std::int64_t ms);
// 2026-11-23T12:03:18.120Z (UTC, milliseconds).
std::string format_time(std::int64_t unix_ms);
// A gap between two steps: 850ms, 1.23s, 2m5s.
std::string format_gap(std::int64_t ms);

// The table of `items` of `kind` ("nodes", ...). `wide` adds columns.
Table make_table(std::string_view kind, const std::vector<nlohmann::json>& items, bool wide, std::int64_t now_ms);

// YAML text of a JSON value (block style, keys in the JSON's order).
std::string to_yaml(const nlohmann::json& value);

// describe: one function with its latest migrations (newest first).
std::string describe_function(const nlohmann::json& function, const std::vector<nlohmann::json>& migrations,
                              std::int64_t now_ms, bool colour);
// describe: one migration and its timeline: the time of each step, the gap
// from the step before, the time since `detected`, and where it failed.
std::string describe_migration(const nlohmann::json& migration, std::int64_t now_ms, bool colour);
// The timeline table alone (describe_migration and `move --wait` use it).
Table timeline_table(const nlohmann::json& migration);

// The leaf fields that differ between two JSON values, one line each, in key
// order: "tiers.gateway.cpu_high: 0.85 -> 0.9", "pinned: [] -> [\"fn-a\"]".
std::vector<std::string> json_changes(const nlohmann::json& before, const nlohmann::json& after);
// `policy history`: VERSION, CHANGED-BY, CHANGED (time), CHANGES (fields
// changed from the version before; the first listed version shows "-").
Table policy_history_table(const std::vector<nlohmann::json>& items, std::int64_t now_ms);

// The colour of a state word (running/done green, pending yellow, failed red).
Colour state_colour(std::string_view state);
std::string paint(std::string_view text, Colour c, bool enabled);

}  // namespace c4i::ctl
