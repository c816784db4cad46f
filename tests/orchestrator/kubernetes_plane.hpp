// The Kubernetes test control plane (tests/k8s/) for the kubernetes backend's
// end-to-end tests: start it in a temporary directory, run kubectl against
// it, run the real c4i-orchestrator with --backend kubernetes, and record
// every pod event with an independent watcher (kubectl get --watch) to prove
// that a function never had two pods Running at once.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/https_client.hpp"
#include "tests/orchestrator/harness.hpp"
#include "tests/support/testlib.hpp"

namespace c4i::testing {

class KubePlane {
 public:
  // Starts the plane (tests/k8s/start.sh, which builds the binaries when missing).
  KubePlane();
  ~KubePlane();  // tests/k8s/stop.sh
  bool up() const { return up_; }
  const std::string& error() const { return error_; }
  const std::string& dir() const { return dir_; }
  const std::string& kubeconfig() const { return kubeconfig_; }
  std::string kubectl_path() const { return bin_ + "/kubectl"; }
  RunResult kubectl(const std::vector<std::string>& args, std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;
  // kubectl ... -o json, parsed (null on failure).
  nlohmann::json get_json(const std::vector<std::string>& args) const;
  // manifests/crds/ applied and Established (the orchestrator's state lives in them).
  bool install_crds() const;
  // tests/k8s/apiserver.sh DIR stop | start --kick
  RunResult apiserver(const std::vector<std::string>& args) const;

 private:
  TempDir tmp_;
  std::string dir_, kubeconfig_, bin_, error_;
  bool up_ = false;
};

// c4i-orchestrator --backend kubernetes against a plane, in namespace `ns`.
class KubeOrchestrator {
 public:
  KubeOrchestrator(const KubePlane& plane, std::string ns);
  ~KubeOrchestrator();
  std::vector<std::string> extra_args;  // appended to the command line by start()
  // Non-empty: start() runs the orchestrator as a pod would, with no
  // kubeconfig: this folder's token, ca.crt and namespace appear at
  // /var/run/secrets/kubernetes.io/serviceaccount (a private mount
  // namespace, so the machine's /run is untouched), and
  // KUBERNETES_SERVICE_HOST/PORT name the plane's apiserver.
  std::string service_account_dir;
  bool start();
  std::optional<int> stop();
  void kill9();  // SIGKILL, and waits for the exit
  bool running() const { return child_ && child_->running(); }
  std::string log() const { return child_ ? child_->err() : ""; }
  std::uint16_t port() const { return port_; }
  std::unique_ptr<http::Client> client(const std::string& token = kOperatorToken) const;
  std::unique_ptr<http::Client> gateway(const std::string& name) const;
  // A template running `image` built for `archs` (admin token).
  void create_template(const std::string& name, const std::vector<std::string>& archs);

 private:
  const KubePlane& plane_;
  std::string ns_;
  TempDir dir_;
  std::unique_ptr<Child> child_;
  std::uint16_t port_ = 0;
};

// Every pod event of a namespace, seen by kubectl's own watch.
struct PodEvent {
  std::string type, pod, phase, node;
  bool deleting = false;
  std::string deployment() const;  // the pod name without "-<rs hash>-<suffix>"
};
class PodWatch {
 public:
  PodWatch(const KubePlane& plane, const std::string& ns);
  ~PodWatch();
  std::vector<PodEvent> events() const;
  // Replays the events: the first moment a Deployment had two pods Running,
  // as a message; empty when that never happened.
  std::string overlap() const;
  // Nodes any pod of `deployment` was ever bound to.
  std::vector<std::string> nodes_of(const std::string& deployment) const;

 private:
  std::unique_ptr<Child> child_;
};

}  // namespace c4i::testing
