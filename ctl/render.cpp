#include "ctl/render.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>

#include <yaml-cpp/yaml.h>

#include "common/time_text.hpp"

namespace c4i::ctl {

using nlohmann::json;

namespace {

constexpr const char* kNone = "-";

std::size_t display_width(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;  // count code points, not continuation bytes
  return n;
}

// A string field, or "-" when absent, null or empty.
std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return kNone;
  if (it->is_string()) return it->get<std::string>().empty() ? kNone : it->get<std::string>();
  return it->dump();
}

std::optional<std::int64_t> opt_int(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<std::int64_t>();
}

std::string age_since(const json& j, const char* key, std::int64_t now_ms) {
  auto t = opt_int(j, key);
  return t ? format_age(now_ms - *t) : std::string(kNone);
}

std::string percent(const json& usage, const char* key) {
  auto it = usage.find(key);
  if (it == usage.end() || !it->is_number()) return kNone;
  return std::to_string(static_cast<long long>(std::llround(it->get<double>() * 100))) + "%";
}

std::string join(const json& arr, const char* sep = ",") {
  if (!arr.is_array() || arr.empty()) return kNone;
  std::string out;
  for (const auto& v : arr) {
    if (!out.empty()) out += sep;
    out += v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out;
}

std::string labels_text(const json& labels) {
  if (!labels.is_object() || labels.empty()) return "<none>";
  std::string out;
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    if (!out.empty()) out += ",";
    out += it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump());
  }
  return out;
}

// A migration's or a desired placement's target: "gw-2" or "tier:edge".
std::string target_text(const json& to) {
  if (!to.is_object()) return kNone;
  if (auto n = to.find("node"); n != to.end() && n->is_string() && !n->get<std::string>().empty()) return n->get<std::string>();
  if (auto t = to.find("tier"); t != to.end() && t->is_string() && !t->get<std::string>().empty())
    return "tier:" + t->get<std::string>();
  return kNone;
}

std::int64_t migration_time(const json& m) {
  if (auto tl = m.find("timeline"); tl != m.end() && tl->is_object())
    if (auto d = tl->find("decided"); d != tl->end() && d->is_number()) return d->get<std::int64_t>();
  return opt_int(m, "updated_t").value_or(0);
}

Cell cell(std::string text, Colour c = Colour::none) { return Cell{std::move(text), c}; }

Table nodes_table(const std::vector<json>& items, bool wide, std::int64_t now) {
  Table t;
  t.header = {"NAME", "TIER", "ARCH", "CPU", "MEMORY"};
  if (wide) t.header.insert(t.header.end(), {"CPU-CAPACITY", "MEM-CAPACITY", "SOURCE", "LABELS"});
  t.header.push_back("HEARTBEAT");
  for (const auto& n : items) {
    json usage = n.value("usage", json::object());
    // A revoked gateway's node takes no functions (kubectl's SchedulingDisabled).
    const bool unschedulable = n.value("unschedulable", false);
    std::vector<Cell> row{unschedulable ? cell(str(n, "name") + " (unschedulable)", Colour::red) : cell(str(n, "name")),
                          cell(str(n, "tier")), cell(str(n, "arch")), cell(percent(usage, "cpu")),
                          cell(percent(usage, "mem"))};
    if (wide) {
      auto cpu = opt_int(n, "cpu_capacity_m");
      auto mem = opt_int(n, "mem_capacity_mb");
      row.push_back(cell(cpu ? std::to_string(*cpu) + "m" : kNone));
      row.push_back(cell(mem ? std::to_string(*mem) + "Mi" : kNone));
      row.push_back(cell(str(n, "source")));
      row.push_back(cell(labels_text(n.value("labels", json::object()))));
    }
    row.push_back(cell(age_since(usage, "heartbeat_t", now)));
    t.rows.push_back(std::move(row));
  }
  return t;
}

