// The docker backend end to end: three extra Docker daemons on this machine
// (each its own --data-root, --exec-root, Unix socket and pidfile, no bridge,
// no iptables), Debian's docker-registry on loopback serving the images
// images/build.sh pushed (the images_build fixture), and the real
// c4i-orchestrator with --backend docker. A roam and an offload move real
// containers (the new one receives samples on its stdin and writes data
// points naming its node; the old one is gone); a move to a stopped engine
// fails naming the step and the node, is retried when the daemon returns,
// and never leaves two containers running; a container that dies is noticed
// on the engine's events and started again; a stray container found when an
// engine comes back is removed. edge-1 is reached over TCP with TLS.
//
// Each function runs with its BLE reader beside it (a second container of the
// same image, /usr/bin/c4i-reader): the device is the emulated heart-rate
// peripheral (ble-reader's PeripheralServer) on a Unix socket bound into the
// readers, which stream its samples to the function over the shared /run/c4i
// volume and post the first_data mark with their gateway's certificate. The
// usage test reads node usage from the engines' container stats.
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "ble-reader/peripheral_server.hpp"
#include "orchestrator/docker_client.hpp"
#include "tests/orchestrator/harness.hpp"

namespace c4i::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace dk = c4i::orchestrator::docker;

constexpr const char* kDev = "c4:7c:8d:6a:3e:01";
constexpr const char* kFn = "omh-c4-7c-8d-6a-3e-01";

std::string images_out() { return binary_dir() + "/images-out"; }

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Child execs without a PATH search.
std::string dockerd_path() {
  auto r = run({"sh", "-c", "command -v dockerd"}, 10s);
  return r.code == 0 && r.out.size() > 1 ? r.out.substr(0, r.out.size() - 1) : "/usr/sbin/dockerd";
}

// One extra dockerd with everything of its own under `dir`: on a Unix
// socket, or (tls) on 127.0.0.1 with TLS, verifying client certificates of the test CA.
class Engine {
 public:
  Engine(std::string name, const std::string& root, bool tls)
      : name_(std::move(name)), dir_(root + "/" + name_), tls_port_(tls ? free_port() : 0) {
    fs::create_directories(dir_);
    write_file(dir_ + "/daemon.json", "{}\n");  // not the machine's /etc/docker/daemon.json (its data-root)
  }
  ~Engine() { stop(); }
  const std::string& name() const { return name_; }
  std::string url() const {
    return tls_port_ ? "tcp://127.0.0.1:" + std::to_string(tls_port_) : "unix://" + dir_ + "/d.sock";
  }
  dk::Endpoint endpoint() const {
    auto e = *dk::parse_endpoint(url());
    if (tls_port_) {
      e.ca_file = test_pki().ca();
      e.cert_file = test_pki().cert("operator");
      e.key_file = test_pki().key("operator");
    }
    return e;
  }
  // The docker CLI's connection flags for this engine.
  std::vector<std::string> cli() const {
    if (!tls_port_) return {"docker", "-H", url()};
    return {"docker", "-H", url(), "--tlsverify", "--tlscacert", test_pki().ca(), "--tlscert", test_pki().cert("operator"),
            "--tlskey", test_pki().key("operator")};
  }
  // The topology's engine entry.
  std::string topology_engine() const {
    auto e = endpoint();
    if (!tls_port_) return "{endpoint: \"" + e.url + "\"}";
    return "{endpoint: \"" + e.url + "\", ca: " + e.ca_file + ", cert: " + e.cert_file + ", key: " + e.key_file + "}";
  }

  bool start() {
    std::vector<std::string> argv{dockerd_path(), "--config-file", dir_ + "/daemon.json", "--data-root", dir_ + "/data",
                                  "--exec-root", dir_ + "/exec", "-H", url(), "--pidfile", dir_ + "/d.pid", "--bridge=none",
                                  "--iptables=false", "--ip6tables=false"};
    if (tls_port_)
      for (const auto& a : {std::string("--tlsverify"), "--tlscacert=" + test_pki().ca(), "--tlscert=" + test_pki().cert("server"),
                            "--tlskey=" + test_pki().key("server")})
        argv.push_back(a);
    child_ = std::make_unique<Child>(argv, std::map<std::string, std::string>{}, dir_);
    dk::Client c(endpoint());
    return wait_until([&] { return !child_->running() || c.ping().ok(); }, 60s) && child_->running();
  }
  void stop() {
    if (!child_ || !child_->running()) return;
    child_->signal(SIGTERM);
    if (!child_->wait(60s)) child_->signal(SIGKILL), child_->wait(10s);
    // dockerd leaves the bind mount of the host's network namespace behind.
    ::umount2((dir_ + "/exec/netns/default").c_str(), MNT_DETACH);
  }
  std::string log() const { return child_ ? child_->err() : ""; }

