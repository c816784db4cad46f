// manifests/ on the real test control plane (tests/k8s: kube-apiserver with
// RBAC and Pod Security admission, controller manager, scheduler, KWOK nodes
// gw-1 gw-2 (gateway), edge-1 (edge), cloud-1 cloud-2 (cloud)):
//  - every manifest passes `kubectl apply --dry-run=server -k manifests/`,
//    then applies: the orchestrator's two pods run off the gateways and meet
//    the "restricted" Pod Security level, the discovery DaemonSet runs on the
//    gateways only; the binaries' flags and the ConfigMaps' files are real
//    (the binaries' --help, the binaries' own config parsers);
//  - the CRDs refuse bad objects with the field named, default what the REST
//    API defaults, keep spec and status apart, and show the printer columns;
//  - RBAC: the orchestrator's ServiceAccount may make every call the
//    orchestrator makes (kubectl auth can-i, and the real c4i-orchestrator
//    running a place, a roam and an undeploy on that account's token alone)
//    and is refused the rest (403 from the apiserver).
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>
#include <sstream>

#include "gateway-discovery/daemon_config.hpp"
#include "orchestrator/k8s_client.hpp"
#include "orchestrator/k8s_objects.hpp"
#include "orchestrator/settings.hpp"
#include "tests/orchestrator/kubernetes_plane.hpp"

namespace c4i::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kNs = "cloud4iot";
constexpr const char* kSa = "system:serviceaccount:cloud4iot:c4i-orchestrator";

std::string manifests() { return source_dir() + "/manifests"; }

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::vector<std::string> lines(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

class Manifests : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { plane = new KubePlane(); }
  static void TearDownTestSuite() {
    delete plane;
    plane = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(plane->up()) << plane->error(); }

  static RunResult kubectl(const std::vector<std::string>& args, const std::string& stdin_data = "") {
    std::vector<std::string> argv{plane->kubectl_path(), "--kubeconfig", plane->kubeconfig()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, std::chrono::seconds(120), stdin_data);
  }
  static RunResult apply(const std::string& yaml) { return kubectl({"apply", "-f", "-"}, yaml); }

  // The namespace and the CRDs, applied for real and Established: what the
  // namespaced objects and the FunctionTemplates of a dry run need to exist.
  static void install_crds() {
    auto r = kubectl({"apply", "-f", manifests() + "/namespace.yaml", "-f", manifests() + "/crds/"});
    ASSERT_EQ(r.code, 0) << r.err;
    r = kubectl({"wait", "--for=condition=Established", "--timeout=60s", "crd/functiontemplates.cloud4iot.io",
                 "crd/iotfunctions.cloud4iot.io", "crd/devices.cloud4iot.io", "crd/offloadpolicies.cloud4iot.io",
                 "crd/migrations.cloud4iot.io", "crd/gatewayidentities.cloud4iot.io", "crd/bootstraptokens.cloud4iot.io"});
    ASSERT_EQ(r.code, 0) << r.err;
  }

  static json get(const std::vector<std::string>& args) { return plane->get_json(args); }

  static KubePlane* plane;
};
KubePlane* Manifests::plane = nullptr;

// ---------------------------------------------------------------- all manifests

// Every container path a config file names lies under one of the container's mounts.
bool under_a_mount(const std::string& path, const json& container) {
  for (const auto& m : container["volumeMounts"]) {
    std::string mp = m["mountPath"];
    if (path.rfind(mp + "/", 0) == 0) return true;
  }
  return false;
}

// The --flags of a command line (without "=value").
std::vector<std::string> flags_of(const json& args) {
  std::vector<std::string> out;
  for (const auto& a : args)
    if (std::string f = a.get<std::string>(); f.rfind("--", 0) == 0) out.push_back(f.substr(0, f.find('=')));
  return out;
}

