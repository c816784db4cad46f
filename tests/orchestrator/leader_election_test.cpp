// The pure parts of high availability on the kubernetes backend: the Lease
// decisions (who may take a Lease, when a holder must stop acting) given
// times, the Lease object both ways, and the cluster record of the state
// (rows -> objects -> rows, and objects made by hand with kubectl). The
// election itself, on a real apiserver, is kubernetes_ha_test.cpp.
#include "orchestrator/leader_election.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <set>
#include <thread>

#include "orchestrator/cluster_state.hpp"
#include "orchestrator/state.hpp"
#include "tests/support/testlib.hpp"

namespace c4i::orchestrator {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

LeaseRecord held_by(const std::string& who, std::int64_t duration_s = 15) {
  LeaseRecord r;
  r.holder = who;
  r.lease_duration_s = duration_s;
  r.resource_version = "7";
  return r;
}

TEST(LeaseDecision, NoLeaseIsCreated) {
  auto t = SteadyTime{} + 100s;
  EXPECT_EQ(decide_lease(std::nullopt, "a", t, t), LeaseAction::create);
}

TEST(LeaseDecision, TheHolderRenewsItsOwnLeaseEvenAfterARestart) {
  auto t = SteadyTime{} + 100s;
  EXPECT_EQ(decide_lease(held_by("a"), "a", t, t), LeaseAction::renew);
  EXPECT_EQ(decide_lease(held_by("a"), "a", t, t + 1h), LeaseAction::renew);
}

TEST(LeaseDecision, AReleasedLeaseIsTakenAtOnce) {
  auto t = SteadyTime{} + 100s;
  EXPECT_EQ(decide_lease(held_by(""), "b", t, t), LeaseAction::acquire);
}

TEST(LeaseDecision, AnotherHoldersLeaseIsTakenOnlyAfterItsDurationOnOurClock) {
  auto seen = SteadyTime{} + 100s;
  EXPECT_EQ(decide_lease(held_by("a", 15), "b", seen, seen), LeaseAction::wait);
  EXPECT_EQ(decide_lease(held_by("a", 15), "b", seen, seen + 14999ms), LeaseAction::wait);
  EXPECT_EQ(decide_lease(held_by("a", 15), "b", seen, seen + 15s), LeaseAction::acquire);
  // The holder's own duration counts, not ours.
  EXPECT_EQ(decide_lease(held_by("a", 4), "b", seen, seen + 4s), LeaseAction::acquire);
  EXPECT_EQ(decide_lease(held_by("a", 60), "b", seen, seen + 30s), LeaseAction::wait);
}

TEST(LeaseDecision, AHolderActsOnlyWithinItsRenewDeadline) {
  auto renewed = SteadyTime{} + 100s;
  EXPECT_FALSE(may_act(std::nullopt, renewed, 10s));
  EXPECT_TRUE(may_act(renewed, renewed, 10s));
  EXPECT_TRUE(may_act(renewed, renewed + 9999ms, 10s));
  EXPECT_FALSE(may_act(renewed, renewed + 10s, 10s));
}

TEST(LeaseDecision, TimingMustLeaveTheHolderTimeToStopBeforeExpiry) {
  EXPECT_TRUE(validate(ElectionTiming{15s, 10s, 2s}));
  EXPECT_TRUE(validate(ElectionTiming{4s, 3s, 500ms}));
  auto e = validate(ElectionTiming{10s, 10s, 2s});
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("--lease-duration-s"), std::string::npos) << e.error().message;
  e = validate(ElectionTiming{15s, 2s, 2s});
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("--renew-deadline-ms"), std::string::npos) << e.error().message;
  EXPECT_FALSE(validate(ElectionTiming{1500ms, 1s, 500ms}));  // Lease durations are whole seconds
  EXPECT_FALSE(validate(ElectionTiming{15s, 10s, 0ms}));
}

