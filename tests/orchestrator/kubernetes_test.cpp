// The kubernetes backend end to end: the real c4i-orchestrator with
// --backend kubernetes against the test control plane (tests/k8s: etcd,
// kube-apiserver, controller manager, scheduler, KWOK nodes gw-1 gw-2
// (gateway, arm64), edge-1 (edge, amd64), cloud-1 cloud-2 (cloud, amd64)).
// Each test watches the pods with kubectl on the side and fails if a
// function ever had two pods Running at once.
#include <filesystem>

#include <gtest/gtest.h>

#include "tests/orchestrator/kubernetes_plane.hpp"

namespace c4i::testing {
namespace {

using nlohmann::json;

constexpr const char* kDev = "c4:7c:8d:6a:3e:01";
constexpr const char* kFn = "hr-c4-7c-8d-6a-3e-01";
constexpr const char* kDeployment = "c4i-hr-c4-7c-8d-6a-3e-01";

// A heartbeat of the plane's gateways (arm64, as the cluster labels them).
json gw_heartbeat(std::int64_t seq, double cpu, double mem) {
  json h = heartbeat(seq, cpu, mem, unix_ms());
  h["arch"] = "arm64";
  return h;
}

class KubernetesBackend : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { plane = new KubePlane(); }
  static void TearDownTestSuite() {
    delete plane;
    plane = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(plane->up()) << plane->error();
    ns = "t-" + std::to_string(++counter);
    orch = std::make_unique<KubeOrchestrator>(*plane, ns);
    ASSERT_TRUE(orch->start()) << orch->log();
    pods = std::make_unique<PodWatch>(*plane, ns);
    op = orch->client(kOperatorToken);
    gw1 = orch->gateway("gw-1");
    gw2 = orch->gateway("gw-2");
  }
  void TearDown() override {
    if (pods) {
      EXPECT_FALSE(pods->events().empty()) << "the side watch (kubectl get --watch) saw nothing";
      EXPECT_EQ(pods->overlap(), "") << "a function had two pods Running at once";
    }
  }

  void set_policy(const std::function<void(json&)>& edit) {
    auto cur = call(*op, "GET", "/v1/policy");
    ASSERT_EQ(cur.status, 200);
    json p = cur.body["policy"];
    edit(p);
    auto r = call(*op, "PUT", "/v1/policy", p, {{"If-Match", cur.headers["etag"]}});
    ASSERT_EQ(r.status, 200) << r.raw;
  }
  void post(http::Client& gw, const std::string& name, const std::vector<json>& events) {
    auto r = call(gw, "POST", "/v1/gateways/" + name + "/events", batch(name, "boot-" + name, events));
    EXPECT_EQ(r.status, 200) << r.raw;
  }
  json migration(const std::string& kind, const std::function<bool(const json&)>& pred,
                 std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    json found;
    wait_until(
        [&] {
          auto r = call(*op, "GET", std::string("/v1/migrations?function=") + kFn + "&kind=" + kind);
          if (r.status != 200) return false;
          for (const auto& m : r.body["items"])
            if (pred(m)) {
              found = m;
              return true;
            }
          return false;
        },
        timeout);
    return found;
  }
  static bool done_and_started(const json& m) { return m["state"] == "done" && m["timeline"]["started"].is_number_integer(); }