  // Our containers here (any state, functions and readers), by the owner label.
  std::vector<dk::ContainerSummary> containers(bool all = true) const { return with({"cloud4iot.io/owner"}, all); }
  std::vector<dk::ContainerSummary> with(const std::vector<std::string>& labels, bool all) const {
    dk::Client c(endpoint());
    auto l = c.list(labels, all);
    return l ? *l : std::vector<dk::ContainerSummary>{};
  }
  // Running functions (not readers).
  std::vector<dk::ContainerSummary> functions() const { return with({"cloud4iot.io/owner", "cloud4iot.io/role=function"}, false); }
  std::vector<dk::ContainerSummary> readers(bool all = false) const {
    return with({"cloud4iot.io/owner", "cloud4iot.io/role=reader"}, all);
  }
  int running() const { return static_cast<int>(functions().size()); }
  // Names of the volumes the engine has.
  std::vector<std::string> volumes() const {
    dk::Client c(endpoint());
    std::vector<std::string> out;
    auto r = c.call("GET", "/volumes");
    if (!r || r->status != 200) return out;
    auto j = json::parse(r->body, nullptr, false);
    if (j.is_object() && j["Volumes"].is_array())
      for (const auto& v : j["Volumes"]) out.push_back(v.value("Name", ""));
    return out;
  }
  json inspect(const std::string& id) const {
    dk::Client c(endpoint());
    auto r = c.call("GET", "/containers/" + id + "/json");
    return r && r->status == 200 ? json::parse(r->body, nullptr, false) : json();
  }
  void remove_all() const {
    dk::Client c(endpoint());
    for (const auto& s : containers()) (void)c.remove(s.id, true);
  }

 private:
  std::string name_, dir_;
  std::uint16_t tls_port_;
  std::unique_ptr<Child> child_;
};

class DockerBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(images_out() + "/registry/data")) return;
    root_ = new TempDir();
    // edge-1 is reached over TCP with TLS and a client certificate, the gateways over Unix sockets.
    for (const char* n : {"gw-1", "gw-2", "edge-1"}) engines_.push_back(new Engine(n, root_->path(), n == std::string("edge-1")));
    for (auto* e : engines_)
      if (!e->start()) start_error_ += e->name() + ": dockerd did not answer: " + e->log() + "\n";
    // The device: the emulated heart-rate peripheral, on a socket the readers
    // (user 65534) reach through a bind mount; and the certificates they mark with.
    for (const char* d : {"devices", "pki"}) {
      fs::create_directories(root_->file(d));
      ::chmod(root_->file(d).c_str(), 0755);
    }
    for (const char* f : {"ca.pem", "gw-1.pem", "gw-1.key", "gw-2.pem", "gw-2.key"}) {
      fs::copy_file(test_pki().dir + "/" + f, root_->file(std::string("pki/") + f), fs::copy_options::overwrite_existing);
      ::chmod(root_->file(std::string("pki/") + f).c_str(), 0644);
    }
    reader::PeripheralConfig pc;
    pc.heart_rate_interval_ms = 200;
    peripheral_ = new reader::PeripheralServer(root_->file(std::string("devices/") + kDev + ".sock"), pc);
    if (auto st = peripheral_->start(); !st) start_error_ += "peripheral: " + st.error().message + "\n";
    ::chmod(peripheral_->path().c_str(), 0666);
    registry_port_ = free_port();
    write_file(root_->file("registry.yml"), "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: " +
                                                images_out() + "/registry/data\nhttp:\n  addr: 127.0.0.1:" +
                                                std::to_string(registry_port_) + "\n");
    registry_ = new Child({"/usr/bin/docker-registry", "serve", root_->file("registry.yml")}, {}, root_->path());
    if (!wait_until([] { return run({"curl", "-fsS", "http://127.0.0.1:" + std::to_string(registry_port_) + "/v2/"}, 5s).code == 0; },
                    20s))
      start_error_ += "docker-registry did not answer: " + registry_->err();
  }
  static void TearDownTestSuite() {
    for (auto* e : engines_) {
      e->remove_all();
      delete e;
    }
    engines_.clear();
    delete peripheral_;
    peripheral_ = nullptr;
    if (registry_) {
      registry_->signal(SIGTERM);
      registry_->wait(10s);
      delete registry_;
      registry_ = nullptr;
    }
    delete root_;
    root_ = nullptr;
  }

  void SetUp() override {
    if (!root_) GTEST_SKIP() << "no images: run images/build.sh (the images_build fixture) first";
    ASSERT_TRUE(start_error_.empty()) << start_error_;
    for (auto* e : engines_) e->remove_all();
    state_dir_ = fs::weakly_canonical(dir_.path()).string() + "/state";
    const auto& pki = test_pki();
    // The readers: host network (the orchestrator on loopback), the device's
    // socket and the certificates bound in; edge-1 has no gateway certificate.
    const std::string binds = "[\"" + root_->file("devices") + ":/devices\", \"" + root_->file("pki") + ":/pki:ro\"]";
    std::string topo = "usage_interval_ms: " + std::to_string(usage_interval_ms_) + "\nstop_timeout_s: 1\n" +
                       "reader: {connect: \"unix:/devices/{addr}.sock\", binds: " + binds +
                       ", args: [--ca, /pki/ca.pem, --cert, \"/pki/{node}.pem\", --key, \"/pki/{node}.key\"]}\nnodes:\n";
    for (auto* e : engines_) {
      bool edge = e->name() == "edge-1";
      topo += "  - {name: " + e->name() + ", tier: " + (edge ? "edge" : "gateway") + ", network: none, engine: " +
              e->topology_engine() +
              (edge ? ", reader: {connect: \"unix:/devices/{addr}.sock\", binds: " + binds + ", args: [--ca, /pki/ca.pem]}" : "") +
              "}\n";
    }
    write_file(dir_.file("topology.yaml"), topo);
    write_test_tokens(dir_.file("tokens.yaml"));
    write_file(dir_.file("config.yaml"),
               "listen: 127.0.0.1:0\nport_file: " + dir_.file("port") + "\nstate_dir: " + state_dir_ +
                   "\ntopology: " + dir_.file("topology.yaml") + "\ntokens: " + dir_.file("tokens.yaml") +
                   "\ntls: {cert: " + pki.cert("server") + ", key: " + pki.key("server") + ", client_ca: " + pki.ca() +
                   "}\ncontrol: {reconcile_interval_ms: 100, retry_base_ms: 100, retry_max_ms: 1000, restart_base_ms: 100, "
                   "restart_max_ms: 1000}\n");
    orch_ = std::make_unique<Child>(std::vector<std::string>{binary_dir() + "/orchestrator/c4i-orchestrator", "--config",
                                                             dir_.file("config.yaml"), "--backend", "docker"},
                                    std::map<std::string, std::string>{}, dir_.path());
    ASSERT_TRUE(wait_until([&] { return fs::exists(dir_.file("port")) || !orch_->running(); }, 60s) && orch_->running())
        << orch_->err();
    port_ = static_cast<std::uint16_t>(std::stoi(read_file(dir_.file("port"))));
    op_ = token_client(port_, kOperatorToken);
    gw1_ = gateway_client(port_, "gw-1");
    gw2_ = gateway_client(port_, "gw-2");
    auto admin = token_client(port_, kAdminToken);
    auto r = call(*admin, "POST", "/v1/templates",
                  {{"name", "omh"},
                   {"image", "127.0.0.1:" + std::to_string(registry_port_) + "/cloud4iot/fn-omh:0.1.0"},
                   {"archs", {"amd64", "arm64"}},
                   {"command", {"/usr/bin/c4i-fn-omh", "--window", "1", "--grace", "1"}},
                   {"cpu_m", 100},
                   {"mem_mb", 64}});
    ASSERT_EQ(r.status, 201) << r.raw;
    ASSERT_EQ(call(*op_, "POST", "/v1/functions", {{"template", "omh"}, {"device", kDev}}).status, 201);
  }
  void TearDown() override {
    if (orch_ && orch_->running()) {
      orch_->signal(SIGTERM);
      orch_->wait(20s);
    }
  }

  Engine& engine(const std::string& name) {
    for (auto* e : engines_)
      if (e->name() == name) return *e;
    throw std::runtime_error("no engine " + name);
  }
  int running_everywhere() {
    int n = 0;
    for (auto* e : engines_) n += e->running();
    return n;
  }
  void post(http::Client& gw, const std::string& name, const std::vector<json>& events) {
    auto r = call(gw, "POST", "/v1/gateways/" + name + "/events", batch(name, "boot-" + name, events));
    EXPECT_EQ(r.status, 200) << r.raw;
  }
  json migration(const std::string& kind, const std::function<bool(const json&)>& pred, std::chrono::milliseconds timeout = 120s) {
    json found;
    wait_for(*op_, std::string("/v1/migrations?function=") + kFn + "&kind=" + kind,
             [&](const json& page) {
               auto it = std::find_if(page["items"].begin(), page["items"].end(), pred);
               if (it != page["items"].end()) found = *it;
               return !found.is_null();
             },
             timeout);
    return found;
  }
  // The function's container on `e` gets the device's samples from its reader
  // (peripheral -> reader container -> /run/c4i/samples.sock -> function):
  // waits for a data point naming that node in its logs.
  bool receives_samples(Engine& e) {
    auto list = e.functions();
    if (list.size() != 1) return false;
    dk::Client c(e.endpoint());
    return wait_until(
        [&] {
          auto logs = c.logs(list[0].id);
          if (!logs) return false;
          std::istringstream in(logs->out);
          for (std::string line; std::getline(in, line);) {
            auto j = json::parse(line, nullptr, false);
            if (j.is_object() && j["header"]["cloud4iot"]["node"] == e.name() && j["header"]["cloud4iot"]["function"] == kFn)
              return true;
          }
          return false;
        },
        40s);
  }
  std::string log() const { return orch_ ? orch_->err() : ""; }
  // The reader starts in the control loop's pass after the function's: waits for it to run.
  bool reader_runs(Engine& e) {
    return wait_until([&] { return e.readers().size() == 1; }, 20s);
  }

  void place_on_gw1() {
    post(*gw1_, "gw-1", {seen(seq1_++, kDev, -60, unix_ms())});
    ASSERT_FALSE(migration("place", [](const json& m) { return m["state"] == "done"; }).is_null()) << log();
    ASSERT_EQ(engine("gw-1").running(), 1);
  }
  // Stops `down`'s daemon, then the device walks to gw-2: the roam fails and is retried.
  json roam_while_stopped(Engine& down) {
    down.stop();
    post(*gw2_, "gw-2", {seen(seq2_++, kDev, -45, unix_ms())});
    post(*gw1_, "gw-1", {seen(seq1_++, kDev, -72, unix_ms(), "refresh")});
    auto failed = migration("roam", [](const json& m) { return m["state"] == "failed" && m["attempts"].get<int>() >= 2; });
    EXPECT_FALSE(failed.is_null()) << log();
    return failed;
  }
  // Starts `down`'s daemon again: the retried roam finishes with one container, on gw-2.
  void roam_finishes_when_back(Engine& down) {
    ASSERT_TRUE(down.start()) << down.log();
    auto done = migration("roam", [](const json& m) { return m["state"] == "done"; });
    ASSERT_FALSE(done.is_null()) << log();
    EXPECT_EQ(done["to"]["node"], "gw-2");
    EXPECT_GE(done["attempts"].get<int>(), 2);
    EXPECT_TRUE(engine("gw-1").containers().empty());
    EXPECT_EQ(engine("gw-2").running(), 1);
    EXPECT_EQ(running_everywhere(), 1);
  }

  static inline TempDir* root_ = nullptr;
  static inline std::vector<Engine*> engines_;
  static inline Child* registry_ = nullptr;
  static inline reader::PeripheralServer* peripheral_ = nullptr;
  static inline std::uint16_t registry_port_ = 0;
  static inline std::string start_error_;

  std::int64_t usage_interval_ms_ = 0;  // the usage test polls the engines' stats
  TempDir dir_;
  std::string state_dir_;
  std::unique_ptr<Child> orch_;
  std::uint16_t port_ = 0;
  std::unique_ptr<http::Client> op_, gw1_, gw2_;
  std::int64_t seq1_ = 1, seq2_ = 1;
};

