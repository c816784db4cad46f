// The OpenAPI document checked against the real server: every documented
// operation is called, answers its documented success status, and its body
// has the schema's required fields and types; documented 401 and 404
// answers carry the Error schema. The document served is the file in the tree.
#include <gtest/gtest.h>

#include "common/x509.hpp"
#include "tests/orchestrator/harness.hpp"

namespace c4i::testing {
namespace {

using nlohmann::json;

class Validator {
 public:
  explicit Validator(const json& doc) : doc_(doc) {}
  const json& resolve(const json& s) const {
    if (s.contains("$ref")) {
      std::string ref = s["$ref"];
      const std::string prefix = "#/components/schemas/";
      return resolve(doc_["components"]["schemas"][ref.substr(prefix.size())]);
    }
    return s;
  }
  void check(const json& schema_in, const json& v, const std::string& where, std::vector<std::string>& errs) const {
    const json& s = resolve(schema_in);
    if (s.contains("allOf"))
      for (const auto& part : s["allOf"]) check(part, v, where, errs);
    if (s.contains("type")) {
      std::vector<std::string> types;
      if (s["type"].is_array()) for (const auto& t : s["type"]) types.push_back(t);
      else types.push_back(s["type"]);
      bool ok = false;
      for (const auto& t : types) {
        ok = ok || (t == "null" && v.is_null()) || (t == "object" && v.is_object()) || (t == "array" && v.is_array()) ||
             (t == "string" && v.is_string()) || (t == "integer" && v.is_number_integer()) ||
             (t == "number" && v.is_number()) || (t == "boolean" && v.is_boolean());
      }
      if (!ok) {
        errs.push_back(where + ": expected " + s["type"].dump() + ", got " + v.dump().substr(0, 80));
        return;
      }
    }
    if (s.contains("enum") && !v.is_null()) {
      bool found = false;
      for (const auto& e : s["enum"]) found = found || e == v;
      if (!found) errs.push_back(where + ": " + v.dump() + " not in " + s["enum"].dump());
    }
    if (v.is_object()) {
      if (s.contains("required"))
        for (const auto& r : s["required"])
          if (!v.contains(r.get<std::string>())) errs.push_back(where + ": required field " + r.get<std::string>() + " missing");
      if (s.contains("properties"))
        for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it)
          if (v.contains(it.key())) check(*it, v[it.key()], where + "." + it.key(), errs);
    }
    if (v.is_array() && s.contains("items"))
      for (std::size_t i = 0; i < v.size(); ++i) check(s["items"], v[i], where + "[" + std::to_string(i) + "]", errs);
  }