  // The function's pods as the cluster has them: (name, phase, node, deleting).
  struct Pod {
    std::string name, phase, node;
    bool deleting = false;
  };
  std::vector<Pod> function_pods() {
    auto j = plane->get_json({"pods", "-n", ns, "-l", std::string("cloud4iot.io/function=") + kFn});
    std::vector<Pod> out;
    if (!j.is_object()) return out;
    for (const auto& p : j["items"])
      out.push_back({p["metadata"]["name"], p["status"].value("phase", ""), p["spec"].value("nodeName", ""),
                     p["metadata"].contains("deletionTimestamp")});
    return out;
  }
  // Waits until the function has exactly one pod, Running on a node `ok` accepts.
  bool one_running_pod(const std::function<bool(const std::string&)>& ok, Pod* got = nullptr) {
    return wait_until(
        [&] {
          auto p = function_pods();
          if (p.size() != 1 || p[0].phase != "Running" || p[0].deleting || !ok(p[0].node)) return false;
          if (got) *got = p[0];
          return true;
        },
        std::chrono::seconds(30));
  }
  json deployment() { return plane->get_json({"deployment", "-n", ns, kDeployment}); }
  static json affinity_terms(const json& d) {
    return d["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"][0]["matchExpressions"];
  }
  static std::vector<std::string> values_of(const json& exprs, const std::string& key, const std::string& op) {
    for (const auto& e : exprs)
      if (e["key"] == key && e["operator"] == op) return e["values"].get<std::vector<std::string>>();
    return {};
  }
  void place_on_gw1() {
    ASSERT_EQ(call(*op, "POST", "/v1/functions", {{"template", "hr"}, {"device", kDev}}).status, 201);
    post(*gw1, "gw-1", {gw_heartbeat(seq1++, 0.2, 0.2), seen(seq1++, kDev, -60, unix_ms())});
    auto place = migration("place", done_and_started);
    ASSERT_FALSE(place.is_null()) << orch->log();
    EXPECT_EQ(place["to"]["node"], "gw-1");
    ASSERT_TRUE(one_running_pod([](const std::string& n) { return n == "gw-1"; })) << orch->log();
  }

