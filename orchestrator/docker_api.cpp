#include "orchestrator/docker_api.hpp"

#include <algorithm>
#include <ctime>
#include <set>

namespace c4i::orchestrator::docker {

using nlohmann::json;

namespace {
Error bad(const std::string& what) { return Error{"bad_response", what}; }

std::string str_at(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
std::int64_t int_at(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0;
  if (it->is_number_float()) return static_cast<std::int64_t>(it->get<double>());
  return it->is_number_unsigned() ? static_cast<std::int64_t>(std::min<std::uint64_t>(it->get<std::uint64_t>(), INT64_MAX))
                                  : it->get<std::int64_t>();
}
std::uint64_t uint_at(const json& j, const char* key) {
  auto v = int_at(j, key);
  return v < 0 ? 0 : static_cast<std::uint64_t>(v);
}
const json& obj_at(const json& j, const char* key) {
  static const json empty = json::object();
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : empty;
}
std::map<std::string, std::string> string_map(const json& j) {
  std::map<std::string, std::string> out;
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it->is_string()) out[it.key()] = it->get<std::string>();
  return out;
}
json parse_object(std::string_view body, const char* what, Error& err) {
  auto j = json::parse(body, nullptr, false);
  if (!j.is_object()) err = bad(std::string(what) + ": not a JSON object");
  return j;
}
}  // namespace

Result<Endpoint> parse_endpoint(const std::string& url) {
  Endpoint e;
  e.url = url;
  if (url.rfind("unix://", 0) == 0) {
    e.socket_path = url.substr(7);
    if (e.socket_path.empty() || e.socket_path[0] != '/')
      return Error{"invalid_config", "engine endpoint " + url + ": a unix socket needs an absolute path (unix:///run/docker.sock)"};
    if (e.socket_path.size() > 107) return Error{"invalid_config", "engine endpoint " + url + ": socket path longer than 107 bytes"};
    return e;
  }
  if (url.rfind("tcp://", 0) == 0 || url.rfind("https://", 0) == 0) {
    std::string rest = url.substr(url.find("://") + 3);
    if (!rest.empty() && rest.back() == '/') rest.pop_back();
    std::string host, port;
    if (!rest.empty() && rest[0] == '[') {
      auto close = rest.find(']');
      if (close == std::string::npos) return Error{"invalid_config", "engine endpoint " + url + ": unclosed [ in the host"};
      host = rest.substr(1, close - 1);
      if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
    } else {
      auto colon = rest.rfind(':');
      host = rest.substr(0, colon);
      if (colon != std::string::npos) port = rest.substr(colon + 1);
    }
    if (host.empty() || port.empty()) return Error{"invalid_config", "engine endpoint " + url + ": expected tcp://HOST:PORT"};
    long long p = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || p > 65535) return Error{"invalid_config", "engine endpoint " + url + ": bad port " + port};
      p = p * 10 + (c - '0');
    }
    if (p < 1 || p > 65535) return Error{"invalid_config", "engine endpoint " + url + ": port must be 1..65535"};
    e.host = host;
    e.port = static_cast<std::uint16_t>(p);
    return e;
  }
  return Error{"invalid_config", "engine endpoint " + url + ": must start with unix:// or tcp://"};
}

namespace {
ReaderConfig parse_reader(const config::Node& r) {
  r.reject_unknown({"enabled", "image", "network", "connect", "args", "binds"});
  ReaderConfig c;
  c.enabled = r.boolean_or("enabled", c.enabled);
  c.image = r.str_or("image", "");
  c.network = r.str_or("network", c.network);
  if (c.network.empty()) r.child("network").fail("must not be empty (host, none, bridge or a network name)");
  c.connect = r.str_or("connect", c.connect);
  if (c.connect.empty()) r.child("connect").fail("must not be empty (a BLE address, unix:PATH, or {addr})");
  if (auto a = r.optional_child("args"))
    for (const auto& i : a->items()) c.args.push_back(i.str());
  if (auto b = r.optional_child("binds"))
    for (const auto& i : b->items()) {
      std::string v = i.str();
      auto colon = v.find(':');
      if (colon == std::string::npos || colon == 0 || v[0] != '/' || colon + 1 >= v.size() || v[colon + 1] != '/')
        i.fail("must be HOST:CONTAINER[:ro] with absolute paths");
      c.binds.push_back(std::move(v));
    }
  return c;
}
}  // namespace

std::string expand_reader_template(std::string s, const std::map<std::string, std::string>& values) {
  for (const auto& [k, v] : values) {
    const std::string key = "{" + k + "}";
    for (std::size_t at = s.find(key); at != std::string::npos; at = s.find(key, at + v.size())) s.replace(at, key.size(), v);
  }
  return s;
}

