#include "orchestrator/k8s_objects.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>

#include "common/time_text.hpp"

namespace c4i::orchestrator::k8s {

using nlohmann::json;

namespace {
std::uint32_t fnv1a(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

std::string hex8(std::uint32_t v) {
  char b[9];
  std::snprintf(b, sizeof b, "%08x", v);
  return b;
}

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

std::string trim_dashes(std::string s) {
  while (!s.empty() && !is_alnum(s.back())) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && !is_alnum(s[i])) ++i;
  return s.substr(i);
}


// Splits a quantity into its number and suffix.
bool split_quantity(std::string_view q, double& number, std::string_view& suffix) {
  if (q.empty() || q.size() > 64) return false;
  std::size_t i = 0;
  if (q[i] == '+' || q[i] == '-') ++i;
  while (i < q.size() && (std::isdigit(static_cast<unsigned char>(q[i])) || q[i] == '.')) ++i;
  // A decimal exponent ("1e3") is part of the number; "E" alone is exa.
  if (i < q.size() && (q[i] == 'e' || q[i] == 'E') && i + 1 < q.size() &&
      (std::isdigit(static_cast<unsigned char>(q[i + 1])) || q[i + 1] == '-' || q[i + 1] == '+')) {
    ++i;
    if (q[i] == '-' || q[i] == '+') ++i;
    while (i < q.size() && std::isdigit(static_cast<unsigned char>(q[i]))) ++i;
  }
  std::string num(q.substr(0, i));
  if (num.empty()) return false;
  char* end = nullptr;
  number = std::strtod(num.c_str(), &end);
  if (end != num.c_str() + num.size() || !std::isfinite(number)) return false;
  suffix = q.substr(i);
  return true;
}

std::optional<double> suffix_multiplier(std::string_view s) {
  static const std::pair<std::string_view, double> table[] = {
      {"", 1},         {"m", 1e-3},       {"u", 1e-6},          {"n", 1e-9},          {"k", 1e3},
      {"M", 1e6},      {"G", 1e9},        {"T", 1e12},          {"P", 1e15},          {"E", 1e18},
      {"Ki", 1024.0},  {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
      {"Pi", 1125899906842624.0}, {"Ei", 1152921504606846976.0}};
  for (const auto& [k, v] : table)
    if (k == s) return v;
  return std::nullopt;
}
}  // namespace

const json* find_path(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(k);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::string str_at(const json& j, std::initializer_list<const char*> path) {
  const json* v = find_path(j, path);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

std::optional<std::int64_t> int_at(const json& j, std::initializer_list<const char*> path) {
  const json* v = find_path(j, path);
  if (!v || !v->is_number_integer()) return std::nullopt;
  return v->get<std::int64_t>();
}

std::string dns1123_label(std::string_view in, std::size_t max_len) {
  std::string out;
  out.reserve(in.size());
  for (char c : in) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    bool ok = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9');
    if (ok) out += l;
    else if (!out.empty() && out.back() != '-') out += '-';
  }
  out = trim_dashes(out);
  if (out.size() > max_len) {
    std::string h = hex8(fnv1a(in));
    out = trim_dashes(out.substr(0, max_len - h.size() - 1)) + "-" + h;
  }
  if (out.empty()) out = "x" + hex8(fnv1a(in)).substr(0, std::min<std::size_t>(8, max_len - 1));
  return out;
}

std::string deployment_name(std::string_view template_name, std::string_view device) {
  std::string raw = "c4i-" + std::string(template_name) + "-" + std::string(device);
  return dns1123_label(raw, 52);
}

std::string label_value(std::string_view in) {
  std::string out;
  for (char c : in) out += (is_alnum(c) || c == '.' || c == '_' || c == '-') ? c : '-';
  out = trim_dashes(out);
  if (out.size() > 63) {
    std::string h = hex8(fnv1a(in));
    out = trim_dashes(out.substr(0, 63 - h.size() - 1)) + "-" + h;
  }
  return out;
}

std::string placement_key(const Target& t, const std::vector<std::string>& exclude) {
  if (t.is_node()) return "node=" + t.node;
  std::vector<std::string> ex = exclude;
  std::sort(ex.begin(), ex.end());
  std::string k = "tier=" + t.tier;
  for (const auto& e : ex) k += "!" + e;
  return k;
}

Result<json> deployment_manifest(const DeploymentParams& p) {
  const FunctionSpec& s = p.spec;
  if (s.image.empty())
    return Error{"invalid_argument", "template " + s.template_name + " has no image: the kubernetes backend runs images"};
  if (!p.target.is_node() && p.target.tier.empty()) return Error{"invalid_argument", "target has neither node nor tier"};
  if (p.archs.empty()) return Error{"invalid_argument", "template " + s.template_name + " lists no architecture"};

  // Node affinity, required at scheduling (the pod is never placed elsewhere).
  json exprs = json::array();
  if (p.target.is_node()) {
    exprs.push_back({{"key", "kubernetes.io/hostname"}, {"operator", "In"}, {"values", {p.target.node}}});
  } else {
    exprs.push_back({{"key", kLabelTier}, {"operator", "In"}, {"values", {p.target.tier}}});
    if (!p.exclude.empty()) {
      std::vector<std::string> ex = p.exclude;
      std::sort(ex.begin(), ex.end());
      exprs.push_back({{"key", "kubernetes.io/hostname"}, {"operator", "NotIn"}, {"values", ex}});
    }
  }
  std::vector<std::string> archs = p.archs;
  std::sort(archs.begin(), archs.end());
  archs.erase(std::unique(archs.begin(), archs.end()), archs.end());
  exprs.push_back({{"key", "kubernetes.io/arch"}, {"operator", "In"}, {"values", archs}});

  std::string fn_label = label_value(s.id);
  json labels = {{kLabelFunction, fn_label}, {kLabelDevice, label_value(s.device)}, {kLabelManagedBy, kManagedBy}};
  std::string placement = placement_key(p.target, p.exclude);

  // Identity for both containers; the node from the downward API.
  json env = json::array();
  env.push_back({{"name", "C4I_NODE"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "spec.nodeName"}}}}}});
  env.push_back({{"name", "C4I_FUNCTION"}, {"value", s.id}});
  env.push_back({{"name", "C4I_DEVICE"}, {"value", s.device}});
  env.push_back({{"name", "C4I_DEVICE_ADDR"}, {"value", s.device_addr}});
  env.push_back({{"name", "C4I_READER_SOCKET"}, {"value", "/run/c4i/samples.sock"}});
  if (!p.orchestrator_url.empty()) env.push_back({{"name", "C4I_ORCHESTRATOR_URL"}, {"value", p.orchestrator_url}});
  json fn_env = env;
  for (const auto& [k, v] : s.env) {
    bool ours = k == "C4I_NODE" || k == "C4I_FUNCTION" || k == "C4I_DEVICE" || k == "C4I_DEVICE_ADDR";
    if (!ours) fn_env.push_back({{"name", k}, {"value", v}});
  }
  json volume_mount = {{"name", "c4i-run"}, {"mountPath", "/run/c4i"}};
  json fn = {{"name", "function"}, {"image", s.image}, {"env", fn_env}, {"volumeMounts", {volume_mount}}};
  if (!s.command.empty()) fn["command"] = s.command;
  if (p.cpu_m > 0 || p.mem_mb > 0) {
    json req = json::object();
    if (p.cpu_m > 0) req["cpu"] = std::to_string(p.cpu_m) + "m";
    if (p.mem_mb > 0) req["memory"] = std::to_string(p.mem_mb) + "Mi";
    fn["resources"] = {{"requests", req}};
  }
  // The reader connects to the device and streams its samples to the function
  // over the shared socket (ble-reader/README.md).
  json reader_cmd = {"/usr/bin/c4i-reader", "--connect", s.device_addr, "--output", "unix:/run/c4i/samples.sock"};
  if (!p.orchestrator_url.empty()) {
    reader_cmd.push_back("--orchestrator");
    reader_cmd.push_back(p.orchestrator_url);
  }
  json reader = {{"name", "reader"},
                 {"image", p.reader_image.empty() ? s.image : p.reader_image},
                 {"command", reader_cmd},
                 {"env", env},
                 {"volumeMounts", {volume_mount}}};

  json d = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata",
       {{"name", p.name},
        {"namespace", p.ns},
        {"labels", labels},
        {"annotations", {{kAnnotationFunctionId, s.id}, {kAnnotationPlacement, placement}}}}},
      {"spec",
       {{"replicas", 1},
        // Recreate: the old pod is gone before the new one is created; a BLE
        // device takes one connection, two readers must never overlap.
        {"strategy", {{"type", "Recreate"}}},
        {"revisionHistoryLimit", 2},
        {"selector", {{"matchLabels", {{kLabelFunction, fn_label}, {kLabelManagedBy, kManagedBy}}}}},
        {"template",
         {{"metadata",
           {{"labels", labels},
            {"annotations",
             {{kAnnotationFunctionId, s.id}, {kAnnotationPlacement, placement}, {"cloud4iot.io/template", s.template_name}}}}},
          {"spec",
           {{"affinity",
             {{"nodeAffinity",
               {{"requiredDuringSchedulingIgnoredDuringExecution", {{"nodeSelectorTerms", {{{"matchExpressions", exprs}}}}}}}}}},
            {"terminationGracePeriodSeconds", 5},
            {"enableServiceLinks", false},
            {"containers", {fn, reader}},
            {"volumes", {{{"name", "c4i-run"}, {"emptyDir", json::object()}}}}}}}}}}};
  return d;
}