TEST_F(DockerBackendTest, RoamAndOffloadMoveRealContainers) {
  post(*gw1_, "gw-1", {heartbeat(seq1_++, 0.1, 0.1, unix_ms()), seen(seq1_++, kDev, -60, unix_ms())});
  auto place = migration("place", [](const json& m) { return m["state"] == "done"; });
  ASSERT_FALSE(place.is_null()) << log();
  EXPECT_EQ(place["to"]["node"], "gw-1");
  ASSERT_EQ(engine("gw-1").running(), 1);
  auto first = engine("gw-1").functions().at(0);
  EXPECT_EQ(first.labels["cloud4iot.io/function"], kFn);
  EXPECT_EQ(first.labels["cloud4iot.io/device"], kDev);
  EXPECT_EQ(first.labels["cloud4iot.io/node"], "gw-1");
  EXPECT_EQ(first.labels["cloud4iot.io/role"], "function");
  // The reader beside it: the same labels, the same image, c4i-reader on the host's network.
  ASSERT_TRUE(reader_runs(engine("gw-1"))) << log();
  auto readers = engine("gw-1").readers();
  EXPECT_EQ(readers[0].labels["cloud4iot.io/function"], kFn);
  EXPECT_EQ(readers[0].labels["cloud4iot.io/device"], kDev);
  EXPECT_EQ(readers[0].labels["cloud4iot.io/node"], "gw-1");
  EXPECT_EQ(readers[0].image, first.image);
  auto rv = engine("gw-1").inspect(readers[0].id);
  EXPECT_EQ(rv["Config"]["Entrypoint"][0], "/usr/bin/c4i-reader") << rv.dump();
  EXPECT_EQ(rv["Config"]["Entrypoint"][2], std::string("unix:/devices/") + kDev + ".sock") << rv.dump();
  EXPECT_EQ(rv["HostConfig"]["NetworkMode"], "host");
  const std::string volume = std::string("c4i-") + kFn + "-run";
  auto vols = engine("gw-1").volumes();
  EXPECT_NE(std::find(vols.begin(), vols.end(), volume), vols.end());
  EXPECT_TRUE(receives_samples(engine("gw-1"))) << engine("gw-1").inspect(readers[0].id)["State"].dump();
  // The reader marked first_data with gw-1's certificate.
  place = migration("place", [](const json& m) { return m["state"] == "done" && m["timeline"]["first_data"].is_number(); }, 30s);
  EXPECT_FALSE(place.is_null()) << log();

  // Roam: gw-2 hears the device strongly, gw-1 weakly.
  post(*gw2_, "gw-2", {heartbeat(seq2_++, 0.1, 0.1, unix_ms()), seen(seq2_++, kDev, -45, unix_ms())});
  post(*gw1_, "gw-1", {seen(seq1_++, kDev, -72, unix_ms(), "refresh")});
  auto roam = migration("roam", [](const json& m) { return m["state"] == "done"; });
  ASSERT_FALSE(roam.is_null()) << log();
  EXPECT_EQ(roam["to"]["node"], "gw-2");
  // The timeline has the paper's steps, pull, create and start each stamped in order.
  std::int64_t prev = 0;
  for (const char* step : {"applied", "pulled", "created", "started"}) {
    const json& t = roam["steps"].contains(step) ? roam["steps"][step] : roam["timeline"][step];
    ASSERT_TRUE(t.is_number_integer()) << step << " missing in " << roam.dump();
    EXPECT_GE(t.get<std::int64_t>(), prev) << step << " out of order in " << roam.dump();
    prev = t.get<std::int64_t>();
  }
  EXPECT_TRUE(roam["steps"]["stopped"].is_number_integer()) << roam.dump();
  EXPECT_TRUE(engine("gw-1").containers().empty()) << "the old function and reader are gone";
  vols = engine("gw-1").volumes();
  EXPECT_EQ(std::find(vols.begin(), vols.end(), volume), vols.end()) << "the old volume is gone";
  ASSERT_EQ(engine("gw-2").running(), 1);
  EXPECT_TRUE(reader_runs(engine("gw-2")));
  EXPECT_TRUE(receives_samples(engine("gw-2")));
  auto roam_first = migration("roam", [](const json& m) { return m["state"] == "done" && m["timeline"]["first_data"].is_number(); }, 30s);
  ASSERT_FALSE(roam_first.is_null()) << log();
  EXPECT_GE(roam_first["timeline"]["first_data"].get<std::int64_t>(), roam_first["timeline"]["started"].get<std::int64_t>());

  // Offload: gw-2 reports its CPU over the high watermark. (gw-1 no longer
  // hears the device, so the way back can only be gw-2, which is hot.)
  post(*gw1_, "gw-1", {lost(seq1_++, kDev, unix_ms())});
  auto cur = call(*op_, "GET", "/v1/policy");
  json p = cur.body["policy"];
  p["cooldown_s"] = 1;
  ASSERT_EQ(call(*op_, "PUT", "/v1/policy", p, {{"If-Match", cur.headers["etag"]}}).status, 200);
  post(*gw2_, "gw-2", {heartbeat(seq2_++, 0.97, 0.4, unix_ms())});
  auto up = migration("offload_up", [](const json& m) { return m["state"] == "done"; });
  ASSERT_FALSE(up.is_null()) << log();
  EXPECT_EQ(up["from"], "gw-2");
  EXPECT_EQ(up["to"]["node"], "edge-1");
  EXPECT_TRUE(engine("gw-2").containers().empty());
  ASSERT_EQ(engine("edge-1").running(), 1);
  EXPECT_TRUE(reader_runs(engine("edge-1")));
  EXPECT_TRUE(receives_samples(engine("edge-1")));
  EXPECT_EQ(running_everywhere(), 1);
  auto f = call(*op_, "GET", std::string("/v1/functions/") + kFn).body;
  EXPECT_EQ(f["node"], "edge-1");
  EXPECT_EQ(f["state"], "running");
}