Result<DockerTopology> parse_docker_topology(const config::Node& root) {
  return config::parse(root, [](const config::Node& n) {
    n.reject_unknown({"nodes", "usage_interval_ms", "stop_timeout_s", "pull_timeout_ms", "reader"});
    DockerTopology t;
    ReaderConfig reader;
    if (auto r = n.optional_child("reader")) reader = parse_reader(*r);
    t.usage_interval_ms = n.integer_in_or("usage_interval_ms", 0, 3'600'000, t.usage_interval_ms);
    t.stop_timeout_s = n.integer_in_or("stop_timeout_s", 0, 600, t.stop_timeout_s);
    t.pull_timeout_ms = n.integer_in_or("pull_timeout_ms", 1000, 3'600'000, t.pull_timeout_ms);
    std::set<std::string> seen;
    for (const auto& item : n.child("nodes").items()) {
      item.reject_unknown({"name", "tier", "arch", "cpu_capacity_m", "mem_capacity_mb", "labels", "engine", "network", "reader"});
      DockerNode d;
      d.reader = reader;
      if (auto r = item.optional_child("reader")) d.reader = parse_reader(*r);
      auto name = item.child("name");
      d.node.name = name.str();
      bool valid = !d.node.name.empty() && d.node.name.size() <= 63 &&
                   std::all_of(d.node.name.begin(), d.node.name.end(), [](char c) {
                     return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
                   });
      if (!valid) name.fail("must be 1..63 characters of a-z, 0-9, '-', '.', '_'");
      if (!seen.insert(d.node.name).second) name.fail("duplicate node name " + d.node.name);
      d.node.tier = item.child("tier").one_of({"gateway", "edge", "cloud"});
      d.node.arch = item.str_or("arch", "");
      d.node.cpu_capacity_m = item.integer_in_or("cpu_capacity_m", 0, 100'000'000, 0);
      d.node.mem_capacity_mb = item.integer_in_or("mem_capacity_mb", 0, 100'000'000, 0);
      if (auto l = item.optional_child("labels"))
        for (auto& [k, v] : l->entries()) d.node.labels[k] = v.str();
      d.network = item.str_or("network", d.network);
      auto engine = item.child("engine");
      engine.reject_unknown({"endpoint", "ca", "cert", "key"});
      auto ep = parse_endpoint(engine.child("endpoint").str());
      if (!ep) engine.child("endpoint").fail(ep.error().message);
      d.engine = *ep;
      d.engine.ca_file = engine.str_or("ca", "");
      d.engine.cert_file = engine.str_or("cert", "");
      d.engine.key_file = engine.str_or("key", "");
      if (!d.engine.is_unix() && (d.engine.cert_file.empty() || d.engine.key_file.empty() || d.engine.ca_file.empty()))
        engine.fail("a tcp:// engine needs TLS: ca, cert and key");
      if (d.engine.cert_file.empty() != d.engine.key_file.empty()) engine.fail("cert and key go together");
      t.nodes.push_back(std::move(d));
    }
    if (t.nodes.empty()) n.child("nodes").fail("must list at least one node");
    return t;
  });
}

Result<DockerTopology> load_docker_topology_file(const std::string& path) {
  auto root = config::load_file(path);
  if (!root) return root.error();
  return parse_docker_topology(*root);
}

std::string normalize_arch(std::string_view m) {
  if (m == "x86_64" || m == "amd64") return "amd64";
  if (m == "aarch64" || m == "arm64") return "arm64";
  if (m == "armv7l" || m == "armv6l" || m == "arm") return "arm";
  if (m == "i686" || m == "i386") return "386";
  return std::string(m);
}

Result<EngineInfo> parse_info(std::string_view body) {
  Error err;
  auto j = parse_object(body, "info", err);
  if (!err.code.empty()) return err;
  EngineInfo i;
  i.name = str_at(j, "Name");
  i.server_version = str_at(j, "ServerVersion");
  i.os_type = str_at(j, "OSType");
  std::string machine = str_at(j, "Architecture");
  if (machine.empty()) return bad("info: no Architecture");
  i.arch = normalize_arch(machine);
  i.ncpu = int_at(j, "NCPU");
  i.mem_total_bytes = int_at(j, "MemTotal");
  if (i.ncpu <= 0) return bad("info: NCPU must be positive");
  if (i.mem_total_bytes <= 0) return bad("info: MemTotal must be positive");
  return i;
}

