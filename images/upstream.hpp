// Where a function sends its results: an HTTPS endpoint given as a URL, with a
// bounded local buffer that drops the oldest result when full (and counts it),
// so a long upstream outage costs old data, never memory. Pure.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>

#include "common/https_url.hpp"
#include "common/result.hpp"

namespace c4i::functions {

using http::HttpsUrl;
using http::parse_https_url;

template <typename T>
class DropOldestBuffer {
 public:
  explicit DropOldestBuffer(std::size_t capacity) : capacity_(capacity ? capacity : 1) {}
  // Appends; when full, the oldest entry is dropped first. True when one was dropped.
  bool push(T v) {
    bool dropped = false;
    if (q_.size() >= capacity_) {
      q_.pop_front();
      ++dropped_;
      dropped = true;
    }
    q_.push_back(std::move(v));
    return dropped;
  }
  bool empty() const { return q_.empty(); }
  std::size_t size() const { return q_.size(); }
  const T& front() const { return q_.front(); }
  void pop() { q_.pop_front(); }
  std::uint64_t dropped() const { return dropped_; }
  std::size_t capacity() const { return capacity_; }

 private:
  std::size_t capacity_;
  std::deque<T> q_;
  std::uint64_t dropped_ = 0;
};

}  // namespace c4i::functions