TEST_F(DockerBackendTest, AMoveToAStoppedEngineFailsNamingTheStepAndIsRetriedWhenItReturns) {
  ASSERT_NO_FATAL_FAILURE(place_on_gw1());
  json failed;
  ASSERT_NO_FATAL_FAILURE(failed = roam_while_stopped(engine("gw-2")));
  const std::string error = failed["failure"]["error"];
  EXPECT_EQ(error.rfind("pull on gw-2: connect " + engine("gw-2").url(), 0), 0u) << error;
  EXPECT_EQ(failed["failure"]["step"], "pulled");
  // The old container runs on until the new engine answers: one, never two.
  EXPECT_EQ(engine("gw-1").running(), 1);
  ASSERT_NO_FATAL_FAILURE(roam_finishes_when_back(engine("gw-2")));
}

TEST_F(DockerBackendTest, AMoveFromAStoppedEngineWaitsForItSoTwoNeverRun) {
  ASSERT_NO_FATAL_FAILURE(place_on_gw1());
  // The old engine stops: whether its container still runs cannot be known, so nothing starts elsewhere.
  json failed;
  ASSERT_NO_FATAL_FAILURE(failed = roam_while_stopped(engine("gw-1")));
  const std::string error = failed["failure"]["error"];
  EXPECT_EQ(error.rfind("stop on gw-1: connect " + engine("gw-1").url(), 0), 0u) << error;
  EXPECT_EQ(failed["failure"]["step"], "stopped");
  EXPECT_EQ(engine("gw-2").running(), 0);
  ASSERT_NO_FATAL_FAILURE(roam_finishes_when_back(engine("gw-1")));
}

