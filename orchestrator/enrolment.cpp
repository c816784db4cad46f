#include "orchestrator/enrolment.hpp"

#include <openssl/rand.h>

#include <ctime>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "orchestrator/enrol_request.hpp"
#include "orchestrator/state.hpp"

namespace c4i::orchestrator {

using nlohmann::json;
using http::Request;
using http::Response;

namespace {

constexpr std::int64_t kMaxTokenUses = 10'000;
constexpr std::size_t kMaxLabels = 32;

// The HTTP status of each refusal: a bad request, a credential that does not
// hold, or a credential that holds but may not do this.
int status_of(const std::string& code) {
  static const std::map<std::string, int> status = {
      {"invalid_json", 400},      {"invalid_argument", 400}, {"malformed_csr", 400}, {"bad_csr_signature", 400},
      {"weak_key", 400},          {"invalid_name", 400},     {"unauthenticated", 401}, {"unknown_token", 401},
      {"token_expired", 401},     {"token_used_up", 401},    {"name_mismatch", 403}, {"gateway_revoked", 403},
      {"not_enrolled", 403},      {"forbidden", 403},        {"not_found", 404},     {"already_enrolled", 409},
      {"enrolment_disabled", 503}, {"busy", 503},            {"unavailable", 503},   {"storage_full", 507},
  };
  auto it = status.find(code);
  return it == status.end() ? 500 : it->second;
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1)
    throw std::runtime_error("RAND_bytes failed");  // no entropy: nothing safe to hand out
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

// Label keys and values as Kubernetes takes them (a node's labels may become its labels there).
bool valid_label(std::string_view s, bool key) {
  if (s.empty()) return !key;
  if (s.size() > (key ? 253u : 63u)) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || (key && c == '/'))) return false;
  return true;
}

template <typename... Args>
sqlite::Stmt& bound(Conn& c, const std::string& sql, Args&&... args) {
  auto& s = c.stmt(sql);
  int i = 1;
  (s.bind(i++, std::forward<Args>(args)), ...);
  return s;
}

// The record of a certificate signed for `gateway` ("enrol" or "renew"), in
// the job that signed it; the gateway's identity changed with it.
Status record_certificate(Conn& c, const std::string& gateway, const x509::Issued& cert, const char* kind) {
  if (auto s = bound(c,
                     "INSERT INTO gateway_certs(serial, gateway, sha256, kind, not_before_ms, not_after_ms) "
                     "VALUES(?, ?, ?, ?, ?, ?)",
                     cert.info.serial_hex, gateway, cert.info.sha256_hex, kind, cert.info.not_before_ms,
                     cert.info.not_after_ms)
                   .run();
      !s)
    return s;
  c.changed("gateways", gateway, "updated");
  return ok_status();
}

json token_json(const sqlite::Stmt& q, std::int64_t now) {
  // id, gateway, labels, uses_max, uses, created_ms, created_by, expires_ms
  std::int64_t uses_max = q.int64(3), uses = q.int64(4), expires = q.int64(7);
  json labels = json::parse(q.text(2), nullptr, false);
  return json{{"id", q.text(0)},
              {"gateway", q.text(1).empty() ? json(nullptr) : json(q.text(1))},
              {"labels", labels.is_object() ? labels : json::object()},
              {"uses_max", uses_max},
              {"uses", uses},
              {"created_t", q.int64(5)},
              {"created_by", q.text(6)},
              {"expires_t", expires},
              {"state", uses >= uses_max ? "used_up" : expires <= now ? "expired" : "active"}};
}

json issued_json(const std::string& name, const x509::Issued& cert, const std::string& ca_pem, const json& labels) {
  return json{{"gateway", name},
              {"certificate", cert.cert_pem},
              {"ca", ca_pem},
              {"serial", cert.info.serial_hex},
              {"sha256", cert.info.sha256_hex},
              {"not_before_t", cert.info.not_before_ms},
              {"not_after_t", cert.info.not_after_ms},
              {"labels", labels}};
}

}  // namespace

Enrolment::Enrolment(Store& store, metrics::Registry& metrics, EnrolmentOptions options)
    : store_(store), metrics_(metrics), options_(std::move(options)) {}

Status Enrolment::start() {
  if (!options_.ca_cert.empty()) {
    auto ca = x509::Ca::load(options_.ca_cert, options_.ca_key);
    if (!ca) return Error{"invalid_config", "enrolment: " + ca.error().message};
    ca_ = std::move(*ca);
  }
  return reload();
}

