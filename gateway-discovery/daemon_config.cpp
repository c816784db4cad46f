#include "gateway-discovery/daemon_config.hpp"

#include <charconv>
#include <cmath>

#include "common/config.hpp"

namespace c4i::discovery {

namespace {
bool parse_port(std::string_view s, std::uint16_t& out) {
  unsigned v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v == 0 || v > 65535) return false;
  out = static_cast<std::uint16_t>(v);
  return true;
}
}  // namespace

Result<SourceSpec> parse_source(const std::string& text) {
  SourceSpec s;
  if (text == "hci") return s;
  if (text.starts_with("hci:")) {
    s.hci_device = text.substr(4);
    if (s.hci_device.empty()) return Error{"invalid_argument", "source: 'hci:' needs an adapter name (hci0)"};
    return s;
  }
  if (text.starts_with("btsnoop:")) {
    s.kind = SourceSpec::Kind::btsnoop;
    std::string rest = text.substr(8);
    const auto at = rest.rfind('@');
    if (at != std::string::npos) {
      const std::string sp = rest.substr(at + 1);
      double v = 0;
      auto r = std::from_chars(sp.data(), sp.data() + sp.size(), v);
      if (r.ec != std::errc() || r.ptr != sp.data() + sp.size() || !(v >= 0) || !std::isfinite(v))
        return Error{"invalid_argument", "source: btsnoop speed '" + sp + "' is not a number >= 0"};
      s.speed = v;
      rest.resize(at);
    }
    if (rest.empty()) return Error{"invalid_argument", "source: 'btsnoop:' needs a file"};
    s.path = rest;
    return s;
  }
  if (text.starts_with("sim:")) {
    s.kind = SourceSpec::Kind::sim;
    std::string rest = text.substr(4);
    if (rest.starts_with("unix:")) {
      s.sim_unix = rest.substr(5);
      if (s.sim_unix.empty()) return Error{"invalid_argument", "source: 'sim:unix:' needs a socket path"};
      return s;
    }
    const auto colon = rest.rfind(':');
    if (colon == std::string::npos || colon == 0 || !parse_port(std::string_view(rest).substr(colon + 1), s.sim_port))
      return Error{"invalid_argument", "source: sim address '" + rest + "' is not unix:/path or HOST:PORT"};
    s.sim_host = rest.substr(0, colon);
    if (s.sim_host.size() > 2 && s.sim_host.front() == '[' && s.sim_host.back() == ']')
      s.sim_host = s.sim_host.substr(1, s.sim_host.size() - 2);
    return s;
  }
  return Error{"invalid_argument", "source '" + text + "': expected hci[:NAME], btsnoop:FILE[@speed] or sim:ADDR"};
}

Result<Endpoint> parse_https_url(const std::string& url) {
  if (!url.starts_with("https://")) return Error{"invalid_argument", "orchestrator url '" + url + "' must start with https://"};
  std::string rest = url.substr(8);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/') != std::string::npos)
    return Error{"invalid_argument", "orchestrator url '" + url + "' must have no path"};
  Endpoint e;
  if (rest.starts_with("[")) {
    const auto close = rest.find(']');
    if (close == std::string::npos) return Error{"invalid_argument", "orchestrator url '" + url + "': unclosed ["};
    e.host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && (rest[0] != ':' || !parse_port(std::string_view(rest).substr(1), e.port)))
      return Error{"invalid_argument", "orchestrator url '" + url + "': bad port"};
  } else {
    const auto colon = rest.find(':');
    e.host = rest.substr(0, colon);
    if (colon != std::string::npos && !parse_port(std::string_view(rest).substr(colon + 1), e.port))
      return Error{"invalid_argument", "orchestrator url '" + url + "': bad port"};
  }
  if (e.host.empty()) return Error{"invalid_argument", "orchestrator url '" + url + "' has no host"};
  return e;
}