std::optional<std::int64_t> parse_cpu_milli(std::string_view q) {
  double n = 0;
  std::string_view suf;
  if (!split_quantity(q, n, suf)) return std::nullopt;
  auto m = suffix_multiplier(suf);
  if (!m) return std::nullopt;
  double milli = n * *m * 1000.0;
  if (milli < 0 || milli > 9.0e15) return std::nullopt;
  return static_cast<std::int64_t>(std::ceil(milli - 1e-9));
}

std::optional<std::int64_t> parse_bytes(std::string_view q) {
  double n = 0;
  std::string_view suf;
  if (!split_quantity(q, n, suf)) return std::nullopt;
  auto m = suffix_multiplier(suf);
  if (!m) return std::nullopt;
  double b = n * *m;
  if (b < 0 || b > 9.0e18) return std::nullopt;
  return static_cast<std::int64_t>(std::ceil(b - 1e-6));
}

std::string format_rfc3339_micro(std::int64_t ms) { return rfc3339_utc(ms, true); }

std::optional<std::int64_t> parse_rfc3339_ms(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)
  if (s.size() < 20 || s.size() > 40) return std::nullopt;
  auto num = [&](std::size_t pos, std::size_t len, int& out) {
    if (pos + len > s.size()) return false;
    auto r = std::from_chars(s.data() + pos, s.data() + pos + len, out);
    return r.ec == std::errc() && r.ptr == s.data() + pos + len;
  };
  int Y, M, D, h, m, sec;
  if (!num(0, 4, Y) || s[4] != '-' || !num(5, 2, M) || s[7] != '-' || !num(8, 2, D) || (s[10] != 'T' && s[10] != 't') ||
      !num(11, 2, h) || s[13] != ':' || !num(14, 2, m) || s[16] != ':' || !num(17, 2, sec))
    return std::nullopt;
  if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return std::nullopt;
  std::size_t i = 19;
  std::int64_t frac_ms = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int digits = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      if (digits < 3) frac_ms = frac_ms * 10 + (s[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return std::nullopt;
    for (int d = digits; d < 3; ++d) frac_ms *= 10;
  }
  std::int64_t offset_s = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh, om;
    if (!num(i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' || !num(i + 4, 2, om)) return std::nullopt;
    offset_s = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  // Days from civil (Howard Hinnant's algorithm), proleptic Gregorian.
  int y = M <= 2 ? Y - 1 : Y;
  int era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = static_cast<unsigned>(y - era * 400);
  unsigned doy = (153 * static_cast<unsigned>(M + (M > 2 ? -3 : 9)) + 2) / 5 + static_cast<unsigned>(D) - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  std::int64_t days = static_cast<std::int64_t>(era) * 146097 + static_cast<std::int64_t>(doe) - 719468;
  std::int64_t secs = days * 86400 + h * 3600 + m * 60 + sec - offset_s;
  return secs * 1000 + frac_ms;
}

std::optional<BackendNode> node_from_json(const json& node) {
  BackendNode n;
  n.name = str_at(node, {"metadata", "name"});
  if (n.name.empty()) return std::nullopt;
  const json* labels = find_path(node, {"metadata", "labels"});
  if (labels && labels->is_object())
    for (auto it = labels->begin(); it != labels->end(); ++it)
      if (it->is_string()) n.labels[it.key()] = it->get<std::string>();
  auto tier = n.labels.find(kLabelTier);
  if (tier == n.labels.end()) return std::nullopt;
  n.tier = tier->second;
  auto arch = n.labels.find("kubernetes.io/arch");
  n.arch = arch != n.labels.end() ? arch->second : str_at(node, {"status", "nodeInfo", "architecture"});
  if (auto cpu = parse_cpu_milli(str_at(node, {"status", "allocatable", "cpu"}))) n.cpu_capacity_m = *cpu;
  if (auto mem = parse_bytes(str_at(node, {"status", "allocatable", "memory"}))) n.mem_capacity_mb = *mem / (1024 * 1024);
  return n;
}

std::vector<NodeUsage> node_usage_from_metrics(const json& list, const std::map<std::string, BackendNode>& capacity,
                                               std::size_t* skipped) {
  std::vector<NodeUsage> out;
  std::size_t bad = 0;
  const json* items = list.is_object() && list.contains("items") ? &list["items"] : nullptr;
  if (items && items->is_array()) {
    for (const auto& it : *items) {
      NodeUsage u;
      u.node = str_at(it, {"metadata", "name"});
      auto cap = capacity.find(u.node);
      auto cpu = parse_cpu_milli(str_at(it, {"usage", "cpu"}));
      auto mem = parse_bytes(str_at(it, {"usage", "memory"}));
      if (cap == capacity.end() || !cpu || !mem || cap->second.cpu_capacity_m <= 0 || cap->second.mem_capacity_mb <= 0) {
        ++bad;
        continue;
      }
      u.cpu = std::clamp(static_cast<double>(*cpu) / static_cast<double>(cap->second.cpu_capacity_m), 0.0, 1.0);
      u.mem = std::clamp(static_cast<double>(*mem) / (static_cast<double>(cap->second.mem_capacity_mb) * 1024.0 * 1024.0),
                         0.0, 1.0);
      u.t_ms = parse_rfc3339_ms(str_at(it, {"timestamp"})).value_or(0);
      out.push_back(std::move(u));
    }
  }
  if (skipped) *skipped = bad;
  return out;
}

bool node_ready(const json& node) {
  const json* conds = find_path(node, {"status", "conditions"});
  if (!conds || !conds->is_array()) return false;
  for (const auto& c : *conds)
    if (str_at(c, {"type"}) == "Ready") return str_at(c, {"status"}) == "True";
  return false;
}

PodView pod_from_json(const json& pod) {
  PodView v;
  v.name = str_at(pod, {"metadata", "name"});
  v.function_id = str_at(pod, {"metadata", "annotations", kAnnotationFunctionId});
  if (v.function_id.empty()) v.function_id = str_at(pod, {"metadata", "labels", kLabelFunction});
  v.placement = str_at(pod, {"metadata", "annotations", kAnnotationPlacement});
  v.node = str_at(pod, {"spec", "nodeName"});
  v.phase = str_at(pod, {"status", "phase"});
  const json* del = find_path(pod, {"metadata", "deletionTimestamp"});
  v.deleting = del && !del->is_null();
  if (const json* conds = find_path(pod, {"status", "conditions"}); conds && conds->is_array()) {
    for (const auto& c : *conds) {
      if (!c.is_object()) continue;
      // Fields are read by type: a condition whose "type" is an object is
      // skipped, not thrown on.
      std::string type = str_at(c, {"type"});
      bool is_true = str_at(c, {"status"}) == "True";
      const json* t = c.contains("lastTransitionTime") ? &c["lastTransitionTime"] : nullptr;
      std::optional<std::int64_t> when;
      if (t && t->is_string()) when = parse_rfc3339_ms(t->get<std::string>());
      if (type == "PodScheduled" && is_true) v.scheduled_ms = when;
      if (type == "Ready") {
        v.ready = is_true;
        if (is_true) v.ready_ms = when;
      }
    }
  }
  if (const json* cs = find_path(pod, {"status", "containerStatuses"}); cs && cs->is_array()) {
    for (const auto& c : *cs) {
      if (!c.is_object()) continue;
      if (const json* n = find_path(c, {"restartCount"}); n && n->is_number_integer()) {
        // Summed in 64 bits and held to int's range: a hostile count neither
        // wraps nor overflows.
        std::int64_t sum = std::int64_t{v.restarts} + std::clamp<std::int64_t>(n->get<std::int64_t>(), 0, INT32_MAX);
        v.restarts = static_cast<int>(std::min<std::int64_t>(sum, INT32_MAX));
      }
      if (const json* w = find_path(c, {"state", "waiting", "reason"}); w && w->is_string() && v.waiting_reason.empty())
        v.waiting_reason = w->get<std::string>();
      if (const json* term = find_path(c, {"lastState", "terminated"}); term && term->is_object()) {
        if (term->contains("signal") && (*term)["signal"].is_number_integer() && (*term)["signal"].get<int>() != 0)
          v.last_exit = "signal " + std::to_string((*term)["signal"].get<int>());
        else if (term->contains("exitCode") && (*term)["exitCode"].is_number_integer())
          v.last_exit = "exit " + std::to_string((*term)["exitCode"].get<int>());
      }
    }
  }
  return v;
}

bool LineSplitter::feed(std::string_view data, const std::function<bool(std::string_view)>& on_line) {
  while (!data.empty()) {
    auto nl = data.find('\n');
    if (nl == std::string_view::npos) {
      if (skipping_) return true;
      if (buf_.size() + data.size() > max_line_) {
        buf_.clear();
        skipping_ = true;
        dropped_++;
        return true;
      }
      buf_.append(data);
      return true;
    }
    std::string_view part = data.substr(0, nl);
    data.remove_prefix(nl + 1);
    if (skipping_) {
      skipping_ = false;
      continue;
    }
    if (buf_.size() + part.size() > max_line_) {
      buf_.clear();
      dropped_++;
      continue;
    }
    bool go_on;
    if (buf_.empty()) {
      go_on = part.empty() ? true : on_line(part);
    } else {
      buf_.append(part);
      std::string line;
      line.swap(buf_);
      go_on = on_line(line);
    }
    if (!go_on) return false;
  }
  return true;
}

Result<std::string> base64_decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    if (padding) return Error{"invalid_argument", "base64: data after padding at offset " + std::to_string(i)};
    int v = val(c);
    if (v < 0) return Error{"invalid_argument", "base64: invalid character at offset " + std::to_string(i)};
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bits >= 6) return Error{"invalid_argument", "base64: truncated input"};
  return out;
}