TEST(LeaseObject, RoundTripsThroughJson) {
  LeaseRecord r = held_by("orch-1_42", 4);
  r.acquire_ms = 1'790'000'000'123;
  r.renew_ms = 1'790'000'004'456;
  r.transitions = 3;
  r.leader_url = "https://10.0.0.7:8443";
  json j = lease_to_json(r, "c4i-orchestrator", "cloud4iot");
  EXPECT_EQ(j["spec"]["renewTime"], "2026-09-21T14:13:24.456000Z");  // MicroTime
  auto back = lease_from_json(j);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->holder, r.holder);
  EXPECT_EQ(back->lease_duration_s, 4);
  EXPECT_EQ(back->acquire_ms, r.acquire_ms);
  EXPECT_EQ(back->renew_ms, r.renew_ms);
  EXPECT_EQ(back->transitions, 3);
  EXPECT_EQ(back->leader_url, r.leader_url);
  EXPECT_EQ(back->resource_version, "7");
}

TEST(LeaseObject, BadObjectsNameWhatIsWrong) {
  auto e = lease_from_json(json{{"kind", "ConfigMap"}});
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("Lease"), std::string::npos);
  e = lease_from_json(json{{"kind", "Lease"}, {"spec", {{"holderIdentity", 5}}}});
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("holderIdentity"), std::string::npos);
  e = lease_from_json(json{{"kind", {{"not", "a string"}}}});
  ASSERT_FALSE(e);  // refused, not thrown
  auto empty = lease_from_json(json{{"kind", "Lease"}, {"metadata", {{"resourceVersion", "1"}}}});
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->holder, "");
}

// ---------------------------------------------------------------- the cluster record

cluster::Rows function_rows() {
  return {{"functions",
           {{{"id", "HR_patient.a"}, {"template", "hr"}, {"device", "c4:7c:8d:6a:3e:01"}, {"pinned", 0},
             {"created_ms", 1'790'000'000'001}, {"created_by", "alice"}, {"state", "running"}, {"node", "gw-2"},
             {"restarts", 1}, {"last_exit", "exit 3"}, {"started_ms", 1'790'000'000'500}, {"first_data_ms", nullptr},
             {"updated_ms", 1'790'000'000'600}}}},
          {"placements",
           {{{"function", "HR_patient.a"}, {"node", "gw-2"}, {"tier", ""}, {"kind", "roam"}, {"reason", "rssi"},
             {"decided_ms", 1'790'000'000'400}, {"migration", 12}}}}};
}

// The object as the apiserver lists it: what was applied, and the status written through its subresource.
json listed(const cluster::ObjectPair& o) {
  json whole = o.object;
  if (!o.status.is_null()) whole["status"] = o.status;
  return whole;
}

TEST(ClusterRecord, AFunctionBecomesAnIoTFunctionAndComesBackExactly) {
  auto o = cluster::to_object("functions", "cloud4iot", function_rows());
  ASSERT_TRUE(o) << o.error().message;
  const json& obj = o->object;
  EXPECT_EQ(obj["kind"], "IoTFunction");
  EXPECT_EQ(obj["metadata"]["name"], cluster::object_name("functions", "HR_patient.a"));
  for (char c : obj["metadata"]["name"].get<std::string>()) EXPECT_FALSE(c >= 'A' && c <= 'Z');
  EXPECT_EQ(obj["spec"], (json{{"template", "hr"}, {"device", "c4:7c:8d:6a:3e:01"}, {"pinned", false}}));
  EXPECT_EQ(o->status["phase"], "running");
  EXPECT_EQ(o->status["desired"]["kind"], "roam");
  EXPECT_EQ(o->status["lastMigration"], "m-12");
  EXPECT_EQ(o->status["startedTime"], "2026-09-21T14:13:20.500000Z");
  // Its record rides in the status: progress is one status write.
  EXPECT_FALSE(obj["metadata"]["annotations"].contains(kAnnotationRecord));
  EXPECT_TRUE(o->status[kStatusRecord].is_string());
  auto back = cluster::rows_of("functions", listed(*o));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, function_rows());
  // Written before the record moved to the status: read from the annotation.
  json older = obj;
  older["metadata"]["annotations"][kAnnotationRecord] = o->status[kStatusRecord];
  auto back_older = cluster::rows_of("functions", older);
  ASSERT_TRUE(back_older) << back_older.error().message;
  EXPECT_EQ(*back_older, function_rows());
}

