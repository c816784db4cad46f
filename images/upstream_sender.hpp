// The HTTPS upstream of a function: a sender thread that POSTs each result
// in order through the shared HTTPS client, with a bounded drop-oldest buffer.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "common/https_client.hpp"
#include "images/upstream.hpp"

namespace c4i::functions {

struct UpstreamOptions {
  HttpsUrl url;
  http::ClientOptions client;  // host/port/tls filled from url and flags
  std::size_t buffer_capacity = 1000;
};

// Sends each result with POST (application/json) on its own thread, in order.
// A failed delivery (transport error or 5xx after the client's retries) stays
// at the head of the buffer and is tried again after a backoff; a 4xx answer
// is a rejection: the result is dropped and counted. When the buffer is full
// the oldest result is dropped and counted.
class UpstreamSender {
 public:
  explicit UpstreamSender(UpstreamOptions options);
  ~UpstreamSender();
  UpstreamSender(const UpstreamSender&) = delete;
  UpstreamSender& operator=(const UpstreamSender&) = delete;

  void submit(std::string json_body);
  // Waits up to `drain_s` for the buffer to empty, then stops. False when the
  // sender thread is still inside a request (the caller must then exit without
  // joining it: the blocking HTTPS client cannot be cancelled from outside).
  bool stop(double drain_s);

  struct Counters {
    std::uint64_t delivered = 0, dropped_oldest = 0, rejected = 0, failed_attempts = 0;
    std::size_t buffered = 0;
  };
  Counters counters();

 private:
  void run();
  UpstreamOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  DropOldestBuffer<std::string> buffer_;
  bool stopping_ = false, abandon_ = false, in_request_ = false, finished_ = false;
  Counters counters_;
  std::thread thread_;
};

}  // namespace c4i::functions
