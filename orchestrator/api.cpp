#include "orchestrator/api.hpp"

#include <openssl/evp.h>

#include <chrono>
#include <set>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "orchestrator/events.hpp"
#include "orchestrator/paging.hpp"
#include "placement/placement.hpp"

namespace c4i::orchestrator {

using nlohmann::json;
using http::Request;
using http::Response;
namespace pl = c4i::placement;

namespace {

// What GET /v1/watch shows (its `kinds`); other kinds a commit may name are not for viewers.
const std::set<std::string>& watched_kinds() {
  static const std::set<std::string> k = {"nodes", "devices", "functions", "templates", "migrations", "policy"};
  return k;
}

constexpr const char* kPrincipalHeader = "x-c4i-principal";  // set by the filter only

const std::map<std::string, std::vector<std::string>> kListFilters = {
    {"nodes", {"tier", "arch", "source"}},
    {"devices", {"state", "gateway"}},
    {"templates", {}},
    {"functions", {"template", "device", "node", "state"}},
    {"migrations", {"function", "kind", "state"}},
};

Result<json> parse_body(const Request& req) {
  if (req.body.empty()) return Error{"invalid_argument", "(body): a JSON body is required"};
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded()) return Error{"invalid_json", "(body): not valid JSON"};
  return j;
}

std::string etag(std::int64_t version) { return "\"" + std::to_string(version) + "\""; }

json policy_json(const PolicyRow& p) {
  return json{{"version", p.version}, {"policy", p.spec}, {"changed_t", p.changed_ms}, {"changed_by", p.changed_by}};
}
}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

Response error_to_response(const Error& e) {
  static const std::map<std::string, int> status = {
      {"not_found", 404},        {"conflict", 409},          {"stale_version", 409},  {"invalid_argument", 400},
      {"invalid_json", 400},     {"invalid_batch", 400},     {"invalid_policy", 400}, {"too_many_events", 413},
      {"busy", 503},             {"unavailable", 503},       {"storage_full", 507},   {"constraint", 409},
      {"precondition_required", 428}, {"forbidden", 403},    {"unauthenticated", 401},
  };
  auto it = status.find(e.code);
  int s = it == status.end() ? 500 : it->second;
  if (s == 500) spdlog::error("internal error: {}: {}", e.code, e.message);
  return http::error_response(s, s == 500 ? "internal" : e.code, e.message);
}

Api::Api(State& state, Controller& controller, Hub& hub, metrics::Registry& metrics, std::vector<TokenEntry> tokens,
         const Settings& settings)
    : state_(state), controller_(controller), hub_(hub), metrics_(metrics), settings_(settings) {
  for (auto& t : tokens) tokens_by_hash_[t.sha256_hex] = t;
}

std::string Api::who(const Request& req) {
  auto* p = req.header(kPrincipalHeader);
  return p ? *p : "anonymous";
}

void Api::add(http::Server& server, const std::string& method, const std::string& pattern, Access access,
              http::Handler handler) {
  access_router_.add(method, pattern);
  access_.push_back(access);
  server.route(method, pattern, std::move(handler));
}

