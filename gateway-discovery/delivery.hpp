// Delivery: a thread that sends the outbox, oldest first, in batches, to
// POST /v1/gateways/{gateway}/events over HTTPS with the gateway's client
// certificate, and trims the outbox only after a 200. Failures wait with
// exponential backoff and full jitter, then send the same events again.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "common/tls.hpp"
#include "gateway-discovery/daemon_config.hpp"
#include "gateway-discovery/outbox.hpp"

namespace c4i::discovery {

struct DeliveryOptions {
  std::string gateway;
  Endpoint endpoint;
  tls::ClientTlsOptions tls;
  int batch_max = 100;
  std::chrono::milliseconds backoff_base{200};
  std::chrono::milliseconds backoff_max{30'000};
  std::chrono::milliseconds request_timeout{10'000};
};

class Delivery {
 public:
  Delivery(DeliveryOptions options, Outbox outbox);
  ~Delivery();  // stops
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;

  void start();
  // Ends after the request in flight; undelivered events stay in the outbox.
  void stop();
  // New events are in the outbox.
  void notify();
  // The client certificate files were replaced (a renewal): the next request
  // goes on a new connection with them; the one in flight finishes with the old.
  void reload_credentials();

  std::uint64_t delivered() const { return delivered_.load(); }
  std::uint64_t failures() const { return failures_.load(); }

 private:
  void run();
  bool wait_for(std::chrono::milliseconds d);  // false when stopping

  DeliveryOptions options_;
  Outbox outbox_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool pending_ = false;
  bool reload_ = false;
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> failures_{0};
};

}  // namespace c4i::discovery