TEST(ClusterRecord, StatusOmitsValuesTheCrdWouldRefuse) {
  cluster::Rows rows = {{"devices",
                         {{{"id", "c4:7c:8d:6a:3e:01"}, {"addr_type", "weird"}, {"state", "present"}, {"gateway", "gw-1"},
                           {"rssi", 99}, {"services", "not json"}, {"first_seen_ms", 1}, {"last_seen_ms", 2}}}},
                        {"sightings",
                         {{{"device", "c4:7c:8d:6a:3e:01"}, {"gateway", "gw-1"}, {"rssi", -200}, {"present", 1},
                           {"enter_t", 5}, {"enter_notified_ms", 6}, {"last_t", 7}}}}};
  auto o = cluster::to_object("devices", "ns", rows);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->object["metadata"]["name"], "c4-7c-8d-6a-3e-01");
  EXPECT_FALSE(o->object["spec"].contains("addressType"));
  EXPECT_FALSE(o->status.contains("rssi"));
  EXPECT_EQ(o->status["sightings"][0]["rssi"], -127);
  EXPECT_EQ(o->status["services"], json::array());
  // The record keeps the rows as they are.
  auto back = cluster::rows_of("devices", listed(*o));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, rows);
}

TEST(ClusterRecord, AMigrationKeepsItsTimelineInRfc3339) {
  cluster::Rows rows = {{"migrations",
                         {{{"id", 7}, {"function", "hr-1"}, {"kind", "roam"}, {"reason", "r"}, {"from_node", "gw-1"},
                           {"to_node", "gw-2"}, {"to_tier", ""}, {"state", "done"}, {"attempts", 0},
                           {"next_retry_ms", nullptr}, {"failed_step", ""}, {"error", ""}, {"requested_by", "placement"},
                           {"detected", 1'790'000'000'000}, {"notified", 1'790'000'000'010}, {"decided", 1'790'000'000'020},
                           {"applied", nullptr}, {"scheduled", nullptr}, {"started", nullptr}, {"first_data", 1'790'000'000'090},
                           {"updated_ms", 1'790'000'000'090}, {"steps", "{\"stopped\": 1790000000030}"}}}}};
  auto o = cluster::to_object("migrations", "ns", rows);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->object["metadata"]["name"], "m-7");
  EXPECT_EQ(o->object["spec"]["to"], (json{{"node", "gw-2"}}));
  EXPECT_EQ(o->status["timeline"]["decided"], "2026-09-21T14:13:20.020000Z");
  EXPECT_EQ(o->status["timeline"]["firstData"], "2026-09-21T14:13:20.090000Z");
  EXPECT_FALSE(o->status["timeline"].contains("applied"));
  EXPECT_EQ(o->status["steps"]["stopped"], "2026-09-21T14:13:20.030000Z");
  EXPECT_FALSE(o->status.contains("failure"));
}

TEST(ClusterRecord, ATierMigrationsSpecStaysTheSameWhenTheSchedulerPicksTheNode) {
  cluster::Rows rows = {{"migrations",
                         {{{"id", 8}, {"function", "hr-1"}, {"kind", "offload_up"}, {"reason", "hot"}, {"from_node", "gw-1"},
                           {"to_node", ""}, {"to_tier", "edge"}, {"state", "applying"}, {"requested_by", "placement"}}}}};
  auto before = cluster::to_object("migrations", "ns", rows);
  rows["migrations"][0]["to_node"] = "edge-1";  // bound later
  auto after = cluster::to_object("migrations", "ns", rows);
  ASSERT_TRUE(before && after);
  EXPECT_EQ(before->object["spec"], after->object["spec"]);  // the CRD refuses a changed spec
  EXPECT_EQ(after->object["spec"]["to"], (json{{"tier", "edge"}}));
  EXPECT_EQ(cluster::rows_of("migrations", listed(*after))->at("migrations")[0]["to_node"], "edge-1");
}

