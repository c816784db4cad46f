#include "ctl/api_client.hpp"

#include <thread>

namespace c4i::ctl {

using nlohmann::json;

namespace {
http::ClientOptions client_options(const Connection& c) {
  http::ClientOptions o;
  o.host = c.address.host;
  o.port = c.address.port;
  o.tls.ca_file = c.ca_file;
  o.connect_timeout = std::chrono::seconds(5);
  o.request_timeout = std::chrono::seconds(30);
  o.retry.max_attempts = 1;  // an operator sees a failure at once and decides
  o.bearer_token = c.token;
  o.user_agent = "c4ictl/" C4I_VERSION;
  return o;
}
}  // namespace

ApiClient::ApiClient(Connection c) : conn_(std::move(c)), client_(std::make_unique<http::Client>(client_options(conn_))) {}

Error ApiClient::transport(const Error& e) const {
  if (e.code == "tls_config") return Error{"local_file", "TLS settings: " + e.message + (conn_.ca_file.empty() ? "" : " (CA file " + conn_.ca_file + ")")};
  return Error{"unreachable", "cannot reach the orchestrator at " + conn_.server + ": " + e.message};
}

Error ApiClient::refused(const ApiResponse& r) {
  std::string code, message;
  if (r.body.is_object() && r.body.contains("error") && r.body["error"].is_object()) {
    const json& e = r.body["error"];
    if (e.contains("code") && e["code"].is_string()) code = e["code"];
    if (e.contains("message") && e["message"].is_string()) message = e["message"];
  }
  if (message.empty()) message = "the server answered HTTP " + std::to_string(r.status);
  return Error{"refused", message + " (HTTP " + std::to_string(r.status) + (code.empty() ? "" : " " + code) + ")"};
}

Result<ApiResponse> ApiClient::call(const std::string& method, const std::string& target, const std::string& body,
                                    const std::vector<std::pair<std::string, std::string>>& headers) {
  auto hs = headers;
  if (!body.empty()) hs.emplace_back("Content-Type", "application/json");
  hs.emplace_back("Accept", "application/json");
  auto r = client_->request(method, target, body, hs, method == "GET");
  if (!r) return transport(r.error());
  ApiResponse out;
  out.status = r->status;
  out.headers = r->headers;
  if (!r->body.empty()) {
    out.body = json::parse(r->body, nullptr, false);
    if (out.body.is_discarded()) out.body = nullptr;
  }
  return out;
}

Result<json> ApiClient::get(const std::string& target) {
  auto r = call("GET", target);
  if (!r) return r.error();
  if (r->status / 100 != 2) return refused(*r);
  return std::move(r->body);
}

Result<std::vector<json>> ApiClient::list_all(const std::string& kind, const std::string& query) {
  std::vector<json> items;
  std::string cont;
  for (int page = 0; page < 100'000; ++page) {
    std::string target = "/v1/" + kind + "?limit=1000" + (query.empty() ? "" : "&" + query);
    if (!cont.empty()) target += "&continue=" + cont;
    auto r = get(target);
    if (!r) return r.error();
    if (!r->is_object() || !(*r)["items"].is_array())
      return Error{"refused", "the server's answer to GET " + target + " has no items list"};
    for (auto& it : (*r)["items"]) items.push_back(std::move(it));
    if (!(*r)["continue"].is_string() || (*r)["continue"].get<std::string>().empty()) break;
    cont = (*r)["continue"].get<std::string>();  // base64url: safe in a query
  }
  return items;
}

Status ApiClient::watch(const std::string& kinds, const std::function<bool(const SseEvent&)>& on_event,
                        const std::function<bool()>& on_open, const std::function<bool()>& keep_going,
                        const std::function<std::chrono::milliseconds()>& idle) {
  http::Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(5));
  SseParser parser;
  bool opened = false;
  bool stop = false;
  std::string raw;  // the start of the body, for an error answer
  std::optional<Error> open_error;
  while (!stop) {
    std::vector<std::pair<std::string, std::string>> hs{{"Accept", "text/event-stream"}};
    if (!parser.last_event_id().empty()) hs.emplace_back("Last-Event-ID", parser.last_event_id());
    raw.clear();
    std::chrono::milliseconds idle_for = idle ? std::max(idle(), std::chrono::milliseconds(1)) : std::chrono::milliseconds(40'000);
    bool got_data = false;
    auto status = client_->stream(
        "/v1/watch" + (kinds.empty() ? std::string() : "?kinds=" + kinds),
        [&](std::string_view data) {
          got_data = true;
          if (raw.size() < 4096) raw.append(data.substr(0, 4096 - raw.size()));
          if (!raw.empty() && raw.front() == '{') return true;  // a JSON error answer: read it whole
          if (!opened) {
            opened = true;
            if (on_open && !on_open()) {
              stop = true;
              return false;
            }
          }
          parser.feed(data, [&](const SseEvent& e) {
            if (!stop && !on_event(e)) stop = true;
          });
          return !stop;
        },
        idle_for);
    if (!status) return transport(status.error());
    if (*status != 200) {
      ApiResponse r;
      r.status = *status;
      r.body = json::parse(raw, nullptr, false);
      if (r.body.is_discarded()) r.body = nullptr;
      return refused(r);
    }
    // Idle or closed by the server: resume from the last event, and back off
    // when a connection brought nothing (a server going away).
    if (stop || (keep_going && !keep_going())) break;
    if (got_data) backoff.reset();
    else std::this_thread::sleep_for(backoff.next());
  }
  return ok_status();
}

}  // namespace c4i::ctl
