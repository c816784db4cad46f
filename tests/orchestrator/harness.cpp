#include "tests/orchestrator/harness.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace c4i::testing {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {
std::string sha256_of(const std::string& token) {
  auto r = run({binary_dir() + "/orchestrator/c4i-orchestrator", "hash-token", token});
  if (r.code != 0) throw std::runtime_error("hash-token failed: " + r.err);
  return r.out.substr(0, 64);
}
}  // namespace

void write_test_tokens(const std::string& path) {
  static const std::string admin = sha256_of(kAdminToken), op = sha256_of(kOperatorToken), view = sha256_of(kViewerToken);
  write_file(path,
             "tokens:\n"
             "  - {name: alice, role: admin, sha256: " + admin + "}\n"
             "  - {name: oscar, role: operator, sha256: " + op + "}\n"
             "  - {name: victor, role: viewer, sha256: " + view + "}\n");
}

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Orchestrator::Orchestrator(std::string extra_config) {
  state_dir_ = fs::weakly_canonical(dir_.path()).string() + "/state";
  const auto& pki = test_pki();
  write_file(dir_.file("topology.yaml"),
             "nodes:\n"
             "  - {name: gw-1, tier: gateway, arch: amd64, cpu_capacity_m: 4000, mem_capacity_mb: 4096}\n"
             "  - {name: gw-2, tier: gateway, arch: amd64, cpu_capacity_m: 4000, mem_capacity_mb: 4096}\n"
             "  - {name: edge-1, tier: edge, arch: amd64, cpu_capacity_m: 16000, mem_capacity_mb: 32768, labels: {zone: a}}\n"
             "  - {name: cloud-1, tier: cloud, arch: amd64, cpu_capacity_m: 64000, mem_capacity_mb: 262144}\n");
  write_test_tokens(dir_.file("tokens.yaml"));
  write_file(dir_.file("config.yaml"),
             "listen: 127.0.0.1:0\n"
             "port_file: " + dir_.file("port") + "\n"
             "state_dir: " + state_dir_ + "\n"
             "topology: " + dir_.file("topology.yaml") + "\n"
             "tokens: " + dir_.file("tokens.yaml") + "\n"
             "tls: {cert: " + pki.cert("server") + ", key: " + pki.key("server") + ", client_ca: " + pki.ca() + "}\n"
             "control: {reconcile_interval_ms: 100, stop_grace_ms: 2000, retry_base_ms: 50, retry_max_ms: 1000, restart_base_ms: 50, restart_max_ms: 500}\n" +
                 extra_config);
}

Orchestrator::~Orchestrator() {
  if (child_ && child_->running()) {
    child_->signal(SIGTERM);
    if (!child_->wait(std::chrono::seconds(10))) kill9();
  }
}

bool Orchestrator::start() {
  fs::remove(dir_.file("port"));
  std::vector<std::string> argv = prefix_;
  argv.insert(argv.end(), {binary_dir() + "/orchestrator/c4i-orchestrator", "--config", dir_.file("config.yaml")});
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  child_ = std::make_unique<Child>(argv, std::map<std::string, std::string>{}, dir_.path());
  bool up = wait_until([&] { return fs::exists(dir_.file("port")) || !child_->running(); }, std::chrono::seconds(30));
  if (!up || !child_->running()) return false;
  port_ = static_cast<std::uint16_t>(std::stoi(read_file(dir_.file("port"))));
  return true;
}

void Orchestrator::kill9() {
  if (!child_) return;
  kill(child_->pid(), SIGKILL);
  child_->wait(std::chrono::seconds(10));
}

std::optional<int> Orchestrator::stop() {
  if (!child_) return std::nullopt;
  child_->signal(SIGTERM);
  return child_->wait(std::chrono::seconds(20));
}

bool Orchestrator::running() { return child_ && child_->running(); }

std::string Orchestrator::log() const { return child_ ? child_->err() : ""; }

std::unique_ptr<http::Client> token_client(std::uint16_t port, const std::string& token) {
  http::ClientOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.server_name = "localhost";
  o.tls.ca_file = test_pki().ca();
  o.bearer_token = token;
  o.request_timeout = std::chrono::seconds(20);
  return std::make_unique<http::Client>(o);
}

std::unique_ptr<http::Client> certificate_client(std::uint16_t port, const std::string& cert_file, const std::string& key_file) {
  http::ClientOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.server_name = "localhost";
  o.tls.ca_file = test_pki().ca();
  o.tls.cert_file = cert_file;
  o.tls.key_file = key_file;
  o.request_timeout = std::chrono::seconds(20);
  return std::make_unique<http::Client>(o);
}

std::unique_ptr<http::Client> gateway_client(std::uint16_t port, const std::string& gateway) {
  return certificate_client(port, test_pki().cert(gateway), test_pki().key(gateway));
}

