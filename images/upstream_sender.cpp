// The HTTPS upstream sender; its own translation unit, so that a function
// without an upstream (the engine) links no TLS code.
#include <spdlog/spdlog.h>

#include "images/upstream_sender.hpp"

namespace c4i::functions {

UpstreamSender::UpstreamSender(UpstreamOptions options)
    : options_(std::move(options)), buffer_(options_.buffer_capacity) {
  thread_ = std::thread([this] { run(); });
}

UpstreamSender::~UpstreamSender() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
}

void UpstreamSender::submit(std::string json_body) {
  bool dropped;
  std::uint64_t total;
  {
    std::lock_guard lock(mu_);
    dropped = buffer_.push(std::move(json_body));
    total = buffer_.dropped();
  }
  if (dropped)
    spdlog::warn("upstream buffer full ({} results): dropped the oldest, {} dropped in all", options_.buffer_capacity, total);
  cv_.notify_all();
}

UpstreamSender::Counters UpstreamSender::counters() {
  std::lock_guard lock(mu_);
  Counters c = counters_;
  c.dropped_oldest = buffer_.dropped();
  c.buffered = buffer_.size();
  return c;
}

bool UpstreamSender::stop(double drain_s) {
  std::unique_lock lock(mu_);
  stopping_ = true;
  cv_.notify_all();
  cv_.wait_for(lock, std::chrono::duration<double>(drain_s), [&] { return finished_; });
  if (!finished_) abandon_ = true;
  cv_.notify_all();
  if (finished_ || !in_request_) {
    lock.unlock();
    thread_.join();
    return true;
  }
  lock.unlock();
  thread_.detach();
  return false;
}

void UpstreamSender::run() {
  http::Client client(options_.client);
  http::Backoff backoff(options_.client.retry.base, options_.client.retry.max);
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !buffer_.empty(); });
    if (buffer_.empty() || abandon_) break;
    const std::string body = buffer_.front();
    const std::uint64_t generation = buffer_.dropped();
    in_request_ = true;
    lock.unlock();
    auto r = client.request("POST", options_.url.target, body, {{"content-type", "application/json"}}, true);
    lock.lock();
    in_request_ = false;
    // The head is still the result just sent unless drop-oldest removed it meanwhile.
    auto pop_sent = [&] {
      if (buffer_.dropped() == generation && !buffer_.empty()) buffer_.pop();
    };
    if (r && r->status >= 200 && r->status < 300) {
      ++counters_.delivered;
      pop_sent();
      backoff.reset();
      continue;
    }
    if (r && r->status >= 400 && r->status < 500 && r->status != 408 && r->status != 429) {
      ++counters_.rejected;
      pop_sent();
      spdlog::warn("upstream rejected a result with HTTP {}: dropped ({} rejected in all)", r->status, counters_.rejected);
      continue;
    }
    ++counters_.failed_attempts;
    const auto delay = backoff.next();
    spdlog::warn("upstream POST {} failed ({}); {} buffered, next try in {} ms", options_.url.target,
                 r ? "HTTP " + std::to_string(r->status) : r.error().message, buffer_.size(), delay.count());
    if (stopping_) break;
    cv_.wait_for(lock, delay, [&] { return stopping_; });
    if (abandon_) break;
  }
  finished_ = true;
  cv_.notify_all();
}

}  // namespace c4i::functions