Status parse_server_url(const std::string& url, std::string& host, std::uint16_t& port) {
  const std::string scheme = "https://";
  if (url.rfind(scheme, 0) != 0) return Error{"invalid_config", "server " + url + ": must be an https:// URL"};
  std::string rest = url.substr(scheme.size());
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    if (rest.substr(slash) != "/") return Error{"invalid_config", "server " + url + ": a path prefix is not supported"};
    rest = rest.substr(0, slash);
  }
  std::string port_text;
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) return Error{"invalid_config", "server " + url + ": unclosed [ in the host"};
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return Error{"invalid_config", "server " + url + ": expected :PORT after ]"};
      port_text = rest.substr(close + 2);
    }
  } else {
    auto colon = rest.rfind(':');
    host = rest.substr(0, colon);
    if (colon != std::string::npos) port_text = rest.substr(colon + 1);
  }
  if (host.empty()) return Error{"invalid_config", "server " + url + ": no host"};
  port = 443;
  if (!port_text.empty()) {
    unsigned p = 0;
    auto r = std::from_chars(port_text.data(), port_text.data() + port_text.size(), p);
    if (r.ec != std::errc() || r.ptr != port_text.data() + port_text.size() || p == 0 || p > 65535)
      return Error{"invalid_config", "server " + url + ": bad port " + port_text};
    port = static_cast<std::uint16_t>(p);
  }
  return ok_status();
}

