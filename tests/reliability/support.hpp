// Helpers for the fault tests (issue 13): a pair of network namespaces joined
// by a veth link, a small tmpfs, synthetic btsnoop captures of devices that
// enter and leave (so the discovery daemon produces a known event sequence),
// a c4i-discovery process, and readers of the orchestrator's and the outbox's
// SQLite files from outside (WAL lets a reader in).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/orchestrator/harness.hpp"
#include "tests/support/outbox.hpp"
#include "tests/support/testlib.hpp"

namespace c4i::testing {

// Two network namespaces, "orch" and "gw", joined by a veth link:
// orch_ip() (10.x.y.1/24) in one and gw_ip() (10.x.y.2/24) in the other, with
// loopback up in both. Removed by the destructor. available() is false (and
// why() says why) where namespaces cannot be made (not root, no CAP_NET_ADMIN).
class NetnsPair {
 public:
  NetnsPair();
  ~NetnsPair();
  NetnsPair(const NetnsPair&) = delete;
  NetnsPair& operator=(const NetnsPair&) = delete;
  bool available() const { return ok_; }
  const std::string& why() const { return why_; }
  const std::string& orch_ns() const { return orch_; }
  const std::string& gw_ns() const { return gw_; }
  std::string orch_ip() const { return "10.213.7.1"; }
  std::string gw_ip() const { return "10.213.7.2"; }
  // `ip netns exec <ns>`, to put in front of a command (ip by its full
  // path: Child execs without a PATH search).
  std::vector<std::string> exec_in(const std::string& ns) const { return {ip_path(), "netns", "exec", ns}; }
  static std::string ip_path();
  // Sets the gateway's end of the link down or up; false when ip failed.
  bool set_link(bool up);

 private:
  bool ok_ = false;
  std::string why_, orch_, gw_;
};

// A tmpfs of `size_kb` mounted on `dir` (created); lazily unmounted by the
// destructor. mounted() is false (why() says why) where mount is not allowed.
class SmallTmpfs {
 public:
  SmallTmpfs(std::string dir, int size_kb);
  ~SmallTmpfs();
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  bool mounted() const { return ok_; }
  const std::string& why() const { return why_; }
  // Writes a filler file until the file system is full; returns its size.
  std::int64_t fill();
  // Removes the filler file.
  void release();

 private:
  std::string dir_, why_;
  bool ok_ = false;
};

// A btsnoop capture (datalink H4) in which device i (address
// c4:7c:8d:00:HH:LL) advertises from `first_s + i * spacing_s` (capture time):
// `strong` reports at -50 dBm every 0.5 s, then 4 at -100 dBm. With a
// daemon threshold of -70, hysteresis 6, alpha 0.3 and no refreshes each
// device gives exactly two events, in this order: device.seen (enter) and
// device.lost (below_threshold). Returns the capture's span in seconds.
double write_enter_leave_capture(const std::string& path, int devices, double spacing_s, int strong = 3,
                                 double first_s = 0.5);
std::string capture_device(int i);

// A capture whose clock may jump: `visits` are written in the order given
// (not sorted by time), each one device's `strong` reports at -50 dBm every
// 0.5 s from `start_s` (capture time, which may go back), then 4 at -100 dBm:
// one device.seen and one device.lost per visit, as above. Replayed "@0" (as
// fast as it reads) the daemon stamps each event with the capture's clock,
// rebased to now: a gateway whose clock jumps.
struct Visit {
  int device = 0;
  double start_s = 0;
};
void write_visits_capture(const std::string& path, const std::vector<Visit>& visits, int strong = 3);

// A c4i-discovery for gateway `gw` (test PKI certificate) with the presence
// settings the capture above needs; `prefix` runs it elsewhere (ip netns exec).
struct DiscoveryOptions {
  std::string gateway = "gw-1";
  std::string url;          // https://HOST:PORT
  std::string source;       // btsnoop:FILE@speed, sim:...
  std::string outbox;       // path of the outbox database
  int request_timeout_ms = 2000;
  int backoff_max_ms = 500;
  int batch_max = 50;
  int heartbeat_s = 0;
  std::vector<std::string> prefix;
};
std::unique_ptr<Child> start_discovery(const TempDir& dir, const DiscoveryOptions& o);

// The orchestrator's view of one gateway stream, read from state.db:
// last applied seq and the number of events applied.
struct StreamState {
  std::int64_t last_seq = 0, events = 0;
  int boot_ids = 0;
};
StreamState stream_state(const std::string& db_path, const std::string& gateway);
// Per device: seen_events and state ("present" | "lost"), from state.db.
struct DeviceRow {
  std::int64_t seen_events = 0;
  std::string state;
};
std::optional<DeviceRow> device_row(const std::string& db_path, const std::string& addr);
// PRAGMA integrity_check of a database file ("ok" when sound).
std::string integrity(const std::string& db_path);

// A server certificate for `ip` (IP SAN) signed by the test CA, in `dir`:
// returns {cert, key}.
std::pair<std::string, std::string> server_cert_for_ip(const TempDir& dir, const std::string& ip);

// Checks that `gateway`'s stream on the orchestrator holds exactly the
// capture's 2 * devices events, each applied once and in order (applied
// count == last seq: every seq from 1 applied once, strictly increasing),
// and that every device ended lost after one seen. Adds gtest failures.
void expect_capture_delivered_once_in_order(const std::string& db_path, const std::string& gateway, int devices);

std::string read_log(const Child& c);
int count_occurrences(const std::string& text, const std::string& needle);

// A TCP listener on 127.0.0.1 at a free port (SO_REUSEADDR, backlog 64): its fd, or -1.
int listen_loopback(std::uint16_t* port);

}  // namespace c4i::testing
