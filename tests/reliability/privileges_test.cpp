// Non-root (issue 13, Security): the orchestrator and the discovery daemon
// run as `nobody` and still do their work end to end (the daemon's heartbeat
// reaches the orchestrator; a function runs, as nobody too); the discovery
// daemon keeps no capability its source does not need, read from
// /proc/<pid>/status of the running process; and drop_privileges() itself
// keeps exactly CAP_NET_RAW and CAP_NET_ADMIN for the HCI source across a
// switch to nobody (there is no Bluetooth adapter here to run the HCI source).
// Switching users needs root: the tests skip, saying so, when not root.
#include <gtest/gtest.h>

#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gateway-discovery/privileges.hpp"
#include "tests/orchestrator/harness.hpp"

namespace c4i::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
constexpr uid_t kNobody = 65534;

// "Key:\tvalue" lines of /proc/<pid>/status (or of a copy of it).
std::map<std::string, std::string> status_fields(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    out[line.substr(0, colon)] = v;
  }
  return out;
}
std::uint64_t hex(const std::string& s) { return std::stoull(s, nullptr, 16); }
std::string first_of(const std::string& ids) { return ids.substr(0, ids.find_first_of(" \t")); }

// A directory nobody can use: copies of the files it needs, owned by nobody
// (the test PKI's keys are root's, mode 600).
class NobodyDir {
 public:
  NobodyDir() {
    fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                    fs::perms::others_read | fs::perms::others_exec);
    for (const char* name : {"ca", "server", "gw-1"}) {
      fs::copy_file(test_pki().dir + "/" + name + ".pem", dir.file(std::string(name) + ".pem"));
      if (std::string(name) != "ca") fs::copy_file(test_pki().key(name), dir.file(std::string(name) + ".key"));
    }
  }
  // Hands the directory (nobody writes its state, port file and outbox there)
  // and everything written so far to nobody.
  void give_away() {
    EXPECT_EQ(lchown(dir.path().c_str(), kNobody, kNobody), 0);
    for (const auto& e : fs::recursive_directory_iterator(dir.path())) EXPECT_EQ(lchown(e.path().c_str(), kNobody, kNobody), 0);
  }
  std::string file(const std::string& n) const { return dir.file(n); }
  TempDir dir;
};

std::map<std::string, std::string> proc_status(pid_t pid) { return status_fields(read_file("/proc/" + std::to_string(pid) + "/status")); }

