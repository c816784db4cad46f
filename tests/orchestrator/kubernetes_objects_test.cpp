#include "orchestrator/k8s_objects.hpp"

#include <gtest/gtest.h>

namespace c4i::orchestrator::k8s {
namespace {

using nlohmann::json;

TEST(KubernetesNames, DeploymentNameIsADns1123Label) {
  EXPECT_EQ(deployment_name("hr", "C4:7C:8D:6A:3E:01"), "c4i-hr-c4-7c-8d-6a-3e-01");
  EXPECT_EQ(deployment_name("Heart_Rate..v2", "aa:bb"), "c4i-heart-rate-v2-aa-bb");
  std::string long_tpl(80, 'x');
  std::string a = deployment_name(long_tpl, "aa:bb:cc:dd:ee:01"), b = deployment_name(long_tpl, "aa:bb:cc:dd:ee:02");
  EXPECT_LE(a.size(), 52u);
  EXPECT_NE(a, b);  // cut names keep a hash of the whole
  for (char c : a) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') << a;
  EXPECT_NE(a.front(), '-');
  EXPECT_NE(a.back(), '-');
  EXPECT_FALSE(dns1123_label("::").empty());
}

TEST(KubernetesNames, LabelValuesKeepCaseAndDropColons) {
  EXPECT_EQ(label_value("hr-C4-7c"), "hr-C4-7c");
  EXPECT_EQ(label_value("c4:7c:8d"), "c4-7c-8d");
  EXPECT_EQ(label_value("_a_"), "a");
  EXPECT_LE(label_value(std::string(100, 'a')).size(), 63u);
}

DeploymentParams params() {
  DeploymentParams p;
  p.ns = "fleet";
  p.name = "c4i-hr-c4-7c-8d-6a-3e-01";
  p.spec.id = "hr-c4-7c-8d-6a-3e-01";
  p.spec.template_name = "hr";
  p.spec.device = "c4:7c:8d:6a:3e:01";
  p.spec.device_addr = "c4:7c:8d:6a:3e:01";
  p.spec.image = "registry/c4i-fn-omh:0.1.0";
  p.spec.command = {"/usr/bin/c4i-fn-omh"};
  p.spec.env = {{"WINDOW", "60"}, {"C4I_NODE", "spoofed"}};
  p.archs = {"arm64", "amd64", "arm64"};
  p.target.node = "gw-2";
  p.cpu_m = 100;
  p.mem_mb = 64;
  return p;
}

json exprs_of(const json& d) {
  return d["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
          ["nodeSelectorTerms"][0]["matchExpressions"];
}

TEST(KubernetesManifest, RoamPinsTheHostnameAndTheArchitectures) {
  auto d = deployment_manifest(params());
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ((*d)["spec"]["strategy"]["type"], "Recreate");
  EXPECT_EQ((*d)["spec"]["replicas"], 1);
  EXPECT_EQ((*d)["metadata"]["labels"]["cloud4iot.io/function"], "hr-c4-7c-8d-6a-3e-01");
  EXPECT_EQ((*d)["metadata"]["labels"]["cloud4iot.io/device"], "c4-7c-8d-6a-3e-01");
  EXPECT_EQ((*d)["metadata"]["annotations"][kAnnotationPlacement], "node=gw-2");
  json e = exprs_of(*d);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0], json({{"key", "kubernetes.io/hostname"}, {"operator", "In"}, {"values", {"gw-2"}}}));
  EXPECT_EQ(e[1], json({{"key", "kubernetes.io/arch"}, {"operator", "In"}, {"values", {"amd64", "arm64"}}}));
  const json& c = (*d)["spec"]["template"]["spec"]["containers"];
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0]["image"], "registry/c4i-fn-omh:0.1.0");
  EXPECT_EQ(c[1]["name"], "reader");
  EXPECT_EQ(c[1]["image"], "registry/c4i-fn-omh:0.1.0");  // the image holds c4i-reader too
  int node_env = 0;
  for (const auto& v : c[0]["env"])
    if (v["name"] == "C4I_NODE") {
      node_env++;
      EXPECT_EQ(v["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName");  // a template cannot override it
    }
  EXPECT_EQ(node_env, 1);
  EXPECT_EQ(c[0]["resources"]["requests"]["cpu"], "100m");
  // The selector is a subset of the template's labels (else the apiserver refuses it).
  for (auto it = (*d)["spec"]["selector"]["matchLabels"].begin(); it != (*d)["spec"]["selector"]["matchLabels"].end(); ++it)
    EXPECT_EQ((*d)["spec"]["template"]["metadata"]["labels"][it.key()], it.value());
}

