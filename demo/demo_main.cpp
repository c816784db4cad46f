// c4i-demo: the embedded demo. Starts the orchestrator (embedded backend, SQLite
// state), the device simulator, one discovery daemon per gateway (and one for
// edge-1's heartbeats), creates the heart-rate and engine functions, and prints
// every roam and offload with its timeline as it completes. Ends by itself with
// a summary (or runs until Ctrl-C with --forever); everything it started stops
// with it.
#include <CLI/CLI.hpp>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <set>
#include <sstream>
#include <thread>

#include "common/https_client.hpp"

namespace {

namespace fs = std::filesystem;
namespace http = c4i::http;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

bool g_color = false;
std::string color(const char* code, const std::string& s) { return g_color ? std::string("\033[") + code + "m" + s + "\033[0m" : s; }

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "c4i-demo: %s\n", msg.c_str());
  std::exit(1);
}

std::string random_hex(int bytes) {
  std::vector<unsigned char> b(bytes);
  RAND_bytes(b.data(), bytes);
  std::string s;
  char buf[3];
  for (auto c : b) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    s += buf;
  }
  return s;
}

std::string sha256_hex(const std::string& in) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(in.data()), in.size(), d);
  std::string s;
  char buf[3];
  for (auto c : d) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    s += buf;
  }
  return s;
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream out(p);
  out << text;
  if (!out) die("cannot write " + p.string());
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A child process in its own process group, output to a log file.
struct Proc {
  std::string name;
  pid_t pid = -1;
};

Proc spawn(const std::string& name, const std::vector<std::string>& argv, const fs::path& log) {
  pid_t pid = fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    setpgid(0, 0);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    std::fprintf(stderr, "exec %s failed: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  setpgid(pid, pid);
  return {name, pid};
}

bool alive(pid_t pid) { return waitpid(pid, nullptr, WNOHANG) == 0; }

void stop(Proc& p, std::chrono::milliseconds grace = 5s) {
  if (p.pid <= 0) return;
  kill(-p.pid, SIGTERM);
  auto deadline = Clock::now() + grace;
  while (Clock::now() < deadline && alive(p.pid)) std::this_thread::sleep_for(20ms);
  if (alive(p.pid)) {
    kill(-p.pid, SIGKILL);
    waitpid(p.pid, nullptr, 0);
  }
  p.pid = -1;
}

// Process groups whose environment names each function (C4I_FUNCTION=...) and
// carries this run's marker: the demo's check that no function runs twice.
std::map<std::string, std::set<pid_t>> function_groups(const std::string& marker) {
  std::map<std::string, std::set<pid_t>> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    pid_t pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::string env = slurp(fs::path("/proc") / e->d_name / "environ");
    if (env.find(marker) == std::string::npos) continue;
    std::string fn;
    std::size_t start = 0;
    while (start < env.size()) {
      std::size_t end = env.find('\0', start);
      if (end == std::string::npos) end = env.size();
      std::string_view kv(env.data() + start, end - start);
      if (kv.rfind("C4I_FUNCTION=", 0) == 0) fn = std::string(kv.substr(13));
      start = end + 1;
    }
    if (fn.empty()) continue;
    // A process that is already exiting (zombie) no longer runs the function.
    std::string stat = slurp(fs::path("/proc") / e->d_name / "stat");
    auto rp = stat.rfind(')');
    if (rp != std::string::npos && rp + 2 < stat.size() && stat[rp + 2] == 'Z') continue;
    out[fn].insert(getpgid(pid));
  }
  closedir(d);
  return out;
}

std::string find_binary(const fs::path& bin_dir, const std::string& name) {
  for (const char* sub : {"orchestrator", "gateway-discovery", "ble-reader", "simulator", "images", "images/omh",
                          "images/engine", "ctl", "."}) {
    fs::path p = bin_dir / sub / name;
    if (fs::exists(p)) return fs::absolute(p).string();
  }
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(bin_dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->path().filename() == name && it->is_regular_file()) return fs::absolute(it->path()).string();
  }
  die("cannot find the " + name + " binary under " + bin_dir.string() + " (build it: scripts/build.sh release)");
}