Result<KubeConfig> parse_kubeconfig(const config::Node& root, const std::string& dir, const std::string& context) {
  return config::parse(root, [&](const config::Node& n) -> KubeConfig {
    auto absolute = [&](const std::string& p) { return p.empty() || p[0] == '/' ? p : dir + "/" + p; };
    auto named = [&](const char* list, const std::string& name) -> config::Node {
      for (auto& item : n.child(list).items())
        if (item.str_or("name", "") == name) return item;
      n.child(list).fail("no entry named " + name);
    };
    std::string ctx_name = context.empty() ? n.str_or("current-context", "") : context;
    if (ctx_name.empty()) n.fail("current-context: not set and no --context given");
    config::Node ctx = named("contexts", ctx_name).child("context");
    KubeConfig k;
    k.ns = ctx.str_or("namespace", "");
    config::Node cluster = named("clusters", ctx.child("cluster").str()).child("cluster");
    k.server = cluster.child("server").str();
    if (auto st = parse_server_url(k.server, k.host, k.port); !st) cluster.child("server").fail(st.error().message);
    k.tls_server_name = cluster.str_or("tls-server-name", "");
    k.insecure_skip_tls_verify = cluster.boolean_or("insecure-skip-tls-verify", false);
    k.ca_file = absolute(cluster.str_or("certificate-authority", ""));
    if (auto d = cluster.optional_child("certificate-authority-data")) {
      auto pem = base64_decode(d->str());
      if (!pem) d->fail(pem.error().message);
      k.ca_pem = *pem;
    }
    std::string user_name = ctx.str_or("user", "");
    if (!user_name.empty()) {
      config::Node user = named("users", user_name).child("user");
      if (user.has("exec") || user.has("auth-provider"))
        user.fail("exec and auth-provider credentials are not supported: use a client certificate or a token");
      k.cert_file = absolute(user.str_or("client-certificate", ""));
      k.key_file = absolute(user.str_or("client-key", ""));
      if (auto d = user.optional_child("client-certificate-data")) {
        auto pem = base64_decode(d->str());
        if (!pem) d->fail(pem.error().message);
        k.cert_pem = *pem;
      }
      if (auto d = user.optional_child("client-key-data")) {
        auto pem = base64_decode(d->str());
        if (!pem) d->fail(pem.error().message);
        k.key_pem = *pem;
      }
      k.token = user.str_or("token", "");
      k.token_file = absolute(user.str_or("tokenFile", user.str_or("token-file", "")));
      bool has_cert = !k.cert_file.empty() || !k.cert_pem.empty();
      bool has_key = !k.key_file.empty() || !k.key_pem.empty();
      if (has_cert != has_key) user.fail("a client certificate needs its key (client-certificate and client-key)");
    }
    return k;
  });
}

}  // namespace c4i::orchestrator::k8s
