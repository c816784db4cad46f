#include "orchestrator/settings.hpp"

#include <set>

namespace c4i::orchestrator {

Status parse_listen(const std::string& text, std::string& address, std::uint16_t& port) {
  std::string host, p = text;
  auto colon = text.rfind(':');
  if (colon != std::string::npos) {
    host = text.substr(0, colon);
    p = text.substr(colon + 1);
  }
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos)
    return Error{"invalid_argument", "listen: port must be a number 0..65535, got \"" + text + "\""};
  long v = std::stol(p);
  if (v > 65535) return Error{"invalid_argument", "listen: port must be 0..65535, got " + p};
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (!host.empty()) address = host;
  port = static_cast<std::uint16_t>(v);
  return ok_status();
}

Status parse_settings(const config::Node& root, Settings& s) {
  auto r = config::parse(root, [&](const config::Node& n) {
    n.reject_unknown({"listen", "port_file", "state_dir", "topology", "tokens", "tls", "log", "advertise_url", "threads",
                      "limits", "control", "enrolment"});
    if (auto l = n.optional_child("listen")) {
      if (auto st = parse_listen(l->str(), s.listen_address, s.listen_port); !st) l->fail(st.error().message);
    }
    s.port_file = n.str_or("port_file", s.port_file);
    s.state_dir = n.str_or("state_dir", s.state_dir);
    s.topology_file = n.str_or("topology", s.topology_file);
    s.tokens_file = n.str_or("tokens", s.tokens_file);
    s.advertise_url = n.str_or("advertise_url", s.advertise_url);
    if (!s.advertise_url.empty() && s.advertise_url.rfind("https://", 0) != 0)
      n.child("advertise_url").fail("must start with https://");
    s.threads = static_cast<int>(n.integer_in_or("threads", 1, 64, s.threads));
    if (auto t = n.optional_child("tls")) {
      t->reject_unknown({"cert", "key", "client_ca"});
      s.tls_cert = t->str_or("cert", s.tls_cert);
      s.tls_key = t->str_or("key", s.tls_key);
      s.client_ca = t->str_or("client_ca", s.client_ca);
    }
    if (auto e = n.optional_child("enrolment")) {
      e->reject_unknown({"ca_cert", "ca_key", "cert_lifetime_s", "max_token_ttl_s"});
      s.enrol_ca_cert = e->str_or("ca_cert", s.enrol_ca_cert);
      s.enrol_ca_key = e->str_or("ca_key", s.enrol_ca_key);
      s.enrol_cert_lifetime_s = e->integer_in_or("cert_lifetime_s", 5, 366LL * 86'400, s.enrol_cert_lifetime_s);
      s.enrol_max_token_ttl_s = e->integer_in_or("max_token_ttl_s", 60, 366LL * 86'400, s.enrol_max_token_ttl_s);
      if (s.enrol_ca_cert.empty() != s.enrol_ca_key.empty())
        e->fail("ca_cert and ca_key must be given together");
    }
    if (auto l = n.optional_child("log")) {
      l->reject_unknown({"format", "level"});
      if (auto f = l->optional_child("format")) s.log_format = f->one_of({"text", "json"});
      if (auto v = l->optional_child("level")) s.log_level = v->one_of({"trace", "debug", "info", "warn", "error", "off"});
    }
    if (auto l = n.optional_child("limits")) {
      l->reject_unknown({"max_body_bytes", "max_batch_events", "event_future_ms", "event_past_ms"});
      s.event_future_ms = l->integer_in_or("event_future_ms", 0, 365LL * 86'400'000, s.event_future_ms);
      s.event_past_ms = l->integer_in_or("event_past_ms", 0, 10 * 365LL * 86'400'000, s.event_past_ms);
      s.max_body_bytes = static_cast<std::size_t>(l->integer_in_or("max_body_bytes", 1024, 64 << 20, static_cast<long long>(s.max_body_bytes)));
      s.max_batch_events = static_cast<std::size_t>(l->integer_in_or("max_batch_events", 1, 100'000, static_cast<long long>(s.max_batch_events)));
    }
    if (auto c = n.optional_child("control")) {
      c->reject_unknown({"reconcile_interval_ms", "stop_grace_ms", "retry_base_ms", "retry_max_ms", "restart_base_ms",
                         "restart_max_ms", "heartbeat_stale_ms", "migration_retention_s"});
      s.reconcile_interval_ms = c->integer_in_or("reconcile_interval_ms", 10, 600'000, s.reconcile_interval_ms);
      s.stop_grace_ms = c->integer_in_or("stop_grace_ms", 0, 600'000, s.stop_grace_ms);
      s.retry_base_ms = c->integer_in_or("retry_base_ms", 1, 600'000, s.retry_base_ms);
      s.retry_max_ms = c->integer_in_or("retry_max_ms", 1, 3'600'000, s.retry_max_ms);
      s.restart_base_ms = c->integer_in_or("restart_base_ms", 1, 600'000, s.restart_base_ms);
      s.restart_max_ms = c->integer_in_or("restart_max_ms", 1, 3'600'000, s.restart_max_ms);
      s.heartbeat_stale_ms = c->integer_in_or("heartbeat_stale_ms", 1000, 86'400'000, s.heartbeat_stale_ms);
      s.migration_retention_s = c->integer_in_or("migration_retention_s", 0, 3650LL * 86'400, s.migration_retention_s);
      if (s.retry_base_ms > s.retry_max_ms) c->child("retry_base_ms").fail("must not exceed retry_max_ms");
      if (s.restart_base_ms > s.restart_max_ms) c->child("restart_base_ms").fail("must not exceed restart_max_ms");
    }
    return Ok{};
  });
  if (!r) return r.error();
  return ok_status();
}

Result<Settings> load_settings_file(const std::string& path) {
  auto root = config::load_file(path);
  if (!root) return root.error();
  Settings s;
  if (auto st = parse_settings(*root, s); !st) return st.error();
  return s;
}

namespace {
bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_')) return false;
  return true;
}
}  // namespace

Result<std::vector<TopologyNode>> parse_topology(const config::Node& root) {
  return config::parse(root, [](const config::Node& n) {
    n.reject_unknown({"nodes"});
    std::vector<TopologyNode> out;
    std::set<std::string> seen;
    for (const auto& item : n.child("nodes").items()) {
      item.reject_unknown({"name", "tier", "arch", "cpu_capacity_m", "mem_capacity_mb", "labels"});
      TopologyNode t;
      auto name = item.child("name");
      t.name = name.str();
      if (!valid_name(t.name)) name.fail("must be 1..63 characters of a-z, 0-9, '-', '.', '_'");
      if (!seen.insert(t.name).second) name.fail("duplicate node name " + t.name);
      t.tier = item.child("tier").one_of({"gateway", "edge", "cloud"});
      t.arch = item.str_or("arch", t.arch);
      t.cpu_capacity_m = item.integer_in_or("cpu_capacity_m", 1, 100'000'000, t.cpu_capacity_m);
      t.mem_capacity_mb = item.integer_in_or("mem_capacity_mb", 1, 100'000'000, t.mem_capacity_mb);
      if (auto l = item.optional_child("labels"))
        for (auto& [k, v] : l->entries()) t.labels[k] = v.str();
      out.push_back(std::move(t));
    }
    if (out.empty()) n.child("nodes").fail("must list at least one node");
    return out;
  });
}

Result<std::vector<TopologyNode>> load_topology_file(const std::string& path) {
  auto root = config::load_file(path);
  if (!root) return root.error();
  return parse_topology(*root);
}

const char* to_string(Role r) {
  switch (r) {
    case Role::viewer: return "viewer";
    case Role::operator_: return "operator";
    case Role::admin: return "admin";
  }
  return "?";
}

std::optional<Role> parse_role(const std::string& s) {
  if (s == "viewer") return Role::viewer;
  if (s == "operator") return Role::operator_;
  if (s == "admin") return Role::admin;
  return std::nullopt;
}

Result<std::vector<TokenEntry>> parse_tokens(const config::Node& root) {
  return config::parse(root, [](const config::Node& n) {
    n.reject_unknown({"tokens"});
    std::vector<TokenEntry> out;
    std::set<std::string> names, hashes;
    for (const auto& item : n.child("tokens").items()) {
      item.reject_unknown({"name", "role", "sha256"});
      TokenEntry t;
      auto name = item.child("name");
      t.name = name.str();
      if (t.name.empty()) name.fail("must not be empty");
      if (!names.insert(t.name).second) name.fail("duplicate token name " + t.name);
      t.role = *parse_role(item.child("role").one_of({"viewer", "operator", "admin"}));
      auto h = item.child("sha256");
      t.sha256_hex = h.str();
      if (t.sha256_hex.size() != 64 || t.sha256_hex.find_first_not_of("0123456789abcdef") != std::string::npos)
        h.fail("must be 64 lowercase hex digits (c4i-orchestrator hash-token prints it)");
      if (!hashes.insert(t.sha256_hex).second) h.fail("the same token hash is listed twice");
      out.push_back(std::move(t));
    }
    return out;
  });
}

Result<std::vector<TokenEntry>> load_tokens_file(const std::string& path) {
  auto root = config::load_file(path);
  if (!root) return root.error();
  return parse_tokens(*root);
}

}  // namespace c4i::orchestrator
