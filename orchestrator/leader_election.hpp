// Leader election on a coordination.k8s.io/v1 Lease, the way client-go's
// leaderelection package does it (our own code): every candidate reads the
// Lease each retry period; the holder renews it (PUT with the
// resourceVersion it read, so two writers cannot both win: the loser gets
// 409); another candidate takes it over only when the holder has not renewed
// it for the lease duration, measured on the candidate's own monotonic clock
// from the moment it last saw the record change (never from the holder's
// timestamps: clocks differ). A holder that could not renew for the renew
// deadline (shorter than the lease duration) stops acting before anyone may
// take over: fencing by time.
//
// The decisions are pure functions of the record and times (decide_lease,
// may_act), unit tested without a cluster; LeaderElector does the I/O.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "orchestrator/cluster_objects.hpp"
#include "orchestrator/k8s_client.hpp"

namespace c4i::orchestrator {

using SteadyTime = std::chrono::steady_clock::time_point;


struct ElectionTiming {
  std::chrono::milliseconds lease_duration{15'000};
  std::chrono::milliseconds renew_deadline{10'000};
  std::chrono::milliseconds retry_period{2'000};
};
// lease_duration > renew_deadline > retry_period > 0 (client-go's rule),
// else invalid_argument naming the flag.
Status validate(const ElectionTiming& t);

enum class LeaseAction {
  create,  // no Lease yet: create it holding it
  renew,   // we hold it: renew
  acquire, // free (released or expired): take it over
  wait,    // someone else holds it and it has not expired
};
const char* to_string(LeaseAction a);

// `current`: the Lease as read (nullopt: it does not exist). `observed_at`:
// when we first saw this record (holder and renew time) unchanged; the
// record's own duration is used (a holder may run with other flags).
LeaseAction decide_lease(const std::optional<LeaseRecord>& current, const std::string& me, SteadyTime observed_at,
                         SteadyTime now);
// When a record first seen unchanged at `observed_at` runs out (its holder's own duration).
SteadyTime lease_expiry(const LeaseRecord& record, SteadyTime observed_at);
// A holder acts only while its last successful renew is younger than the renew deadline.
bool may_act(std::optional<SteadyTime> last_renewed, SteadyTime now, std::chrono::milliseconds renew_deadline);

struct ElectorOptions {
  k8s::Endpoint endpoint;
  std::string ns;
  std::string lease_name = "c4i-orchestrator";
  std::string identity;    // unique per process
  std::string url;         // our REST address, written on the Lease while we hold it
  ElectionTiming timing;
};

class LeaderElector {
 public:
  explicit LeaderElector(ElectorOptions options);
  ~LeaderElector();
  // Called on the elector's thread: started leading (after the Lease write
  // returned), stopped leading (a renew deadline passed, or stop()).
  void set_on_started(std::function<void()> f) { on_started_ = std::move(f); }
  void set_on_stopped(std::function<void()> f) { on_stopped_ = std::move(f); }
  void start();
  // Stops; a holder releases the Lease (holder "") so a successor need not wait it out.
  void stop();
  // True while we hold the Lease and renewed it within the renew deadline. Thread-safe.
  bool leading() const;
  // The current holder's identity and URL as last read (may be us). Thread-safe.
  std::string leader_identity() const;
  std::string leader_url() const;
  const std::string& identity() const { return options_.identity; }

 private:
  void loop();
  // One round: read, decide, write. Returns true when we hold the Lease after it.
  bool round(k8s::Client& c);
  void release(k8s::Client& c);
  void set_leading(bool on);
  // A follower's view of the Lease from a watch: a renewal is seen when it
  // is written, not at the next read, so the lease runs out on our clock
  // when it does on the holder's (a takeover waits the lease, no more).
  void observe(const nlohmann::json& lease);

  ElectorOptions options_;
  std::function<void()> on_started_, on_stopped_;
  std::thread thread_;
  std::unique_ptr<k8s::Watch> watch_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool leading_ = false;                 // as announced through the callbacks
  std::optional<SteadyTime> renewed_at_; // our last successful write of the Lease
  std::optional<LeaseRecord> seen_;      // the record as last read
  SteadyTime seen_at_{};                 // when it last changed, by our clock
  std::string seen_key_;                 // holder + renew time + version: what "changed" means
};

}  // namespace c4i::orchestrator
