#include "tests/orchestrator/kubernetes_plane.hpp"

#include <signal.h>

#include <filesystem>
#include <set>
#include <sstream>

namespace c4i::testing {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {
std::string last_line(const std::string& s) {
  std::string t = s;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  auto nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

std::string env_value(const std::string& env_file, const std::string& key) {
  std::istringstream in(read_file(env_file));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
  return {};
}

}  // namespace

// ---------------------------------------------------------------- KubePlane

KubePlane::KubePlane() {
  dir_ = fs::weakly_canonical(tmp_.path()).string() + "/plane";
  // start.sh builds the binaries first when they are missing (slow, once).
  auto r = run({source_dir() + "/tests/k8s/start.sh", dir_}, std::chrono::minutes(30));
  if (r.code != 0) {
    error_ = "tests/k8s/start.sh failed (" + std::to_string(r.code) + "): " + r.err.substr(r.err.size() > 3000 ? r.err.size() - 3000 : 0);
    return;
  }
  kubeconfig_ = last_line(r.out);
  bin_ = env_value(dir_ + "/env", "C4I_K8S_BIN");
  up_ = fs::exists(kubeconfig_) && fs::exists(bin_ + "/kubectl");
  if (!up_) error_ = "start.sh gave no kubeconfig or kubectl: " + r.out;
}

KubePlane::~KubePlane() {
  if (fs::exists(dir_ + "/pids")) (void)run({source_dir() + "/tests/k8s/stop.sh", dir_}, std::chrono::minutes(2));
}

RunResult KubePlane::kubectl(const std::vector<std::string>& args, std::chrono::milliseconds timeout) const {
  std::vector<std::string> argv{kubectl_path(), "--kubeconfig", kubeconfig_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, timeout);
}

json KubePlane::get_json(const std::vector<std::string>& args) const {
  std::vector<std::string> a{"get"};
  a.insert(a.end(), args.begin(), args.end());
  a.push_back("-o");
  a.push_back("json");
  auto r = kubectl(a);
  if (r.code != 0) return nullptr;
  auto j = json::parse(r.out, nullptr, false);
  return j.is_discarded() ? json(nullptr) : j;
}

bool KubePlane::install_crds() const {
  if (kubectl({"apply", "-f", source_dir() + "/manifests/crds/"}).code != 0) return false;
  return kubectl({"wait", "--for=condition=Established", "--timeout=60s", "crd/functiontemplates.cloud4iot.io",
                  "crd/iotfunctions.cloud4iot.io", "crd/devices.cloud4iot.io", "crd/offloadpolicies.cloud4iot.io",
                  "crd/migrations.cloud4iot.io", "crd/gatewayidentities.cloud4iot.io", "crd/bootstraptokens.cloud4iot.io"})
             .code == 0;
}

RunResult KubePlane::apiserver(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{source_dir() + "/tests/k8s/apiserver.sh", dir_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, std::chrono::minutes(3));
}

// ---------------------------------------------------------------- KubeOrchestrator

KubeOrchestrator::KubeOrchestrator(const KubePlane& plane, std::string ns) : plane_(plane), ns_(std::move(ns)) {
  const auto& pki = test_pki();
  write_test_tokens(dir_.file("tokens.yaml"));
  write_file(dir_.file("config.yaml"),
             "listen: 127.0.0.1:0\n"
             "port_file: " + dir_.file("port") + "\n"
             "state_dir: " + dir_.file("state") + "\n"
             "tokens: " + dir_.file("tokens.yaml") + "\n"
             "tls: {cert: " + pki.cert("server") + ", key: " + pki.key("server") + ", client_ca: " + pki.ca() + "}\n"
             "control: {reconcile_interval_ms: 200, retry_base_ms: 100, retry_max_ms: 2000}\n");
}

KubeOrchestrator::~KubeOrchestrator() {
  if (child_ && child_->running()) {
    child_->signal(SIGTERM);
    if (!child_->wait(std::chrono::seconds(15))) child_->signal(SIGKILL);
  }
}

bool KubeOrchestrator::start() {
  fs::remove(dir_.file("port"));
  if (plane_.kubectl({"create", "namespace", ns_}).code != 0 &&
      plane_.kubectl({"get", "namespace", ns_}).code != 0)
    return false;
  if (!plane_.install_crds()) return false;
  std::vector<std::string> argv{binary_dir() + "/orchestrator/c4i-orchestrator", "--config", dir_.file("config.yaml"),
                                "--backend", "kubernetes"};
  std::map<std::string, std::string> env;
  if (service_account_dir.empty()) {
    argv.insert(argv.end(), {"--kubeconfig", plane_.kubeconfig()});
  } else {
    const char* mount_sa =
        "set -e; mount -t tmpfs c4i-sa /run; d=/run/secrets/kubernetes.io/serviceaccount; mkdir -p $d; "
        "cp \"$C4I_SA_DIR\"/token \"$C4I_SA_DIR\"/ca.crt \"$C4I_SA_DIR\"/namespace $d/; exec \"$@\"";
    argv.insert(argv.begin(), {"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", mount_sa, "sh"});
    auto plane_env = read_file(plane_.dir() + "/env");
    auto at = plane_env.find("APISERVER_PORT=");
    env["KUBERNETES_SERVICE_HOST"] = "127.0.0.1";
    env["KUBERNETES_SERVICE_PORT"] = plane_env.substr(at + 15, plane_env.find('\n', at) - at - 15);
    env["C4I_SA_DIR"] = service_account_dir;
    env["KUBECONFIG"] = "";  // nothing but the service account
  }
  argv.insert(argv.end(), {"--namespace", ns_});
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  child_ = std::make_unique<Child>(argv, env, dir_.path());
  bool up = wait_until([&] { return fs::exists(dir_.file("port")) || !child_->running(); }, std::chrono::seconds(60));
  if (!up || !child_->running()) return false;
  port_ = static_cast<std::uint16_t>(std::stoi(read_file(dir_.file("port"))));
  return true;
}

std::optional<int> KubeOrchestrator::stop() {
  if (!child_) return std::nullopt;
  child_->signal(SIGTERM);
  return child_->wait(std::chrono::seconds(20));
}

void KubeOrchestrator::kill9() {
  if (!child_) return;
  child_->signal(SIGKILL);
  child_->wait(std::chrono::seconds(10));
}

std::unique_ptr<http::Client> KubeOrchestrator::client(const std::string& token) const { return token_client(port_, token); }

std::unique_ptr<http::Client> KubeOrchestrator::gateway(const std::string& name) const {
  return gateway_client(port_, name);
}

void KubeOrchestrator::create_template(const std::string& name, const std::vector<std::string>& archs) {
  auto admin = client(kAdminToken);
  auto r = call(*admin, "POST", "/v1/templates",
                {{"name", name},
                 {"command", {"/usr/bin/c4i-fn-omh", "--input", "unix:/run/c4i/samples.sock"}},
                 {"image", "127.0.0.1:5123/cloud4iot/c4i-fn-omh:0.1.0"},
                 {"archs", archs},
                 {"cpu_m", 100},
                 {"mem_mb", 64}});
  if (r.status != 201) throw std::runtime_error("create template: " + std::to_string(r.status) + " " + r.raw);
}

// ---------------------------------------------------------------- PodWatch

std::string PodEvent::deployment() const {
  auto a = pod.rfind('-');
  if (a == std::string::npos || a == 0) return pod;
  auto b = pod.rfind('-', a - 1);
  return b == std::string::npos ? pod : pod.substr(0, b);
}

PodWatch::PodWatch(const KubePlane& plane, const std::string& ns) {
  child_ = std::make_unique<Child>(std::vector<std::string>{
      plane.kubectl_path(), "--kubeconfig", plane.kubeconfig(), "get", "pods", "-n", ns, "--watch", "--output-watch-events",
      "-o",
      "jsonpath={.type}{\" \"}{.object.metadata.name}{\" \"}{.object.status.phase}{\" \"}{.object.spec.nodeName}{\" \"}"
      "{.object.metadata.deletionTimestamp}{\"\\n\"}"});
}

PodWatch::~PodWatch() {
  if (child_ && child_->running()) {
    child_->signal(SIGTERM);
    child_->wait(std::chrono::seconds(5));
  }
}

std::vector<PodEvent> PodWatch::events() const {
  std::vector<PodEvent> out;
  std::istringstream in(child_->out());
  std::string line;
  while (std::getline(in, line)) {
    PodEvent e;
    // nodeName and deletionTimestamp may be empty: positions are by single spaces.
    std::vector<std::string> parts;
    std::string cur;
    for (char c : line) {
      if (c == ' ') {
        parts.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    parts.push_back(cur);
    if (parts.size() < 4 || parts[1].empty()) continue;
    e.type = parts[0];
    e.pod = parts[1];
    e.phase = parts[2];
    e.node = parts[3];
    e.deleting = parts.size() > 4 && !parts[4].empty();
    out.push_back(e);
  }
  return out;
}

std::string PodWatch::overlap() const {
  std::map<std::string, PodEvent> live;
  int i = 0;
  for (const auto& e : events()) {
    ++i;
    if (e.type == "DELETED") live.erase(e.pod);
    else live[e.pod] = e;
    std::map<std::string, std::vector<std::string>> running;
    for (const auto& [name, p] : live)
      if (p.phase == "Running") running[p.deployment()].push_back(name + "@" + p.node);
    for (const auto& [dep, pods] : running)
      if (pods.size() > 1) {
        std::string m = "event " + std::to_string(i) + ": " + dep + " has " + std::to_string(pods.size()) + " pods Running:";
        for (const auto& p : pods) m += " " + p;
        return m;
      }
  }
  return {};
}

std::vector<std::string> PodWatch::nodes_of(const std::string& deployment) const {
  std::set<std::string> nodes;
  for (const auto& e : events())
    if (e.deployment() == deployment && !e.node.empty()) nodes.insert(e.node);
  return {nodes.begin(), nodes.end()};
}

}  // namespace c4i::testing
