#include "gateway-discovery/delivery.hpp"

#include <memory>

#include <spdlog/spdlog.h>

#include "common/https_client.hpp"

namespace c4i::discovery {

Delivery::Delivery(DeliveryOptions options, Outbox outbox) : options_(std::move(options)), outbox_(std::move(outbox)) {}

Delivery::~Delivery() { stop(); }

void Delivery::start() { thread_ = std::thread([this] { run(); }); }

void Delivery::stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Delivery::notify() {
  {
    std::lock_guard lk(mu_);
    pending_ = true;
  }
  cv_.notify_all();
}

void Delivery::reload_credentials() {
  {
    std::lock_guard lk(mu_);
    reload_ = true;
  }
  cv_.notify_all();
}

bool Delivery::wait_for(std::chrono::milliseconds d) {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, d, [&] { return stop_; });
  return !stop_;
}

void Delivery::run() {
  http::ClientOptions co;
  co.host = options_.endpoint.host;
  co.port = options_.endpoint.port;
  co.tls = options_.tls;
  co.request_timeout = options_.request_timeout;
  co.connect_timeout = std::min(options_.request_timeout, std::chrono::milliseconds(5000));
  co.retry.max_attempts = 1;  // our own loop retries, so stop() is never stuck in a backoff
  co.user_agent = "c4i-discovery";
  auto client = std::make_unique<http::Client>(co);
  http::Backoff backoff(options_.backoff_base, options_.backoff_max);
  const std::string target = "/v1/gateways/" + options_.gateway + "/events";
  int batch_max = options_.batch_max;
  bool failing = false;

  for (;;) {
    {
      std::unique_lock lk(mu_);
      if (stop_) return;
      if (reload_) {
        // The files are read when the client is made (its TLS context).
        reload_ = false;
        client = std::make_unique<http::Client>(co);
        spdlog::info("delivery: using the renewed client certificate");
      }
    }
    auto rows = outbox_.peek(batch_max);
    if (!rows) {
      spdlog::error("outbox: {}", rows.error().message);
      if (!wait_for(backoff.next())) return;
      continue;
    }
    if (rows->empty()) {
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, std::chrono::seconds(1), [&] { return stop_ || pending_ || reload_; });
      pending_ = false;
      if (stop_) return;
      continue;
    }
    const std::int64_t first = rows->front().seq, last = rows->back().seq;
    const std::string body = batch_body(options_.gateway, outbox_.boot_id(), *rows);
    auto resp = client->request("POST", target, body, {{"Content-Type", "application/json"}}, false);
    if (resp && resp->status == 200) {
      if (auto s = outbox_.trim(last); !s) {
        // Delivered but not trimmed: the next send repeats it and the orchestrator dedupes by seq.
        spdlog::error("outbox: trim after delivery failed: {}", s.error().message);
      }
      delivered_ += static_cast<std::uint64_t>(rows->size());
      if (failing) spdlog::info("delivery: orchestrator reachable again; delivered seq {}..{}", first, last);
      failing = false;
      backoff.reset();
      continue;
    }
    ++failures_;
    if (resp && resp->status == 413 && batch_max > 1) batch_max = std::max(1, batch_max / 2);
    const auto wait = backoff.next();
    const std::string why = resp ? "HTTP " + std::to_string(resp->status) : resp.error().message;
    if (!failing || backoff.attempt() % 10 == 0)
      spdlog::warn("delivery: seq {}..{} not delivered ({}); retry {} in {} ms", first, last, why, backoff.attempt(),
                   wait.count());
    failing = true;
    client->close();
    if (!wait_for(wait)) return;
  }
}

}  // namespace c4i::discovery