TEST(KubernetesManifest, OffloadWritesTheTierAndExcludesOverloadedNodes) {
  auto p = params();
  p.target = Target{"", "edge"};
  p.exclude = {"edge-2", "edge-1"};
  auto d = deployment_manifest(p);
  ASSERT_TRUE(d);
  json e = exprs_of(*d);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0], json({{"key", "cloud4iot.io/tier"}, {"operator", "In"}, {"values", {"edge"}}}));
  EXPECT_EQ(e[1], json({{"key", "kubernetes.io/hostname"}, {"operator", "NotIn"}, {"values", {"edge-1", "edge-2"}}}));
  EXPECT_EQ((*d)["metadata"]["annotations"][kAnnotationPlacement], "tier=edge!edge-1!edge-2");
}

TEST(KubernetesManifest, RefusesATemplateWithoutImageOrArchitecture) {
  auto p = params();
  p.spec.image.clear();
  EXPECT_EQ(deployment_manifest(p).error().code, "invalid_argument");
  p = params();
  p.archs.clear();
  EXPECT_FALSE(deployment_manifest(p));
}

TEST(KubernetesQuantities, ParsesTheFormsNodesReport) {
  EXPECT_EQ(parse_cpu_milli("4"), 4000);
  EXPECT_EQ(parse_cpu_milli("3500m"), 3500);
  EXPECT_EQ(parse_cpu_milli("0.5"), 500);
  EXPECT_EQ(parse_cpu_milli("x"), std::nullopt);
  EXPECT_EQ(parse_cpu_milli(""), std::nullopt);
  EXPECT_EQ(parse_bytes("4Gi"), 4LL * 1024 * 1024 * 1024);
  EXPECT_EQ(parse_bytes("4096Mi"), 4LL * 1024 * 1024 * 1024);
  EXPECT_EQ(parse_bytes("16318480Ki"), 16318480LL * 1024);
  EXPECT_EQ(parse_bytes("1G"), 1000000000LL);
  EXPECT_EQ(parse_bytes("1e3"), 1000);
  EXPECT_EQ(parse_bytes("12Qi"), std::nullopt);
}

TEST(KubernetesMetrics, NodeMetricsListBecomesSharesOfAllocatable) {
  std::map<std::string, BackendNode> cap;
  cap["gw-1"] = BackendNode{"gw-1", "gateway", "arm64", 4000, 4096, {}};
  cap["edge-1"] = BackendNode{"edge-1", "edge", "amd64", 16000, 32768, {}};
  // The shape metrics-server serves (metrics.k8s.io/v1beta1 NodeMetricsList).
  json list = json::parse(R"({"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},
    "items":[
      {"metadata":{"name":"gw-1"},"timestamp":"2026-11-23T12:30:05Z","window":"10.5s",
       "usage":{"cpu":"3900m","memory":"1Gi"}},
      {"metadata":{"name":"edge-1"},"timestamp":"2026-11-23T12:30:05Z","window":"10s",
       "usage":{"cpu":"250281635n","memory":"16384Mi"}},
      {"metadata":{"name":"unknown"},"usage":{"cpu":"1","memory":"1Gi"}},
      {"metadata":{"name":"gw-1"},"usage":{"cpu":"lots","memory":"1Gi"}}
    ]})");
  std::size_t skipped = 0;
  auto u = node_usage_from_metrics(list, cap, &skipped);
  ASSERT_EQ(u.size(), 2u);
  EXPECT_EQ(skipped, 2u);
  EXPECT_EQ(u[0].node, "gw-1");
  EXPECT_NEAR(u[0].cpu, 0.975, 1e-9);
  EXPECT_NEAR(u[0].mem, 0.25, 1e-9);
  EXPECT_EQ(u[0].t_ms, 1795437005000);
  EXPECT_NEAR(u[1].cpu, 250.0 / 16000.0, 1e-3);
  EXPECT_NEAR(u[1].mem, 0.5, 1e-9);
  // Not a list at all: nothing, nothing thrown.
  EXPECT_TRUE(node_usage_from_metrics(json("x"), cap).empty());
}