TEST_F(DockerBackendTest, ADyingContainerIsNoticedFromEventsAndStartedAgain) {
  ASSERT_NO_FATAL_FAILURE(place_on_gw1());
  auto before = engine("gw-1").functions().at(0).id;
  auto kill = engine("gw-1").cli();
  for (const auto& a : {std::string("kill"), before}) kill.push_back(a);
  ASSERT_EQ(run(kill, 30s).code, 0);
  auto f = wait_for(*op_, std::string("/v1/functions/") + kFn,
                    [](const json& b) { return b["restarts"].get<int>() >= 1 && b["state"] == "running"; }, 30s);
  EXPECT_EQ(f["last_exit"], "exit 137") << f.dump();
  EXPECT_EQ(f["node"], "gw-1");
  ASSERT_EQ(engine("gw-1").running(), 1);
  EXPECT_EQ(engine("gw-1").functions().at(0).id, before);  // the same container, started again
  EXPECT_TRUE(reader_runs(engine("gw-1")));
  EXPECT_TRUE(receives_samples(engine("gw-1")));  // the reader came back to the restarted function
  EXPECT_EQ(running_everywhere(), 1);
}

TEST_F(DockerBackendTest, AStrayContainerIsRemovedWhenItsEngineReturns) {
  post(*gw1_, "gw-1", {seen(seq1_++, kDev, -60, unix_ms())});
  ASSERT_FALSE(migration("place", [](const json& m) { return m["state"] == "done"; }).is_null()) << log();
  ASSERT_EQ(engine("gw-1").running(), 1);
  // A copy of the function on edge-1 that no move accounts for (an interrupted
  // move of a crashed orchestrator, say), running with our labels.
  dk::Client edge(engine("edge-1").endpoint());
  std::string image = "127.0.0.1:" + std::to_string(registry_port_) + "/cloud4iot/fn-omh:0.1.0";
  auto ref = dk::parse_image_ref(image);
  ASSERT_TRUE(edge.pull(*ref, "linux/amd64", 120s).ok());
  json cfg = {{"Image", image},
              {"OpenStdin", true},
              {"Labels", {{"cloud4iot.io/function", kFn}, {"cloud4iot.io/owner", state_dir_}, {"cloud4iot.io/node", "edge-1"}}},
              {"HostConfig", {{"NetworkMode", "none"}}}};
  auto id = edge.create("stray-copy", cfg, "linux/amd64");
  ASSERT_TRUE(id.ok()) << id.error().message;
  ASSERT_TRUE(edge.start(*id).ok());
  ASSERT_EQ(engine("edge-1").with({"cloud4iot.io/owner"}, false).size(), 1u);
  // edge-1 restarts (its containers stop with it); when it answers again the backend sweeps it.
  engine("edge-1").stop();
  ASSERT_TRUE(engine("edge-1").start()) << engine("edge-1").log();
  EXPECT_TRUE(wait_until([&] { return engine("edge-1").containers().empty(); }, 30s)) << log();
  EXPECT_EQ(engine("gw-1").running(), 1);
  EXPECT_NE(log().find("removed stray container"), std::string::npos);
}