TEST(ClusterRecord, AnEnrolledGatewayBecomesAGatewayIdentityAndComesBackExactly) {
  cluster::Rows rows = {
      {"gateway_identities",
       {{{"name", "pi-7.ward-3"}, {"token", "bt-0123456789"}, {"labels", "{\"room\":\"icu\"}"}, {"enrolled_ms", 1'790'000'000'000},
         {"revoked_ms", 1'790'000'100'000}, {"revoked_by", "admin"}}}},
      {"gateway_certs",
       {{{"serial", "0a1b"}, {"gateway", "pi-7.ward-3"}, {"sha256", "ab"}, {"kind", "enrol"}, {"not_before_ms", 1'790'000'000'000},
         {"not_after_ms", 1'790'086'400'000}, {"revoked_ms", 1'790'000'100'000}},
        {{"serial", "0c2d"}, {"gateway", "pi-7.ward-3"}, {"sha256", "cd"}, {"kind", "odd"}, {"not_before_ms", 1'790'050'000'000},
         {"not_after_ms", 1'790'136'400'000}, {"revoked_ms", nullptr}}}}};
  auto o = cluster::to_object("gateways", "ns", rows);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->object["kind"], "GatewayIdentity");
  EXPECT_EQ(o->object["metadata"]["name"], "pi-7.ward-3");  // a DNS-1123 subdomain already
  EXPECT_TRUE(o->status.is_null());                         // all in the spec: no status subresource
  const json& spec = o->object["spec"];
  EXPECT_EQ(spec["gateway"], "pi-7.ward-3");
  EXPECT_EQ(spec["labels"], (json{{"room", "icu"}}));
  EXPECT_EQ(spec["revokedTime"], "2026-09-21T14:15:00.000000Z");
  ASSERT_EQ(spec["certificates"].size(), 2u);
  EXPECT_EQ(spec["certificates"][0]["kind"], "enrol");
  EXPECT_FALSE(spec["certificates"][1].contains("kind"));  // the CRD would refuse "odd"
  EXPECT_FALSE(spec["certificates"][1].contains("revokedTime"));
  auto back = cluster::rows_of("gateways", o->object);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, rows);
  // A name that is no DNS subdomain still makes a valid object name.
  EXPECT_EQ(cluster::object_name("gateways", "a.-b"), "a-b");
  EXPECT_EQ(cluster::id_column("gateways"), std::string("name"));
}

TEST(ClusterRecord, ABootstrapTokenKeepsItsHashOnlyInTheRecord) {
  cluster::Rows rows = {{"bootstrap_tokens",
                         {{{"id", "bt-0123456789"}, {"sha256", "f00d"}, {"gateway", ""}, {"labels", "{}"}, {"uses_max", 3},
                           {"uses", 5}, {"created_ms", 1'790'000'000'000}, {"created_by", "admin"},
                           {"expires_ms", 1'790'003'600'000}}}}};
  auto o = cluster::to_object("tokens", "ns", rows);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->object["kind"], "BootstrapToken");
  EXPECT_EQ(o->object["metadata"]["name"], "bt-0123456789");
  const json& spec = o->object["spec"];
  EXPECT_EQ(spec["usesMax"], 3);
  EXPECT_EQ(spec["uses"], 3);  // held to what the CRD takes; the record keeps 5
  EXPECT_EQ(spec["expiresTime"], "2026-09-21T15:13:20.000000Z");
  EXPECT_EQ(spec.dump().find("f00d"), std::string::npos);
  // An empty map is left out: server-side apply would turn an emptied one into null, which the CRD refuses.
  EXPECT_FALSE(spec.contains("labels")) << spec.dump();
  auto back = cluster::rows_of("tokens", o->object);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, rows);
  // Without a record (made with kubectl) it is not a token of ours.
  json by_hand = o->object;
  by_hand["metadata"].erase("annotations");
  auto none = cluster::rows_of("tokens", by_hand);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(ClusterRecord, EmptyMapsAreLeftOutSoServerSideApplyNeverWritesNull) {
  // A policy whose per-template overrides were all removed: {} would become null in the cluster.
  cluster::Rows rows = {{"policy",
                         {{{"id", 1}, {"version", 3}, {"spec", R"({"cooldown_s": 5, "templates": {}, "tiers": {"edge": {}}})"},
                           {"changed_ms", 1'790'000'000'000}, {"changed_by", "alice"}}}}};
  auto o = cluster::to_object("policy", "ns", rows);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->object["spec"], (json{{"cooldownSeconds", 5}})) << o->object.dump();
  auto back = cluster::rows_of("policy", listed(*o));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, rows);  // the record keeps it exactly
}