std::string error_message(std::string_view body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_object()) {
    auto m = str_at(j, "message");
    if (!m.empty()) return m;
  }
  std::string b(body.substr(0, 200));
  for (char& c : b)
    if (c == '\n' || c == '\r') c = ' ';
  while (!b.empty() && b.back() == ' ') b.pop_back();
  return b;
}

Result<ImageRef> parse_image_ref(std::string_view ref) {
  if (ref.empty()) return Error{"invalid_argument", "image reference is empty"};
  for (char c : ref)
    if (static_cast<unsigned char>(c) <= ' ' || c == '"' || c == '\\')
      return Error{"invalid_argument", "image reference " + std::string(ref) + ": bad character"};
  ImageRef r;
  if (auto at = ref.find('@'); at != std::string_view::npos) {
    r.repo = std::string(ref.substr(0, at));
    r.tag = std::string(ref.substr(at + 1));
  } else {
    auto slash = ref.rfind('/');
    auto colon = ref.rfind(':');
    if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
      r.repo = std::string(ref.substr(0, colon));
      r.tag = std::string(ref.substr(colon + 1));
    } else {
      r.repo = std::string(ref);
      r.tag = "latest";
    }
  }
  if (r.repo.empty() || r.tag.empty()) return Error{"invalid_argument", "image reference " + std::string(ref) + ": no repository or tag"};
  return r;
}

Status JsonLines::feed(std::string_view bytes, std::vector<json>& out) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    auto nl = bytes.find('\n', pos);
    std::string_view piece = bytes.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (partial_.size() + piece.size() > max_) {
      partial_.clear();
      return Error{"bad_response", "stream: a line longer than " + std::to_string(max_) + " bytes"};
    }
    partial_.append(piece);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
    while (!partial_.empty() && (partial_.back() == '\r' || partial_.back() == ' ')) partial_.pop_back();
    if (!partial_.empty()) {
      auto j = json::parse(partial_, nullptr, false);
      if (j.is_discarded()) ++skipped_;
      else out.push_back(std::move(j));
    }
    partial_.clear();
  }
  return ok_status();
}

Status check_pull_message(const json& m) {
  if (!m.is_object()) return ok_status();
  const json& detail = obj_at(m, "errorDetail");
  std::string msg = str_at(detail, "message");
  if (msg.empty()) msg = str_at(m, "error");
  if (!msg.empty()) return Error{"pull_failed", msg};
  return ok_status();
}

Result<std::vector<ContainerSummary>> parse_container_list(std::string_view body) {
  auto j = json::parse(body, nullptr, false);
  if (!j.is_array()) return bad("container list: not a JSON array");
  std::vector<ContainerSummary> out;
  for (const auto& c : j) {
    if (!c.is_object()) return bad("container list: an item is not an object");
    ContainerSummary s;
    s.id = str_at(c, "Id");
    if (s.id.empty()) return bad("container list: an item has no Id");
    if (auto it = c.find("Names"); it != c.end() && it->is_array() && !it->empty() && (*it)[0].is_string())
      s.name = (*it)[0].get<std::string>();
    s.image = str_at(c, "Image");
    s.state = str_at(c, "State");
    s.status = str_at(c, "Status");
    s.labels = string_map(obj_at(c, "Labels"));
    out.push_back(std::move(s));
  }
  return out;
}

Result<ContainerView> parse_inspect(std::string_view body) {
  Error err;
  auto j = parse_object(body, "container inspect", err);
  if (!err.code.empty()) return err;
  ContainerView v;
  v.id = str_at(j, "Id");
  if (v.id.empty()) return bad("container inspect: no Id");
  v.name = str_at(j, "Name");
  v.image = str_at(j, "Image");
  const json& st = obj_at(j, "State");
  v.status = str_at(st, "Status");
  if (auto it = st.find("Running"); it != st.end() && it->is_boolean()) v.running = it->get<bool>();
  if (auto it = st.find("OOMKilled"); it != st.end() && it->is_boolean()) v.oom_killed = it->get<bool>();
  v.exit_code = static_cast<int>(std::clamp<std::int64_t>(int_at(st, "ExitCode"), INT32_MIN, INT32_MAX));
  v.started_at = str_at(st, "StartedAt");
  v.finished_at = str_at(st, "FinishedAt");
  v.error = str_at(st, "Error");
  v.labels = string_map(obj_at(obj_at(j, "Config"), "Labels"));
  return v;
}

Result<ImageView> parse_image_inspect(std::string_view body) {
  Error err;
  auto j = parse_object(body, "image inspect", err);
  if (!err.code.empty()) return err;
  ImageView v;
  v.id = str_at(j, "Id");
  if (v.id.empty()) return bad("image inspect: no Id");
  v.arch = normalize_arch(str_at(j, "Architecture"));
  v.os = str_at(j, "Os");
  return v;
}