Table devices_table(const std::vector<json>& items, bool wide, std::int64_t now) {
  Table t;
  t.header = {"NAME", "STATE", "GATEWAY", "RSSI"};
  if (wide) t.header.insert(t.header.end(), {"ADDR-TYPE", "LOCAL-NAME", "SIGHTINGS", "FIRST-SEEN"});
  t.header.push_back("LAST-SEEN");
  for (const auto& d : items) {
    std::string state = str(d, "state");
    std::vector<Cell> row{cell(str(d, "id")), cell(state, state_colour(state)), cell(str(d, "gateway")),
                          cell(str(d, "rssi"))};
    if (wide) {
      row.push_back(cell(str(d, "addr_type")));
      row.push_back(cell(str(d, "name")));
      std::string s;
      if (auto it = d.find("sightings"); it != d.end() && it->is_array())
        for (const auto& x : *it) {
          if (!s.empty()) s += ",";
          s += str(x, "gateway") + ":" + str(x, "rssi") + (x.value("present", false) ? "" : "(gone)");
        }
      row.push_back(cell(s.empty() ? kNone : s));
      row.push_back(cell(age_since(d, "first_seen_t", now)));
    }
    row.push_back(cell(age_since(d, "last_seen_t", now)));
    t.rows.push_back(std::move(row));
  }
  return t;
}

Table functions_table(const std::vector<json>& items, bool wide, std::int64_t now) {
  Table t;
  t.header = {"NAME", "TEMPLATE", "DEVICE", "NODE", "PHASE"};
  if (wide) t.header.insert(t.header.end(), {"RESTARTS", "PINNED", "DESIRED", "LAST-EXIT"});
  t.header.push_back("AGE");
  for (const auto& f : items) {
    std::string phase = str(f, "state");
    std::vector<Cell> row{cell(str(f, "id")), cell(str(f, "template")), cell(str(f, "device")), cell(str(f, "node")),
                          cell(phase, state_colour(phase))};
    if (wide) {
      row.push_back(cell(str(f, "restarts")));
      row.push_back(cell(f.value("pinned", false) ? "yes" : "no"));
      json desired = f.value("desired", json());
      std::string d = target_text(desired);
      if (desired.is_object() && desired.contains("kind")) d += " (" + str(desired, "kind") + ")";
      row.push_back(cell(d));
      row.push_back(cell(str(f, "last_exit")));
    }
    row.push_back(cell(age_since(f, "created_t", now)));
    t.rows.push_back(std::move(row));
  }
  return t;
}

Table templates_table(const std::vector<json>& items, bool wide, std::int64_t now) {
  Table t;
  t.header = {"NAME", "TIERS", "CPU", "MEMORY"};
  if (wide) t.header.insert(t.header.end(), {"IMAGE", "COMMAND", "CREATED-BY"});
  t.header.push_back("AGE");
  for (const auto& x : items) {
    auto cpu = opt_int(x, "cpu_m");
    auto mem = opt_int(x, "mem_mb");
    std::vector<Cell> row{cell(str(x, "name")), cell(x.contains("tiers") ? join(x["tiers"]) : "gateway,edge,cloud"),
                          cell(cpu ? std::to_string(*cpu) + "m" : kNone), cell(mem ? std::to_string(*mem) + "Mi" : kNone)};
    if (wide) {
      row.push_back(cell(str(x, "image")));
      row.push_back(cell(x.contains("command") ? join(x["command"], " ") : kNone));
      row.push_back(cell(str(x, "created_by")));
    }
    row.push_back(cell(age_since(x, "created_t", now)));
    t.rows.push_back(std::move(row));
  }
  return t;
}