std::unique_ptr<http::Client> Orchestrator::client(const std::string& token) const { return token_client(port_, token); }

std::unique_ptr<http::Client> Orchestrator::gateway(const std::string& name) const { return gateway_client(port_, name); }

void Orchestrator::create_test_template(const std::string& tpl, const std::map<std::string, std::string>& extra_env) {
  auto admin = client(kAdminToken);
  json env{{"C4I_TEST_CA", test_pki().ca()}, {"C4I_TEST_TOKEN", kOperatorToken}};
  for (const auto& [k, v] : extra_env) env[k] = v;
  auto r = call(*admin, "POST", "/v1/templates",
                {{"name", tpl}, {"command", {binary_dir() + "/tests/orchestrator/c4i-test-function"}}, {"env", env},
                 {"cpu_m", 100}, {"mem_mb", 64}});
  if (r.status != 201) throw std::runtime_error("create template: " + std::to_string(r.status) + " " + r.raw);
}

Reply call(http::Client& c, const std::string& method, const std::string& target, const json& body,
           const std::vector<std::pair<std::string, std::string>>& headers) {
  auto h = headers;
  std::string b;
  if (!body.is_null()) {
    b = body.dump();
    h.emplace_back("Content-Type", "application/json");
  }
  auto r = c.request(method, target, b, h, false);
  Reply out;
  if (!r) {
    out.status = -1;
    out.raw = r.error().message;
    return out;
  }
  out.status = r->status;
  out.headers = r->headers;
  out.raw = r->body;
  out.body = json::parse(r->body, nullptr, false);
  if (out.body.is_discarded()) out.body = nullptr;
  return out;
}

json seen(std::int64_t seq, const std::string& addr, int rssi, std::int64_t t_ms, const std::string& reason) {
  return {{"seq", seq}, {"type", "device.seen"}, {"t", t_ms}, {"reason", reason}, {"addr", addr},
          {"addr_type", "public"}, {"rssi", rssi}, {"name", "HRM"}, {"services", {"180d"}}};
}
json lost(std::int64_t seq, const std::string& addr, std::int64_t t_ms) {
  return {{"seq", seq}, {"type", "device.lost"}, {"t", t_ms}, {"reason", "timeout"}, {"addr", addr},
          {"addr_type", "public"}, {"rssi", -90}, {"last_seen_t", t_ms}};
}
json heartbeat(std::int64_t seq, double cpu, double mem, std::int64_t t_ms) {
  return {{"seq", seq}, {"type", "gateway.heartbeat"}, {"t", t_ms}, {"cpu", cpu}, {"mem", mem}, {"arch", "amd64"},
          {"cpu_capacity_m", 4000}, {"mem_capacity_mb", 4096}};
}
json batch(const std::string& gateway, const std::string& boot_id, const std::vector<json>& events) {
  return {{"gateway", gateway}, {"boot_id", boot_id}, {"seq", events.empty() ? json(1) : events.front()["seq"]}, {"events", events}};
}

std::map<std::string, std::string> process_environment(pid_t pid) {
  std::map<std::string, std::string> vars;
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  if (!in) return vars;
  std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t pos = 0;
  while (pos < env.size()) {
    std::size_t z = env.find('\0', pos);
    if (z == std::string::npos) z = env.size();
    std::string kv = env.substr(pos, z - pos);
    auto eq = kv.find('=');
    if (eq != std::string::npos) vars[kv.substr(0, eq)] = kv.substr(eq + 1);
    pos = z + 1;
  }
  return vars;
}

std::map<std::string, std::vector<std::pair<pid_t, std::string>>> function_processes(const std::string& owner) {
  std::map<std::string, std::vector<std::pair<pid_t, std::string>>> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (!end || *end != '\0' || pid <= 1) continue;
    auto vars = process_environment(static_cast<pid_t>(pid));
    if (vars.empty() || vars["C4I_OWNER"] != owner) continue;
    // One instance is one process group (the backend starts each in its own):
    // a function's helper processes, or a sanitizer's tracer task cloned at
    // exit, share its group and are not a second copy. A zombie has no
    // environment; one that is exiting still counts.
    pid_t group = getpgid(static_cast<pid_t>(pid));
    if (group < 0) continue;  // gone meanwhile
    auto& instances = out[vars["C4I_FUNCTION"]];
    bool known = std::any_of(instances.begin(), instances.end(), [&](const auto& i) { return i.first == group; });
    if (!known) instances.emplace_back(group, vars["C4I_NODE"]);
  }
  closedir(d);
  return out;
}

json wait_for(http::Client& c, const std::string& target, const std::function<bool(const json&)>& pred,
              std::chrono::milliseconds timeout) {
  json last;
  wait_until(
      [&] {
        auto r = call(c, "GET", target);
        if (r.status != 200) return false;
        last = r.body;
        return pred(last);
      },
      timeout);
  return last;
}

}  // namespace c4i::testing
