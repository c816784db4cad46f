#include "common/config.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace c4i::config {

namespace {
std::string fmt_number(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}
std::string join(std::initializer_list<std::string_view> xs) {
  std::string s;
  for (auto x : xs) {
    if (!s.empty()) s += ", ";
    s += x;
  }
  return s;
}
}  // namespace

Node::Node(YAML::Node node, std::string path, std::string file)
    : node_(std::move(node)), path_(std::move(path)), file_(std::move(file)) {}

int Node::line() const {
  auto m = node_.Mark();
  return m.line >= 0 ? m.line + 1 : 0;
}

std::string Node::where() const {
  int l = line();
  return l > 0 ? " (" + file_ + ":" + std::to_string(l) + ")" : " (" + file_ + ")";
}

void Node::fail(const std::string& what) const {
  // Keys and values come from the file: control bytes are shown escaped so the
  // message stays one printable line (and a NUL cannot cut it short).
  std::string msg = (path_.empty() ? std::string("(document)") : path_) + ": " + what;
  std::string clean;
  for (unsigned char c : msg) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      clean += buf;
    } else {
      clean += static_cast<char>(c);
    }
  }
  throw ConfigError(clean + where());
}

bool Node::has(std::string_view key) const {
  if (!node_.IsMap()) return false;
  for (const auto& kv : node_)
    if (kv.first.IsScalar() && kv.first.Scalar() == key) return true;
  return false;
}

Node Node::child(std::string_view key) const {
  auto c = optional_child(key);
  if (!c) {
    if (!node_.IsMap()) fail("must be a mapping");
    Node(node_, path_.empty() ? std::string(key) : path_ + "." + std::string(key), file_).fail("is required");
  }
  return *c;
}

std::optional<Node> Node::optional_child(std::string_view key) const {
  if (is_null()) return std::nullopt;
  if (!node_.IsMap()) fail("must be a mapping");
  for (const auto& kv : node_) {
    if (kv.first.IsScalar() && kv.first.Scalar() == key) {
      std::string p = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
      if (kv.second.IsNull()) return std::nullopt;
      return Node(kv.second, std::move(p), file_);
    }
  }
  return std::nullopt;
}

std::vector<Node> Node::items() const {
  std::vector<Node> out;
  if (is_null()) return out;
  if (!node_.IsSequence()) fail("must be a list");
  std::size_t i = 0;
  for (const auto& item : node_) out.emplace_back(item, path_ + "[" + std::to_string(i++) + "]", file_);
  return out;
}

std::vector<std::pair<std::string, Node>> Node::entries() const {
  std::vector<std::pair<std::string, Node>> out;
  if (is_null()) return out;
  if (!node_.IsMap()) fail("must be a mapping");
  for (const auto& kv : node_) {
    if (!kv.first.IsScalar()) fail("keys must be plain strings");
    std::string k = kv.first.Scalar();
    out.emplace_back(k, Node(kv.second, path_.empty() ? k : path_ + "." + k, file_));
  }
  return out;
}

void Node::reject_unknown(std::initializer_list<std::string_view> allowed) const {
  if (is_null()) return;
  if (!node_.IsMap()) fail("must be a mapping");
  for (const auto& kv : node_) {
    std::string k = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
    bool known = false;
    for (auto a : allowed) known = known || a == k;
    if (!known)
      Node(kv.first, path_.empty() ? k : path_ + "." + k, file_)
          .fail("unknown field (expected one of: " + join(allowed) + ")");
  }
}

std::string Node::str() const {
  if (!node_.IsScalar()) fail("must be a string");
  return node_.Scalar();
}

bool Node::boolean() const {
  if (!node_.IsScalar()) fail("must be true or false");
  const std::string& s = node_.Scalar();
  if (s == "true" || s == "True" || s == "yes") return true;
  if (s == "false" || s == "False" || s == "no") return false;
  fail("must be true or false, got " + s);
}

long long Node::integer() const {
  if (!node_.IsScalar()) fail("must be an integer");
  const std::string& s = node_.Scalar();
  std::size_t used = 0;
  long long v = 0;
  // YAML 1.2 core schema integers: decimal, 0x hexadecimal, 0o octal.
  int base = 10;
  std::size_t skip = 0;
  bool neg = !s.empty() && (s[0] == '-' || s[0] == '+');
  std::size_t p = neg ? 1 : 0;
  if (s.size() > p + 2 && s[p] == '0' && (s[p + 1] == 'x' || s[p + 1] == 'X')) base = 16, skip = 2;
  else if (s.size() > p + 2 && s[p] == '0' && s[p + 1] == 'o') base = 8, skip = 2;
  std::string digits = s.substr(0, p) + s.substr(p + skip);
  try {
    v = std::stoll(digits, &used, base);
  } catch (const std::exception&) {
    fail("must be an integer, got " + s);
  }
  if (used != digits.size() || (skip && digits.size() > p && (digits[p] == '-' || digits[p] == '+')))
    fail("must be an integer, got " + s);
  return v;
}

long long Node::integer_in(long long lo, long long hi) const {
  long long v = integer();
  if (v < lo || v > hi)
    fail("must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + std::to_string(v));
  return v;
}

double Node::number() const {
  if (!node_.IsScalar()) fail("must be a number");
  const std::string& s = node_.Scalar();
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    fail("must be a number, got " + s);
  }
  if (used != s.size() || !std::isfinite(v)) fail("must be a number, got " + s);
  return v;
}

double Node::number_in(double lo, double hi) const {
  double v = number();
  if (v < lo || v > hi)
    fail("must be between " + fmt_number(lo) + " and " + fmt_number(hi) + ", got " + fmt_number(v));
  return v;
}

std::string Node::one_of(std::initializer_list<std::string_view> choices) const {
  std::string s = str();
  for (auto c : choices)
    if (c == s) return s;
  fail("must be one of " + join(choices) + ", got " + s);
}

std::string Node::str_or(std::string_view key, std::string fallback) const {
  auto c = optional_child(key);
  return c ? c->str() : fallback;
}
double Node::number_in_or(std::string_view key, double lo, double hi, double fallback) const {
  auto c = optional_child(key);
  return c ? c->number_in(lo, hi) : fallback;
}
long long Node::integer_in_or(std::string_view key, long long lo, long long hi, long long fallback) const {
  auto c = optional_child(key);
  return c ? c->integer_in(lo, hi) : fallback;
}
bool Node::boolean_or(std::string_view key, bool fallback) const {
  auto c = optional_child(key);
  return c ? c->boolean() : fallback;
}

Result<Node> load_string(const std::string& text, const std::string& name) {
  try {
    YAML::Node doc = YAML::Load(text);
    return Node(doc, "", name);
  } catch (const YAML::Exception& e) {
    std::string where = name;
    if (e.mark.line >= 0) where += ":" + std::to_string(e.mark.line + 1);
    return Error{"invalid_yaml", where + ": " + e.msg};
  }
}

Result<Node> load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{"not_found", path + ": cannot open file"};
  std::ostringstream ss;
  ss << in.rdbuf();
  return load_string(ss.str(), path);
}

}  // namespace c4i::config
