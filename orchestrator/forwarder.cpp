#include "orchestrator/forwarder.hpp"

#include <spdlog/spdlog.h>

#include "common/https_url.hpp"
#include "orchestrator/api.hpp"

namespace c4i::orchestrator {

std::optional<http::Response> Forwarder::forward(const std::string& leader_url, const http::Request& req,
                                                 const std::string& gateway) {
  std::unique_ptr<http::Client> client;
  {
    std::lock_guard lock(mu_);
    for (auto it = idle_.begin(); it != idle_.end(); ++it)
      if (it->url == leader_url) {
        client = std::move(it->client);
        idle_.erase(it);
        break;
      }
  }
  if (!client) {
    auto u = http::parse_https_url(leader_url);
    if (!u) {
      spdlog::warn("forwarding to the leader: its URL {}", u.error().message);
      return std::nullopt;
    }
    http::ClientOptions o;
    o.host = u->host;
    o.port = u->port;
    o.server_name = options_.server_name.empty() ? u->host : options_.server_name;
    o.tls.ca_file = options_.ca_file;
    o.tls.cert_file = options_.cert_file;
    o.tls.key_file = options_.key_file;
    o.connect_timeout = options_.timeout;
    o.request_timeout = options_.timeout;
    client = std::make_unique<http::Client>(o);
  }
  std::vector<std::pair<std::string, std::string>> headers{{Api::kForwardedGateway, gateway}};
  if (const std::string* ct = req.header("content-type")) headers.emplace_back("Content-Type", *ct);
  // One attempt: a batch is idempotent (gateway, boot_id, seq), so the
  // gateway's own retry covers a failure here.
  auto r = client->request(req.method, req.target, req.body, headers, false);
  if (!r) {
    spdlog::warn("forwarding {}'s events to the leader at {} failed: {}", gateway, leader_url, r.error().message);
    return std::nullopt;
  }
  http::Response out;
  out.status = r->status;
  out.body = std::move(r->body);
  if (const std::string* ct = r->header("content-type")) out.content_type = *ct;
  for (const char* h : {"retry-after", "x-c4i-leader"})
    if (const std::string* v = r->header(h)) out.headers.emplace_back(h, *v);
  {
    std::lock_guard lock(mu_);
    if (idle_.size() < 64) idle_.push_back(Idle{leader_url, std::move(client)});
  }
  return out;
}

}  // namespace c4i::orchestrator