TEST(ClusterRecord, SpecsUseTheCrdsNamesAndKeepUserKeys) {
  json tpl = {{"image", "img"}, {"command", {"/f"}}, {"cpu_m", 100}, {"mem_mb", 64}, {"near_device", false},
              {"node_selector", {{"disk_type", "ssd"}}}, {"env", {{"LOG_LEVEL", "x"}}}, {"description", "d"}};
  json crd = cluster::template_spec_to_crd(tpl);
  EXPECT_EQ(crd["cpuMillis"], 100);
  EXPECT_EQ(crd["memoryMiB"], 64);
  EXPECT_EQ(crd["nearDevice"], false);
  EXPECT_EQ(crd["nodeSelector"], (json{{"disk_type", "ssd"}}));
  EXPECT_EQ(crd["env"], (json{{"LOG_LEVEL", "x"}}));
  EXPECT_FALSE(crd.contains("description"));
  json back = cluster::template_spec_from_crd(crd);
  tpl.erase("description");
  EXPECT_EQ(back, tpl);

  json pol = {{"tiers", {{"gateway", {{"cpu_high", 0.8}, {"cpu_low", 0.3}}}}},
              {"cooldown_s", 5}, {"lost_after_s", 9}, {"node_stale_after_s", 30}, {"rssi_threshold_dbm", -80},
              {"templates", {{"my_tpl", {{"tiers", {"gateway"}}}}}}};
  json pcrd = cluster::policy_spec_to_crd(pol);
  EXPECT_EQ(pcrd["tiers"]["gateway"]["cpuHigh"], 0.8);
  EXPECT_EQ(pcrd["cooldownSeconds"], 5);
  EXPECT_EQ(pcrd["lostAfterSeconds"], 9);
  EXPECT_EQ(pcrd["nodeStaleAfterSeconds"], 30);
  EXPECT_EQ(pcrd["rssiThresholdDbm"], -80);
  EXPECT_TRUE(pcrd["templates"].contains("my_tpl"));
  EXPECT_EQ(cluster::policy_spec_from_crd(pcrd), pol);
}

TEST(ClusterRecord, ObjectsMadeWithKubectlAreReadFromTheirSpec) {
  json fn = {{"apiVersion", "cloud4iot.io/v1alpha1"},
             {"kind", "IoTFunction"},
             {"metadata", {{"name", "hr-a"}, {"creationTimestamp", "2026-12-01T10:00:00Z"}}},
             {"spec", {{"template", "hr"}, {"device", "c4:7c:8d:6a:3e:01"}, {"pinned", true}}}};
  auto rows = cluster::rows_of("functions", fn);
  ASSERT_TRUE(rows) << rows.error().message;
  const json& f = rows->at("functions").at(0);
  EXPECT_EQ(f["id"], "hr-a");
  EXPECT_EQ(f["pinned"], 1);
  EXPECT_EQ(f["created_ms"], 1'796'119'200'000);
  EXPECT_FALSE(rows->count("placements"));

  json bad = fn;
  bad["spec"].erase("device");
  auto e = cluster::rows_of("functions", bad);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("spec.device"), std::string::npos);

  json forged = fn;
  forged["metadata"]["annotations"][kAnnotationRecord] = R"({"bootstrap_tokens": []})";
  e = cluster::rows_of("functions", forged);
  ASSERT_FALSE(e);  // a record may name only its kind's tables
  EXPECT_NE(e.error().message.find("bootstrap_tokens"), std::string::npos);

  // Fields of the wrong type read as absent, never thrown on.
  json odd = fn;
  odd["spec"]["pinned"] = "yes";
  rows = cluster::rows_of("functions", odd);
  ASSERT_TRUE(rows) << rows.error().message;
  EXPECT_EQ(rows->at("functions").at(0)["pinned"], 0);
  json policy = {{"kind", "OffloadPolicy"}, {"metadata", {{"name", 5}}}, {"spec", json::object()}, {"status", {{"version", "7"}}}};
  rows = cluster::rows_of("policy", policy);
  ASSERT_TRUE(rows) << rows.error().message;
  EXPECT_EQ(rows->at("policy").at(0)["version"], 1);
}

// ---------------------------------------------------------------- the store's replicate hook

