// Hub: the recent committed changes, numbered, for GET /v1/watch. The store's
// writer thread publishes; each watch stream reads what is newer than its
// cursor and is woken when more arrives. A bounded ring: a watcher too far
// behind is told to re-list (event "reset").
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <set>
#include <vector>

#include "common/https_server.hpp"
#include "orchestrator/store.hpp"

namespace c4i::orchestrator {

struct Revision {
  std::uint64_t rev = 0;
  Change change;
};

class Hub {
 public:
  explicit Hub(std::size_t capacity = 10'000) : capacity_(capacity) {}
  void publish(const std::vector<Change>& changes);
  void subscribe(http::StreamWriter* w);
  void unsubscribe(http::StreamWriter* w);
  // Changes after `cursor`; `gap` is set when some were already dropped.
  std::vector<Revision> since(std::uint64_t cursor, bool& gap) const;
  std::uint64_t head() const;

 private:
  std::size_t capacity_;
  mutable std::mutex mu_;
  std::deque<Revision> ring_;
  std::uint64_t next_ = 1;
  std::set<http::StreamWriter*> writers_;
};

}  // namespace c4i::orchestrator