Status Enrolment::reload() {
  std::set<std::string> serials, names;
  auto st = store_.read([&](Conn& c) -> Status {
    for (auto [sql, into] : {std::pair{"SELECT serial FROM gateway_certs WHERE revoked_ms IS NOT NULL", &serials},
                             std::pair{"SELECT name FROM gateway_identities WHERE revoked_ms IS NOT NULL", &names}}) {
      auto& q = c.stmt(sql);
      StmtGuard g(q);
      while (true) {
        auto r = q.step();
        if (!r) return r.error();
        if (!*r) break;
        into->insert(q.text(0));
      }
    }
    return ok_status();
  });
  if (!st) return st;
  std::unique_lock lock(mu_);
  revoked_serials_ = std::move(serials);
  revoked_names_ = std::move(names);
  return ok_status();
}

void Enrolment::install(http::Server& server, Api& api) {
  api.set_peer_check([this](const Request& r) { return check_peer(r); });
  using A = Api::Access;
  api.add(server, "POST", "/v1/gateway-tokens", A::admin, [this](Request& r) { return create_token(r); });
  api.add(server, "GET", "/v1/gateway-tokens", A::admin, [this](Request& r) { return list_tokens(r); });
  // Open: the bootstrap token (enrol) or the client certificate (renew) is checked by the handler.
  api.add(server, "POST", "/v1/enrol", A::open, [this](Request& r) { return enrol(r); });
  api.add(server, "POST", "/v1/enrol/renew", A::open, [this](Request& r) { return renew(r); });
  api.add(server, "POST", "/v1/gateways/{gateway}:revoke", A::admin, [this](Request& r) { return revoke(r); });
}

std::optional<Response> Enrolment::check_peer(const Request& req) {
  if (!req.peer) return std::nullopt;
  const auto& p = *req.peer;
  std::string why;
  {
    std::shared_lock lock(mu_);
    if (revoked_serials_.count(p.serial_hex)) why = "certificate " + p.serial_hex + " is revoked";
    else if (revoked_names_.count(p.common_name)) why = "gateway " + p.common_name + " is revoked";
    else
      for (const auto& n : p.dns_names)
        if (revoked_names_.count(n)) why = "gateway " + n + " is revoked";
    // A gateway's events forwarded by a follower (whose list may lag ours).
    if (const std::string* f = req.header(Api::kForwardedGateway); f && why.empty() && revoked_names_.count(*f))
      why = "gateway " + *f + " is revoked";
  }
  if (why.empty()) return std::nullopt;
  metrics_.counter("c4i_revoked_requests_total", "Requests refused because their client certificate is revoked").inc();
  spdlog::warn("refused {} {} from {} ({}): {}", req.method, req.path, p.common_name, req.remote_address, why);
  return http::error_response(403, "certificate_revoked", why + "; enrol again with a new bootstrap token");
}

Response Enrolment::refuse(const Error& e, const char* what) {
  int s = status_of(e.code);
  metrics_.counter("c4i_enrolment_refusals_total", "Enrolments and renewals refused, by reason", {{"code", e.code}}).inc();
  if (s == 500) {
    spdlog::error("{}: {}: {}", what, e.code, e.message);
    return http::error_response(500, "internal", "internal error while handling the request");
  }
  spdlog::info("{} refused: {}", what, e.message);
  return http::error_response(s, e.code, e.message);
}