Result<DaemonConfig> load_config_text(const std::string& text, const std::string& name, DaemonConfig base) {
  auto root = config::load_string(text, name);
  if (!root) return root.error();
  return config::parse(*root, [&](const config::Node& r) {
    DaemonConfig c = base;
    if (r.is_null()) return c;
    r.reject_unknown({"gateway", "source", "scan", "presence", "filters", "orchestrator", "outbox", "delivery",
                      "heartbeat", "log", "enrolment"});
    c.gateway = r.str_or("gateway", c.gateway);
    if (auto s = r.optional_child("source")) {
      c.source = s->str();
      if (auto p = parse_source(c.source); !p) s->fail(p.error().message);
    }
    if (auto s = r.optional_child("scan")) {
      s->reject_unknown({"active", "interval_ms", "window_ms", "filter_duplicates"});
      c.scan_active = s->boolean_or("active", c.scan_active);
      // LE_Scan_Interval/Window: 0x0004..0x4000 units of 0.625 ms (Core v5.3, Vol 4, Part E, 7.8.10).
      c.scan_interval_ms = static_cast<int>(s->integer_in_or("interval_ms", 3, 10240, c.scan_interval_ms));
      c.scan_window_ms = static_cast<int>(s->integer_in_or("window_ms", 3, 10240, c.scan_window_ms));
      c.scan_filter_duplicates = s->boolean_or("filter_duplicates", c.scan_filter_duplicates);
      if (c.scan_window_ms > c.scan_interval_ms) s->child("window_ms").fail("must not exceed interval_ms");
    }
    if (auto p = r.optional_child("presence")) {
      p->reject_unknown({"threshold_dbm", "hysteresis_db", "smoothing_alpha", "lost_after_s", "refresh_s", "max_devices"});
      auto& pc = c.presence;
      pc.threshold_dbm = p->number_in_or("threshold_dbm", -127, 20, pc.threshold_dbm);
      pc.hysteresis_db = p->number_in_or("hysteresis_db", 0, 100, pc.hysteresis_db);
      pc.smoothing_alpha = p->number_in_or("smoothing_alpha", 0, 1, pc.smoothing_alpha);
      if (pc.smoothing_alpha <= 0) p->child("smoothing_alpha").fail("must be greater than 0");
      pc.lost_after_ms = static_cast<std::int64_t>(p->number_in_or("lost_after_s", 0.1, 86400, pc.lost_after_ms / 1000.0) * 1000);
      pc.refresh_ms = static_cast<std::int64_t>(p->number_in_or("refresh_s", 0, 86400, pc.refresh_ms / 1000.0) * 1000);
      pc.max_devices = static_cast<std::size_t>(p->integer_in_or("max_devices", 1, 1'000'000, static_cast<long long>(pc.max_devices)));
    }
    if (auto f = r.optional_child("filters")) {
      f->reject_unknown({"addresses", "name_prefixes", "service_uuids", "manufacturer_ids"});
      if (auto a = f->optional_child("addresses"); a && !a->is_null())
        for (const auto& n : a->items()) {
          BdAddr addr;
          if (!BdAddr::parse(n.str(), addr)) n.fail("must be an address aa:bb:cc:dd:ee:ff, got '" + n.str() + "'");
          c.filters.addresses.push_back(addr);
        }
      if (auto a = f->optional_child("name_prefixes"); a && !a->is_null())
        for (const auto& n : a->items()) c.filters.name_prefixes.push_back(n.str());
      if (auto a = f->optional_child("service_uuids"); a && !a->is_null())
        for (const auto& n : a->items()) {
          auto u = Uuid::parse(n.str());
          if (!u) n.fail("must be a 16-, 32- or 128-bit UUID (180d, 0000180d, or 8-4-4-4-12), got '" + n.str() + "'");
          c.filters.service_uuids.push_back(*u);
        }
      if (auto a = f->optional_child("manufacturer_ids"); a && !a->is_null())
        for (const auto& n : a->items()) c.filters.manufacturer_ids.push_back(static_cast<std::uint16_t>(n.integer_in(0, 0xFFFF)));
    }
    if (auto o = r.optional_child("orchestrator")) {
      o->reject_unknown({"url", "ca_file", "cert_file", "key_file"});
      c.orchestrator_url = o->str_or("url", c.orchestrator_url);
      if (o->has("url"))
        if (auto e = parse_https_url(c.orchestrator_url); !e) o->child("url").fail(e.error().message);
      c.ca_file = o->str_or("ca_file", c.ca_file);
      c.cert_file = o->str_or("cert_file", c.cert_file);
      c.key_file = o->str_or("key_file", c.key_file);
    }
    if (auto o = r.optional_child("outbox")) {
      o->reject_unknown({"path"});
      c.outbox_path = o->str_or("path", c.outbox_path);
    }
    if (auto d = r.optional_child("delivery")) {
      d->reject_unknown({"batch_max", "backoff_base_ms", "backoff_max_ms", "request_timeout_ms"});
      c.batch_max = static_cast<int>(d->integer_in_or("batch_max", 1, 1000, c.batch_max));
      c.backoff_base_ms = static_cast<int>(d->integer_in_or("backoff_base_ms", 1, 600'000, c.backoff_base_ms));
      c.backoff_max_ms = static_cast<int>(d->integer_in_or("backoff_max_ms", 1, 3'600'000, c.backoff_max_ms));
      c.request_timeout_ms = static_cast<int>(d->integer_in_or("request_timeout_ms", 100, 600'000, c.request_timeout_ms));
    }
    if (auto h = r.optional_child("heartbeat")) {
      h->reject_unknown({"interval_s", "usage_file"});
      c.heartbeat_interval_s = static_cast<int>(h->integer_in_or("interval_s", 0, 86400, c.heartbeat_interval_s));
      c.usage_file = h->str_or("usage_file", c.usage_file);
    }
    if (auto e = r.optional_child("enrolment")) {
      e->reject_unknown({"dir", "token_file", "renew_at"});
      c.identity_dir = e->str_or("dir", c.identity_dir);
      c.enrol_token_file = e->str_or("token_file", c.enrol_token_file);
      c.renew_at = e->number_in_or("renew_at", 0.1, 0.95, c.renew_at);
    }
    if (auto l = r.optional_child("log")) {
      l->reject_unknown({"format", "level"});
      if (l->has("format")) c.log_format = l->child("format").one_of({"text", "json"});
      if (l->has("level")) c.log_level = l->child("level").one_of({"trace", "debug", "info", "warn", "error", "off"});
    }
    return c;
  });
}

bool enrols(const DaemonConfig& c) {
  return !c.identity_dir.empty() || !c.enrol_token.empty() || !c.enrol_token_file.empty();
}

std::string identity_dir_of(const DaemonConfig& c) {
  if (!c.identity_dir.empty()) return c.identity_dir;
  const auto slash = c.outbox_path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : c.outbox_path.substr(0, slash);
}

Status validate(const DaemonConfig& c) {
  if (c.gateway.empty()) return Error{"invalid_config", "gateway: missing (set it in the config file or with --gateway)"};
  if (auto s = parse_source(c.source); !s) return s.error();
  if (c.orchestrator_url.empty())
    return Error{"invalid_config", "orchestrator.url: missing (set it in the config file or with --orchestrator)"};
  if (auto e = parse_https_url(c.orchestrator_url); !e) return e.error();
  if (c.outbox_path.empty()) return Error{"invalid_config", "outbox.path: missing"};
  if (c.cert_file.empty() != c.key_file.empty())
    return Error{"invalid_config", "orchestrator.cert_file and key_file must be given together"};
  if (enrols(c) && !c.cert_file.empty())
    return Error{"invalid_config",
                 "orchestrator.cert_file/key_file and enrolment are exclusive: an enrolled gateway keeps its certificate "
                 "in the identity directory"};
  if (!c.enrol_token.empty() && !c.enrol_token_file.empty())
    return Error{"invalid_config", "--enrol-token and --enrol-token-file (enrolment.token_file) are exclusive"};
  return ok_status();
}

}  // namespace c4i::discovery