Table migrations_table(const std::vector<json>& items, bool wide, std::int64_t now) {
  Table t;
  t.header = {"ID", "FUNCTION", "KIND", "FROM", "TO", "STATE"};
  if (wide) t.header.insert(t.header.end(), {"ATTEMPTS", "FAILED-STEP", "REQUESTED-BY", "REASON"});
  t.header.push_back("AGE");
  for (const auto& m : items) {
    std::string state = str(m, "state");
    std::vector<Cell> row{cell(str(m, "id")), cell(str(m, "function")), cell(str(m, "kind")), cell(str(m, "from")),
                          cell(target_text(m.value("to", json()))), cell(state, state_colour(state))};
    if (wide) {
      row.push_back(cell(str(m, "attempts")));
      json failure = m.value("failure", json());
      row.push_back(failure.is_object() ? cell(str(failure, "step"), Colour::red) : cell(kNone));
      row.push_back(cell(str(m, "requested_by")));
      row.push_back(cell(str(m, "reason")));
    }
    std::int64_t at = migration_time(m);
    row.push_back(cell(at ? format_age(now - at) : kNone));
    t.rows.push_back(std::move(row));
  }
  return t;
}

std::string pad_right(std::string s, std::size_t width) {
  std::size_t w = display_width(s);
  if (w < width) s.append(width - w, ' ');
  return s;
}

void rtrim(std::string& s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
}

// A string YAML would read as something else (a number, a boolean, null) or
// not at all as a plain scalar is written double-quoted.
bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  std::string lower;
  for (unsigned char c : s) lower += static_cast<char>(std::tolower(c));
  static const char* words[] = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".nan", ".inf", "-.inf", "+.inf"};
  for (const char* w : words)
    if (lower == w) return true;
  // Anything that starts like a number (digits, sign, dot) is quoted too.
  char c0 = s[0];
  if (std::isdigit(static_cast<unsigned char>(c0)) || c0 == '-' || c0 == '+' || c0 == '.') return true;
  return false;
}

void emit(YAML::Emitter& out, const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      if (v.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      for (auto it = v.begin(); it != v.end(); ++it) {
        out << YAML::Key;
        if (needs_quotes(it.key())) out << YAML::DoubleQuoted;
        out << it.key() << YAML::Value;
        emit(out, *it);
      }
      out << YAML::EndMap;
      return;
    case json::value_t::array:
      if (v.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      out << YAML::BeginSeq;
      for (const auto& x : v) emit(out, x);
      out << YAML::EndSeq;
      return;
    case json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      if (needs_quotes(s)) out << YAML::DoubleQuoted;
      out << s;
      return;
    }
    case json::value_t::null:
      out << YAML::Null;
      return;
    case json::value_t::boolean:
      out << (v.get<bool>() ? "true" : "false");
      return;
    default:
      out << v.dump();  // numbers: the shortest text that reads back to the same value
      return;
  }
}

std::string kv(const std::string& key, const std::string& value) {
  std::string k = key + ":";
  return pad_right(k, 14) + value + "\n";
}

}  // namespace

std::string canonical_kind(std::string_view w) {
  static const std::map<std::string_view, std::string_view> aliases = {
      {"node", "nodes"},         {"nodes", "nodes"},           {"no", "nodes"},
      {"device", "devices"},     {"devices", "devices"},       {"dev", "devices"},
      {"function", "functions"}, {"functions", "functions"},   {"fn", "functions"},
      {"template", "templates"}, {"templates", "templates"},   {"tpl", "templates"},
      {"migration", "migrations"}, {"migrations", "migrations"}, {"mig", "migrations"}};
  auto it = aliases.find(w);
  return it == aliases.end() ? std::string() : std::string(it->second);
}

Colour state_colour(std::string_view s) {
  if (s == "running" || s == "done" || s == "present") return Colour::green;
  if (s == "pending" || s == "scheduled" || s == "applying" || s == "stopping" || s == "backoff") return Colour::yellow;
  if (s == "failed" || s == "lost") return Colour::red;
  if (s == "superseded" || s == "cancelled" || s == "undeployed") return Colour::grey;
  return Colour::none;
}