std::string ms_text(std::int64_t ms) {
  char b[32];
  if (ms < 1000) std::snprintf(b, sizeof b, "%lld ms", static_cast<long long>(ms));
  else std::snprintf(b, sizeof b, "%.2f s", ms / 1000.0);
  return b;
}

const std::vector<std::string> kSteps = {"detected", "notified", "decided", "applied", "scheduled", "started", "first_data"};

// "detected -> notified +12 ms -> decided +1 ms ..." and the total.
std::string timeline_text(const json& tl, std::int64_t& total_ms) {
  std::string out;
  std::optional<std::int64_t> first, prev;
  for (const auto& step : kSteps) {
    if (!tl.contains(step) || !tl[step].is_number_integer()) continue;
    std::int64_t t = tl[step].get<std::int64_t>();
    if (!first) {
      first = t;
      out += step;
    } else {
      out += " -> " + step + " +" + ms_text(t - *prev);
    }
    prev = t;
  }
  total_ms = first && prev ? *prev - *first : 0;
  return out;
}

struct Options {
  fs::path dir = "/tmp/c4i-demo";
  fs::path bin_dir;
  fs::path source_dir;
  bool short_mode = false;
  bool forever = false;
  double speed = 0;
  std::string summary_json;
  std::vector<std::string> tokens;  // extra NAME:ROLE:SHA256 entries for the token file
};

class Demo {
 public:
  explicit Demo(Options o) : o_(std::move(o)) {}
  int run();

 private:
  void prepare();
  void start_processes();
  void create_functions();
  void watch_loop(double wall_seconds);
  void print_migration(const json& m);
  int finish();
  http::Client client() {
    http::ClientOptions c;
    c.host = "127.0.0.1";
    c.port = port_;
    c.tls.ca_file = (o_.dir / "pki/ca.pem").string();
    c.bearer_token = admin_token_;
    c.retry = {5, 100ms, 2000ms};
    return http::Client(c);
  }
  json api(http::Client& c, const std::string& method, const std::string& target, const json& body = nullptr,
           std::vector<std::pair<std::string, std::string>> headers = {}) {
    auto r = c.request(method, target, body.is_null() ? "" : body.dump(), headers);
    if (!r) die(method + " " + target + ": " + r.error().message);
    if (r->status >= 300) die(method + " " + target + ": HTTP " + std::to_string(r->status) + " " + r->body);
    return r->body.empty() ? json() : json::parse(r->body, nullptr, false);
  }

  Options o_;
  std::string marker_;
  std::string admin_token_;
  std::uint16_t port_ = 0;
  std::vector<Proc> procs_;  // in start order
  std::map<std::string, std::string> bins_;
  std::map<std::int64_t, json> migrations_;
  std::set<std::int64_t> printed_;
  std::vector<std::string> violations_;
  std::mutex mu_;
};