Result<StatsSample> parse_stats(std::string_view body) {
  Error err;
  auto j = parse_object(body, "stats", err);
  if (!err.code.empty()) return err;
  StatsSample s;
  const json& cpu = obj_at(j, "cpu_stats");
  s.cpu_total_ns = uint_at(obj_at(cpu, "cpu_usage"), "total_usage");
  s.system_cpu_ns = uint_at(cpu, "system_cpu_usage");
  s.online_cpus = int_at(cpu, "online_cpus");
  const json& mem = obj_at(j, "memory_stats");
  std::uint64_t usage = uint_at(mem, "usage");
  const json& ms = obj_at(mem, "stats");
  // As the docker CLI: cgroup v1 subtracts total_inactive_file, v2 inactive_file.
  std::uint64_t cache = ms.contains("total_inactive_file") ? uint_at(ms, "total_inactive_file") : uint_at(ms, "inactive_file");
  s.mem_usage_bytes = usage > cache ? usage - cache : 0;
  return s;
}

double cpu_share(const StatsSample& before, const StatsSample& after) {
  if (after.system_cpu_ns <= before.system_cpu_ns || after.cpu_total_ns < before.cpu_total_ns) return 0;
  // system_cpu_usage sums every CPU of the host, so the ratio is already a share of the whole host.
  double share = static_cast<double>(after.cpu_total_ns - before.cpu_total_ns) /
                 static_cast<double>(after.system_cpu_ns - before.system_cpu_ns);
  return std::clamp(share, 0.0, 1.0);
}

std::optional<ContainerEvent> parse_event(const json& e) {
  if (!e.is_object()) return std::nullopt;
  std::string type = str_at(e, "Type");
  if (type.empty()) type = str_at(e, "type");
  if (type != "container") return std::nullopt;
  ContainerEvent ev;
  ev.action = str_at(e, "Action");
  if (ev.action.empty()) ev.action = str_at(e, "status");
  const json& actor = obj_at(e, "Actor");
  ev.id = str_at(actor, "ID");
  if (ev.id.empty()) ev.id = str_at(e, "id");
  if (ev.id.empty() || ev.action.empty()) return std::nullopt;
  ev.attributes = string_map(obj_at(actor, "Attributes"));
  ev.time_ns = int_at(e, "timeNano");
  return ev;
}

Result<Logs> demux_logs(std::string_view b) {
  Logs l;
  std::size_t pos = 0;
  while (pos < b.size()) {
    if (b.size() - pos < 8) return bad("logs: a frame header cut short at byte " + std::to_string(pos));
    auto stream = static_cast<unsigned char>(b[pos]);
    if (stream > 2 || b[pos + 1] || b[pos + 2] || b[pos + 3])
      return bad("logs: not a multiplexed stream (header at byte " + std::to_string(pos) + ")");
    std::size_t size = (std::size_t(static_cast<unsigned char>(b[pos + 4])) << 24) |
                       (std::size_t(static_cast<unsigned char>(b[pos + 5])) << 16) |
                       (std::size_t(static_cast<unsigned char>(b[pos + 6])) << 8) | std::size_t(static_cast<unsigned char>(b[pos + 7]));
    pos += 8;
    std::size_t take = std::min(size, b.size() - pos);  // a truncated last frame keeps what arrived
    (stream == 2 ? l.err : l.out).append(b.substr(pos, take));
    pos += take;
  }
  return l;
}

std::optional<std::int64_t> parse_docker_time_ms(std::string_view t) {
  // 2026-12-01T18:43:04.806093766Z
  if (t.size() < 20 || t.rfind("0001-01-01", 0) == 0) return std::nullopt;
  auto num = [&](std::size_t at, std::size_t n) -> int {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (t[i] < '0' || t[i] > '9') return -1;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  if (t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':') return std::nullopt;
  int y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2), s = num(17, 2);
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60)
    return std::nullopt;
  std::size_t pos = 19;
  int ms = 0, digits = 0;
  if (pos < t.size() && t[pos] == '.') {
    ++pos;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
      if (digits < 3) ms = ms * 10 + (t[pos] - '0');
      ++digits;
      ++pos;
    }
    for (int i = digits; i < 3; ++i) ms *= 10;
  }
  if (pos >= t.size() || t[pos] != 'Z') return std::nullopt;  // engines report UTC
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000 + ms;
}

}  // namespace c4i::orchestrator::docker