 private:
  const json& doc_;
};

struct Recipe {
  std::string method, target;
  json body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string who = kAdminToken;  // a token, or "cert:gw-1"
};

TEST(OpenApi, EveryDocumentedOperationAnswersAsDocumented) {
  // With the fleet CA, so gateway enrolment answers too.
  Orchestrator orch("enrolment: {ca_cert: " + test_pki().ca() + ", ca_key: " + test_pki().dir + "/ca.key}\n");
  ASSERT_TRUE(orch.start()) << orch.log();
  auto admin = orch.client(kAdminToken);
  auto served = call(*admin, "GET", "/v1/openapi.json");
  ASSERT_EQ(served.status, 200);
  json file = json::parse(read_file(source_dir() + "/orchestrator/openapi.json"));
  ASSERT_EQ(served.body, file) << "the binary serves a stale openapi.json";
  const json& doc = served.body;
  ASSERT_EQ(doc["openapi"].get<std::string>().rfind("3.", 0), 0u);
  Validator v(doc);

  // A world for the calls to find: a template, functions, a device, a migration.
  orch.create_test_template("fn");
  ASSERT_EQ(call(*admin, "POST", "/v1/functions", {{"template", "fn"}, {"device", "aa:bb:cc:dd:ee:01"}}).status, 201);
  ASSERT_EQ(call(*admin, "POST", "/v1/functions", {{"template", "fn"}, {"device", "aa:bb:cc:dd:ee:02"}, {"id", "doomed"}}).status, 201);
  ASSERT_EQ(call(*admin, "POST", "/v1/templates", {{"name", "spare"}, {"command", {"/bin/true"}}}).status, 201);
  auto gw = orch.gateway("gw-1");
  ASSERT_EQ(call(*gw, "POST", "/v1/gateways/gw-1/events", batch("gw-1", "b0", {seen(1, "aa:bb:cc:dd:ee:01", -60, unix_ms())})).status, 200);
  auto mig = wait_for(*admin, "/v1/migrations", [](const json& b) { return !b["items"].empty(); });
  ASSERT_FALSE(mig["items"].empty());
  std::string mid = std::to_string(mig["items"][0]["id"].get<std::int64_t>());
  wait_for(*admin, "/readyz", [](const json& b) { return b.value("status", "") == "ready"; });
  // Enrolment: a token for the enrol call, and gw-3 enrolled so its (test
  // PKI) certificate may renew.
  auto make_token = [&] {
    auto t = call(*admin, "POST", "/v1/gateway-tokens", {{"ttl_s", 600}});
    EXPECT_EQ(t.status, 201) << t.raw;
    return t.body.value("token", "");
  };
  auto csr_for = [](const std::string& name) { return *x509::make_csr(*x509::generate_p256_key(), name); };
  const std::string enrol_token = make_token();
  ASSERT_EQ(call(*orch.client(""), "POST", "/v1/enrol", {{"csr", csr_for("gw-3")}, {"token", make_token()}}).status, 201);

  std::map<std::string, Recipe> recipes = {
      {"healthz", {"GET", "/healthz"}},
      {"readyz", {"GET", "/readyz"}},
      {"metrics", {"GET", "/metrics"}},
      {"openapi", {"GET", "/v1/openapi.json"}},
      {"createGatewayToken", {"POST", "/v1/gateway-tokens", {{"ttl_s", 3600}, {"uses", 2}, {"labels", {{"zone", "a"}}}}}},
      {"listGatewayTokens", {"GET", "/v1/gateway-tokens"}},
      {"enrol", {"POST", "/v1/enrol", {{"csr", csr_for("gw-new")}, {"token", enrol_token}}, {}, ""}},
      {"renewCertificate", {"POST", "/v1/enrol/renew", {{"csr", csr_for("gw-3")}}, {}, "cert:gw-3"}},
      {"revokeGateway", {"POST", "/v1/gateways/gw-2:revoke"}},
      {"postEvents", {"POST", "/v1/gateways/gw-1/events", batch("gw-1", "b0", {seen(2, "aa:bb:cc:dd:ee:01", -61, unix_ms(), "refresh"), heartbeat(3, 0.2, 0.2, unix_ms())}), {}, "cert:gw-1"}},
      {"listNodes", {"GET", "/v1/nodes?tier=gateway&limit=1"}},
      {"getNode", {"GET", "/v1/nodes/gw-1"}},
      {"listDevices", {"GET", "/v1/devices?state=present"}},
      {"getDevice", {"GET", "/v1/devices/aa:bb:cc:dd:ee:01"}},
      {"listTemplates", {"GET", "/v1/templates"}},
      {"getTemplate", {"GET", "/v1/templates/fn"}},
      {"createTemplate", {"POST", "/v1/templates", {{"name", "new"}, {"command", {"/bin/true"}}, {"cpu_m", 10}}}},
      {"deleteTemplate", {"DELETE", "/v1/templates/spare"}},
      {"listFunctions", {"GET", "/v1/functions?template=fn"}},
      {"getFunction", {"GET", "/v1/functions/fn-aa-bb-cc-dd-ee-01"}},
      {"createFunction", {"POST", "/v1/functions", {{"template", "fn"}, {"device", "aa:bb:cc:dd:ee:03"}}}},
      {"deleteFunction", {"DELETE", "/v1/functions/doomed"}},
      {"moveFunction", {"POST", "/v1/functions/fn-aa-bb-cc-dd-ee-01:move", {{"node", "edge-1"}}}},
      {"postMark", {"POST", "/v1/functions/fn-aa-bb-cc-dd-ee-01/marks", {{"mark", "first_data"}, {"t", unix_ms()}}}},
      {"listMigrations", {"GET", "/v1/migrations?function=fn-aa-bb-cc-dd-ee-01"}},
      {"getMigration", {"GET", "/v1/migrations/" + mid}},
      {"getPolicy", {"GET", "/v1/policy"}},
      {"putPolicy", {"PUT", "/v1/policy", {{"cooldown_s", 30}}, {{"If-Match", "\"1\""}}}},
      {"policyHistory", {"GET", "/v1/policy/history"}},
      {"watch", {"GET", "/v1/watch?kinds=functions"}},
      {"whoami", {"GET", "/v1/whoami", nullptr, {}, kViewerToken}},
  };

  std::set<std::string> documented;
  int calls = 0;
  for (auto p = doc["paths"].begin(); p != doc["paths"].end(); ++p) {
    for (auto o = p.value().begin(); o != p.value().end(); ++o) {
      const json& op = o.value();
      std::string id = op["operationId"];
      documented.insert(id);
      SCOPED_TRACE(id);
      ASSERT_TRUE(recipes.count(id)) << "no call for documented operation " << id;
      const Recipe& r = recipes[id];
      // The recipe calls the documented path and method.
      std::string method = o.key();
      std::transform(method.begin(), method.end(), method.begin(), ::toupper);
      EXPECT_EQ(r.method, method);
      std::string path_re = p.key();
      std::string prefix = path_re.substr(0, path_re.find('{'));
      EXPECT_EQ(r.target.rfind(prefix, 0), 0u) << r.target << " is not " << p.key();

      std::string success;
      for (auto it = op["responses"].begin(); it != op["responses"].end(); ++it)
        if (it.key()[0] == '2') success = it.key();
      ASSERT_FALSE(success.empty());
      const json& resp_doc = op["responses"][success];

      if (id == "watch") {
        auto c = orch.client(kAdminToken);
        auto st = c->stream(r.target, [](std::string_view) { return false; }, std::chrono::seconds(5));
        ASSERT_TRUE(st);
        EXPECT_EQ(std::to_string(*st), success);
        ++calls;
        continue;
      }
      auto client = r.who.rfind("cert:", 0) == 0 ? orch.gateway(r.who.substr(5)) : orch.client(r.who);
      auto reply = call(*client, r.method, r.target, r.body, r.headers);
      ++calls;
      ASSERT_EQ(std::to_string(reply.status), success) << reply.raw;
      if (resp_doc.contains("content") && resp_doc["content"].contains("application/json")) {
        ASSERT_FALSE(reply.body.is_null()) << "not JSON: " << reply.raw.substr(0, 200);
        std::vector<std::string> errs;
        v.check(resp_doc["content"]["application/json"]["schema"], reply.body, id, errs);
        for (const auto& e : errs) ADD_FAILURE() << e;
      } else if (resp_doc.contains("content") && resp_doc["content"].contains("text/plain")) {
        EXPECT_EQ(reply.headers["content-type"].rfind("text/plain", 0), 0u);
      }
      if (resp_doc.contains("headers"))
        for (auto h = resp_doc["headers"].begin(); h != resp_doc["headers"].end(); ++h) {
          std::string name = h.key();
          std::transform(name.begin(), name.end(), name.begin(), ::tolower);
          EXPECT_TRUE(reply.headers.count(name)) << "documented header " << h.key() << " missing";
        }

      // Documented errors: 401 without credentials, 404 for a missing object.
      if (op["responses"].contains("401")) {
        auto anon = orch.client("");
        auto e = call(*anon, r.method, r.target, r.body, r.headers);
        EXPECT_EQ(e.status, 401) << r.target;
        std::vector<std::string> errs;
        v.check(op["responses"]["401"]["content"]["application/json"]["schema"], e.body, id + " 401", errs);
        for (const auto& x : errs) ADD_FAILURE() << x;
      }
      if (op["responses"].contains("404") && p.key().find('{') != std::string::npos && r.method != "POST") {
        std::string missing = prefix + "does-not-exist";
        auto e = call(*orch.client(kAdminToken), r.method, missing, r.body, r.headers);
        EXPECT_EQ(e.status, 404) << missing;
        std::vector<std::string> errs;
        v.check(op["responses"]["404"]["content"]["application/json"]["schema"], e.body, id + " 404", errs);
        for (const auto& x : errs) ADD_FAILURE() << x;
      }
    }
  }
  // And nothing in the recipes is undocumented.
  for (const auto& [id, r] : recipes) EXPECT_TRUE(documented.count(id)) << id << " is called but not documented";
  EXPECT_EQ(calls, static_cast<int>(recipes.size()));
}

}  // namespace
}  // namespace c4i::testing