std::optional<Response> Api::authorize(Request& req) {
  req.headers.erase(kPrincipalHeader);  // never trust a client's copy
  if (req.peer && peer_check_)
    if (auto refused = peer_check_(req)) return refused;
  auto m = access_router_.match(req.method, req.path);
  if (m.outcome != http::Router::Outcome::found) return std::nullopt;  // the server answers 404/405
  Access access = access_[m.route];
  if (access == Access::open) return std::nullopt;
  if (access == Access::gateway) {
    const std::string* gw = req.param("gateway");
    if (!req.peer) return http::error_response(401, "unauthenticated", "a client certificate is required for gateway endpoints");
    // A follower replica forwards a gateway's events with our own certificate
    // (it checked the gateway's); anyone else speaks only for itself.
    const std::string* forwarded = req.header(kForwardedGateway);
    const bool replica = forwarded && gw && *forwarded == *gw && !replica_sha256_.empty() &&
                         req.peer->sha256_hex == replica_sha256_;
    if (!gw || (!req.peer->names(*gw) && !replica))
      return http::error_response(403, "forbidden", "the client certificate (" + req.peer->common_name +
                                                        ") does not name gateway " + (gw ? *gw : std::string("?")));
    req.headers[kPrincipalHeader] = "gateway:" + *gw;
    return std::nullopt;
  }
  std::optional<Principal> principal;
  if (const std::string* auth = req.header("authorization")) {
    constexpr std::string_view kBearer = "Bearer ";
    if (auth->size() > kBearer.size() && std::string_view(*auth).substr(0, kBearer.size()) == kBearer) {
      auto it = tokens_by_hash_.find(sha256_hex(std::string_view(*auth).substr(kBearer.size())));
      if (it != tokens_by_hash_.end()) principal = Principal{it->second.name, it->second.role};
    }
    if (!principal) return http::error_response(401, "unauthenticated", "the bearer token is not valid");
  }
  if (access == Access::mark && !principal && req.peer) {
    // A function's reader on a gateway speaks with that gateway's certificate:
    // it may mark only a function that runs there.
    const std::string* id = req.param("function");
    auto f = id ? state_.get("functions", *id) : Result<json>(Error{"not_found", ""});
    if (!f) return error_to_response(f.error());
    std::string node = (*f)["node"].is_string() ? (*f)["node"].get<std::string>() : "";
    if (node.empty() || !req.peer->names(node))
      return http::error_response(403, "forbidden", "the client certificate (" + req.peer->common_name +
                                                        ") does not name the node function " + *id + " runs on");
    req.headers[kPrincipalHeader] = "node:" + node;
    return std::nullopt;
  }
  if (!principal) {
    auto r = http::error_response(401, "unauthenticated", "a bearer token is required (Authorization: Bearer ...)");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }
  Role need = access == Access::viewer ? Role::viewer : access == Access::admin ? Role::admin : Role::operator_;
  if (static_cast<int>(principal->role) < static_cast<int>(need))
    return http::error_response(403, "forbidden", "token " + principal->name + " has role " + to_string(principal->role) +
                                                      "; this needs " + to_string(need));
  req.headers[kPrincipalHeader] = principal->name;
  // The watch stream cannot answer 400 once it started: check its query here.
  if (req.path == "/v1/watch") {
    if (const std::string* kinds = req.query_value("kinds")) {
      const auto& known = watched_kinds();
      std::size_t start = 0;
      while (start <= kinds->size()) {
        auto end = kinds->find(',', start);
        if (end == std::string::npos) end = kinds->size();
        std::string k = kinds->substr(start, end - start);
        if (!known.count(k))
          return http::error_response(400, "invalid_argument", "kinds: unknown kind \"" + k.substr(0, 40) +
                                                                   "\" (expected nodes, devices, functions, templates, migrations, policy)");
        start = end + 1;
      }
    }
  }
  return std::nullopt;
}

void Api::install(http::Server& server) {
  server.set_filter([this](Request& req) -> std::optional<Response> {
    if (auto refused = authorize(req)) return refused;
    if (write_gate_ && req.method != "GET" && req.method != "HEAD") return write_gate_(req);
    return std::nullopt;
  });
  add(server, "GET", "/healthz", Access::open, [](Request&) { return http::json_response(200, {{"status", "ok"}}); });
  add(server, "GET", "/readyz", Access::open, [this](Request&) {
    if (!controller_.ready()) return http::error_response(503, "not_ready", "the control loop has not completed its first pass");
    return http::json_response(200, {{"status", "ready"}});
  });
  add(server, "GET", "/metrics", Access::viewer, [this](Request&) {
    Response r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics_.render();
    return r;
  });
  add(server, "GET", "/v1/openapi.json", Access::open, [](Request&) {
    Response r;
    r.body = kOpenApiJson;
    return r;
  });
  add(server, "POST", "/v1/gateways/{gateway}/events", Access::gateway, [this](Request& r) { return events(r); });
  for (const char* kind : {"nodes", "devices", "templates", "functions", "migrations"}) {
    std::string k = kind;
    add(server, "GET", "/v1/" + k, Access::viewer, [this, k](Request& r) { return list(k, r); });
    add(server, "GET", "/v1/" + k + "/{id}", Access::viewer, [this, k](Request& r) { return get_one(k, *r.param("id")); });
  }
  add(server, "POST", "/v1/templates", Access::admin, [this](Request& r) { return create_template(r); });
  add(server, "DELETE", "/v1/templates/{id}", Access::admin, [this](Request& r) { return delete_template(r); });
  add(server, "POST", "/v1/functions", Access::operator_, [this](Request& r) { return create_function(r); });
  add(server, "DELETE", "/v1/functions/{id}", Access::operator_, [this](Request& r) { return delete_function(r); });
  add(server, "POST", "/v1/functions/{id}:move", Access::operator_, [this](Request& r) { return move_function(r); });
  add(server, "POST", "/v1/functions/{function}/marks", Access::mark, [this](Request& r) { return mark(r); });
  add(server, "GET", "/v1/policy", Access::viewer, [this](Request& r) { return get_policy(r); });
  add(server, "PUT", "/v1/policy", Access::operator_, [this](Request& r) { return put_policy(r); });
  add(server, "GET", "/v1/policy/history", Access::viewer, [this](Request& r) { return policy_history(r); });
  // Who a token belongs to: the dashboard offers what the role may do.
  add(server, "GET", "/v1/whoami", Access::viewer, [this](Request& r) {
    auto it = tokens_by_hash_.find(sha256_hex(std::string_view(*r.header("authorization")).substr(7)));  // "Bearer "
    return http::json_response(200, {{"name", it->second.name}, {"role", to_string(it->second.role)}});
  });
  access_router_.add("GET", "/v1/watch");
  access_.push_back(Access::viewer);
  server.stream_route("GET", "/v1/watch", [this](Request& r, http::StreamWriter& w) { return watch(r, w); });
}