std::string paint(std::string_view text, Colour c, bool enabled) {
  if (!enabled || c == Colour::none) return std::string(text);
  const char* code = c == Colour::green ? "32" : c == Colour::yellow ? "33" : c == Colour::red ? "31" : "90";
  return std::string("\x1b[") + code + "m" + std::string(text) + "\x1b[0m";
}

std::vector<std::size_t> Table::widths() const {
  std::vector<std::size_t> w(header.size(), 0);
  for (std::size_t i = 0; i < header.size(); ++i) w[i] = display_width(header[i]);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], display_width(r[i].text));
  return w;
}

std::string Table::render_rows(bool colour, const std::vector<std::size_t>& w) const {
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      bool last = i + 1 == r.size();
      std::size_t width = i < w.size() ? w[i] : 0;
      std::string padding = last ? "" : std::string(width > display_width(r[i].text) ? width - display_width(r[i].text) : 0, ' ');
      line += paint(r[i].text, r[i].colour, colour) + padding + (last ? "" : "   ");
    }
    rtrim(line);
    out += line + "\n";
  }
  return out;
}

std::string Table::render(bool colour) const {
  auto w = widths();
  std::string line;
  for (std::size_t i = 0; i < header.size(); ++i) line += (i + 1 == header.size() ? header[i] : pad_right(header[i], w[i]) + "   ");
  rtrim(line);
  return line + "\n" + render_rows(colour, w);
}

std::string format_age(std::int64_t ms) {
  if (ms < 0) ms = 0;  // a clock a little ahead of ours: "0s", as kubectl does
  std::int64_t s = ms / 1000;
  std::int64_t m = s / 60, h = s / 3600, d = s / 86400;
  auto n = [](std::int64_t v) { return std::to_string(v); };
  if (s < 120) return n(s) + "s";
  if (m < 10) return s % 60 == 0 ? n(m) + "m" : n(m) + "m" + n(s % 60) + "s";
  if (m < 180) return n(m) + "m";
  if (h < 8) return m % 60 == 0 ? n(h) + "h" : n(h) + "h" + n(m % 60) + "m";
  if (h < 48) return n(h) + "h";
  if (h < 24 * 8) return h % 24 == 0 ? n(d) + "d" : n(d) + "d" + n(h % 24) + "h";
  if (d < 365 * 2) return n(d) + "d";
  if (d < 365 * 8) return d % 365 == 0 ? n(d / 365) + "y" : n(d / 365) + "y" + n(d % 365) + "d";
  return n(d / 365) + "y";
}

std::string format_time(std::int64_t unix_ms) { return rfc3339_utc(unix_ms); }

std::string format_gap(std::int64_t ms) {
  if (ms < 0) return "-" + format_gap(-ms);
  if (ms < 1000) return std::to_string(ms) + "ms";
  if (ms < 60'000) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2fs", static_cast<double>(ms) / 1000.0);
    return buf;
  }
  std::int64_t s = ms / 1000;
  if (s < 3600) return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
  return std::to_string(s / 3600) + "h" + std::to_string((s % 3600) / 60) + "m";
}

Table make_table(std::string_view kind, const std::vector<json>& items, bool wide, std::int64_t now_ms) {
  if (kind == "nodes") return nodes_table(items, wide, now_ms);
  if (kind == "devices") return devices_table(items, wide, now_ms);
  if (kind == "functions") return functions_table(items, wide, now_ms);
  if (kind == "templates") return templates_table(items, wide, now_ms);
  return migrations_table(items, wide, now_ms);
}

std::string to_yaml(const json& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  emit(out, value);
  std::string s = out.c_str();
  if (!s.empty() && s.back() != '\n') s += "\n";
  return s;
}

namespace {
void collect_changes(const json& a, const json& b, const std::string& path, std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    std::map<std::string, int> keys;
    for (auto it = a.begin(); it != a.end(); ++it) keys[it.key()] |= 1;
    for (auto it = b.begin(); it != b.end(); ++it) keys[it.key()] |= 2;
    for (const auto& [k, where] : keys) {
      std::string p = path.empty() ? k : path + "." + k;
      collect_changes(where & 1 ? a[k] : json(), where & 2 ? b[k] : json(), p, out);
    }
    return;
  }
  if (a == b) return;
  auto text = [](const json& v) { return v.is_null() ? std::string("(none)") : v.dump(); };
  out.push_back(path + ": " + text(a) + " -> " + text(b));
}
}  // namespace