TEST(KubernetesTimes, ParsesRfc3339) {
  EXPECT_EQ(parse_rfc3339_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-23T12:30:05Z"), 1795437005000LL);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-23T12:30:05.123456Z"), 1795437005123LL);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-23T13:30:05+01:00"), 1795437005000LL);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-23 12:30:05"), std::nullopt);
  EXPECT_EQ(parse_rfc3339_ms("2026-13-23T12:30:05Z"), std::nullopt);
}

TEST(KubernetesObjects, NodeAndPodViews) {
  json node = json::parse(R"({"metadata":{"name":"gw-1","labels":{"cloud4iot.io/tier":"gateway","kubernetes.io/arch":"arm64"}},
    "status":{"allocatable":{"cpu":"4","memory":"4Gi"},"conditions":[{"type":"Ready","status":"True"}]}})");
  auto n = node_from_json(node);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->tier, "gateway");
  EXPECT_EQ(n->arch, "arm64");
  EXPECT_EQ(n->cpu_capacity_m, 4000);
  EXPECT_EQ(n->mem_capacity_mb, 4096);
  EXPECT_TRUE(node_ready(node));
  node["metadata"]["labels"].erase("cloud4iot.io/tier");
  EXPECT_FALSE(node_from_json(node));  // not one of ours

  json pod = json::parse(R"({"metadata":{"name":"c4i-hr-x-7d9f-abcde","annotations":{"cloud4iot.io/function-id":"hr-x",
    "cloud4iot.io/placement":"node=gw-2"}},"spec":{"nodeName":"gw-2"},
    "status":{"phase":"Running","conditions":[{"type":"PodScheduled","status":"True","lastTransitionTime":"2026-11-23T12:30:05Z"},
    {"type":"Ready","status":"True","lastTransitionTime":"2026-11-23T12:30:06Z"}],
    "containerStatuses":[{"restartCount":2,"lastState":{"terminated":{"exitCode":3}},"state":{"running":{}}},{"restartCount":1}]}})");
  auto v = pod_from_json(pod);
  EXPECT_EQ(v.function_id, "hr-x");
  EXPECT_EQ(v.placement, "node=gw-2");
  EXPECT_EQ(v.node, "gw-2");
  EXPECT_TRUE(v.ready);
  EXPECT_FALSE(v.deleting);
  EXPECT_EQ(v.restarts, 3);
  EXPECT_EQ(v.last_exit, "exit 3");
  EXPECT_EQ(v.scheduled_ms, 1795437005000LL);
  EXPECT_EQ(v.ready_ms, 1795437006000LL);
  EXPECT_TRUE(pod_from_json(json::parse(R"({"metadata":{"name":"p","deletionTimestamp":"2026-11-23T12:30:05Z"}})")).deleting);
  EXPECT_EQ(pod_from_json(json::array()).name, "");  // garbage in, empty view out
}

TEST(KubernetesObjects, FieldsOfTheWrongTypeReadAsAbsentNotAsAnException) {
  // The fuzzer's find (kept in the corpus): a condition whose "type" is an
  // object threw out of pod_from_json.
  json pod = json::parse(R"({"metadata":{"name":"p"},"status":{"conditions":[{"type":{"x":1},"status":"True"},
    {"type":"Ready","status":["True"]},{"type":"PodScheduled","status":"True","lastTransitionTime":7}],
    "containerStatuses":[{"restartCount":9223372036854775807},{"restartCount":-5},{"restartCount":4}]}})");
  PodView v;
  ASSERT_NO_THROW(v = pod_from_json(pod));
  EXPECT_FALSE(v.ready);
  EXPECT_EQ(v.scheduled_ms, std::nullopt);
  EXPECT_EQ(v.restarts, INT32_MAX);  // held to int's range, not wrapped
  json node = json::parse(R"({"status":{"conditions":[{"type":"Ready","status":{"v":"True"}}]}})");
  EXPECT_FALSE(node_ready(node));
  EXPECT_EQ(str_at(json::parse(R"({"a":{"b":5}})"), {"a", "b"}), "");
  EXPECT_EQ(int_at(json::parse(R"({"code":"410"})"), {"code"}), std::nullopt);
  EXPECT_EQ(int_at(json::parse(R"({"code":410})"), {"code"}), 410);
}