void Api::note_clamped(const std::string& gateway, const ClampCounts& c) {
  metrics_.counter("c4i_event_time_clamped_total", "Event times outside limits.event_future_ms / event_past_ms, set to the receive time",
                   {{"bound", "future"}}).inc(c.future);
  metrics_.counter("c4i_event_time_clamped_total", "Event times outside limits.event_future_ms / event_past_ms, set to the receive time",
                   {{"bound", "past"}}).inc(c.past);
  // One line per gateway per minute: a gateway with a wrong clock sends every batch wrong.
  const std::int64_t now = now_ms();
  std::lock_guard lock(clamp_log_mu_);
  auto& last = clamp_logged_ms_[gateway];
  if (last != 0 && now - last < 60'000) return;
  last = now;
  spdlog::warn("gateway {}: event times off by up to {} s ({} ahead of limits.event_future_ms, {} behind limits.event_past_ms) "
               "were set to the receive time; check the gateway's clock",
               gateway, c.worst_skew_ms / 1000, c.future, c.past);
}

Response Api::events(Request& req) {
  auto start = std::chrono::steady_clock::now();
  BatchLimits limits;
  limits.max_events = settings_.max_batch_events;
  auto batch = parse_event_batch(req.body, limits);
  if (!batch) {
    metrics_.counter("c4i_event_batches_rejected_total", "Event batches rejected", {{"code", batch.error().code}}).inc();
    return error_to_response(batch.error());
  }
  const std::string& gw = *req.param("gateway");
  if (batch->gateway != gw)
    return http::error_response(403, "forbidden", "gateway: the body speaks for " + batch->gateway + ", the path and certificate for " + gw);
  const std::int64_t received_ms = now_ms();
  const ClampCounts clamped = clamp_event_times(*batch, received_ms, {settings_.event_future_ms, settings_.event_past_ms});
  if (clamped.total() > 0) note_clamped(gw, clamped);
  auto out = state_.apply_batch(*batch, received_ms);
  if (!out) return error_to_response(out.error());
  metrics_.counter("c4i_events_total", "Gateway events applied").inc(static_cast<double>(out->accepted));
  metrics_.counter("c4i_events_duplicate_total", "Gateway events received again and skipped").inc(static_cast<double>(out->duplicates));
  metrics_.histogram("c4i_event_batch_seconds", "Time to apply one event batch durably")
      .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return http::json_response(200, {{"accepted", out->accepted}, {"duplicates", out->duplicates}, {"last_seq", out->last_seq},
                                   {"clamped", clamped.total()}});
}

Response Api::list(const std::string& kind, Request& req) {
  ListQuery q;
  const auto& allowed = kListFilters.at(kind);
  for (const auto& [k, v] : req.query) {
    if (k == "limit") {
      if (v.empty() || v.size() > 4 || v.find_first_not_of("0123456789") != std::string::npos || std::stoi(v) < 1 || std::stoi(v) > 1000)
        return http::error_response(400, "invalid_argument", "limit: must be an integer 1..1000, got \"" + v.substr(0, 20) + "\"");
      q.limit = static_cast<std::size_t>(std::stoi(v));
    } else if (k == "continue") {
      auto after = decode_continue(v);
      if (!after) return http::error_response(400, "invalid_argument", "continue: not a token this server gave out");
      q.after = *after;
    } else if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) {
      q.filters[k] = v;
    } else {
      std::string names = "limit, continue";
      for (const auto& a : allowed) names += ", " + a;
      return http::error_response(400, "invalid_argument", k.substr(0, 40) + ": unknown query parameter (expected " + names + ")");
    }
  }
  auto page = state_.list(kind, q);
  if (!page) return error_to_response(page.error());
  json body{{"items", page->items}, {"continue", page->next_after ? json(encode_continue(*page->next_after)) : json(nullptr)}};
  return http::json_response(200, body);
}