std::vector<std::string> json_changes(const json& before, const json& after) {
  std::vector<std::string> out;
  collect_changes(before, after, "", out);
  return out;
}

Table policy_history_table(const std::vector<json>& items, std::int64_t now_ms) {
  Table t;
  t.header = {"VERSION", "CHANGED-BY", "CHANGED", "AGE", "CHANGES"};
  const json* prev = nullptr;
  for (const auto& v : items) {
    auto at = opt_int(v, "changed_t");
    std::string changes = kNone;
    if (prev) {
      auto c = json_changes(prev->value("policy", json::object()), v.value("policy", json::object()));
      changes.clear();
      for (const auto& x : c) changes += (changes.empty() ? "" : "; ") + x;
      if (changes.empty()) changes = "(no change)";
    }
    t.rows.push_back({cell(str(v, "version")), cell(str(v, "changed_by")), cell(at ? format_time(*at) : kNone),
                      cell(at ? format_age(now_ms - *at) : kNone), cell(changes)});
    prev = &v;
  }
  return t;
}

Table timeline_table(const json& m) {
  // The backend's finer steps (docker: stopped, pulled, created; the
  // migration's `steps`) are rows only when stamped or failed.
  static const char* steps[] = {"detected", "notified",  "decided", "stopped", "applied",   "scheduled",
                                "pulled",   "created",   "started", "first_data"};
  json tl = m.value("timeline", json::object());
  json backend_steps = m.value("steps", json::object());
  if (backend_steps.is_object() && tl.is_object())
    for (auto it = backend_steps.begin(); it != backend_steps.end(); ++it) tl[it.key()] = *it;
  json failure = m.value("failure", json());
  std::string failed_step = failure.is_object() ? str(failure, "step") : "";
  std::string state = str(m, "state");
  Table t;
  t.header = {"STEP", "TIME", "GAP", "SINCE-DETECTED", "NOTE"};
  // Plain values with flags, not optionals: GCC 12 at -O3 wrongly reports
  // optional<int64_t> reads here as maybe-uninitialized.
  std::int64_t first = 0, prev = 0;
  bool have_first = false, have_prev = false;
  bool waiting_marked = false;
  for (const char* s : steps) {
    auto found = tl.is_object() ? opt_int(tl, s) : std::nullopt;
    bool backend_step = std::string_view(s) == "stopped" || std::string_view(s) == "pulled" || std::string_view(s) == "created";
    if (backend_step && !found && s != failed_step) continue;
    std::vector<Cell> row{cell(s)};
    if (found) {
      const std::int64_t at = found.value_or(0);
      if (!have_first) {
        first = at;
        have_first = true;
      }
      row.push_back(cell(format_time(at)));
      row.push_back(cell(have_prev ? format_gap(at - prev) : kNone));
      row.push_back(cell(format_gap(at - first)));
      prev = at;
      have_prev = true;
    } else {
      row.push_back(cell(kNone));
      row.push_back(cell(""));
      row.push_back(cell(""));
    }
    if (s == failed_step) {
      row.push_back(cell("failed: " + str(failure, "error"), Colour::red));
    } else if (!found && !waiting_marked && (state == "pending" || state == "applying") && std::string_view(s) != "first_data") {
      row.push_back(cell("waiting", Colour::yellow));
      waiting_marked = true;
    } else {
      row.push_back(cell(""));
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

std::string describe_migration(const json& m, std::int64_t now_ms, bool colour) {
  std::string out;
  std::string state = str(m, "state");
  out += kv("Migration", str(m, "id"));
  out += kv("Function", str(m, "function"));
  out += kv("Kind", str(m, "kind"));
  out += kv("Reason", str(m, "reason"));
  out += kv("From", str(m, "from"));
  out += kv("To", target_text(m.value("to", json())));
  out += kv("State", paint(state, state_colour(state), colour));
  out += kv("Attempts", str(m, "attempts"));
  out += kv("Requested by", str(m, "requested_by"));
  json failure = m.value("failure", json());
  if (failure.is_object()) {
    std::string f = "step " + str(failure, "step") + ": " + str(failure, "error");
    if (auto next = opt_int(m, "next_retry_t"); next && state == "failed")
      f += " (next retry " + format_time(*next) + ")";
    out += kv("Failure", paint(f, Colour::red, colour));
  } else {
    out += kv("Failure", kNone);
  }
  if (auto u = opt_int(m, "updated_t")) out += kv("Updated", format_time(*u) + " (" + format_age(now_ms - *u) + " ago)");
  out += "Timeline:\n";
  std::string table = timeline_table(m).render(colour);
  std::size_t pos = 0;
  while (pos < table.size()) {
    auto nl = table.find('\n', pos);
    out += "  " + table.substr(pos, nl - pos) + "\n";
    pos = nl + 1;
  }
  // The total: from the first stamped step to the last one reached.
  json tl = m.value("timeline", json::object());
  std::optional<std::pair<std::string, std::int64_t>> first, last;
  for (const char* s : {"detected", "notified", "decided", "applied", "scheduled", "started", "first_data"}) {
    if (auto at = tl.is_object() ? opt_int(tl, s) : std::nullopt) {
      if (!first) first = {s, *at};
      last = {s, *at};
    }
  }
  if (first && last && first->first != last->first)
    out += kv("Total", first->first + " -> " + last->first + " " + format_gap(last->second - first->second));
  return out;
}

std::string describe_function(const json& f, const std::vector<json>& migrations, std::int64_t now_ms, bool colour) {
  std::string out;
  std::string phase = str(f, "state");
  out += kv("Name", str(f, "id"));
  out += kv("Template", str(f, "template"));
  out += kv("Device", str(f, "device"));
  out += kv("Node", str(f, "node"));
  out += kv("Phase", paint(phase, state_colour(phase), colour));
  out += kv("Pinned", f.value("pinned", false) ? "yes" : "no");
  out += kv("Restarts", str(f, "restarts"));
  out += kv("Last exit", str(f, "last_exit"));
  auto when = [&](const char* key) {
    auto t = opt_int(f, key);
    return t ? format_time(*t) + " (" + format_age(now_ms - *t) + " ago)" : std::string(kNone);
  };
  out += kv("Started", when("started_t"));
  out += kv("First data", when("first_data_t"));
  out += kv("Created", when("created_t") + (f.contains("created_by") ? " by " + str(f, "created_by") : ""));
  json desired = f.value("desired", json());
  if (desired.is_object()) {
    out += "Desired:\n";
    out += "  " + kv("Target", target_text(desired));
    out += "  " + kv("Kind", str(desired, "kind"));
    out += "  " + kv("Reason", str(desired, "reason"));
    auto d = opt_int(desired, "decided_t");
    out += "  " + kv("Decided", d ? format_time(*d) + " (" + format_age(now_ms - *d) + " ago)" : std::string(kNone));
    out += "  " + kv("Migration", str(desired, "migration"));
  } else {
    out += kv("Desired", "- (not placed yet)");
  }
  if (migrations.empty()) {
    out += kv("Migrations", "<none>");
  } else {
    out += "Migrations:\n";
    std::string table = make_table("migrations", migrations, false, now_ms).render(colour);
    std::size_t pos = 0;
    while (pos < table.size()) {
      auto nl = table.find('\n', pos);
      out += "  " + table.substr(pos, nl - pos) + "\n";
      pos = nl + 1;
    }
  }
  return out;
}

}  // namespace c4i::ctl
