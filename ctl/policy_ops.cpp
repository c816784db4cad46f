#include "ctl/policy_ops.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <sstream>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "common/config.hpp"

namespace c4i::ctl {

using nlohmann::json;
namespace pl = c4i::placement;

namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::string cur;
  for (char c : text) {
    if (c == '\n') {
      lines.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) lines.push_back(cur);
  return lines;
}

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

bool is_comment(const std::string& line) {
  auto b = line.find_first_not_of(" \t");
  return b != std::string::npos && line[b] == '#';
}

// A YAML scalar as JSON: quoted stays a string; plain is null, a boolean, an
// integer, a number, or else a string (YAML 1.2 core schema, 10.3.2).
json scalar_json(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  std::int64_t i = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
  if (ec == std::errc() && p == s.data() + s.size()) return i;
  errno = 0;
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (end == s.c_str() + s.size() && errno == 0 && s.find_first_of("0123456789") != std::string::npos) return d;
  return s;
}

json yaml_json(const YAML::Node& n) {
  if (n.IsSequence()) {
    json a = json::array();
    for (const auto& x : n) a.push_back(yaml_json(x));
    return a;
  }
  if (n.IsMap()) {
    json o = json::object();
    for (const auto& kv : n) o[kv.first.Scalar()] = yaml_json(kv.second);
    return o;
  }
  if (n.IsScalar()) return scalar_json(n);
  return nullptr;
}

std::string keys_of(const json& o) {
  std::string out;
  for (auto it = o.begin(); it != o.end(); ++it) out += (out.empty() ? "" : ", ") + it.key();
  return out;
}

Result<json> parse_value(const std::string& text, bool list_field) {
  if (list_field && (text.empty() || text.front() != '[')) {
    json a = json::array();
    if (trim(text).empty()) return a;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) a.push_back(trim(item));
    return a;
  }
  try {
    return yaml_json(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    return Error{"invalid_argument", "not a YAML value: " + e.msg};
  }
}

}  // namespace

Result<pl::Policy> policy_from_document(const std::string& text, const std::string& name) {
  auto root = config::load_string(text, name);
  if (!root) return root.error();
  if (root->is_null()) return Error{"invalid_policy", name + ": the document is empty"};
  if (root->is_map() && root->has("policy")) {
    auto inner = root->child("policy");
    if (inner.is_map()) return pl::policy_from_yaml(inner);
  }
  return pl::policy_from_yaml(*root);
}

Result<pl::Policy> apply_assignments(const pl::Policy& base, const std::vector<std::string>& assignments) {
  json j = pl::to_json(base);
  for (const auto& a : assignments) {
    auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0)
      return Error{"invalid_argument", "\"" + a.substr(0, 80) + "\": expected FIELD=VALUE, e.g. tiers.gateway.cpu_high=0.9"};
    std::string field = a.substr(0, eq);
    std::string value_text = a.substr(eq + 1);
    std::vector<std::string> path;
    {
      std::stringstream ss(field);
      std::string part;
      while (std::getline(ss, part, '.')) path.push_back(part);
    }
    if (path.empty() || std::any_of(path.begin(), path.end(), [](const std::string& p) { return p.empty(); }))
      return Error{"invalid_argument", field + ": not a field path such as tiers.gateway.cpu_high"};
    json* cur = &j;
    std::string where;
    for (std::size_t i = 0; i < path.size(); ++i) {
      const std::string& key = path[i];
      bool last = i + 1 == path.size();
      if (!cur->is_object()) return Error{"invalid_argument", field + ": " + where + " has no fields"};
      // Template entries are named by the operator: they may be created.
      bool template_entry = i == 1 && path[0] == "templates";
      bool template_field = i == 2 && path[0] == "templates" && key == "tiers";
      if (!cur->contains(key)) {
        if (!template_entry && !template_field)
          return Error{"invalid_argument", field + ": unknown policy field " + (where.empty() ? "" : where + ".") + key +
                                               " (known: " + keys_of(*cur) + ")"};
        if (!last) (*cur)[key] = json::object();
      }
      if (last) {
        bool list_field = (cur->contains(key) && (*cur)[key].is_array()) || (i == 2 && path[0] == "templates" && key == "tiers");
        auto v = parse_value(value_text, list_field);
        if (!v) return Error{"invalid_argument", field + ": " + v.error().message};
        if (v->is_null()) {
          if (!template_entry) return Error{"invalid_argument", field + ": only a template entry can be removed (templates.NAME=null)"};
          cur->erase(key);
        } else {
          (*cur)[key] = *v;
        }
      } else {
        cur = &(*cur)[key];
        where += (where.empty() ? "" : ".") + key;
      }
    }
  }
  return pl::policy_from_json(j);
}