TEST_F(Manifests, AllPassServerDryRunThenApplyAndRunWhereTheyShould) {
  ASSERT_NO_FATAL_FAILURE(install_crds());
  // The whole kustomization through the apiserver's admission and validation, nothing stored.
  auto dry = kubectl({"apply", "--dry-run=server", "-k", manifests(), "-o", "json"});
  ASSERT_EQ(dry.code, 0) << dry.err;
  EXPECT_EQ(dry.err.find("Warning"), std::string::npos) << dry.err;
  json list = json::parse(dry.out, nullptr, false);
  ASSERT_TRUE(list.is_object()) << dry.out.substr(0, 2000);
  std::map<std::string, json> by;  // "Kind/name"
  std::multiset<std::string> kinds;
  for (const auto& o : list["items"]) {
    kinds.insert(o["kind"].get<std::string>());
    by[o["kind"].get<std::string>() + "/" + o["metadata"]["name"].get<std::string>()] = o;
  }
  for (const char* k : {"Namespace", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "Service",
                        "PodDisruptionBudget", "DaemonSet"})
    EXPECT_EQ(kinds.count(k), 1u) << k;
  EXPECT_EQ(kinds.count("CustomResourceDefinition"), 7u);
  EXPECT_EQ(kinds.count("ServiceAccount"), 2u);
  EXPECT_EQ(kinds.count("ConfigMap"), 2u);
  EXPECT_EQ(kinds.count("FunctionTemplate"), 2u);  // one per function of images/: omh, engine
  ASSERT_TRUE(by.count("FunctionTemplate/omh") && by.count("FunctionTemplate/engine"));
  EXPECT_EQ(by["FunctionTemplate/omh"]["spec"]["command"][0], "/usr/bin/c4i-fn-omh");
  EXPECT_EQ(by["FunctionTemplate/engine"]["spec"]["command"][0], "/usr/bin/c4i-fn-engine");

  // The orchestrator: flags its binary has, --backend kubernetes in-cluster
  // (no --kubeconfig), and a configuration its own parser takes, every file
  // of which is mounted.
  const json& dep = by["Deployment/c4i-orchestrator"];
  ASSERT_TRUE(dep.is_object());
  EXPECT_EQ(dep["spec"]["replicas"], 2);
  const json& oc = dep["spec"]["template"]["spec"]["containers"][0];
  auto help = run({binary_dir() + "/orchestrator/c4i-orchestrator", "--help"});
  ASSERT_EQ(help.code, 0) << help.err;
  for (const auto& f : flags_of(oc["args"])) EXPECT_NE(help.out.find(f), std::string::npos) << f << " is not a flag of c4i-orchestrator";
  json args = oc["args"];
  EXPECT_NE(std::find(args.begin(), args.end(), "kubernetes"), args.end());
  EXPECT_EQ(std::find(args.begin(), args.end(), "--kubeconfig"), args.end());
  EXPECT_EQ(oc["command"][0], "/usr/bin/c4i-orchestrator");
  {
    TempDir tmp;
    write_file(tmp.file("orchestrator.yaml"), by["ConfigMap/c4i-orchestrator"]["data"]["orchestrator.yaml"]);
    auto s = orchestrator::load_settings_file(tmp.file("orchestrator.yaml"));
    ASSERT_TRUE(s) << s.error().message;
    for (const auto& p : {s->tokens_file, s->tls_cert, s->tls_key, s->enrol_ca_cert, s->enrol_ca_key, s->state_dir + "/x"})
      EXPECT_TRUE(under_a_mount(p, oc)) << p << " is not under a volume mount";
    EXPECT_EQ(s->listen_address, "0.0.0.0");
    EXPECT_EQ(s->listen_port, oc["ports"][0]["containerPort"].get<int>());
    EXPECT_EQ(s->advertise_url, "https://c4i-orchestrator.cloud4iot.svc:8443");
  }
  // The discovery daemon likewise; its gateway is the node's name.
  const json& ds = by["DaemonSet/c4i-discovery"];
  ASSERT_TRUE(ds.is_object());
  const json& dc = ds["spec"]["template"]["spec"]["containers"][0];
  auto dhelp = run({binary_dir() + "/gateway-discovery/c4i-discovery", "--help"});
  ASSERT_EQ(dhelp.code, 0) << dhelp.err;
  for (const auto& f : flags_of(dc["args"])) EXPECT_NE(dhelp.out.find(f), std::string::npos) << f << " is not a flag of c4i-discovery";
  EXPECT_EQ(dc["command"][0], "/usr/bin/c4i-discovery");
  {
    auto c = discovery::load_config_text(by["ConfigMap/c4i-discovery"]["data"]["discovery.yaml"], "discovery.yaml");
    ASSERT_TRUE(c) << c.error().message;
    c->gateway = "gw-1";  // --gateway $(NODE_NAME)
    auto v = discovery::validate(*c);
    EXPECT_TRUE(v) << v.error().message;
    EXPECT_TRUE(discovery::enrols(*c));
    EXPECT_EQ(c->source, "hci:hci0");
    for (const auto& p : {c->ca_file, c->outbox_path, c->identity_dir + "/x", c->enrol_token_file})
      EXPECT_TRUE(under_a_mount(p, dc)) << p << " is not under a volume mount";
  }
  EXPECT_EQ(dc["securityContext"]["capabilities"]["add"], json({"NET_ADMIN", "NET_RAW"}));
  EXPECT_EQ(dc["securityContext"]["capabilities"]["drop"], json({"ALL"}));

  // For real now.
  auto r = kubectl({"apply", "-k", manifests()});
  ASSERT_EQ(r.code, 0) << r.err;
  r = kubectl({"-n", kNs, "rollout", "status", "deployment/c4i-orchestrator", "--timeout=120s"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  r = kubectl({"-n", kNs, "rollout", "status", "daemonset/c4i-discovery", "--timeout=120s"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  auto nodes_of = [&](const std::string& app) {
    std::multiset<std::string> out;
    json pods = get({"pods", "-n", kNs, "-l", "app.kubernetes.io/name=" + app});
    if (pods.is_object())
      for (const auto& p : pods["items"])
        if (!p["metadata"].contains("deletionTimestamp")) out.insert(p["spec"].value("nodeName", ""));
    return out;
  };
  // The DaemonSet on the gateways, one pod each, and nowhere else.
  EXPECT_EQ(nodes_of("c4i-discovery"), (std::multiset<std::string>{"gw-1", "gw-2"}));
  // Two orchestrators, on two different nodes, neither a gateway.
  auto orch_nodes = nodes_of("c4i-orchestrator");
  ASSERT_EQ(orch_nodes.size(), 2u);
  EXPECT_EQ(std::set<std::string>(orch_nodes.begin(), orch_nodes.end()).size(), 2u);
  for (const auto& n : orch_nodes) EXPECT_EQ(n.rfind("gw-", 0), std::string::npos) << n;
  // Pod Security: were the namespace to enforce "restricted", only the
  // discovery pods (host network, hostPath, capabilities) would violate it.
  r = kubectl({"label", "--dry-run=server", "--overwrite", "namespace", kNs,
               "pod-security.kubernetes.io/enforce=restricted"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("c4i-discovery-"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("c4i-orchestrator-"), std::string::npos) << r.err;
  // And the Service selects the orchestrator's pods.
  json svc = get({"service", "-n", kNs, "c4i-orchestrator"});
  ASSERT_TRUE(svc.is_object());
  EXPECT_EQ(svc["spec"]["selector"]["app.kubernetes.io/name"], "c4i-orchestrator");
}

// ---------------------------------------------------------------- CRD validation

struct BadObject {
  std::string what, yaml;
  std::vector<std::string> expect;  // in kubectl's error, e.g. the field path
};

std::string policy(const std::string& spec, const std::string& name = "default") {
  return "apiVersion: cloud4iot.io/v1alpha1\nkind: OffloadPolicy\nmetadata: {name: " + name +
         ", namespace: cloud4iot}\nspec: " + spec + "\n";
}
std::string function(const std::string& spec) {
  return "apiVersion: cloud4iot.io/v1alpha1\nkind: IoTFunction\nmetadata: {name: f1, namespace: cloud4iot}\nspec: " +
         spec + "\n";
}
std::string fn_template(const std::string& spec) {
  return "apiVersion: cloud4iot.io/v1alpha1\nkind: FunctionTemplate\nmetadata: {name: t1, namespace: cloud4iot}\nspec: " +
         spec + "\n";
}
const std::string kTplSpec = "image: r/fn:1, command: [/usr/bin/fn], archs: [arm64]";  // a valid spec's fields
std::string device(const std::string& name, const std::string& spec) {
  return "apiVersion: cloud4iot.io/v1alpha1\nkind: Device\nmetadata: {name: " + name +
         ", namespace: cloud4iot}\nspec: " + spec + "\n";
}
std::string enrolment(const std::string& kind, const std::string& name, const std::string& spec) {
  return "apiVersion: cloud4iot.io/v1alpha1\nkind: " + kind + "\nmetadata: {name: " + name + ", namespace: cloud4iot}\nspec: " +
         spec + "\n";
}
std::string migration(const std::string& spec) {
  return "apiVersion: cloud4iot.io/v1alpha1\nkind: Migration\nmetadata: {name: m1, namespace: cloud4iot}\nspec: " +
         spec + "\n";
}

TEST_F(Manifests, CrdsRefuseBadObjectsNamingTheField) {
  ASSERT_NO_FATAL_FAILURE(install_crds());
  const std::vector<BadObject> bad = {
      // OffloadPolicy: placement/model.cpp find_policy_error, field by field.
      {"high watermark above 1", policy("{tiers: {gateway: {cpuHigh: 1.5}}}"),
       {"spec.tiers.gateway.cpuHigh", "less than or equal to 1"}},
      {"negative watermark", policy("{tiers: {edge: {memLow: -0.1}}}"), {"spec.tiers.edge.memLow", "greater than or equal to 0"}},
      {"low above high", policy("{tiers: {edge: {memHigh: 0.5, memLow: 0.7}}}"),
       {"spec.tiers.edge.memLow", "must not be above memHigh"}},
      {"high under the default low", policy("{tiers: {cloud: {cpuHigh: 0.4}}}"),
       {"spec.tiers.cloud.cpuLow", "must not be above cpuHigh"}},
      {"cooldown 0", policy("{cooldownSeconds: 0}"), {"spec.cooldownSeconds", "greater than or equal to 1"}},
      {"cooldown over a week", policy("{cooldownSeconds: 604801}"), {"spec.cooldownSeconds", "less than or equal to 604800"}},
      {"negative moves", policy("{maxMovesPerMinute: -1}"), {"spec.maxMovesPerMinute"}},
      {"lost_after 0", policy("{lostAfterSeconds: 0}"), {"spec.lostAfterSeconds"}},
      {"on_lost", policy("{onLost: explode}"), {"spec.onLost", "Unsupported value", "\"explode\""}},
      {"rssi threshold", policy("{rssiThresholdDbm: -200}"), {"spec.rssiThresholdDbm", "greater than or equal to -127"}},
      {"hysteresis type", policy("{hysteresisDb: loud}"), {"spec.hysteresisDb", "number"}},
      {"roam margin", policy("{roamMarginDb: 101}"), {"spec.roamMarginDb"}},
      {"node stale", policy("{nodeStaleAfterSeconds: 0}"), {"spec.nodeStaleAfterSeconds"}},
      {"template tiers going down", policy("{templates: {omh: {tiers: [cloud, gateway]}}}"),
       {"spec.templates[omh].tiers", "must go up"}},
      {"template tiers twice", policy("{templates: {omh: {tiers: [edge, edge]}}}"),
       {"spec.templates[omh].tiers[1]", "Duplicate value"}},
      {"template tier unknown", policy("{templates: {omh: {tiers: [fog]}}}"),
       {"spec.templates.omh.tiers[0]", "Unsupported value"}},
      {"pinned twice", policy("{pinned: [a, a]}"), {"spec.pinned[1]", "Duplicate value"}},
      {"unknown field", policy("{cooldown_s: 5}"), {"unknown field", "spec.cooldown_s"}},
      {"second policy", policy("{}", "mine"), {"metadata.name must be default"}},
      // IoTFunction: POST /v1/functions.
      {"function without template", function("{device: 'c4:7c:8d:6a:3e:01'}"), {"spec.template", "Required value"}},
      {"function without device", function("{template: omh}"), {"spec.device", "Required value"}},
      {"device in capitals", function("{template: omh, device: 'C4:7C:8D:6A:3E:01'}"), {"spec.device", "should match"}},
      {"device with dashes", function("{template: omh, device: c4-7c-8d-6a-3e-01}"), {"spec.device", "should match"}},
      {"template not a name", function("{template: 'Heart Rate', device: 'c4:7c:8d:6a:3e:01'}"),
       {"spec.template", "should match"}},
      {"pinned type", function("{template: omh, device: 'c4:7c:8d:6a:3e:01', pinned: maybe}"), {"spec.pinned", "boolean"}},
      // FunctionTemplate: POST /v1/templates.
      {"template without image", fn_template("{command: [/usr/bin/fn], archs: [arm64]}"), {"spec.image", "Required value"}},
      {"template without command", fn_template("{image: r/fn:1}"), {"spec.command", "Required value"}},
      {"empty command", fn_template("{image: r/fn:1, command: []}"), {"spec.command", "at least 1"}},
      {"no arch", fn_template("{image: r/fn:1, command: [/usr/bin/fn], archs: []}"), {"spec.archs", "at least 1"}},
      {"tiers going down", fn_template("{" + kTplSpec + ", tiers: [cloud, edge]}"), {"spec.tiers", "must go up"}},
      {"tier unknown", fn_template("{" + kTplSpec + ", tiers: [fog]}"), {"spec.tiers[0]", "Unsupported value"}},
      {"negative cpu", fn_template("{" + kTplSpec + ", cpuMillis: -5}"), {"spec.cpuMillis", "greater than or equal to 0"}},
      {"move cost", fn_template("{" + kTplSpec + ", moveCost: 1000001}"), {"spec.moveCost"}},
      // Device.
      {"device name", device("dev1", "{address: 'c4:7c:8d:6a:3e:01'}"), {"metadata.name must be spec.address"}},
      {"device address", device("zz-7c-8d-6a-3e-01", "{address: 'zz:7c:8d:6a:3e:01'}"), {"spec.address", "should match"}},
      {"device address type", device("c4-7c-8d-6a-3e-01", "{address: 'c4:7c:8d:6a:3e:01', addressType: static}"),
       {"spec.addressType", "Unsupported value"}},
      // Migration.
      {"migration kind", migration("{function: f1, kind: teleport}"), {"spec.kind", "Unsupported value"}},
      {"migration without function", migration("{kind: roam}"), {"spec.function", "Required value"}},
      {"migration target tier", migration("{function: f1, kind: manual, to: {tier: fog}}"), {"spec.to.tier", "Unsupported value"}},
      // The enrolment records.
      {"token uses", enrolment("BootstrapToken", "bt-1", "{usesMax: 0, expiresTime: '2030-01-01T00:00:00Z'}"),
       {"spec.usesMax", "greater than or equal to 1"}},
      {"token expiry", enrolment("BootstrapToken", "bt-2", "{usesMax: 1, expiresTime: tomorrow}"), {"spec.expiresTime"}},
      {"identity without gateway", enrolment("GatewayIdentity", "gw-9", "{token: bt-1}"), {"spec.gateway", "Required value"}},
      {"certificate kind", enrolment("GatewayIdentity", "gw-9", "{gateway: gw-9, certificates: [{serial: '01', kind: stolen}]}"),
       {"spec.certificates[0].kind", "Unsupported value"}},
  };
  for (const auto& b : bad) {
    auto r = apply(b.yaml);
    EXPECT_NE(r.code, 0) << b.what << ": accepted\n" << b.yaml;
    for (const auto& e : b.expect) EXPECT_NE(r.err.find(e), std::string::npos) << b.what << ": no \"" << e << "\" in: " << r.err;
  }
  // None of them was stored.
  for (const char* kind : {"offloadpolicies", "iotfunctions", "functiontemplates", "devices", "migrations"}) {
    // kubectl's discovery of a new CRD can fail once on a loaded machine: ask again.
    json l;
    ASSERT_TRUE(wait_until(
        [&] {
          l = get({std::string(kind) + ".cloud4iot.io", "-n", kNs});
          return l.is_object();
        },
        std::chrono::seconds(30)))
        << kind;
    EXPECT_TRUE(l["items"].empty()) << kind << ": " << l["items"].dump();
  }

  // Good objects: the examples, the templates, a device, a migration.
  auto r = kubectl({"apply", "-f", manifests() + "/examples/", "-f", manifests() + "/templates/"});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(apply(device("c4-7c-8d-6a-3e-01", "{address: 'c4:7c:8d:6a:3e:01', addressType: public}")).code, 0);
  ASSERT_EQ(apply(migration("{function: omh-c4-7c-8d-6a-3e-01, kind: place, reason: 'rssi gw-1 -60', to: {node: gw-1}}")).code, 0);

  // Defaults: an empty policy reads back as placement/placement.hpp's.
  ASSERT_EQ(kubectl({"create", "namespace", "defaults"}).code, 0);
  r = apply("apiVersion: cloud4iot.io/v1alpha1\nkind: OffloadPolicy\nmetadata: {name: default, namespace: defaults}\n");
  ASSERT_EQ(r.code, 0) << r.err;
  json p = get({"offloadpolicy", "default", "-n", "defaults"});
  ASSERT_TRUE(p.is_object());
  const json& s = p["spec"];
  EXPECT_EQ(s["tiers"]["gateway"]["cpuHigh"], 0.85);
  EXPECT_EQ(s["tiers"]["edge"]["memLow"], 0.3);
  EXPECT_EQ(s["tiers"]["cloud"]["cpuHigh"], 0.9);
  EXPECT_EQ(s["tiers"]["cloud"]["memLow"], 0.5);
  EXPECT_EQ(s["cooldownSeconds"], 60);
  EXPECT_EQ(s["maxMovesPerMinute"], 30);
  EXPECT_EQ(s["lostAfterSeconds"], 120);
  EXPECT_EQ(s["onLost"], "undeploy");
  EXPECT_EQ(s["rssiThresholdDbm"], -80);
  EXPECT_EQ(s["hysteresisDb"], 5);
  EXPECT_EQ(s["roamMarginDb"], 6);
  EXPECT_EQ(s["nodeStaleAfterSeconds"], 30);
  json fn = get({"iotfunction", "omh-c4-7c-8d-6a-3e-01", "-n", kNs});
  ASSERT_TRUE(fn.is_object());
  EXPECT_EQ(fn["spec"]["pinned"], false);
  json tpl = get({"functiontemplate", "omh", "-n", kNs});
  ASSERT_TRUE(tpl.is_object());
  EXPECT_EQ(tpl["spec"]["nearDevice"], true);

  // A function's template and device, and a migration's decision, do not change.
  r = kubectl({"patch", "iotfunction", "omh-c4-7c-8d-6a-3e-01", "-n", kNs, "--type=merge", "-p",
               R"({"spec":{"device":"c4:7c:8d:6a:3e:02"}})"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("spec.device"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("is immutable"), std::string::npos) << r.err;
  r = kubectl({"patch", "migration", "m1", "-n", kNs, "--type=merge", "-p", R"({"spec":{"to":{"node":"gw-2"}}})"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("spec is immutable"), std::string::npos) << r.err;
  // pinned may change.
  r = kubectl({"patch", "iotfunction", "omh-c4-7c-8d-6a-3e-01", "-n", kNs, "--type=merge", "-p", R"({"spec":{"pinned":true}})"});
  EXPECT_EQ(r.code, 0) << r.err;

  // status is its own subresource: validated, and not written through the main resource.
  r = kubectl({"patch", "iotfunction", "omh-c4-7c-8d-6a-3e-01", "-n", kNs, "--subresource=status", "--type=merge", "-p",
               R"({"status":{"phase":"flying"}})"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("status.phase"), std::string::npos) << r.err;
  r = kubectl({"patch", "iotfunction", "omh-c4-7c-8d-6a-3e-01", "-n", kNs, "--subresource=status", "--type=merge", "-p",
               R"({"status":{"phase":"running","node":"gw-1","tier":"gateway","lastMigration":"m1"}})"});
  ASSERT_EQ(r.code, 0) << r.err;
  r = kubectl({"patch", "iotfunction", "omh-c4-7c-8d-6a-3e-01", "-n", kNs, "--type=merge", "-p",
               R"({"status":{"phase":"pending"}})"});
  EXPECT_EQ(r.code, 0) << r.err;
  fn = get({"iotfunction", "omh-c4-7c-8d-6a-3e-01", "-n", kNs});
  EXPECT_EQ(fn["status"]["phase"], "running") << fn.dump();
  r = kubectl({"patch", "device", "c4-7c-8d-6a-3e-01", "-n", kNs, "--subresource=status", "--type=merge", "-p",
               R"({"status":{"state":"present","gateway":"gw-1","rssi":-61,"lastSeenTime":"2026-12-01T10:00:00.123Z",)"
               R"("sightings":[{"gateway":"gw-1","rssi":-61,"present":true},{"gateway":"gw-2","rssi":-80,"present":false}]}})"});
  EXPECT_EQ(r.code, 0) << r.err;
  r = kubectl({"patch", "device", "c4-7c-8d-6a-3e-01", "-n", kNs, "--subresource=status", "--type=merge", "-p",
               R"({"status":{"sightings":[{"gateway":"gw-1","rssi":-300,"present":true}]}})"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("status.sightings[0].rssi"), std::string::npos) << r.err;

  // Printer columns: kubectl get iotfunctions shows device, node, phase, age.
  r = kubectl({"get", "iotfunctions", "-n", kNs});
  ASSERT_EQ(r.code, 0) << r.err;
  auto rows = lines(r.out);
  ASSERT_EQ(rows.size(), 2u) << r.out;
  EXPECT_EQ(words(rows[0]), (std::vector<std::string>{"NAME", "DEVICE", "NODE", "PHASE", "AGE"})) << r.out;
  auto row = words(rows[1]);
  ASSERT_EQ(row.size(), 5u) << r.out;
  EXPECT_EQ(row[0], "omh-c4-7c-8d-6a-3e-01");
  EXPECT_EQ(row[1], "c4:7c:8d:6a:3e:01");
  EXPECT_EQ(row[2], "gw-1");
  EXPECT_EQ(row[3], "running");
  EXPECT_TRUE(std::regex_match(row[4], std::regex("[0-9]+[smhd].*"))) << row[4];
  r = kubectl({"get", "iotfunctions", "-n", kNs, "-o", "wide"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(words(lines(r.out)[0]),
            (std::vector<std::string>{"NAME", "DEVICE", "NODE", "PHASE", "AGE", "TEMPLATE", "PINNED", "TIER", "LAST-MIGRATION"}))
      << r.out;
  auto wide = words(lines(r.out)[1]);
  ASSERT_EQ(wide.size(), 9u) << r.out;
  wide.erase(wide.begin() + 4);  // the age
  EXPECT_EQ(wide, (std::vector<std::string>{"omh-c4-7c-8d-6a-3e-01", "c4:7c:8d:6a:3e:01", "gw-1", "running", "omh", "true",
                                            "gateway", "m1"}))
      << r.out;
  r = kubectl({"get", "devices.cloud4iot.io", "-n", kNs});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(words(lines(r.out)[0]), (std::vector<std::string>{"NAME", "ADDRESS", "STATE", "GATEWAY", "RSSI", "LAST-SEEN", "AGE"}))
      << r.out;
  EXPECT_NE(r.out.find("present"), std::string::npos) << r.out;
  r = kubectl({"get", "migrations", "-n", kNs});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(words(lines(r.out)[0]), (std::vector<std::string>{"NAME", "FUNCTION", "KIND", "FROM", "TO", "STATE", "AGE"})) << r.out;
  r = kubectl({"get", "offloadpolicies", "-n", kNs});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(words(lines(r.out)[0]),
            (std::vector<std::string>{"NAME", "COOLDOWN", "MAX-MOVES", "LOST-AFTER", "RSSI-THRESHOLD", "VERSION", "AGE"}))
      << r.out;
  // The category lists every kind.
  r = kubectl({"get", "cloud4iot", "-n", kNs, "-o", "name"});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* n : {"functiontemplate.cloud4iot.io/omh", "functiontemplate.cloud4iot.io/engine",
                        "iotfunction.cloud4iot.io/omh-c4-7c-8d-6a-3e-01", "device.cloud4iot.io/c4-7c-8d-6a-3e-01",
                        "offloadpolicy.cloud4iot.io/default", "migration.cloud4iot.io/m1"})
    EXPECT_NE(r.out.find(n), std::string::npos) << n << " missing in: " << r.out;
}

// ---------------------------------------------------------------- RBAC

// The orchestrator's calls (orchestrator/kubernetes_backend.cpp, k8s_client.cpp,
// leader_election.cpp, cluster_state.cpp).
struct Access {
  std::string verb, resource, ns, subresource;
};
std::vector<Access> orchestrator_calls() {
  std::vector<Access> a = {
      {"list", "nodes", "", ""},
      {"watch", "nodes", "", ""},
      {"list", "nodes.metrics.k8s.io", "", ""},
      {"get", "namespaces/cloud4iot", "cloud4iot", ""},
      {"list", "deployments.apps", "cloud4iot", ""},
      {"watch", "deployments.apps", "cloud4iot", ""},
      {"create", "deployments.apps", "cloud4iot", ""},  // server-side apply of a new Deployment
      {"patch", "deployments.apps", "cloud4iot", ""},
      {"delete", "deployments.apps", "cloud4iot", ""},
      {"list", "pods", "cloud4iot", ""},
      {"watch", "pods", "cloud4iot", ""},
      {"create", "leases.coordination.k8s.io", "cloud4iot", ""},
      {"get", "leases.coordination.k8s.io/c4i-orchestrator", "cloud4iot", ""},
      {"update", "leases.coordination.k8s.io/c4i-orchestrator", "cloud4iot", ""},
      {"list", "leases.coordination.k8s.io/c4i-orchestrator", "cloud4iot", ""},  // the follower's watch, by name
      {"watch", "leases.coordination.k8s.io/c4i-orchestrator", "cloud4iot", ""},
      {"create", "configmaps", "cloud4iot", ""},  // server-side apply of the streams ConfigMap
      {"get", "configmaps/c4i-orchestrator-streams", "cloud4iot", ""},
      {"patch", "configmaps/c4i-orchestrator-streams", "cloud4iot", ""},
  };
  for (const char* r : {"functiontemplates", "iotfunctions", "devices", "offloadpolicies", "migrations"}) {
    for (const char* v : {"get", "list", "watch", "create", "update", "patch", "delete"})
      a.push_back({v, std::string(r) + ".cloud4iot.io", "cloud4iot", ""});
    for (const char* v : {"update", "patch"}) a.push_back({v, std::string(r) + ".cloud4iot.io", "cloud4iot", "status"});
  }
  // The enrolment records: listed at load, applied, never deleted yet (no status subresource).
  for (const char* r : {"gatewayidentities", "bootstraptokens"})
    for (const char* v : {"list", "create", "patch"}) a.push_back({v, std::string(r) + ".cloud4iot.io", "cloud4iot", ""});
  return a;
}
std::vector<Access> forbidden_calls() {
  return {
      {"delete", "nodes", "", ""},
      {"patch", "nodes", "", ""},
      {"update", "nodes", "", "status"},
      {"create", "secrets", "cloud4iot", ""},
      {"get", "secrets", "cloud4iot", ""},
      {"list", "secrets", "", ""},
      {"create", "pods", "cloud4iot", ""},
      {"delete", "pods", "cloud4iot", ""},
      {"create", "pods", "cloud4iot", "exec"},
      {"update", "deployments.apps", "cloud4iot", ""},  // it applies (PATCH), never PUTs
      {"list", "deployments.apps", "default", ""},
      {"create", "deployments.apps", "kube-system", ""},
      {"get", "namespaces/kube-system", "kube-system", ""},
      {"delete", "namespaces/cloud4iot", "cloud4iot", ""},
      {"update", "leases.coordination.k8s.io/kube-scheduler", "cloud4iot", ""},
      {"delete", "leases.coordination.k8s.io/c4i-orchestrator", "cloud4iot", ""},
      {"list", "leases.coordination.k8s.io", "cloud4iot", ""},  // only its own, by name
      {"watch", "leases.coordination.k8s.io/kube-scheduler", "cloud4iot", ""},
      {"get", "configmaps/c4i-orchestrator", "cloud4iot", ""},  // its own configuration: mounted, never read
      {"list", "configmaps", "cloud4iot", ""},
      {"delete", "configmaps/c4i-orchestrator-streams", "cloud4iot", ""},
      {"list", "iotfunctions.cloud4iot.io", "default", ""},
      {"delete", "customresourcedefinitions.apiextensions.k8s.io", "", ""},
      {"create", "clusterrolebindings.rbac.authorization.k8s.io", "", ""},
      {"create", "serviceaccounts", "cloud4iot", "token"},
      {"impersonate", "users", "", ""},
  };
}

std::string env_value(const std::string& env_file, const std::string& key) {
  std::istringstream in(read_file(env_file));
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
  return {};
}

TEST_F(Manifests, RbacAllowsEveryCallOfTheOrchestratorAndRefusesTheRest) {
  ASSERT_NO_FATAL_FAILURE(install_crds());
  // The identities and roles only (no orchestrator Deployment: the real one runs below, here).
  auto r = kubectl({"apply", "-f", manifests() + "/rbac.yaml"});
  ASSERT_EQ(r.code, 0) << r.err;
  // metrics.k8s.io as metrics-server serves it (a CRD stand-in in the plane: tests/k8s/node-metrics-crd.yaml).
  ASSERT_EQ(kubectl({"apply", "-f", source_dir() + "/tests/k8s/node-metrics-crd.yaml"}).code, 0);
  ASSERT_EQ(kubectl({"wait", "--for=condition=Established", "crd/nodes.metrics.k8s.io", "--timeout=30s"}).code, 0);

  auto can_i = [&](const Access& a) {
    std::vector<std::string> args{"auth", "can-i", "--as=" + std::string(kSa), a.verb, a.resource};
    if (!a.subresource.empty()) args.push_back("--subresource=" + a.subresource);
    if (a.ns.empty()) args.push_back("--all-namespaces");
    else args.insert(args.end(), {"-n", a.ns});
    return kubectl(args);
  };
  for (const auto& a : orchestrator_calls()) {
    auto c = can_i(a);
    EXPECT_EQ(c.code, 0) << a.verb << " " << a.resource << " " << a.subresource << " -n " << a.ns << ": " << c.out << c.err;
    EXPECT_EQ(c.out, "yes\n") << a.verb << " " << a.resource;
  }
  for (const auto& a : forbidden_calls()) {
    auto c = can_i(a);
    EXPECT_EQ(c.code, 1) << a.verb << " " << a.resource << " " << a.subresource << " -n " << a.ns << ": " << c.out << c.err;
    EXPECT_EQ(c.out.substr(0, 2), "no") << a.verb << " " << a.resource << ": " << c.out;
  }

  // The ServiceAccount's own token, as the orchestrator holds it in a pod.
  auto tok = kubectl({"create", "token", "c4i-orchestrator", "-n", kNs, "--duration=1h"});
  ASSERT_EQ(tok.code, 0) << tok.err;
  std::string token = tok.out.substr(0, tok.out.find_last_not_of("\n") + 1);
  TempDir tmp;
  std::string url = env_value(plane->dir() + "/env", "APISERVER_URL");
  ASSERT_FALSE(url.empty());
  write_file(tmp.file("sa.kubeconfig"),
             "apiVersion: v1\nkind: Config\n"
             "clusters:\n- name: plane\n  cluster: {server: '" + url + "', certificate-authority: '" +
                 plane->dir() + "/pki/ca.crt'}\n"
             "users:\n- name: c4i-orchestrator\n  user: {token: '" + token + "'}\n"
             "contexts:\n- name: sa\n  context: {cluster: plane, user: c4i-orchestrator, namespace: cloud4iot}\n"
             "current-context: sa\n");

  // A forbidden verb answered 403 by the apiserver, through the orchestrator's own client.
  auto ep = orchestrator::k8s::endpoint_from_kubeconfig(tmp.file("sa.kubeconfig"));
  ASSERT_TRUE(ep) << ep.error().message;
  orchestrator::k8s::Client client(*ep);
  struct Call {
    std::string method, path, body;
    int status;
  };
  const std::vector<Call> calls = {
      {"GET", "/api/v1/nodes", "", 200},
      {"GET", "/api/v1/namespaces/cloud4iot", "", 200},
      {"GET", "/api/v1/namespaces/cloud4iot/pods", "", 200},
      {"DELETE", "/api/v1/nodes/gw-1", "", 403},
      {"POST", "/api/v1/namespaces/cloud4iot/secrets",
       R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"stolen"},"stringData":{"k":"v"}})", 403},
      {"GET", "/api/v1/namespaces/kube-system/secrets", "", 403},
      {"GET", "/apis/apps/v1/namespaces/default/deployments", "", 403},
      {"DELETE", "/api/v1/namespaces/cloud4iot", "", 403},
  };
  for (const auto& c : calls) {
    auto resp = client.call(c.method, c.path, c.body, c.body.empty() ? "" : "application/json", false);
    ASSERT_TRUE(resp) << c.method << " " << c.path << ": " << resp.error().message;
    EXPECT_EQ(resp->status, c.status) << c.method << " " << c.path << ": " << resp->body.substr(0, 300);
    if (c.status == 403) {
      EXPECT_NE(resp->body.find("Forbidden"), std::string::npos) << resp->body;
    }
  }
  EXPECT_EQ(kubectl({"get", "node", "gw-1"}).code, 0);  // still there

  // The real orchestrator on that token alone: start (namespace, the node,
  // Deployment and Pod watches), node usage from metrics.k8s.io, a place
  // (server-side apply creating the Deployment), a roam (applying over it),
  // an undeploy (DELETE).
  ASSERT_EQ(apply(R"(apiVersion: metrics.k8s.io/v1beta1
kind: NodeMetrics
metadata: {name: edge-1}
timestamp: "2026-01-01T00:00:00Z"
window: 10s
usage: {cpu: 1600m, memory: 1Gi}
)").code, 0);
  // In-cluster, as the Deployment runs it: the token, CA and namespace at
  // /var/run/secrets/kubernetes.io/serviceaccount, no kubeconfig.
  TempDir sa;
  write_file(sa.file("token"), token);
  write_file(sa.file("ca.crt"), read_file(plane->dir() + "/pki/ca.crt"));
  write_file(sa.file("namespace"), kNs);
  KubeOrchestrator orch(*plane, kNs);
  orch.service_account_dir = sa.path();
  // With leader election as the Deployment runs it: the Lease calls on this token too.
  orch.extra_args = {"--usage-interval-ms", "300", "--leader-elect"};
  ASSERT_TRUE(orch.start()) << orch.log();
  EXPECT_NE(orch.log().find("in-cluster"), std::string::npos) << orch.log();
  ASSERT_TRUE(wait_until([&] { return orch.log().find("acting (at") != std::string::npos; }, std::chrono::seconds(30)))
      << orch.log();
  json lease = get({"lease", "-n", kNs, "c4i-orchestrator"});
  ASSERT_TRUE(lease.is_object());
  EXPECT_FALSE(lease["spec"].value("holderIdentity", "").empty()) << lease.dump();
  auto op = orch.client(kOperatorToken);
  EXPECT_TRUE(wait_until(
      [&] {
        auto n = call(*op, "GET", "/v1/nodes/edge-1");
        return n.status == 200 && n.body["usage"]["cpu"].is_number() && n.body["usage"]["cpu"].get<double>() > 0.09;
      },
      std::chrono::seconds(20)))
      << call(*op, "GET", "/v1/nodes/edge-1").raw << orch.log();

  constexpr const char* kDev = "c4:7c:8d:6a:3e:01";
  constexpr const char* kFn = "hr-c4-7c-8d-6a-3e-01";
  orch.create_template("hr", {"arm64", "amd64"});
  ASSERT_EQ(call(*op, "POST", "/v1/functions", {{"template", "hr"}, {"device", kDev}}).status, 201);
  auto gw1 = orch.gateway("gw-1");
  auto gw2 = orch.gateway("gw-2");
  std::int64_t t = unix_ms();
  json hb1 = heartbeat(1, 0.2, 0.2, t), hb2 = heartbeat(1, 0.2, 0.2, t);
  hb1["arch"] = hb2["arch"] = "arm64";
  ASSERT_EQ(call(*gw1, "POST", "/v1/gateways/gw-1/events", batch("gw-1", "boot-1", {hb1, seen(2, kDev, -60, t)})).status, 200);
  auto migration_done = [&](const std::string& kind) {
    json found;
    wait_until(
        [&] {
          auto m = call(*op, "GET", std::string("/v1/migrations?function=") + kFn + "&kind=" + kind);
          for (const auto& x : m.body["items"])
            if (x["state"] == "done" && x["timeline"]["started"].is_number_integer()) {
              found = x;
              return true;
            }
          return false;
        },
        std::chrono::seconds(40));
    return found;
  };
  auto place = migration_done("place");
  ASSERT_FALSE(place.is_null()) << orch.log();
  EXPECT_EQ(place["to"]["node"], "gw-1");
  t = unix_ms();
  ASSERT_EQ(call(*gw2, "POST", "/v1/gateways/gw-2/events", batch("gw-2", "boot-2", {hb2, seen(2, kDev, -45, t)})).status, 200);
  ASSERT_EQ(call(*gw1, "POST", "/v1/gateways/gw-1/events", batch("gw-1", "boot-1", {seen(3, kDev, -75, t + 1, "refresh")})).status,
            200);
  auto roam = migration_done("roam");
  ASSERT_FALSE(roam.is_null()) << orch.log();
  EXPECT_EQ(roam["to"]["node"], "gw-2");
  json d = get({"deployment", "-n", kNs, "c4i-hr-c4-7c-8d-6a-3e-01", "--show-managed-fields"});
  ASSERT_TRUE(d.is_object());
  // Server-side applied (by the orchestrator's field manager, with the ServiceAccount's token).
  bool applied = false;
  for (const auto& m : d["metadata"]["managedFields"])
    applied = applied || (m["manager"] == orchestrator::k8s::kFieldManager && m["operation"] == "Apply");
  EXPECT_TRUE(applied) << d["metadata"]["managedFields"].dump();

  ASSERT_EQ(call(*op, "DELETE", std::string("/v1/functions/") + kFn).status / 100, 2);
  EXPECT_TRUE(wait_until([&] { return kubectl({"get", "deployment", "-n", kNs, "c4i-hr-c4-7c-8d-6a-3e-01"}).code != 0; },
                         std::chrono::seconds(40)))
      << orch.log();
  std::string log = orch.log();
  EXPECT_EQ(log.find("forbidden"), std::string::npos) << log;
  // "HTTP 403" as the client reports it; a bare "403" also matches log timestamps (12:00:01.403).
  EXPECT_EQ(log.find("HTTP 403"), std::string::npos) << log;
  EXPECT_EQ(log.find(": 403 "), std::string::npos) << log;
  EXPECT_TRUE(orch.stop().has_value());
}

}  // namespace
}  // namespace c4i::testing