TEST(NonRoot, OrchestratorAndDiscoveryRunAsNobodyAndTheDaemonKeepsNoCapability) {
  if (geteuid() != 0) GTEST_SKIP() << "switching to nobody needs root; this run is uid " << geteuid();
  NobodyDir d;
  write_test_tokens(d.file("tokens.yaml"));
  write_file(d.file("topology.yaml"),
             "nodes:\n  - {name: gw-1, tier: gateway}\n  - {name: edge-1, tier: edge, cpu_capacity_m: 8000}\n");
  write_file(d.file("orchestrator.yaml"),
             "listen: 127.0.0.1:0\nport_file: " + d.file("port") + "\nstate_dir: " + d.file("state") +
                 "\ntopology: " + d.file("topology.yaml") + "\ntokens: " + d.file("tokens.yaml") + "\ntls: {cert: " +
                 d.file("server.pem") + ", key: " + d.file("server.key") + ", client_ca: " + d.file("ca.pem") +
                 "}\ncontrol: {reconcile_interval_ms: 100}\n");
  d.give_away();
  // Child execs without a PATH search.
  std::string setpriv;
  for (const char* p : {"/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv"})
    if (setpriv.empty() && access(p, X_OK) == 0) setpriv = p;
  if (setpriv.empty()) GTEST_SKIP() << "setpriv (util-linux) is not installed";
  // The orchestrator needs no privilege at all: started as nobody with empty capability sets.
  Child orch({setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
              "--no-new-privs", binary_dir() + "/orchestrator/c4i-orchestrator", "--config", d.file("orchestrator.yaml")},
             {}, d.dir.path());
  ASSERT_TRUE(wait_until([&] { return fs::exists(d.file("port")) || !orch.running(); }, std::chrono::seconds(30)));
  ASSERT_TRUE(orch.running()) << orch.err();
  auto port = static_cast<std::uint16_t>(std::stoi(read_file(d.file("port"))));
  auto st = proc_status(orch.pid());
  EXPECT_EQ(first_of(st["Uid"]), "65534");
  EXPECT_EQ(hex(st["CapEff"]), 0u);
  EXPECT_EQ(hex(st["CapBnd"]), 0u);

  // The daemon is started as root and switches to nobody itself (--user).
  write_file(d.file("discovery.yaml"),
             "gateway: gw-1\nsource: sim:unix:" + d.file("sim.sock") +
                 "\norchestrator:\n  url: https://127.0.0.1:" + std::to_string(port) + "\n  ca_file: " + d.file("ca.pem") +
                 "\n  cert_file: " + d.file("gw-1.pem") + "\n  key_file: " + d.file("gw-1.key") +
                 "\noutbox: {path: " + d.file("outbox/outbox.db") + "}\nheartbeat: {interval_s: 1}\n");
  fs::create_directories(d.file("outbox"));
  d.give_away();
  Child daemon({binary_dir() + "/gateway-discovery/c4i-discovery", "--config", d.file("discovery.yaml"), "--user", "nobody"}, {},
               d.dir.path());
  // Its heartbeat arrives: the daemon works as nobody.
  auto viewer = token_client(port, kViewerToken);
  // (usage is always an object; heartbeat_t is set by a heartbeat only.)
  auto heard = [](const json& b) { return b.contains("usage") && b["usage"].is_object() && b["usage"].value("heartbeat_t", json()).is_number(); };
  auto node = wait_for(*viewer, "/v1/nodes/gw-1", heard);
  ASSERT_TRUE(heard(node)) << node.dump() << "\n" << daemon.err() << orch.err();
  ASSERT_TRUE(daemon.running()) << daemon.err();
  auto ds = proc_status(daemon.pid());
  EXPECT_EQ(first_of(ds["Uid"]), "65534");
  EXPECT_EQ(first_of(ds["Gid"]), "65534");
  EXPECT_EQ(ds["Groups"], "");
  // Not the HCI source: nothing at all is kept, and nothing can come back.
  for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) EXPECT_EQ(hex(ds[set]), 0u) << set << " " << ds[set];
  EXPECT_EQ(ds["NoNewPrivs"], "1");

  // A function the orchestrator starts runs as nobody too.
  auto admin = token_client(port, kAdminToken);
  ASSERT_EQ(call(*admin, "POST", "/v1/templates", {{"name", "fn"}, {"command", {"/bin/sleep", "600"}}}).status, 201);
  ASSERT_EQ(call(*admin, "POST", "/v1/functions", {{"template", "fn"}, {"device", "aa:bb:cc:dd:ee:01"}, {"id", "f1"}}).status, 201);
  auto gw = gateway_client(port, "gw-1");
  ASSERT_EQ(call(*gw, "POST", "/v1/gateways/gw-1/events", batch("gw-1", "nr", {seen(1, "aa:bb:cc:dd:ee:01", -50, unix_ms())})).status, 200);
  std::map<std::string, std::vector<std::pair<pid_t, std::string>>> procs;
  ASSERT_TRUE(wait_until([&] { return !(procs = function_processes(fs::weakly_canonical(d.file("state")).string()))["f1"].empty(); },
                         std::chrono::seconds(20)))
      << orch.err();
  EXPECT_EQ(first_of(proc_status(procs["f1"][0].first)["Uid"]), "65534");

  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(std::chrono::seconds(10)), 0) << daemon.err();
  orch.signal(SIGTERM);
  EXPECT_EQ(orch.wait(std::chrono::seconds(20)), 0) << orch.err();
}

TEST(NonRoot, AnUnknownUserIsRefusedWithExit2) {
  auto r = run({binary_dir() + "/gateway-discovery/c4i-discovery", "--gateway", "gw-1", "--source", "sim:unix:/nonexistent",
                "--user", "no-such-user-c4i"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("no-such-user-c4i"), std::string::npos) << r.err;
}

TEST(NonRoot, TheHciSourceKeepsExactlyNetRawAndNetAdminAcrossTheSwitchToNobody) {
  if (geteuid() != 0) GTEST_SKIP() << "switching to nobody needs root; this run is uid " << geteuid();
  // In a child: the test process keeps its own privileges.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    auto st = discovery::drop_privileges(discovery::hci_capabilities(), "nobody");
    std::string out = st ? read_file("/proc/self/status") : "error: " + st.error().message;
    // What an exec'd helper would get: nothing (no inheritable, no ambient, no_new_privs).
    (void)!write(fds[1], out.data(), out.size());
    _exit(st ? 0 : 1);
  }
  close(fds[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << text;
  auto s = status_fields(text);
  const std::uint64_t net = (1ull << CAP_NET_RAW) | (1ull << CAP_NET_ADMIN);
  EXPECT_EQ(first_of(s["Uid"]), "65534");
  EXPECT_EQ(hex(s["CapEff"]), net) << s["CapEff"];
  EXPECT_EQ(hex(s["CapPrm"]), net) << s["CapPrm"];
  EXPECT_EQ(hex(s["CapBnd"]), net) << s["CapBnd"];
  EXPECT_EQ(hex(s["CapInh"]), 0u);
  EXPECT_EQ(hex(s["CapAmb"]), 0u);
  EXPECT_EQ(s["NoNewPrivs"], "1");
}

}  // namespace
}  // namespace c4i::testing