  static KubePlane* plane;
  static int counter;
  std::string ns;
  std::unique_ptr<KubeOrchestrator> orch;
  std::unique_ptr<PodWatch> pods;
  std::unique_ptr<http::Client> op, gw1, gw2;
  std::int64_t seq1 = 1, seq2 = 1;
};
KubePlane* KubernetesBackend::plane = nullptr;
int KubernetesBackend::counter = 0;

TEST_F(KubernetesBackend, DeviceEventMovesThePodFromGw1ToGw2) {
  orch->create_template("hr", {"arm64", "amd64"});
  place_on_gw1();
  Pod before;
  ASSERT_TRUE(one_running_pod([](const std::string& n) { return n == "gw-1"; }, &before));

  // The Deployment as DESIGN.md has it.
  json d = deployment();
  ASSERT_TRUE(d.is_object());
  EXPECT_EQ(d["spec"]["strategy"]["type"], "Recreate");
  EXPECT_EQ(d["spec"]["replicas"], 1);
  EXPECT_EQ(d["metadata"]["labels"]["cloud4iot.io/function"], kFn);
  EXPECT_EQ(d["metadata"]["labels"]["cloud4iot.io/device"], "c4-7c-8d-6a-3e-01");
  const auto& containers = d["spec"]["template"]["spec"]["containers"];
  ASSERT_EQ(containers.size(), 2u);
  EXPECT_EQ(containers[1]["name"], "reader");
  bool has_node_env = false, has_addr = false;
  for (const auto& e : containers[0]["env"]) {
    if (e["name"] == "C4I_NODE") has_node_env = e["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName";
    if (e["name"] == "C4I_DEVICE_ADDR") has_addr = e["value"] == kDev;
  }
  EXPECT_TRUE(has_node_env && has_addr) << containers[0].dump();
  EXPECT_EQ(values_of(affinity_terms(d), "kubernetes.io/hostname", "In"), std::vector<std::string>{"gw-1"});
  EXPECT_EQ(values_of(affinity_terms(d), "kubernetes.io/arch", "In"), (std::vector<std::string>{"amd64", "arm64"}));

  // The device walks to gw-2 (beyond the roam margin).
  std::int64_t detected = unix_ms();
  post(*gw2, "gw-2", {seen(seq2++, kDev, -45, detected)});
  post(*gw1, "gw-1", {seen(seq1++, kDev, -72, detected + 1, "refresh")});
  auto roam = migration("roam", done_and_started);
  ASSERT_FALSE(roam.is_null()) << orch->log();
  EXPECT_EQ(roam["from"], "gw-1");
  EXPECT_EQ(roam["to"]["node"], "gw-2");
  const auto& tl = roam["timeline"];
  std::int64_t prev = 0;
  for (const char* step : {"detected", "notified", "decided", "applied", "scheduled", "started"}) {
    ASSERT_TRUE(tl[step].is_number_integer()) << step << " missing in " << roam.dump();
    EXPECT_GE(tl[step].get<std::int64_t>(), prev) << step << " out of order in " << roam.dump();
    prev = tl[step].get<std::int64_t>();
  }
  Pod after;
  ASSERT_TRUE(one_running_pod([](const std::string& n) { return n == "gw-2"; }, &after));
  EXPECT_NE(after.name, before.name);  // the gw-1 pod is gone, not moved
  EXPECT_EQ(values_of(affinity_terms(deployment()), "kubernetes.io/hostname", "In"), std::vector<std::string>{"gw-2"});
  auto f = call(*op, "GET", std::string("/v1/functions/") + kFn).body;
  EXPECT_EQ(f["node"], "gw-2");
  EXPECT_EQ(f["state"], "running");

  // The cluster's objects catch up with the progress written late
  // (--cluster-defer-ms): with nothing else happening, the Migration shows
  // the whole timeline and the IoTFunction the new node within a few periods.
  const std::string mname = "m-" + std::to_string(roam["id"].get<std::int64_t>());
  json cr;
  EXPECT_TRUE(wait_until(
      [&] {
        cr = plane->get_json({"migrations.cloud4iot.io", "-n", ns, mname});
        return cr.is_object() && cr["status"].value("state", "") == "done" && cr["status"]["timeline"].contains("started");
      },
      std::chrono::seconds(10)))
      << cr.dump();
  json fcr;
  EXPECT_TRUE(wait_until(
      [&] {
        fcr = plane->get_json({"iotfunctions.cloud4iot.io", "-n", ns, "-l", "app.kubernetes.io/managed-by=cloud4iot"});
        if (!fcr.is_object()) return false;
        for (const auto& i : fcr["items"])
          if (i["spec"].value("device", "") == kDev)
            return i["status"].value("node", "") == "gw-2" && i["status"].value("phase", "") == "running";
        return false;
      },
      std::chrono::seconds(10)))
      << fcr.dump();
}

TEST_F(KubernetesBackend, HeartbeatOverHighWatermarkMovesToEdgeAndBack) {
  set_policy([](json& p) { p["cooldown_s"] = 1; });
  orch->create_template("hr", {"arm64", "amd64"});
  place_on_gw1();

  json hot = gw_heartbeat(seq1++, 0.97, 0.4);
  post(*gw1, "gw-1", {hot});
  auto up = migration("offload_up", done_and_started);
  ASSERT_FALSE(up.is_null()) << orch->log();
  EXPECT_EQ(up["from"], "gw-1");
  // An offload names the tier; the scheduler chose edge-1, the only edge node.
  EXPECT_EQ(up["to"]["tier"], "edge");
  EXPECT_EQ(up["to"]["node"], "edge-1");
  EXPECT_EQ(up["timeline"]["detected"], hot["t"]);
  ASSERT_TRUE(one_running_pod([](const std::string& n) { return n == "edge-1"; })) << orch->log();
  json exprs = affinity_terms(deployment());
  EXPECT_EQ(values_of(exprs, "cloud4iot.io/tier", "In"), std::vector<std::string>{"edge"});
  EXPECT_TRUE(values_of(exprs, "kubernetes.io/hostname", "In").empty()) << exprs.dump();

  post(*gw1, "gw-1", {gw_heartbeat(seq1++, 0.05, 0.1)});
  auto down = migration("bring_down", done_and_started);
  ASSERT_FALSE(down.is_null()) << orch->log();
  EXPECT_EQ(down["to"]["node"], "gw-1");
  ASSERT_TRUE(one_running_pod([](const std::string& n) { return n == "gw-1"; })) << orch->log();
  // Back near the device: the gateway that sees it, by name.
  EXPECT_EQ(values_of(affinity_terms(deployment()), "kubernetes.io/hostname", "In"), std::vector<std::string>{"gw-1"});
}

// Usage from metrics.k8s.io, as metrics-server serves it (here its API
// registered as a CRD on the real apiserver, tests/k8s/node-metrics-crd.yaml):
// a hot reading for gw-1, with no heartbeat saying so, offloads to edge.
TEST_F(KubernetesBackend, NodeUsageFromMetricsApiOffloadsToEdge) {
  ASSERT_EQ(plane->kubectl({"apply", "-f", source_dir() + "/tests/k8s/node-metrics-crd.yaml"}).code, 0);
  // The plane is shared by the tests that follow: they must not see these readings.
  struct DropMetricsApi {
    KubePlane* plane;
    ~DropMetricsApi() { plane->kubectl({"delete", "crd", "nodes.metrics.k8s.io", "--wait=true"}); }
  } drop{plane};
  ASSERT_EQ(plane->kubectl({"wait", "--for=condition=Established", "crd/nodes.metrics.k8s.io", "--timeout=30s"}).code, 0);
  // Restart the orchestrator polling every 300 ms.
  ASSERT_TRUE(orch->stop().has_value());
  orch = std::make_unique<KubeOrchestrator>(*plane, ns);
  orch->extra_args = {"--usage-interval-ms", "300"};
  ASSERT_TRUE(orch->start()) << orch->log();
  op = orch->client(kOperatorToken);
  gw1 = orch->gateway("gw-1");
  set_policy([](json& p) { p["cooldown_s"] = 1; });
  orch->create_template("hr", {"arm64", "amd64"});
  place_on_gw1();

  auto node_metrics = [&](const std::string& node, const std::string& cpu, const std::string& mem) {
    TempDir tmp;
    json m = {{"apiVersion", "metrics.k8s.io/v1beta1"},
              {"kind", "NodeMetrics"},
              {"metadata", {{"name", node}}},
              {"timestamp", "2026-01-01T00:00:00Z"},  // months old (a skewed clock): the orchestrator dates it itself
              {"window", "10s"},
              {"usage", {{"cpu", cpu}, {"memory", mem}}}};
    write_file(tmp.file("m.json"), m.dump());
    return plane->kubectl({"apply", "-f", tmp.file("m.json")}).code == 0;
  };
  // gw-1 has 4 CPUs and 4 GiB allocatable: 3900m is 97.5 %.
  ASSERT_TRUE(node_metrics("gw-1", "3900m", "1Gi"));
  ASSERT_TRUE(node_metrics("edge-1", "100m", "512Mi"));
  ASSERT_TRUE(wait_until(
      [&] {
        auto n = call(*op, "GET", "/v1/nodes/gw-1");
        return n.status == 200 && n.body["usage"]["cpu"].is_number() && n.body["usage"]["cpu"].get<double>() > 0.97;
      },
      std::chrono::seconds(20)))
      << call(*op, "GET", "/v1/nodes/gw-1").raw << orch->log();
  auto up = migration("offload_up", done_and_started);
  ASSERT_FALSE(up.is_null()) << orch->log();
  EXPECT_EQ(up["to"]["tier"], "edge");
  ASSERT_TRUE(one_running_pod([](const std::string& n) { return n == "edge-1"; })) << orch->log();
  // 100m of its 16 CPUs. Its reading may come a poll after gw-1's (the two
  // objects were written one after the other), and the move can be faster.
  Reply edge;
  ASSERT_TRUE(wait_until(
      [&] {
        edge = call(*op, "GET", "/v1/nodes/edge-1");
        return edge.status == 200 && edge.body["usage"]["cpu"].is_number();
      },
      std::chrono::seconds(20)))
      << edge.raw;
  EXPECT_NEAR(edge.body["usage"]["cpu"].get<double>(), 100.0 / 16000.0, 0.001) << edge.raw;
}

// In a pod: no kubeconfig, only the service account's token, CA and
// namespace files and the KUBERNETES_SERVICE_* variables. The token is a real
// one the apiserver issued (kubectl create token), bound to a role.
TEST_F(KubernetesBackend, InClusterServiceAccountIsEnough) {
  ASSERT_TRUE(orch->stop().has_value());
  ASSERT_EQ(plane->kubectl({"create", "serviceaccount", "c4i", "-n", ns}).code, 0);
  ASSERT_EQ(plane->kubectl({"create", "clusterrolebinding", "c4i-" + ns, "--clusterrole=cluster-admin",
                            "--serviceaccount=" + ns + ":c4i"})
                .code,
            0);
  auto token = plane->kubectl({"create", "token", "c4i", "-n", ns, "--duration=1h"});
  ASSERT_EQ(token.code, 0) << token.err;
  TempDir sa;
  write_file(sa.file("token"), token.out.substr(0, token.out.find_last_not_of("\n") + 1));
  std::filesystem::copy_file(plane->dir() + "/pki/ca.crt", sa.file("ca.crt"));
  write_file(sa.file("namespace"), ns);

  orch = std::make_unique<KubeOrchestrator>(*plane, ns);
  orch->service_account_dir = sa.path();
  ASSERT_TRUE(orch->start()) << orch->log();
  EXPECT_NE(orch->log().find("in-cluster"), std::string::npos) << orch->log();
  op = orch->client(kOperatorToken);
  gw1 = orch->gateway("gw-1");
  orch->create_template("hr", {"arm64", "amd64"});
  place_on_gw1();
  plane->kubectl({"delete", "clusterrolebinding", "c4i-" + ns});
}

TEST_F(KubernetesBackend, ManualMoveToTheCloudTierLetsTheSchedulerPickACloudNode) {
  orch->create_template("hr", {"arm64", "amd64"});
  place_on_gw1();
  auto r = call(*op, "POST", std::string("/v1/functions/") + kFn + ":move", {{"tier", "cloud"}, {"pin", true}});
  ASSERT_EQ(r.status, 202) << r.raw;
  auto m = migration("manual", done_and_started);
  ASSERT_FALSE(m.is_null()) << orch->log();
  Pod p;
  ASSERT_TRUE(one_running_pod([](const std::string& n) { return n == "cloud-1" || n == "cloud-2"; }, &p)) << orch->log();
  EXPECT_EQ(m["to"]["node"], p.node);  // the node the scheduler chose is recorded
  json exprs = affinity_terms(deployment());
  EXPECT_EQ(values_of(exprs, "cloud4iot.io/tier", "In"), std::vector<std::string>{"cloud"});
  EXPECT_TRUE(values_of(exprs, "kubernetes.io/hostname", "In").empty());
  auto f = wait_for(*op, std::string("/v1/functions/") + kFn, [&](const json& b) { return b["node"] == p.node; });
  EXPECT_EQ(f["node"], p.node);
}

TEST_F(KubernetesBackend, Arm64OnlyTemplateNeverLandsOnAmd64) {
  orch->create_template("hr", {"arm64"});
  place_on_gw1();
  EXPECT_EQ(values_of(affinity_terms(deployment()), "kubernetes.io/arch", "In"), std::vector<std::string>{"arm64"});
  // A node of the wrong architecture is refused by the orchestrator itself.
  auto r = call(*op, "POST", std::string("/v1/functions/") + kFn + ":move", {{"node", "edge-1"}});
  EXPECT_EQ(r.status, 409) << r.raw;
  // Overload gw-1: the only amd64-free way out is gw-2, never edge or cloud.
  set_policy([](json& p) { p["cooldown_s"] = 1; });
  post(*gw1, "gw-1", {gw_heartbeat(seq1++, 0.97, 0.97)});
  // A tier the template has no image for: the affinity keeps arm64, so the
  // scheduler leaves the pod Pending rather than bind it to an amd64 node.
  r = call(*op, "POST", std::string("/v1/functions/") + kFn + ":move", {{"tier", "edge"}, {"pin", true}});
  ASSERT_EQ(r.status, 202) << r.raw;
  ASSERT_TRUE(wait_until(
      [&] {
        json e = plane->get_json({"events", "-n", ns, "--field-selector", "reason=FailedScheduling"});
        return e.is_object() && !e["items"].empty();
      },
      std::chrono::seconds(30)))
      << orch->log();
  json exprs = affinity_terms(deployment());
  EXPECT_EQ(values_of(exprs, "cloud4iot.io/tier", "In"), std::vector<std::string>{"edge"});
  EXPECT_EQ(values_of(exprs, "kubernetes.io/arch", "In"), std::vector<std::string>{"arm64"});
  for (const auto& p : function_pods()) EXPECT_EQ(p.node, "") << p.name << " bound to " << p.node;
  for (const auto& n : pods->nodes_of(kDeployment)) EXPECT_TRUE(n == "gw-1" || n == "gw-2") << "a pod was bound to " << n;
  auto f = call(*op, "GET", std::string("/v1/functions/") + kFn).body;
  EXPECT_NE(f["state"], "running") << f.dump();
}

}  // namespace
}  // namespace c4i::testing
