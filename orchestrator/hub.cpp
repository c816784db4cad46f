#include "orchestrator/hub.hpp"

namespace c4i::orchestrator {

void Hub::publish(const std::vector<Change>& changes) {
  std::lock_guard lock(mu_);
  for (const auto& c : changes) {
    if (c.kind == "streams") continue;  // the kubernetes backend's bookkeeping, not an API kind
    ring_.push_back(Revision{next_++, c});
    if (ring_.size() > capacity_) ring_.pop_front();
  }
  for (auto* w : writers_) w->wake();
}

void Hub::subscribe(http::StreamWriter* w) {
  std::lock_guard lock(mu_);
  writers_.insert(w);
}

void Hub::unsubscribe(http::StreamWriter* w) {
  std::lock_guard lock(mu_);
  writers_.erase(w);
}

std::vector<Revision> Hub::since(std::uint64_t cursor, bool& gap) const {
  std::lock_guard lock(mu_);
  std::vector<Revision> out;
  gap = !ring_.empty() && cursor + 1 < ring_.front().rev;
  for (const auto& r : ring_)
    if (r.rev > cursor) out.push_back(r);
  return out;
}

std::uint64_t Hub::head() const {
  std::lock_guard lock(mu_);
  return next_ - 1;
}

}  // namespace c4i::orchestrator