// Node usage from the engines: the backend polls the stats of its containers
// (function and reader) and the orchestrator's node table shows them; a
// gateway over its memory high watermark offloads its function to the edge.
class DockerUsageTest : public DockerBackendTest {
 protected:
  DockerUsageTest() { usage_interval_ms_ = 300; }
};

TEST_F(DockerUsageTest, UsageFromContainerStatsReachesTheNodesAndAHotGatewayOffloads) {
  ASSERT_NO_FATAL_FAILURE(place_on_gw1());  // no heartbeat: the only usage is the engines'
  json gw1;
  wait_for(*op_, "/v1/nodes",
           [&](const json& page) {
             for (const auto& n : page["items"])
               if (n["name"] == "gw-1" && n["usage"]["mem"].is_number() && n["usage"]["mem"].get<double>() > 0 &&
                   n["usage"]["cpu"].is_number())
                 gw1 = n;
             return !gw1.is_null();
           },
           30s);
  ASSERT_FALSE(gw1.is_null()) << log();
  EXPECT_LT(gw1["usage"]["mem"].get<double>(), 0.5) << gw1.dump();  // a few MiB of the host's memory
  EXPECT_NEAR(static_cast<double>(gw1["usage"]["heartbeat_t"].get<std::int64_t>()), static_cast<double>(unix_ms()), 30'000.0);
  // A gateway whose memory high watermark is below what its function uses is hot.
  auto cur = call(*op_, "GET", "/v1/policy");
  json p = cur.body["policy"];
  p["cooldown_s"] = 1;
  p["tiers"]["gateway"]["mem_low"] = 0.0;
  p["tiers"]["gateway"]["mem_high"] = gw1["usage"]["mem"].get<double>() / 4;
  auto put = call(*op_, "PUT", "/v1/policy", p, {{"If-Match", cur.headers["etag"]}});
  ASSERT_EQ(put.status, 200) << put.raw;
  auto up = migration("offload_up", [](const json& m) { return m["state"] == "done"; });
  ASSERT_FALSE(up.is_null()) << log();
  EXPECT_EQ(up["from"], "gw-1");
  EXPECT_EQ(up["to"]["node"], "edge-1");
  EXPECT_TRUE(engine("gw-1").containers().empty());
  EXPECT_EQ(engine("edge-1").running(), 1);
  EXPECT_TRUE(reader_runs(engine("edge-1")));
}

}  // namespace
}  // namespace c4i::testing