TEST(StoreReplication, AWriteIsAnsweredOnlyAfterTheHookAndItsFailureIsTheWritersError) {
  c4i::testing::TempDir dir;
  auto store = Store::open(dir.file("state.db"));
  ASSERT_TRUE(store) << store.error().message;
  State state(**store);
  std::vector<std::vector<Change>> calls;
  std::vector<std::string> order;
  bool fail = true;
  (*store)->set_replicate([&](const std::vector<Change>& changes) -> Status {
    calls.push_back(changes);
    order.push_back("replicate");
    if (fail) return Error{"unavailable", "the cluster did not take it"};
    return ok_status();
  });
  auto listener = (*store)->add_commit_listener([&](const std::vector<Change>&) { order.push_back("listener"); });
  json tpl = {{"name", "hr"}, {"command", {"/bin/true"}}};
  auto r = state.create_template(tpl, "alice");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "unavailable");  // the API answers 503
  // The control loop hears of a commit before the hook writes it elsewhere
  // (it may decide meanwhile; its decision is replicated after this).
  EXPECT_EQ(order, (std::vector<std::string>{"listener", "replicate"}));
  (*store)->remove_commit_listener(listener);
  ASSERT_EQ(calls.size(), 1u);
  ASSERT_EQ(calls[0].size(), 1u);
  EXPECT_EQ(calls[0][0].kind, "templates");
  EXPECT_EQ(calls[0][0].id, "hr");
  EXPECT_TRUE(state.get("templates", "hr"));  // the working copy has it; the hook keeps it to retry

  fail = false;
  tpl["name"] = "hr2";
  EXPECT_TRUE(state.create_template(tpl, "alice"));
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1][0].id, "hr2");
  // A write that changes nothing still passes through the hook (what is pending is written first).
  EXPECT_FALSE(state.create_template(tpl, "alice"));  // 409: exists
  auto ok = (*store)->write([](Conn&) { return ok_status(); });
  EXPECT_TRUE(ok);
  EXPECT_EQ(calls.size(), 4u);
  EXPECT_TRUE(calls.back().empty());
}

TEST(StoreReplication, CommitsGoOnWhileTheHookWritesAndTheNextCallCarriesThemAll) {
  c4i::testing::TempDir dir;
  auto store = Store::open(dir.file("state.db"));
  ASSERT_TRUE(store) << store.error().message;
  State state(**store);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::vector<std::vector<Change>> calls;
  (*store)->set_replicate([&](const std::vector<Change>& changes) -> Status {
    std::unique_lock lock(mu);
    calls.push_back(changes);
    if (calls.size() == 1) cv.wait(lock, [&] { return release; });  // the first write to the cluster hangs
    return ok_status();
  });
  std::atomic<int> heard{0};
  auto listener = (*store)->add_commit_listener([&](const std::vector<Change>&) { heard++; });
  auto tpl = [](const std::string& name) { return json{{"name", name}, {"command", {"/bin/true"}}}; };
  std::atomic<int> answered{0};
  std::thread first([&] {
    EXPECT_TRUE(state.create_template(tpl("a"), "alice"));
    answered++;
  });
  ASSERT_TRUE(c4i::testing::wait_until([&] { return heard.load() == 1; }, std::chrono::seconds(5)));
  // While the hook hangs on "a", two more writes commit here and are heard of, but not answered.
  std::thread second([&] {
    EXPECT_TRUE(state.create_template(tpl("b"), "alice"));
    answered++;
  });
  std::thread third([&] {
    EXPECT_TRUE(state.create_template(tpl("c"), "alice"));
    answered++;
  });
  ASSERT_TRUE(c4i::testing::wait_until([&] { return heard.load() == 3 || heard.load() == 2; }, std::chrono::seconds(5)));
  ASSERT_TRUE(c4i::testing::wait_until([&] { return state.get("templates", "b") && state.get("templates", "c"); },
                                       std::chrono::seconds(5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(answered.load(), 0);
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(calls.size(), 1u);
    release = true;
  }
  cv.notify_all();
  first.join();
  second.join();
  third.join();
  EXPECT_EQ(answered.load(), 3);
  (*store)->remove_commit_listener(listener);
  // "b" and "c" came to one call after "a"'s, in commit order.
  std::lock_guard lock(mu);
  ASSERT_EQ(calls.size(), 2u);
  ASSERT_EQ(calls[0].size(), 1u);
  EXPECT_EQ(calls[0][0].id, "a");
  std::set<std::string> later;
  for (const auto& c : calls[1]) later.insert(c.id);
  EXPECT_EQ(later, (std::set<std::string>{"b", "c"}));
}

}  // namespace
}  // namespace c4i::orchestrator