void Demo::prepare() {
  std::error_code ec;
  fs::remove_all(o_.dir, ec);  // a second run starts clean
  fs::create_directories(o_.dir / "logs");
  fs::create_directories(o_.dir / "state");
  fs::create_directories(o_.dir / "devices");
  fs::create_directories(o_.dir / "usage");
  for (const char* b : {"c4i-orchestrator", "c4i-discovery", "c4i-reader", "c4i-sim", "c4i-fn-omh", "c4i-fn-engine"})
    bins_[b] = find_binary(o_.bin_dir, b);

  // The test PKI script makes the fleet CA, the orchestrator's certificate and
  // one per non-gateway node; the gateways enrol (start_processes).
  std::string pki = (o_.source_dir / "tests/pki/make-pki.sh").string();
  std::string cmd = pki + " " + (o_.dir / "pki").string() + " edge-1 cloud-1 operator > " +
                    (o_.dir / "logs/pki.log").string() + " 2>&1";
  if (std::system(cmd.c_str()) != 0) die("making certificates failed, see " + (o_.dir / "logs/pki.log").string());

  marker_ = "C4I_DEMO_RUN=" + random_hex(8);
  admin_token_ = random_hex(24);
  std::string tokens = "tokens:\n  - name: demo-admin\n    role: admin\n    sha256: " + sha256_hex(admin_token_) + "\n";
  for (const auto& t : o_.tokens) {
    auto a = t.find(':'), b = t.find(':', a == std::string::npos ? a : a + 1);
    if (a == std::string::npos || b == std::string::npos) die("--token: expected NAME:ROLE:SHA256, got " + t);
    tokens += "  - {name: " + t.substr(0, a) + ", role: " + t.substr(a + 1, b - a - 1) + ", sha256: " + t.substr(b + 1) + "}\n";
  }
  write(o_.dir / "tokens.yaml", tokens);
  // The dashboard's sign-in wants a token: the admin's, readable by this user only.
  write(o_.dir / "admin.token", "");
  fs::permissions(o_.dir / "admin.token", fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  write(o_.dir / "admin.token", admin_token_ + "\n");
  write(o_.dir / "topology.yaml",
        "nodes:\n"
        "  - {name: gw-1, tier: gateway, arch: arm64, cpu_capacity_m: 4000, mem_capacity_mb: 4096}\n"
        "  - {name: gw-2, tier: gateway, arch: arm64, cpu_capacity_m: 4000, mem_capacity_mb: 4096}\n"
        "  - {name: gw-3, tier: gateway, arch: arm64, cpu_capacity_m: 4000, mem_capacity_mb: 4096}\n"
        "  - {name: edge-1, tier: edge, arch: amd64, cpu_capacity_m: 16000, mem_capacity_mb: 32768}\n"
        "  - {name: cloud-1, tier: cloud, arch: amd64, cpu_capacity_m: 64000, mem_capacity_mb: 262144}\n");
}

void Demo::start_processes() {
  const fs::path& d = o_.dir;
  std::string pki = (d / "pki").string();
  procs_.push_back(spawn("orchestrator",
                         {bins_["c4i-orchestrator"], "--listen", "127.0.0.1:0", "--port-file", (d / "port").string(),
                          "--state-dir", (d / "state").string(), "--topology", (d / "topology.yaml").string(),
                          "--tokens", (d / "tokens.yaml").string(), "--tls-cert", pki + "/server.pem", "--tls-key",
                          pki + "/server.key", "--client-ca", pki + "/ca.pem", "--ca-cert", pki + "/ca.pem",
                          "--ca-key", pki + "/ca.key"},
                         d / "logs/orchestrator.log"));
  auto deadline = Clock::now() + 20s;
  while (Clock::now() < deadline && !fs::exists(d / "port")) {
    if (!alive(procs_[0].pid)) die("the orchestrator exited, see " + (d / "logs/orchestrator.log").string());
    std::this_thread::sleep_for(20ms);
  }
  std::string port_text = slurp(d / "port");
  if (port_text.empty()) die("the orchestrator did not start in 20 s, see " + (d / "logs/orchestrator.log").string());
  port_ = static_cast<std::uint16_t>(std::stoi(port_text));
  say(color("1", "orchestrator") + "  https://127.0.0.1:" + std::to_string(port_) + "  (embedded backend, state in " +
      (d / "state").string() + ")");
  say(color("1", "dashboard") + "     https://127.0.0.1:" + std::to_string(port_) + "/  (sign in with the token in " +
      (d / "admin.token").string() + ")");

  double speed = o_.speed > 0 ? o_.speed : (o_.short_mode ? 4.0 : 1.5);
  procs_.push_back(spawn("simulator",
                         {bins_["c4i-sim"], "run", "--scenario", (o_.source_dir / "demo/scenario.yaml").string(),
                          "--radio", "unix:" + (d / "radio.sock").string(), "--devices-dir", (d / "devices").string(),
                          "--usage-dir", (d / "usage").string(), "--speed", std::to_string(speed), "--ready-file",
                          (d / "sim.ready").string()},
                         d / "logs/simulator.log"));
  deadline = Clock::now() + 10s;
  while (Clock::now() < deadline && !fs::exists(d / "sim.ready")) std::this_thread::sleep_for(20ms);
  if (!fs::exists(d / "sim.ready")) die("the simulator did not start, see " + (d / "logs/simulator.log").string());
  say(color("1", "simulator") + "     2 patients walking gw-1 -> gw-2 -> gw-3, an engine at gw-3 (x" +
      std::to_string(speed).substr(0, 3) + " time)");

  // Each gateway enrols by itself: a single-use bootstrap token made for its
  // name (what `c4ictl gateway token create --ttl 10m --name gw-1` does), and
  // no certificate; it makes its key and keeps it in identity/<gw>/.
  auto admin = client();
  fs::create_directories(d / "enrol");
  fs::permissions(d / "enrol", fs::perms::owner_all, fs::perm_options::replace);
  for (const std::string gw : {"gw-1", "gw-2", "gw-3"}) {
    json t = api(admin, "POST", "/v1/gateway-tokens", {{"ttl_s", 600}, {"gateway", gw}});
    write(d / "enrol" / (gw + ".token"), t.value("token", "") + "\n");
  }
  for (const std::string gw : {"gw-1", "gw-2", "gw-3", "edge-1"}) {
    const bool gateway = gw != "edge-1";
    const std::string identity =
        gateway ? "enrolment:\n  dir: " + (d / "identity" / gw).string() + "\n  token_file: " + (d / "enrol" / (gw + ".token")).string() + "\n"
                : "  cert_file: " + pki + "/" + gw + ".pem\n  key_file: " + pki + "/" + gw + ".key\n";
    std::string cfg =
        "gateway: " + gw + "\n"
        "source: sim:unix:" + (d / "radio.sock").string() + "\n"
        "presence:\n  threshold_dbm: -70\n  hysteresis_db: 6\n  smoothing_alpha: 0.3\n  lost_after_s: 20\n  refresh_s: 1\n"
        "orchestrator:\n  url: https://127.0.0.1:" + std::to_string(port_) + "\n"
        "  ca_file: " + pki + "/ca.pem\n" + identity +
        "outbox:\n  path: " + (d / ("outbox-" + gw + ".db")).string() + "\n"
        "delivery:\n  batch_max: 100\n  backoff_base_ms: 100\n  backoff_max_ms: 2000\n"
        "heartbeat:\n  interval_s: 1\n  usage_file: " + (d / "usage" / (gw + ".json")).string() + "\n"
        "log:\n  format: text\n  level: info\n";
    write(d / ("discovery-" + gw + ".yaml"), cfg);
    procs_.push_back(spawn("discovery " + gw, {bins_["c4i-discovery"], "--config", (d / ("discovery-" + gw + ".yaml")).string()},
                           d / ("logs/discovery-" + gw + ".log")));
  }
  say(color("1", "discovery") + "     c4i-discovery on gw-1, gw-2, gw-3 (BLE adverts from the simulator; each enrols with a "
      "bootstrap token) and edge-1 (heartbeats)");
}

void Demo::create_functions() {
  auto c = client();
  std::string pki = (o_.dir / "pki").string();
  json policy = {{"tiers", {{"gateway", {{"cpu_high", 0.85}, {"cpu_low", 0.5}, {"mem_high", 0.9}, {"mem_low", 0.6}}},
                            {"edge", {{"cpu_high", 0.85}, {"cpu_low", 0.5}, {"mem_high", 0.9}, {"mem_low", 0.6}}},
                            {"cloud", {{"cpu_high", 0.95}, {"cpu_low", 0.5}, {"mem_high", 0.95}, {"mem_low", 0.6}}}}},
                 {"cooldown_s", 5},
                 {"max_moves_per_minute", 30},
                 {"lost_after_s", 60},
                 {"on_lost", "keep"},
                 {"rssi_threshold_dbm", -70},
                 {"hysteresis_db", 6},
                 {"roam_margin_db", 6}};
  auto cur = c.request("GET", "/v1/policy");
  std::vector<std::pair<std::string, std::string>> if_match;
  if (cur && cur->status == 200) {
    if (auto* etag = cur->header("etag")) if_match.emplace_back("If-Match", *etag);
  }
  api(c, "PUT", "/v1/policy", policy, if_match);

  std::string devices = (o_.dir / "devices").string();
  json hr = {{"name", "heart-rate"},
             {"description", "Open mHealth heart-rate consolidation, fed by c4i-reader"},
             {"command",
              {"/bin/sh", "-c",
               "exec \"$C4I_BIN_READER\" --connect \"unix:$C4I_DEVICES/$(echo \"$C4I_DEVICE_ADDR\" | tr : -).sock\" "
               "--orchestrator \"$C4I_ORCHESTRATOR_URL\" --ca \"$C4I_PKI/ca.pem\" --cert \"$C4I_IDS/$C4I_NODE/gateway.pem\" "
               "--key \"$C4I_IDS/$C4I_NODE/gateway.key\" | exec \"$C4I_BIN_OMH\" --window 10"}},
             {"env", {{"C4I_BIN_READER", bins_["c4i-reader"]}, {"C4I_BIN_OMH", bins_["c4i-fn-omh"]},
                      {"C4I_DEVICES", devices}, {"C4I_PKI", pki}, {"C4I_IDS", (o_.dir / "identity").string()}, {marker_.substr(0, marker_.find('=')), marker_.substr(marker_.find('=') + 1)}}},
             {"cpu_m", 200},
             {"mem_mb", 64},
             {"tiers", {"gateway"}},
             {"near_device", true}};
  json engine = {{"name", "engine"},
                 {"description", "engine vibration diagnostics: intensive near the engine, relaxed in the cloud"},
                 {"command",
                  {"/bin/sh", "-c",
                   "\"$C4I_BIN_SIM\" feed \"unix:$C4I_DEVICES/$(echo \"$C4I_DEVICE_ADDR\" | tr : -).accel.sock\" "
                   "| exec \"$C4I_BIN_ENGINE\" --mode auto"}},
                 {"env", {{"C4I_BIN_SIM", bins_["c4i-sim"]}, {"C4I_BIN_ENGINE", bins_["c4i-fn-engine"]},
                          {"C4I_DEVICES", devices}, {marker_.substr(0, marker_.find('=')), marker_.substr(marker_.find('=') + 1)}}},
                 {"cpu_m", 500},
                 {"mem_mb", 128},
                 {"tiers", {"gateway", "edge", "cloud"}},
                 {"near_device", true}};
  api(c, "POST", "/v1/templates", hr);
  api(c, "POST", "/v1/templates", engine);
  api(c, "POST", "/v1/functions", {{"template", "heart-rate"}, {"device", "c4:7c:8d:6a:3e:01"}, {"id", "hr-patient-a"}});
  api(c, "POST", "/v1/functions", {{"template", "heart-rate"}, {"device", "c4:7c:8d:6a:3e:02"}, {"id", "hr-patient-b"}});
  api(c, "POST", "/v1/functions", {{"template", "engine"}, {"device", "e8:00:00:00:0e:01"}, {"id", "engine-7"}});
  say(color("1", "functions") + "     hr-patient-a, hr-patient-b (heart-rate), engine-7 (engine)\n");
}

void Demo::print_migration(const json& m) {
  std::int64_t total = 0;
  std::string kind = m.value("kind", "?");
  std::string to = m["to"].is_object() && m["to"]["node"].is_string() ? m["to"]["node"].get<std::string>()
                   : m.contains("node") && m["node"].is_string()  ? m["node"].get<std::string>()
                                                                   : "?";
  std::string from = m["from"].is_string() ? m["from"].get<std::string>() : "-";
  std::string tl = timeline_text(m["timeline"], total);
  const char* c = kind == "roam" ? "36" : kind == "offload_up" ? "33" : kind == "bring_down" ? "32" : "35";
  char head[256];
  std::snprintf(head, sizeof head, "%-10s %-13s %-7s -> %-7s", kind.c_str(), m.value("function", "?").c_str(),
                from.c_str(), to.c_str());
  say(color(c, head) + " " + m.value("reason", ""));
  say("           " + tl + "   total " + color("1", ms_text(total)));
}

void Demo::watch_loop(double wall_seconds) {
  // The SSE stream of /v1/watch carries every change; a migration is printed once
  // it is done and its timeline has reached started (and first_data, for a reader).
  std::thread watcher([this] {
    while (!g_stop) {
      auto c = client();
      std::string buf;
      (void)c.stream("/v1/watch?kinds=migrations", [&](std::string_view d) {
        buf.append(d);
        std::size_t end;
        while ((end = buf.find("\n\n")) != std::string::npos) {
          std::string ev = buf.substr(0, end);
          buf.erase(0, end + 2);
          auto p = ev.find("data: ");
          if (p == std::string::npos) continue;
          auto j = json::parse(ev.substr(p + 6, ev.find('\n', p) - p - 6), nullptr, false);
          if (!j.is_object() || !j.contains("object") || !j["object"].is_object()) continue;
          std::lock_guard lock(mu_);
          migrations_[j["object"].value("id", std::int64_t{0})] = j["object"];
        }
        return !g_stop.load();
      }, 1s);
    }
  });
  auto start = Clock::now();
  while (!g_stop && (o_.forever || std::chrono::duration<double>(Clock::now() - start).count() < wall_seconds)) {
    for (auto& [fn, groups] : function_groups(marker_))
      if (groups.size() > 1) violations_.push_back(fn + " ran " + std::to_string(groups.size()) + " copies at once");
    std::lock_guard lock(mu_);
    for (auto& [id, m] : migrations_) {
      if (printed_.count(id) || m.value("state", "") != "done") continue;
      const json& tl = m["timeline"];
      bool started = tl.contains("started") && tl["started"].is_number();
      bool reader = m.value("function", "").rfind("hr-", 0) == 0;
      bool data = tl.contains("first_data") && tl["first_data"].is_number();
      if (!started || (reader && m.value("kind", "") != "undeploy" && !data)) continue;
      print_migration(m);
      printed_.insert(id);
    }
    std::this_thread::sleep_for(100ms);
  }
  g_stop = true;
  watcher.join();
}

int Demo::finish() {
  // Final state from the API, before anything stops.
  auto c = client();
  json migs = api(c, "GET", "/v1/migrations?limit=1000");
  json items = migs.contains("items") ? migs["items"] : json::array();
  for (auto it = procs_.rbegin(); it != procs_.rend(); ++it) stop(*it, 10s);
  // Nothing this run started may be left running.
  auto left = function_groups(marker_);
  for (auto& [fn, groups] : left) {
    violations_.push_back(fn + " still running after the demo stopped");
    for (pid_t g : groups) kill(-g, SIGKILL);
  }

  int roams = 0, roams_complete = 0, offloads = 0, bring_downs = 0;
  json summary = {{"migrations", json::array()}};
  say("\n" + color("1", "summary"));
  for (const auto& m : items) {
    std::string kind = m.value("kind", "");
    if (kind == "place") continue;
    std::int64_t total = 0;
    (void)timeline_text(m["timeline"], total);
    bool full = m.value("state", "") == "done";
    for (const auto& step : {"detected", "notified", "decided", "applied", "started"})
      full = full && m["timeline"].contains(step) && m["timeline"][step].is_number();
    bool reader = m.value("function", "").rfind("hr-", 0) == 0;
    if (reader) full = full && m["timeline"]["first_data"].is_number();
    if (kind == "roam") {
      roams++;
      roams_complete += full ? 1 : 0;
    }
    if (kind == "offload_up" && full) offloads++;
    if (kind == "bring_down" && full) bring_downs++;
    std::string to = m["to"]["node"].is_string() ? m["to"]["node"].get<std::string>() : "?";
    char line[256];
    std::snprintf(line, sizeof line, "  %-10s %-13s %-7s -> %-7s %-9s total %s", kind.c_str(),
                  m.value("function", "").c_str(), m["from"].is_string() ? m["from"].get<std::string>().c_str() : "-",
                  to.c_str(), m.value("state", "").c_str(), ms_text(total).c_str());
    say(line);
    summary["migrations"].push_back({{"id", m["id"]}, {"kind", kind}, {"function", m["function"]}, {"from", m["from"]},
                                     {"to", to}, {"state", m["state"]}, {"complete_timeline", full}, {"total_ms", total},
                                     {"timeline", m["timeline"]}});
  }
  say("  roams " + std::to_string(roams) + " (" + std::to_string(roams_complete) + " with a full timeline), offloads " +
      std::to_string(offloads) + ", returns " + std::to_string(bring_downs));
  for (auto& v : violations_) say(color("31", "  PROBLEM: " + v));
  if (violations_.empty()) say("  no function ran twice; everything the demo started has stopped");
  say("  logs and state: " + o_.dir.string());
  summary["roams"] = roams;
  summary["roams_complete"] = roams_complete;
  summary["offloads"] = offloads;
  summary["bring_downs"] = bring_downs;
  summary["violations"] = violations_;
  if (!o_.summary_json.empty()) write(o_.summary_json, summary.dump(2));
  return violations_.empty() ? 0 : 1;
}

int Demo::run() {
  prepare();
  start_processes();
  create_functions();
  double speed = o_.speed > 0 ? o_.speed : (o_.short_mode ? 4.0 : 1.5);
  watch_loop(200.0 / speed + 5);  // the scenario's 200 s, plus a little for the last moves
  return finish();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"c4i-demo: roaming and offloading on one machine"};
  Options o;
  std::string dir = o.dir.string(), bin_dir, source_dir;
  app.add_option("--dir", dir, "work directory (recreated)");
  app.add_option("--bin-dir", bin_dir, "build tree with the binaries (default: this binary's build tree)");
  app.add_option("--source-dir", source_dir, "source tree (scenario, PKI script)");
  app.add_flag("--short", o.short_mode, "a short run (4x time) for tests");
  app.add_flag("--forever", o.forever, "run until Ctrl-C");
  app.add_option("--speed", o.speed, "scenario seconds per second")->check(CLI::Range(0.5, 20.0));
  app.add_option("--summary-json", o.summary_json, "write the summary as JSON here");
  app.add_option("--token", o.tokens, "also accept this bearer token, NAME:ROLE:SHA256 (sha256 as c4i-orchestrator hash-token prints)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "c4i-demo: %s\n", e.what());
    return 2;
  }
  fs::path self = fs::canonical("/proc/self/exe");
  o.dir = dir;
  o.bin_dir = bin_dir.empty() ? self.parent_path().parent_path() : fs::path(bin_dir);
  o.source_dir = source_dir.empty() ? fs::path(C4I_SOURCE_DIR) : fs::path(source_dir);
  g_color = isatty(1) && !std::getenv("NO_COLOR");
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  Demo demo(o);
  return demo.run();
}
