#include "orchestrator/leader_election.hpp"

#include <cstdlib>

#include <spdlog/spdlog.h>

#include "orchestrator/k8s_objects.hpp"
#include "orchestrator/state.hpp"

namespace c4i::orchestrator {

using nlohmann::json;

namespace {
std::string lease_path(const std::string& ns, const std::string& name) {
  return "/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases" + (name.empty() ? "" : "/" + name);
}
}  // namespace

Status validate(const ElectionTiming& t) {
  if (t.retry_period.count() <= 0) return Error{"invalid_argument", "--retry-period-ms must be above 0"};
  if (t.lease_duration.count() % 1000 != 0 || t.lease_duration.count() < 1000)
    return Error{"invalid_argument", "--lease-duration-s must be a whole number of seconds, at least 1"};
  if (t.renew_deadline <= t.retry_period)
    return Error{"invalid_argument", "--renew-deadline-ms must be above --retry-period-ms"};
  if (t.lease_duration <= t.renew_deadline)
    return Error{"invalid_argument", "--lease-duration-s must be above --renew-deadline-ms"};
  return ok_status();
}

const char* to_string(LeaseAction a) {
  switch (a) {
    case LeaseAction::create: return "create";
    case LeaseAction::renew: return "renew";
    case LeaseAction::acquire: return "acquire";
    case LeaseAction::wait: return "wait";
  }
  return "?";
}

LeaseAction decide_lease(const std::optional<LeaseRecord>& current, const std::string& me, SteadyTime observed_at,
                         SteadyTime now) {
  if (!current) return LeaseAction::create;
  if (current->holder == me) return LeaseAction::renew;
  if (current->holder.empty()) return LeaseAction::acquire;  // released
  return now >= lease_expiry(*current, observed_at) ? LeaseAction::acquire : LeaseAction::wait;
}

SteadyTime lease_expiry(const LeaseRecord& record, SteadyTime observed_at) {
  // The holder's own promise: it renews within this long, or may be replaced.
  return observed_at + std::chrono::seconds(std::max<std::int64_t>(record.lease_duration_s, 0));
}

bool may_act(std::optional<SteadyTime> last_renewed, SteadyTime now, std::chrono::milliseconds renew_deadline) {
  return last_renewed && now - *last_renewed < renew_deadline;
}

// ---------------------------------------------------------------- LeaderElector

LeaderElector::LeaderElector(ElectorOptions options) : options_(std::move(options)) {}

LeaderElector::~LeaderElector() { stop(); }

void LeaderElector::start() {
  k8s::Watch::Handlers h;
  h.replace = [this](const std::vector<json>& items) {
    for (const auto& l : items) observe(l);
  };
  h.event = [this](const std::string& type, const json& l) {
    if (type != "DELETED") observe(l);
  };
  watch_ = std::make_unique<k8s::Watch>(options_.endpoint, lease_path(options_.ns, ""), "", std::move(h));
  watch_->set_field_selector("metadata.name=" + options_.lease_name);
  watch_->start();
  thread_ = std::thread([this] { loop(); });
}

void LeaderElector::observe(const json& object) {
  if (k8s::str_at(object, {"metadata", "name"}) != options_.lease_name) return;
  json lease = object;
  lease["kind"] = "Lease";  // a list's items do not say
  auto rec = lease_from_json(lease);
  if (!rec) return;
  std::lock_guard lock(mu_);
  // The holder keeps to its own reads and writes (a late event must not
  // make it doubt a renewal it made); and no record older than the one seen.
  if (leading_ || (seen_ && seen_->holder == options_.identity)) return;
  if (seen_) {
    char* end_a = nullptr;
    char* end_b = nullptr;
    auto a = std::strtoull(rec->resource_version.c_str(), &end_a, 10);
    auto b = std::strtoull(seen_->resource_version.c_str(), &end_b, 10);
    if (end_a && !*end_a && end_b && !*end_b && a < b) return;
  }
  std::string key = rec->holder + "|" + rec->resource_version;
  if (key != seen_key_) {
    seen_key_ = key;
    seen_at_ = std::chrono::steady_clock::now();
  }
  seen_ = std::move(*rec);
}

void LeaderElector::stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (watch_) watch_->stop();
}

bool LeaderElector::leading() const {
  std::lock_guard lock(mu_);
  return leading_ && may_act(renewed_at_, std::chrono::steady_clock::now(), options_.timing.renew_deadline);
}

std::string LeaderElector::leader_identity() const {
  std::lock_guard lock(mu_);
  return seen_ ? seen_->holder : "";
}

std::string LeaderElector::leader_url() const {
  std::lock_guard lock(mu_);
  return seen_ && !seen_->holder.empty() ? seen_->leader_url : "";
}

void LeaderElector::set_leading(bool on) {
  {
    std::lock_guard lock(mu_);
    if (leading_ == on) return;
    leading_ = on;
  }
  spdlog::info("leader election: {} the leader (lease {}/{}, identity {}, at {} ms)", on ? "became" : "no longer",
               options_.ns, options_.lease_name, options_.identity, now_ms());
  if (on && on_started_) on_started_();
  if (!on && on_stopped_) on_stopped_();
}