TEST(KubernetesWatchFraming, SplitsLinesAcrossChunksAndDropsOversizedOnes) {
  LineSplitter s(16);
  std::vector<std::string> lines;
  auto on = [&](std::string_view l) {
    lines.emplace_back(l);
    return true;
  };
  s.feed("{\"a\":1}\n{\"b\"", on);
  s.feed(":2}\n\n", on);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1], "{\"b\":2}");
  s.feed(std::string(20, 'x'), on);  // longer than 16: dropped up to its newline
  s.feed("yyy\nok\n", on);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2], "ok");
  EXPECT_EQ(s.dropped(), 1u);
  // A handler that says stop stops.
  int n = 0;
  EXPECT_FALSE(s.feed("1\n2\n3\n", [&](std::string_view) { return ++n < 2; }));
  EXPECT_EQ(n, 2);
}

TEST(KubernetesConfig, Base64) {
  EXPECT_EQ(*base64_decode("aGVsbG8="), "hello");
  EXPECT_EQ(*base64_decode("aGVs\nbG8"), "hello");
  EXPECT_FALSE(base64_decode("a$=="));
  EXPECT_FALSE(base64_decode("aGVsbG8=x"));
}

TEST(KubernetesConfig, KubeconfigPicksTheContextAndDecodesData) {
  const char* text = R"(apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: aGVsbG8=}
- name: c2
  cluster: {server: "https://[::1]:7443", certificate-authority: ca.crt}
users:
- name: u1
  user: {client-certificate-data: Y2VydA==, client-key-data: a2V5}
- name: u2
  user: {tokenFile: tok}
contexts:
- name: a
  context: {cluster: c1, user: u1}
- name: b
  context: {cluster: c2, user: u2, namespace: fleet}
current-context: a
)";
  auto root = config::load_string(text, "kc.yaml");
  ASSERT_TRUE(root);
  auto a = parse_kubeconfig(*root, "/etc/kube", "");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 6443);
  EXPECT_EQ(a->ca_pem, "hello");
  EXPECT_EQ(a->cert_pem, "cert");
  EXPECT_EQ(a->key_pem, "key");
  auto b = parse_kubeconfig(*root, "/etc/kube", "b");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 7443);
  EXPECT_EQ(b->ca_file, "/etc/kube/ca.crt");
  EXPECT_EQ(b->token_file, "/etc/kube/tok");
  EXPECT_EQ(b->ns, "fleet");
  auto missing = parse_kubeconfig(*root, "/etc/kube", "nope");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos) << missing.error().message;
  auto bad = config::load_string("clusters: []\nusers: []\ncontexts: [{name: a, context: {cluster: x}}]\ncurrent-context: a\n", "k");
  EXPECT_FALSE(parse_kubeconfig(*bad, "/", ""));
}

TEST(KubernetesConfig, ServerUrl) {
  std::string h;
  std::uint16_t p = 0;
  EXPECT_TRUE(parse_server_url("https://kube.example:8443", h, p));
  EXPECT_EQ(h, "kube.example");
  EXPECT_EQ(p, 8443);
  EXPECT_TRUE(parse_server_url("https://kube.example/", h, p));
  EXPECT_EQ(p, 443);
  EXPECT_FALSE(parse_server_url("http://kube.example", h, p));
  EXPECT_FALSE(parse_server_url("https://kube.example:99999", h, p));
  EXPECT_FALSE(parse_server_url("https://kube.example/prefix", h, p));
}

}  // namespace
}  // namespace c4i::orchestrator::k8s