Response Enrolment::create_token(Request& req) {
  json body = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
  if (body.is_discarded()) return http::error_response(400, "invalid_json", "(body): not valid JSON");
  if (!body.is_object()) return http::error_response(400, "invalid_argument", "(body): must be a JSON object");
  std::int64_t ttl_s = 3600, uses_max = 1;
  std::string gateway;
  json labels = json::object();
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& k = it.key();
    if (k == "ttl_s") {
      if (!it->is_number_integer() || it->get<std::int64_t>() < 1 || it->get<std::int64_t>() > options_.max_token_ttl_s)
        return http::error_response(400, "invalid_argument",
                                    "ttl_s: must be whole seconds 1.." + std::to_string(options_.max_token_ttl_s) +
                                        " (enrolment.max_token_ttl_s)");
      ttl_s = it->get<std::int64_t>();
    } else if (k == "uses") {
      if (!it->is_number_integer() || it->get<std::int64_t>() < 1 || it->get<std::int64_t>() > kMaxTokenUses)
        return http::error_response(400, "invalid_argument", "uses: must be an integer 1.." + std::to_string(kMaxTokenUses));
      uses_max = it->get<std::int64_t>();
    } else if (k == "gateway") {
      if (!it->is_string() || !valid_gateway_name(it->get<std::string>()))
        return http::error_response(400, "invalid_argument",
                                    "gateway: must be a gateway name (1-63 of a-z 0-9 - ., starting and ending with a letter or digit)");
      gateway = it->get<std::string>();
    } else if (k == "labels") {
      if (!it->is_object() || it->size() > kMaxLabels)
        return http::error_response(400, "invalid_argument", "labels: must be an object of at most 32 string labels");
      for (auto l = it->begin(); l != it->end(); ++l)
        if (!valid_label(l.key(), true) || !l->is_string() || !valid_label(l->get<std::string>(), false))
          return http::error_response(400, "invalid_argument",
                                      "labels: \"" + l.key().substr(0, 40) +
                                          "\": keys and values are letters, digits, - _ . (keys also /), values at most 63");
      labels = *it;
    } else {
      return http::error_response(400, "invalid_argument", k.substr(0, 40) + ": unknown field (expected ttl_s, uses, gateway, labels)");
    }
  }
  const std::string id = "bt-" + random_hex(5);
  const std::string token = id + "." + random_hex(32);
  const std::int64_t now = now_ms(), expires = now + ttl_s * 1000;
  const std::string by = Api::who(req);
  auto st = store_.write([&](Conn& c) -> Status {
    if (auto s = bound(c, "INSERT INTO bootstrap_tokens(id, sha256, gateway, labels, uses_max, created_ms, created_by, expires_ms) "
                    "VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                 id, sha256_hex(token), gateway, labels.dump(), uses_max, now, by, expires)
                     .run();
        !s)
      return s;
    c.changed("tokens", id, "created");
    return ok_status();
  });
  if (!st) return error_to_response(st.error());
  spdlog::info("bootstrap token {} made by {}: {} use(s) until {}{}", id, by, uses_max, x509::utc_text(expires),
               gateway.empty() ? std::string() : ", for gateway " + gateway);
  json out{{"id", id},
           {"token", token},
           {"gateway", gateway.empty() ? json(nullptr) : json(gateway)},
           {"labels", labels},
           {"uses_max", uses_max},
           {"uses", 0},
           {"created_t", now},
           {"created_by", by},
           {"expires_t", expires},
           {"state", "active"}};
  auto r = http::json_response(201, out);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

Response Enrolment::list_tokens(Request&) {
  json items = json::array();
  const std::int64_t now = now_ms();
  auto st = store_.read([&](Conn& c) -> Status {
    auto& q = c.stmt("SELECT id, gateway, labels, uses_max, uses, created_ms, created_by, expires_ms FROM bootstrap_tokens ORDER BY created_ms, id");
    StmtGuard g(q);
    while (true) {
      auto r = q.step();
      if (!r) return r.error();
      if (!*r) break;
      items.push_back(token_json(q, now));
    }
    return ok_status();
  });
  if (!st) return error_to_response(st.error());
  return http::json_response(200, {{"items", items}});
}

Response Enrolment::enrol(Request& req) {
  if (!ca_)
    return refuse(Error{"enrolment_disabled", "this orchestrator has no enrolment CA (enrolment.ca_cert and ca_key, or --ca-cert and --ca-key)"},
                  "enrolment");
  auto body = parse_enrol_body(req.body, req.header("authorization"), true);
  if (!body) return refuse(body.error(), "enrolment");
  auto csr = check_csr(body->csr_pem);
  if (!csr) return refuse(csr.error(), "enrolment");

  const std::int64_t now = now_ms();
  std::string name, token_id;
  json labels;
  bool was_revoked = false;
  std::optional<x509::Issued> issued;
  auto st = store_.write([&](Conn& c) -> Status {
    std::string assigned;
    std::int64_t uses = 0, uses_max = 0, expires = 0;
    {
      auto& q = bound(c, "SELECT id, gateway, labels, uses, uses_max, expires_ms FROM bootstrap_tokens WHERE sha256 = ?",
                      sha256_hex(body->token));
      StmtGuard g(q);
      auto r = q.step();
      if (!r) return r.error();
      if (!*r) return Error{"unknown_token", "token: not a bootstrap token of this orchestrator (mistyped, or made elsewhere)"};
      token_id = q.text(0);
      assigned = q.text(1);
      labels = json::parse(q.text(2), nullptr, false);
      uses = q.int64(3);
      uses_max = q.int64(4);
      expires = q.int64(5);
    }
    if (expires <= now) return Error{"token_expired", "token: bootstrap token " + token_id + " expired at " + x509::utc_text(expires)};
    if (uses >= uses_max)
      return Error{"token_used_up", "token: bootstrap token " + token_id + " was already used " + std::to_string(uses) +
                                        " of " + std::to_string(uses_max) + " time(s)"};
    auto chosen = certificate_name(*csr, assigned);
    if (!chosen) return chosen.error();
    name = *chosen;
    {
      auto& q = bound(c, "SELECT revoked_ms IS NOT NULL, enrolled_ms FROM gateway_identities WHERE name = ?", name);
      StmtGuard g(q);
      auto r = q.step();
      if (!r) return r.error();
      if (*r) {
        was_revoked = q.int64(0) != 0;
        // Only a token made for this very name re-admits a revoked or enrolled
        // gateway: a leaked open token must not take over an identity.
        if (assigned != name) {
          if (was_revoked)
            return Error{"gateway_revoked", "gateway " + name + " was revoked; only a token made for it (--name " + name +
                                                ") can enrol it again"};
          if (q.int64(1) > 0)
            return Error{"already_enrolled", "gateway " + name + " is already enrolled; it renews with its certificate, "
                                             "or an admin revokes it and makes a token for it (--name " + name + ")"};
        }
      }
    }
    auto cert = ca_->sign(body->csr_pem, name, now / 1000, options_.cert_lifetime_s);
    if (!cert) return cert.error();
    issued = std::move(*cert);
    if (auto s = bound(c, "UPDATE bootstrap_tokens SET uses = uses + 1 WHERE id = ?", token_id).run(); !s) return s;
    c.changed("tokens", token_id, "updated");
    if (auto s = bound(c,
                       "INSERT INTO gateway_identities(name, token, labels, enrolled_ms) VALUES(?1, ?2, ?3, ?4) "
                       "ON CONFLICT(name) DO UPDATE SET token = ?2, labels = ?3, enrolled_ms = ?4, revoked_ms = NULL, revoked_by = ''",
                       name, token_id, labels.is_object() ? labels.dump() : std::string("{}"), now)
                     .run();
        !s)
      return s;
    if (auto s = record_certificate(c, name, *issued, "enrol"); !s) return s;
    // A re-admitted gateway's node may take functions again; a node from the
    // cluster or the topology keeps its own labels (link only).
    if (auto s = bound(c,
                       "UPDATE nodes SET unschedulable = 0, labels = CASE WHEN source = 'heartbeat' THEN ?2 ELSE labels END "
                       "WHERE name = ?1",
                       name, labels.is_object() ? labels.dump() : std::string("{}"))
                     .run();
        !s)
      return s;
    c.changed("nodes", name, "updated");
    return ok_status();
  });
  if (!st) return refuse(st.error(), "enrolment");
  if (was_revoked) {
    std::unique_lock lock(mu_);
    revoked_names_.erase(name);
  }
  metrics_.counter("c4i_gateway_certificates_issued_total", "Client certificates signed for gateways", {{"kind", "enrol"}}).inc();
  spdlog::info("gateway {} enrolled with bootstrap token {} from {}: certificate {} valid until {}", name, token_id,
               req.remote_address, issued->info.serial_hex, x509::utc_text(issued->info.not_after_ms));
  return http::json_response(201, issued_json(name, *issued, ca_->cert_pem(), labels.is_object() ? labels : json::object()));
}

Response Enrolment::renew(Request& req) {
  if (!ca_)
    return refuse(Error{"enrolment_disabled", "this orchestrator has no enrolment CA (enrolment.ca_cert and ca_key)"}, "renewal");
  if (!req.peer)
    return refuse(Error{"unauthenticated", "a renewal needs the gateway's current client certificate"}, "renewal");
  const std::string name = req.peer->common_name;
  auto body = parse_enrol_body(req.body, nullptr, false);
  if (!body) return refuse(body.error(), "renewal");
  auto csr = check_csr(body->csr_pem);
  if (!csr) return refuse(csr.error(), "renewal");
  auto chosen = certificate_name(*csr, name);
  if (!chosen) return refuse(chosen.error(), "renewal");
  const std::int64_t now = now_ms();
  std::optional<x509::Issued> issued;
  json labels = json::object();
  auto st = store_.write([&](Conn& c) -> Status {
    {
      auto& q = bound(c, "SELECT labels FROM gateway_identities WHERE name = ? AND revoked_ms IS NULL AND enrolled_ms > 0", name);
      StmtGuard g(q);
      auto r = q.step();
      if (!r) return r.error();
      if (!*r)
        return Error{"not_enrolled", "gateway " + name + " did not enrol here (its certificate was made by hand): "
                                     "only enrolled gateways renew; enrol with a bootstrap token"};
      json l = json::parse(q.text(0), nullptr, false);
      if (l.is_object()) labels = l;
    }
    auto cert = ca_->sign(body->csr_pem, name, now / 1000, options_.cert_lifetime_s);
    if (!cert) return cert.error();
    issued = std::move(*cert);
    return record_certificate(c, name, *issued, "renew");
  });
  if (!st) return refuse(st.error(), "renewal");
  metrics_.counter("c4i_gateway_certificates_issued_total", "Client certificates signed for gateways", {{"kind", "renew"}}).inc();
  spdlog::info("gateway {} renewed its certificate {}: new certificate {} valid until {}", name, req.peer->serial_hex,
               issued->info.serial_hex, x509::utc_text(issued->info.not_after_ms));
  return http::json_response(201, issued_json(name, *issued, ca_->cert_pem(), labels));
}

Response Enrolment::revoke(Request& req) {
  const std::string name = *req.param("gateway");
  const std::int64_t now = now_ms();
  const std::string by = Api::who(req);
  std::vector<std::string> serials;
  bool has_node = false;
  std::int64_t revoked_ms = now;
  auto st = store_.write([&](Conn& c) -> Status {
    bool known = false;
    {
      auto& q = bound(c, "SELECT revoked_ms FROM gateway_identities WHERE name = ?", name);
      StmtGuard g(q);
      auto r = q.step();
      if (!r) return r.error();
      if (*r) {
        known = true;
        if (!q.is_null(0)) revoked_ms = q.int64(0);  // revoked before: keep when
      }
    }
    {
      auto& q = bound(c, "SELECT 1 FROM nodes WHERE name = ?", name);
      StmtGuard g(q);
      auto r = q.step();
      if (!r) return r.error();
      has_node = *r;
    }
    if (!known && !has_node) return Error{"not_found", "gateway " + name + " is neither enrolled nor a node"};
    {
      auto& q = bound(c, "SELECT serial FROM gateway_certs WHERE gateway = ?", name);
      StmtGuard g(q);
      while (true) {
        auto r = q.step();
        if (!r) return r.error();
        if (!*r) break;
        serials.push_back(q.text(0));
      }
    }
    if (auto s = bound(c,
                       "INSERT INTO gateway_identities(name, token, enrolled_ms, revoked_ms, revoked_by) VALUES(?1, '', 0, ?2, ?3) "
                       "ON CONFLICT(name) DO UPDATE SET revoked_ms = coalesce(revoked_ms, ?2), revoked_by = "
                       "CASE WHEN revoked_ms IS NULL THEN ?3 ELSE revoked_by END",
                       name, now, by)
                     .run();
        !s)
      return s;
    if (auto s = bound(c, "UPDATE gateway_certs SET revoked_ms = ?2 WHERE gateway = ?1 AND revoked_ms IS NULL", name, now).run(); !s)
      return s;
    c.changed("gateways", name, "updated");
    if (has_node) {
      if (auto s = bound(c, "UPDATE nodes SET unschedulable = 1 WHERE name = ?", name).run(); !s) return s;
      c.changed("nodes", name, "updated");
    }
    return ok_status();
  });
  if (!st) return error_to_response(st.error());
  {
    std::unique_lock lock(mu_);
    revoked_names_.insert(name);
    revoked_serials_.insert(serials.begin(), serials.end());
  }
  spdlog::warn("gateway {} revoked by {}: its {} enrolled certificate(s) and any certificate naming it are refused from now on{}",
               name, by, serials.size(), has_node ? "; node " + name + " is unschedulable" : "");
  return http::json_response(200, {{"gateway", name},
                                   {"revoked_t", revoked_ms},
                                   {"revoked_by", by},
                                   {"certificates", serials.size()},
                                   {"node", has_node ? json(name) : json(nullptr)},
                                   {"unschedulable", has_node}});
}

}  // namespace c4i::orchestrator