std::string edit_buffer(const std::string& policy_yaml, std::int64_t version, const std::vector<std::string>& errors) {
  std::string out;
  if (!errors.empty()) {
    out += "# The policy was not applied:\n";
    for (const auto& e : errors) {
      for (const auto& l : split_lines(e)) out += "#   " + l + "\n";
    }
    out += "#\n";
  }
  out += "# Edit the offload policy below (version " + std::to_string(version) +
         " on the server). Lines starting with '#'\n"
         "# are ignored; an empty file, or no change, cancels the edit. On save it is\n"
         "# validated and applied only if the server still has version " +
         std::to_string(version) + "; an error reopens this file.\n#\n";
  // A buffer being reopened keeps the operator's text, not the old header.
  auto lines = split_lines(policy_yaml);
  std::size_t first = 0;
  while (first < lines.size() && (is_comment(lines[first]) || trim(lines[first]).empty())) ++first;
  for (std::size_t i = first; i < lines.size(); ++i) out += lines[i] + "\n";
  return out;
}

std::string strip_comments(const std::string& text) {
  std::string out;
  for (auto& l : split_lines(text)) {
    if (is_comment(l)) continue;
    while (!l.empty() && (l.back() == ' ' || l.back() == '\t' || l.back() == '\r')) l.pop_back();
    if (l.empty()) continue;
    out += l + "\n";
  }
  return out;
}

std::string unified_diff(const std::string& a, const std::string& b, const std::string& a_name, const std::string& b_name) {
  auto x = split_lines(a), y = split_lines(b);
  if (x == y) return "";
  const std::size_t n = x.size(), m = y.size();
  // Longest common subsequence table, suffix form: lcs[i][j] for x[i..], y[j..].
  std::vector<std::vector<std::uint32_t>> lcs(n + 1, std::vector<std::uint32_t>(m + 1, 0));
  for (std::size_t i = n; i-- > 0;)
    for (std::size_t j = m; j-- > 0;)
      lcs[i][j] = x[i] == y[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  struct Op {
    char tag;  // ' ', '-', '+'
    std::size_t ai, bi;  // line numbers (0-based) in a and b before this op
    std::string text;
  };
  std::vector<Op> ops;
  std::size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] == y[j]) {
      ops.push_back({' ', i, j, x[i]});
      ++i, ++j;
    } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      ops.push_back({'-', i, j, x[i]});  // removals before additions, as diff -u prints them
      ++i;
    } else {
      ops.push_back({'+', i, j, y[j]});
      ++j;
    }
  }
  constexpr std::size_t kContext = 3;
  std::string out = "--- " + a_name + "\n+++ " + b_name + "\n";
  std::size_t k = 0;
  while (k < ops.size()) {
    if (ops[k].tag == ' ') {
      ++k;
      continue;
    }
    // A hunk: from kContext lines before this change to kContext after the
    // last change that is within 2*kContext of the next.
    std::size_t start = k >= kContext ? k - kContext : 0;
    while (start < k && ops[start].tag != ' ') ++start;
    std::size_t end = k;
    std::size_t last_change = k;
    while (end < ops.size()) {
      if (ops[end].tag != ' ') last_change = end;
      if (end - last_change > 2 * kContext) break;
      ++end;
    }
    end = std::min(ops.size(), last_change + kContext + 1);
    std::size_t a_start = ops[start].ai, b_start = ops[start].bi, a_len = 0, b_len = 0;
    std::string body;
    for (std::size_t t = start; t < end; ++t) {
      body += std::string(1, ops[t].tag) + ops[t].text + "\n";
      if (ops[t].tag != '+') ++a_len;
      if (ops[t].tag != '-') ++b_len;
    }
    out += "@@ -" + std::to_string(a_len ? a_start + 1 : a_start) + "," + std::to_string(a_len) + " +" +
           std::to_string(b_len ? b_start + 1 : b_start) + "," + std::to_string(b_len) + " @@\n" + body;
    k = end;
  }
  return out;
}

}  // namespace c4i::ctl