void LeaderElector::loop() {
  // A request ends within half the renew deadline, so a read and a write
  // fit in it. (Acting stops at the deadline however long a call takes:
  // leading() counts from when the last successful renew was sent.)
  k8s::Client client(options_.endpoint, options_.timing.renew_deadline / 2, 1);
  while (true) {
    bool held = round(client);
    bool acting;
    {
      std::lock_guard lock(mu_);
      acting = held && may_act(renewed_at_, std::chrono::steady_clock::now(), options_.timing.renew_deadline);
    }
    set_leading(acting);
    std::unique_lock lock(mu_);
    // A follower tries again at the instant another's lease runs out, not at
    // the next retry tick after it: a takeover waits the lease, not the lease
    // plus up to a retry period.
    auto wait = options_.timing.retry_period;
    if (seen_ && !seen_->holder.empty() && seen_->holder != options_.identity) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(lease_expiry(*seen_, seen_at_) -
                                                                        std::chrono::steady_clock::now());
      if (left >= std::chrono::milliseconds(0) && left < wait) wait = left + std::chrono::milliseconds(1);
    }
    cv_.wait_for(lock, wait, [&] { return stop_; });
    if (stop_) break;
  }
  bool was = false;
  {
    std::lock_guard lock(mu_);
    was = leading_;
  }
  set_leading(false);
  if (was) release(client);
}

bool LeaderElector::round(k8s::Client& c) {
  const auto& me = options_.identity;
  auto got = c.call("GET", lease_path(options_.ns, options_.lease_name), {}, {}, false);
  std::optional<LeaseRecord> current;
  if (!got) {
    spdlog::warn("leader election: reading lease {}/{}: {}", options_.ns, options_.lease_name, got.error().message);
    std::lock_guard lock(mu_);
    return seen_ && seen_->holder == me;  // keep acting until the renew deadline says otherwise
  }
  if (got->status == 200) {
    auto parsed = lease_from_json(json::parse(got->body, nullptr, false));
    if (!parsed) {
      spdlog::error("leader election: lease {}/{}: {}", options_.ns, options_.lease_name, parsed.error().message);
      return false;
    }
    current = std::move(*parsed);
  } else if (got->status != 404) {
    spdlog::warn("leader election: reading lease {}/{}: HTTP {}: {}", options_.ns, options_.lease_name, got->status,
                 k8s::status_message(*got));
    std::lock_guard lock(mu_);
    return seen_ && seen_->holder == me;
  }
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    std::string key = current ? current->holder + "|" + current->resource_version : "";
    if (key != seen_key_) {
      seen_key_ = key;
      seen_at_ = now;  // the expiry clock of this record starts when we first see it
    }
    seen_ = current;
    if (current && current->holder != me) renewed_at_.reset();
  }
  LeaseAction action = decide_lease(current, me, seen_at_, now);
  if (action == LeaseAction::wait) return false;

  LeaseRecord next;
  std::int64_t t = now_ms();
  next.holder = me;
  next.lease_duration_s = std::chrono::duration_cast<std::chrono::seconds>(options_.timing.lease_duration).count();
  next.renew_ms = t;
  next.leader_url = options_.url;
  if (action == LeaseAction::renew) {
    next.acquire_ms = current->acquire_ms ? current->acquire_ms : t;
    next.transitions = current->transitions;
  } else {
    next.acquire_ms = t;
    next.transitions = current ? current->transitions + 1 : 0;
  }
  if (current) next.resource_version = current->resource_version;
  auto body = lease_to_json(next, options_.lease_name, options_.ns).dump();
  // Fencing counts from before the write: others start their clock only after it.
  auto sent = std::chrono::steady_clock::now();
  auto r = action == LeaseAction::create
               ? c.call("POST", lease_path(options_.ns, ""), body, "application/json", false)
               : c.call("PUT", lease_path(options_.ns, options_.lease_name), body, "application/json", false);
  if (!r) {
    spdlog::warn("leader election: {} lease {}/{}: {}", to_string(action), options_.ns, options_.lease_name, r.error().message);
    std::lock_guard lock(mu_);
    return action == LeaseAction::renew;
  }
  if (r->status == 409) {
    // Someone else wrote it first (created, renewed or took it over): read again next round.
    spdlog::info("leader election: {} lost a race for lease {}/{} (409)", to_string(action), options_.ns, options_.lease_name);
    return false;
  }
  if (r->status != 200 && r->status != 201) {
    spdlog::warn("leader election: {} lease {}/{}: HTTP {}: {}", to_string(action), options_.ns, options_.lease_name,
                 r->status, k8s::status_message(*r));
    return action == LeaseAction::renew;
  }
  auto written = lease_from_json(json::parse(r->body, nullptr, false));
  std::lock_guard lock(mu_);
  renewed_at_ = sent;
  if (written) {
    seen_ = *written;
    seen_key_ = written->holder + "|" + written->resource_version;
    seen_at_ = sent;
  }
  if (action != LeaseAction::renew)
    spdlog::info("leader election: {} lease {}/{} as {}", action == LeaseAction::create ? "created" : "took over",
                 options_.ns, options_.lease_name, me);
  return true;
}

void LeaderElector::release(k8s::Client& c) {
  std::optional<LeaseRecord> held;
  {
    std::lock_guard lock(mu_);
    held = seen_;
  }
  if (!held || held->holder != options_.identity) return;
  LeaseRecord r = *held;
  r.holder.clear();
  r.lease_duration_s = 1;
  r.renew_ms = now_ms();
  auto res = c.call("PUT", lease_path(options_.ns, options_.lease_name), lease_to_json(r, options_.lease_name, options_.ns).dump(),
                    "application/json", false);
  if (!res || (res->status != 200))
    spdlog::warn("leader election: releasing lease {}/{} failed ({}); a successor waits for it to expire", options_.ns,
                 options_.lease_name, res ? std::to_string(res->status) : res.error().message);
  else
    spdlog::info("leader election: released lease {}/{}", options_.ns, options_.lease_name);
}

}  // namespace c4i::orchestrator