Response Api::get_one(const std::string& kind, const std::string& id) {
  auto r = state_.get(kind, id);
  if (!r) return error_to_response(r.error());
  return http::json_response(200, *r);
}

Response Api::create_template(Request& req) {
  auto body = parse_body(req);
  if (!body) return error_to_response(body.error());
  auto r = state_.create_template(*body, who(req));
  if (!r) return error_to_response(r.error());
  auto resp = http::json_response(201, *r);
  resp.headers.emplace_back("Location", "/v1/templates/" + (*r)["name"].get<std::string>());
  return resp;
}

Response Api::delete_template(Request& req) {
  if (auto s = state_.delete_template(*req.param("id")); !s) return error_to_response(s.error());
  Response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

Response Api::create_function(Request& req) {
  auto body = parse_body(req);
  if (!body) return error_to_response(body.error());
  auto r = state_.create_function(*body, who(req));
  if (!r) return error_to_response(r.error());
  controller_.wake();
  auto resp = http::json_response(201, *r);
  resp.headers.emplace_back("Location", "/v1/functions/" + (*r)["id"].get<std::string>());
  return resp;
}

Response Api::delete_function(Request& req) {
  if (auto s = state_.delete_function(*req.param("id")); !s) return error_to_response(s.error());
  controller_.wake();
  Response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

Response Api::move_function(Request& req) {
  auto body = parse_body(req);
  if (!body) return error_to_response(body.error());
  if (!body->is_object()) return http::error_response(400, "invalid_argument", "(body): must be a JSON object");
  Target to;
  std::optional<bool> pin;
  for (auto it = body->begin(); it != body->end(); ++it) {
    if (it.key() == "node") {
      if (!it->is_string() || it->get<std::string>().empty()) return http::error_response(400, "invalid_argument", "node: must be a node name");
      to.node = it->get<std::string>();
    } else if (it.key() == "tier") {
      if (!it->is_string() || !pl::tier_from_string(it->get<std::string>()))
        return http::error_response(400, "invalid_argument", "tier: must be gateway, edge or cloud");
      to.tier = it->get<std::string>();
    } else if (it.key() == "pin") {
      if (!it->is_boolean()) return http::error_response(400, "invalid_argument", "pin: must be true or false");
      pin = it->get<bool>();
    } else {
      return http::error_response(400, "invalid_argument", it.key().substr(0, 40) + ": unknown field (expected node, tier, pin)");
    }
  }
  if (to.node.empty() == to.tier.empty())
    return http::error_response(400, "invalid_argument", "node, tier: give exactly one of them");
  const std::string& id = *req.param("id");
  if (to.is_node()) {
    if (auto s = controller_.check_move(id, to.node); !s) return error_to_response(s.error());
  }
  auto r = state_.move_function(id, to, pin, who(req));
  if (!r) return error_to_response(r.error());
  controller_.wake();
  auto resp = http::json_response(202, *r);
  resp.headers.emplace_back("Location", "/v1/migrations/" + std::to_string((*r)["id"].get<std::int64_t>()));
  return resp;
}

Response Api::mark(Request& req) {
  auto body = parse_body(req);
  if (!body) return error_to_response(body.error());
  if (!body->is_object()) return http::error_response(400, "invalid_argument", "(body): must be a JSON object");
  auto m = body->find("mark");
  if (m == body->end() || !m->is_string()) return http::error_response(400, "invalid_argument", "mark: is required (first_data)");
  std::int64_t t = now_ms();
  if (auto tt = body->find("t"); tt != body->end()) {
    if (!tt->is_number_integer() || tt->get<std::int64_t>() < 0)
      return http::error_response(400, "invalid_argument", "t: must be Unix milliseconds");
    t = tt->get<std::int64_t>();
  }
  auto r = state_.mark(*req.param("function"), m->get<std::string>(), t);
  if (!r) return error_to_response(r.error());
  return http::json_response(200, *r);
}

Response Api::get_policy(Request&) {
  auto p = state_.policy();
  if (!p) return error_to_response(p.error());
  auto r = http::json_response(200, policy_json(*p));
  r.headers.emplace_back("ETag", etag(p->version));
  return r;
}

Response Api::put_policy(Request& req) {
  const std::string* im = req.header("if-match");
  if (!im) return http::error_response(428, "precondition_required", "If-Match: the policy version being replaced is required (GET /v1/policy gives it as ETag)");
  std::string v = *im;
  if (v.rfind("W/", 0) == 0) v = v.substr(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos)
    return http::error_response(400, "invalid_argument", "If-Match: must be a policy version such as \"3\"");
  auto body = parse_body(req);
  if (!body) return error_to_response(body.error());
  // The body is the policy itself, or {"policy": {...}} as GET returns it.
  const json& spec = body->is_object() && body->contains("policy") && (*body)["policy"].is_object() ? (*body)["policy"] : *body;
  auto policy = pl::policy_from_json(spec);
  if (!policy) return error_to_response(policy.error());
  auto row = state_.put_policy(pl::to_json(*policy), std::stoll(v), who(req));
  if (!row) return error_to_response(row.error());
  controller_.wake();
  auto r = http::json_response(200, policy_json(*row));
  r.headers.emplace_back("ETag", etag(row->version));
  return r;
}

Response Api::policy_history(Request& req) {
  ListQuery q;
  for (const auto& [k, v] : req.query) {
    if (k == "limit") {
      if (v.empty() || v.size() > 4 || v.find_first_not_of("0123456789") != std::string::npos || std::stoi(v) < 1 || std::stoi(v) > 1000)
        return http::error_response(400, "invalid_argument", "limit: must be an integer 1..1000");
      q.limit = static_cast<std::size_t>(std::stoi(v));
    } else if (k == "continue") {
      auto after = decode_continue(v);
      if (!after) return http::error_response(400, "invalid_argument", "continue: not a token this server gave out");
      q.after = *after;
    } else {
      return http::error_response(400, "invalid_argument", k.substr(0, 40) + ": unknown query parameter (expected limit, continue)");
    }
  }
  auto page = state_.policy_history(q);
  if (!page) return error_to_response(page.error());
  return http::json_response(200, {{"items", page->items},
                                   {"continue", page->next_after ? json(encode_continue(*page->next_after)) : json(nullptr)}});
}

boost::asio::awaitable<void> Api::watch(Request& req, http::StreamWriter& out) {
  std::set<std::string> kinds;
  if (const std::string* k = req.query_value("kinds")) {
    std::size_t start = 0;
    while (start <= k->size()) {
      auto end = k->find(',', start);
      if (end == std::string::npos) end = k->size();
      kinds.insert(k->substr(start, end - start));
      start = end + 1;
    }
  }
  std::uint64_t cursor = hub_.head();
  if (const std::string* last = req.header("last-event-id")) {
    if (!last->empty() && last->size() < 19 && last->find_first_not_of("0123456789") == std::string::npos)
      cursor = std::min<std::uint64_t>(std::stoull(*last), cursor);
  }
  hub_.subscribe(&out);
  struct Unsubscribe {
    Hub& hub;
    http::StreamWriter* w;
    ~Unsubscribe() { hub.unsubscribe(w); }
  } guard{hub_, &out};
  if (!co_await out.write("retry: 2000\n: watching " + std::to_string(cursor) + "\n\n")) co_return;
  while (!out.stopping()) {
    bool gap = false;
    auto changes = hub_.since(cursor, gap);
    std::string chunk;
    if (gap) chunk += "event: reset\ndata: {\"reason\":\"too far behind; list again\"}\n\n";
    for (const auto& r : changes) {
      cursor = r.rev;
      // Enrolment records (tokens, gateways) are an admin's: never on the watch.
      if (!watched_kinds().count(r.change.kind) || (!kinds.empty() && !kinds.count(r.change.kind))) continue;
      json data{{"rev", r.rev}, {"kind", r.change.kind}, {"id", r.change.id}, {"op", r.change.op}};
      if (r.change.op != "deleted" && r.change.kind != "policy") {
        auto obj = state_.get(r.change.kind, r.change.id);
        data["object"] = obj ? *obj : json(nullptr);
      }
      chunk += "id: " + std::to_string(r.rev) + "\nevent: " + r.change.kind + "\ndata: " + data.dump() + "\n\n";
    }
    if (chunk.empty()) {
      co_await out.wait(std::chrono::seconds(15));
      if (hub_.head() == cursor && !out.stopping()) {
        if (!co_await out.write(": keep-alive\n\n")) co_return;
      }
      continue;
    }
    if (!co_await out.write(std::move(chunk))) co_return;
  }
}

}  // namespace c4i::orchestrator
