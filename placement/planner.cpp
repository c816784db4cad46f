// The planner: an indexed copy of the world and the rules of placement.h.
//
// Data layout (for 10,000 nodes / 100,000 functions in milliseconds):
//  * every entity has a dense index; names map to indexes once, at load;
//    everything is sorted by name at load, so index order is name order and
//    input order never changes a decision;
//  * per node accounting arrays (measured usage, sum of requests) in `Acct`;
//  * one indexed max-heap per (tier, arch) bucket of ready nodes, ordered by
//    headroom under the high watermarks, so "the node with most room" is the
//    top (a full scan of the bucket only when the top does not fit, cached per
//    bucket version so a full tier is scanned once, not once per function);
//  * a plan works on a copy of the accounting (so plan() is const), the
//    incremental path on the base accounting with an undo log.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "placement/format.hpp"
#include "placement/placement.hpp"

namespace c4i::placement {

namespace {

constexpr std::uint32_t kNone = 0xffffffffu;
constexpr std::uint32_t kUnknown = 0xfffffffeu;  // a function's node name that is not a node
constexpr double kGoneRssi = -127.0;             // a sighting its gateway gave up (device.lost)
constexpr Millis kMoveWindowMs = 60'000;

bool valid(std::uint32_t i) { return i < kUnknown; }

double frac(std::int64_t used, std::int64_t cap) {
  if (cap <= 0) return used > 0 ? std::numeric_limits<double>::infinity() : 0.0;
  return static_cast<double>(used) / static_cast<double>(cap);
}

Resources plus(Resources a, const Resources& b) {
  a.cpu_millis += b.cpu_millis;
  a.memory_bytes += b.memory_bytes;
  return a;
}

std::string tiers_text(const std::vector<Tier>& tiers) {
  std::string s;
  for (Tier t : tiers) {
    if (!s.empty()) s += ",";
    s += to_string(t);
  }
  return s;
}

struct TemplRec {
  FunctionTemplate t;
  std::vector<Tier> tiers;                   // effective (policy override or the template's own)
  std::array<std::int8_t, kTierCount> pos{};  // position of a tier in `tiers`, -1 when not allowed
  std::vector<std::uint16_t> archs;          // interned
  std::vector<std::uint8_t> arch_ok;         // by arch id
};

struct FuncRec {
  Function f;
  std::uint32_t tmpl = kNone;
  std::uint32_t dev = kNone;
  std::uint32_t node = kNone;  // kNone: not deployed; kUnknown: a name that is not a node
  bool pinned = false;         // f.pinned or named by the policy
};

struct DevRec {
  Device d;
  std::vector<std::uint32_t> gw;     // per sighting: gateway node index, kNone when ignored
  std::vector<std::uint32_t> funcs;  // functions of this device, in id order
  bool synthetic = false;            // made for a function naming an unknown device
};

struct Bucket {
  Tier tier;
  std::uint16_t arch;
  std::vector<std::uint32_t> members;  // in name order
};

// Per-node accounting and the bucket heaps: the part a plan copies.
struct Acct {
  std::vector<Resources> usage;      // measured, plus the loads moved by decisions
  std::vector<Resources> requested;  // sum of requests of the functions on the node
  std::vector<std::vector<std::uint32_t>> heap;  // per bucket: max-heap of node indexes
  std::vector<std::uint32_t> pos;                // per node: position in its heap, kNone when out
  std::vector<std::uint64_t> version;            // per bucket: bumped on every change
  std::uint64_t generation = 0;                  // bumped on any change
};

struct Undo {
  std::uint32_t f, from, to;
  Resources removed;
};

struct Cand {
  std::uint32_t gw;
  double rssi;
};

enum class Held : std::uint8_t { other, unplaceable, cooldown, budget, pin };

// A bucket that found no node for (load, requests) finds none for anything
// at least as large in both, until the bucket changes.
struct FailCache {
  std::uint64_t version = ~std::uint64_t{0};
  Resources load, requests;
};

bool covers(const Resources& big, const Resources& small) {
  return big.cpu_millis >= small.cpu_millis && big.memory_bytes >= small.memory_bytes;
}

enum class Mode : std::uint8_t { place = 0, bring_down = 1, manual = 2 };

}  // namespace

struct Planner::Impl {
  Policy policy;

  std::vector<Node> nodes;  // name order (usage lives in acct)
  std::unordered_map<std::string, std::uint32_t> node_by_name;
  std::vector<std::uint16_t> node_arch;
  std::vector<std::uint32_t> node_bucket;
  std::vector<std::vector<std::uint32_t>> node_funcs;
  std::vector<std::string> arch_names;
  std::unordered_map<std::string, std::uint16_t> arch_by_name;
  std::vector<Bucket> buckets;
  std::array<std::vector<std::uint32_t>, kTierCount> tier_buckets;

  std::vector<TemplRec> templates;
  std::unordered_map<std::string, std::uint32_t> tmpl_by_name;

  std::vector<DevRec> devices;
  std::unordered_map<std::string, std::uint32_t> dev_by_id;
  std::size_t sightings_ignored = 0;
  std::size_t events_dropped = 0;  // device events with no device, no gateway or no RSSI

  std::vector<FuncRec> funcs;
  std::unordered_map<std::string, std::uint32_t> fn_by_id;
  mutable std::vector<std::uint32_t> order;      // function indexes in id order
  mutable std::vector<std::uint32_t> func_rank;  // position in `order`
  mutable bool order_dirty = false;

  std::vector<Millis> recent_moves;
  Acct base;

  // Reused by the incremental path so one event allocates nothing but its output.
  std::vector<std::uint8_t> inc_decided;
  std::vector<std::int32_t> inc_stay_slot;
  std::vector<Undo> inc_undo;
  std::vector<Cand> inc_cands;

  // ---- one plan's (or one event's) working state ----
  struct Work {
    Acct* acct = nullptr;
    Millis now = 0;
    std::vector<Undo>* undo = nullptr;  // incremental: record to revert
    std::vector<std::uint8_t>* decided = nullptr;
    std::vector<std::int32_t>* stay_slot = nullptr;
    struct Stay {
      std::uint32_t f;
      Decision d;
      Held held;
    };
    std::vector<Stay> stays;
    int round = 0;
    std::vector<Decision>* out = nullptr;
    PlanStats* stats = nullptr;
    std::int64_t budget = std::numeric_limits<std::int64_t>::max();
    std::vector<std::uint32_t>* retry = nullptr;  // full plan: functions held back for room
    std::vector<FailCache> fail[2];                // per bucket, per mode (place, bring_down)
    std::vector<Cand>* cands = nullptr;
    std::vector<std::uint32_t> offload_cands;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> chosen;
    std::vector<std::uint32_t> touched;  // incremental: functions whose flags to reset
    // The last "no node ..." reason per template: many unplaceable functions
    // of one template cost one scan of the nodes, not one each.
    struct NoNode {
      std::uint64_t generation = ~std::uint64_t{0};
      unsigned tiers = 0;
      Resources load, requests;
      std::string reason;
    };
    std::vector<NoNode> no_node;
  };

  // ------------------------------------------------------------------ basics

  bool usable(std::uint32_t n, Millis now) const {
    const Node& nd = nodes[n];
    if (!nd.ready) return false;
    if (nd.last_heartbeat_ms && now - *nd.last_heartbeat_ms > policy.node_stale_after_s * 1000) return false;
    return true;
  }

  Resources requests_of(std::uint32_t f) const { return templates[funcs[f].tmpl].t.requests; }
  Resources load_of(std::uint32_t f) const {
    Resources l = requests_of(f);
    if (const auto& u = funcs[f].f.usage) {
      l.cpu_millis = std::max(l.cpu_millis, u->cpu_millis);
      l.memory_bytes = std::max(l.memory_bytes, u->memory_bytes);
    }
    return l;
  }

  double headroom(const Acct& a, std::uint32_t n) const {
    const Node& nd = nodes[n];
    const Watermarks& w = policy.tier(nd.tier);
    double c = w.cpu_high - frac(a.usage[n].cpu_millis, nd.capacity.cpu_millis);
    double m = w.mem_high - frac(a.usage[n].memory_bytes, nd.capacity.memory_bytes);
    return std::min(c, m);
  }
  // True when node a ranks above node b (more room; ties by name).
  bool better(const Acct& acct, std::uint32_t a, std::uint32_t b) const {
    double ha = headroom(acct, a), hb = headroom(acct, b);
    if (ha != hb) return ha > hb;
    return a < b;
  }

  // ------------------------------------------------------------------ heaps

  void sift_up(Acct& a, std::vector<std::uint32_t>& h, std::size_t i) const {
    std::uint32_t n = h[i];
    while (i > 0) {
      std::size_t p = (i - 1) / 2;
      if (!better(a, n, h[p])) break;
      h[i] = h[p];
      a.pos[h[i]] = static_cast<std::uint32_t>(i);
      i = p;
    }
    h[i] = n;
    a.pos[n] = static_cast<std::uint32_t>(i);
  }
  void sift_down(Acct& a, std::vector<std::uint32_t>& h, std::size_t i) const {
    std::uint32_t n = h[i];
    std::size_t size = h.size();
    for (;;) {
      std::size_t l = 2 * i + 1;
      if (l >= size) break;
      std::size_t c = l;
      if (l + 1 < size && better(a, h[l + 1], h[l])) c = l + 1;
      if (!better(a, h[c], n)) break;
      h[i] = h[c];
      a.pos[h[i]] = static_cast<std::uint32_t>(i);
      i = c;
    }
    h[i] = n;
    a.pos[n] = static_cast<std::uint32_t>(i);
  }
  void heap_fix(Acct& a, std::uint32_t n) const {
    std::uint32_t b = node_bucket[n];
    a.version[b]++;
    a.generation++;
    if (a.pos[n] == kNone) return;
    auto& h = a.heap[b];
    sift_up(a, h, a.pos[n]);
    sift_down(a, h, a.pos[n]);
  }
  bool in_heap(std::uint32_t n) const {
    const Node& nd = nodes[n];
    return nd.ready && nd.capacity.cpu_millis > 0 && nd.capacity.memory_bytes > 0;
  }
  void heap_insert(Acct& a, std::uint32_t n) const {
    auto& h = a.heap[node_bucket[n]];
    h.push_back(n);
    sift_up(a, h, h.size() - 1);
  }
  void heap_remove(Acct& a, std::uint32_t n) const {
    if (a.pos[n] == kNone) return;
    auto& h = a.heap[node_bucket[n]];
    std::size_t i = a.pos[n];
    a.pos[n] = kNone;
    std::uint32_t last = h.back();
    h.pop_back();
    if (i < h.size()) {
      h[i] = last;
      a.pos[last] = static_cast<std::uint32_t>(i);
      sift_up(a, h, i);
      sift_down(a, h, a.pos[last]);
    }
  }
  void build_heaps(Acct& a) const {
    a.heap.assign(buckets.size(), {});
    a.pos.assign(nodes.size(), kNone);
    a.version.assign(buckets.size(), 0);
    for (std::size_t b = 0; b < buckets.size(); ++b) {
      auto& h = a.heap[b];
      for (std::uint32_t n : buckets[b].members)
        if (in_heap(n)) h.push_back(n);
      for (std::size_t i = 0; i < h.size(); ++i) a.pos[h[i]] = static_cast<std::uint32_t>(i);
      for (std::size_t i = h.size() / 2; i-- > 0;) sift_down(a, h, i);
    }
  }

  // ------------------------------------------------------------------ moves

  Resources move_load(Acct& a, std::uint32_t f, std::uint32_t from, std::uint32_t to) const {
    Resources ld = load_of(f), rq = requests_of(f), removed{};
    if (valid(from)) {
      Resources& u = a.usage[from];
      removed.cpu_millis = std::min(ld.cpu_millis, std::max<std::int64_t>(0, u.cpu_millis));
      removed.memory_bytes = std::min(ld.memory_bytes, std::max<std::int64_t>(0, u.memory_bytes));
      u.cpu_millis -= removed.cpu_millis;
      u.memory_bytes -= removed.memory_bytes;
      a.requested[from].cpu_millis -= rq.cpu_millis;
      a.requested[from].memory_bytes -= rq.memory_bytes;
      heap_fix(a, from);
    }
    if (valid(to)) {
      a.usage[to] = plus(a.usage[to], ld);
      a.requested[to] = plus(a.requested[to], rq);
      heap_fix(a, to);
    }
    return removed;
  }
  void unmove(Acct& a, const Undo& u) const {
    Resources ld = load_of(u.f), rq = requests_of(u.f);
    if (valid(u.to)) {
      a.usage[u.to].cpu_millis -= ld.cpu_millis;
      a.usage[u.to].memory_bytes -= ld.memory_bytes;
      a.requested[u.to].cpu_millis -= rq.cpu_millis;
      a.requested[u.to].memory_bytes -= rq.memory_bytes;
      heap_fix(a, u.to);
    }
    if (valid(u.from)) {
      a.usage[u.from] = plus(a.usage[u.from], u.removed);
      a.requested[u.from] = plus(a.requested[u.from], rq);
      heap_fix(a, u.from);
    }
  }
  Undo commit(Work& w, std::uint32_t f, std::uint32_t from, std::uint32_t to) const {
    Undo u{f, from, to, move_load(*w.acct, f, from, to)};
    if (w.undo) w.undo->push_back(u);
    return u;
  }

  // ------------------------------------------------------------------ acceptance

  bool selector_ok(std::uint32_t n, const TemplRec& t) const {
    for (const auto& [k, v] : t.t.node_selector) {
      auto it = nodes[n].labels.find(k);
      if (it == nodes[n].labels.end() || it->second != v) return false;
    }
    return true;
  }

  // The hard rules (arch, tier, readiness, selector, capacity), the high
  // watermarks after adding the load, and for a bring-down the low watermarks
  // before it.
  bool accepts(const Acct& a, std::uint32_t n, const TemplRec& t, const Resources& ld, const Resources& rq, Mode m,
               Millis now) const {
    const Node& nd = nodes[n];
    if (!usable(n, now)) return false;
    if (nd.capacity.cpu_millis <= 0 || nd.capacity.memory_bytes <= 0) return false;
    if (!t.arch_ok[node_arch[n]]) return false;
    if (t.pos[static_cast<int>(nd.tier)] < 0) return false;
    if (!t.t.node_selector.empty() && !selector_ok(n, t)) return false;
    if (a.requested[n].cpu_millis + rq.cpu_millis > nd.capacity.cpu_millis) return false;
    if (a.requested[n].memory_bytes + rq.memory_bytes > nd.capacity.memory_bytes) return false;
    if (m == Mode::manual) return true;
    const Watermarks& w = policy.tier(nd.tier);
    if (frac(a.usage[n].cpu_millis + ld.cpu_millis, nd.capacity.cpu_millis) > w.cpu_high) return false;
    if (frac(a.usage[n].memory_bytes + ld.memory_bytes, nd.capacity.memory_bytes) > w.mem_high) return false;
    if (m == Mode::bring_down) {
      if (!(frac(a.usage[n].cpu_millis, nd.capacity.cpu_millis) < w.cpu_low)) return false;
      if (!(frac(a.usage[n].memory_bytes, nd.capacity.memory_bytes) < w.mem_low)) return false;
    }
    return true;
  }

  std::string node_label(std::uint32_t n) const {
    return std::string(to_string(nodes[n].tier)) + " " + nodes[n].name;
  }

  // Why `accepts` said no (cold path: only for reasons).
  std::string reject_reason(const Acct& a, std::uint32_t n, const TemplRec& t, const Resources& ld,
                            const Resources& rq, Mode m, Millis now) const {
    using namespace detail;
    const Node& nd = nodes[n];
    std::string who = node_label(n);
    if (!nd.ready) return who + " not ready";
    if (nd.last_heartbeat_ms && now - *nd.last_heartbeat_ms > policy.node_stale_after_s * 1000)
      return who + " heartbeat " + seconds(now - *nd.last_heartbeat_ms) + " old > " +
             std::to_string(policy.node_stale_after_s) + "s";
    if (nd.capacity.cpu_millis <= 0 || nd.capacity.memory_bytes <= 0) return who + " has no capacity";
    if (!t.arch_ok[node_arch[n]]) return who + " arch " + nd.arch + " not in template " + t.t.name + " archs";
    if (t.pos[static_cast<int>(nd.tier)] < 0) return who + " tier not allowed for template " + t.t.name;
    for (const auto& [k, v] : t.t.node_selector) {
      auto it = nd.labels.find(k);
      if (it == nd.labels.end() || it->second != v) return who + " lacks label " + k + "=" + v;
    }
    if (a.requested[n].cpu_millis + rq.cpu_millis > nd.capacity.cpu_millis)
      return who + " has " + cpu(nd.capacity.cpu_millis - a.requested[n].cpu_millis) + " CPU free < " +
             cpu(rq.cpu_millis);
    if (a.requested[n].memory_bytes + rq.memory_bytes > nd.capacity.memory_bytes)
      return who + " has " + memory(nd.capacity.memory_bytes - a.requested[n].memory_bytes) + " memory free < " +
             memory(rq.memory_bytes);
    const Watermarks& w = policy.tier(nd.tier);
    double c = frac(a.usage[n].cpu_millis + ld.cpu_millis, nd.capacity.cpu_millis);
    if (c > w.cpu_high) return who + " cpu " + fixed2(c) + " > high " + fixed2(w.cpu_high);
    double me = frac(a.usage[n].memory_bytes + ld.memory_bytes, nd.capacity.memory_bytes);
    if (me > w.mem_high) return who + " mem " + fixed2(me) + " > high " + fixed2(w.mem_high);
    if (m == Mode::bring_down) {
      double c0 = frac(a.usage[n].cpu_millis, nd.capacity.cpu_millis);
      if (!(c0 < w.cpu_low)) return who + " cpu " + fixed2(c0) + " not < low " + fixed2(w.cpu_low);
      double m0 = frac(a.usage[n].memory_bytes, nd.capacity.memory_bytes);
      if (!(m0 < w.mem_low)) return who + " mem " + fixed2(m0) + " not < low " + fixed2(w.mem_low);
    }
    return who + " accepts";
  }

  // "no node of arch arm64 with 200m CPU free" over the given tiers (cold path).
  std::string no_node_reason(const Acct& a, const TemplRec& t, const std::vector<Tier>& tiers, const Resources& ld,
                             const Resources& rq, Millis now) const {
    std::string archs;
    for (const auto& s : t.t.archs) archs += (archs.empty() ? "" : ",") + s;
    std::string sel;
    for (const auto& [k, v] : t.t.node_selector) sel += (sel.empty() ? " with labels " : ",") + k + "=" + v;
    bool any = false, cpu_ok = false, mem_ok = false;
    for (Tier tier : tiers)
      for (std::uint32_t b : tier_buckets[static_cast<int>(tier)])
        for (std::uint32_t n : buckets[b].members) {
          const Node& nd = nodes[n];
          if (!usable(n, now) || !t.arch_ok[node_arch[n]]) continue;
          if (!t.t.node_selector.empty() && !selector_ok(n, t)) continue;
          any = true;
          const Watermarks& w = policy.tier(nd.tier);
          if (nd.capacity.cpu_millis > 0 && a.requested[n].cpu_millis + rq.cpu_millis <= nd.capacity.cpu_millis &&
              frac(a.usage[n].cpu_millis + ld.cpu_millis, nd.capacity.cpu_millis) <= w.cpu_high)
            cpu_ok = true;
          if (nd.capacity.memory_bytes > 0 &&
              a.requested[n].memory_bytes + rq.memory_bytes <= nd.capacity.memory_bytes &&
              frac(a.usage[n].memory_bytes + ld.memory_bytes, nd.capacity.memory_bytes) <= w.mem_high)
            mem_ok = true;
        }
    if (!any) return "no ready node of arch " + archs + sel + " in tiers " + tiers_text(tiers);
    std::string need;
    if (!cpu_ok && mem_ok)
      need = detail::cpu(rq.cpu_millis) + " CPU";
    else if (cpu_ok && !mem_ok)
      need = detail::memory(rq.memory_bytes) + " memory";
    else
      need = detail::cpu(rq.cpu_millis) + " CPU and " + detail::memory(rq.memory_bytes) + " memory";
    return "no node of arch " + archs + sel + " with " + need + " free";
  }

  std::string no_node_cached(Work& w, std::uint32_t tmpl, const std::vector<Tier>& tiers, const Resources& ld,
                             const Resources& rq) const {
    unsigned mask = 0;
    for (Tier t : tiers) mask |= 1u << static_cast<int>(t);
    if (w.no_node.size() != templates.size()) w.no_node.assign(templates.size(), {});
    auto& c = w.no_node[tmpl];
    if (c.generation == w.acct->generation && c.tiers == mask && c.load == ld && c.requests == rq) return c.reason;
    c.reason = no_node_reason(*w.acct, templates[tmpl], tiers, ld, rq, w.now);
    c.generation = w.acct->generation;
    c.tiers = mask;
    c.load = ld;
    c.requests = rq;
    return c.reason;
  }

  // The node of `tier` with most room that accepts the function, or kNone.
  std::uint32_t best_in_tier(Work& w, Tier tier, const TemplRec& t, const Resources& ld, const Resources& rq,
                             Mode m) const {
    const Acct& a = *w.acct;
    std::uint32_t best = kNone;
    if (t.pos[static_cast<int>(tier)] < 0) return kNone;
    for (std::uint16_t arch : t.archs) {
      std::uint32_t b = bucket_of(tier, arch);
      if (b == kNone) continue;
      bool cacheable = t.t.node_selector.empty() && !w.fail[0].empty();
      FailCache* fc = cacheable ? &w.fail[static_cast<int>(m)][b] : nullptr;
      if (fc && fc->version == a.version[b] && covers(ld, fc->load) && covers(rq, fc->requests)) continue;
      std::uint32_t found = kNone;
      const auto& h = a.heap[b];
      if (!h.empty() && accepts(a, h[0], t, ld, rq, m, w.now)) {
        found = h[0];
      } else {
        for (std::uint32_t n : h)
          if ((found == kNone || better(a, n, found)) && accepts(a, n, t, ld, rq, m, w.now)) found = n;
      }
      if (found == kNone) {
        if (fc && (fc->version != a.version[b] || (covers(fc->load, ld) && covers(fc->requests, rq)))) {
          fc->version = a.version[b];
          fc->load = ld;
          fc->requests = rq;
        }
        continue;
      }
      if (best == kNone || better(a, found, best)) best = found;
    }
    return best;
  }

  std::uint32_t bucket_of(Tier tier, std::uint16_t arch) const {
    for (std::uint32_t b : tier_buckets[static_cast<int>(tier)])
      if (buckets[b].arch == arch) return b;
    return kNone;
  }

  // ------------------------------------------------------------------ devices

  bool fresh(const DeviceSighting& s, Millis now) const { return now - s.last_seen_ms < policy.lost_after_s * 1000; }

  // Latest sighting by a known gateway; nullopt when never seen.
  std::optional<Millis> last_seen(const DevRec& d) const {
    std::optional<Millis> latest;
    for (std::size_t i = 0; i < d.gw.size(); ++i)
      if (d.gw[i] != kNone && (!latest || d.d.sightings[i].last_seen_ms > *latest))
        latest = d.d.sightings[i].last_seen_ms;
    return latest;
  }
  bool lost(const DevRec& d, Millis now) const {
    auto l = last_seen(d);
    return !l || now - *l >= policy.lost_after_s * 1000;
  }

  // Gateways that see the device at or above the threshold, best first
  // (ties by gateway name), excluding `except`.
  void candidates(const DevRec& d, Millis now, std::uint32_t except, std::vector<Cand>& out) const {
    out.clear();
    for (std::size_t i = 0; i < d.gw.size(); ++i) {
      const auto& s = d.d.sightings[i];
      if (d.gw[i] == kNone || d.gw[i] == except || !fresh(s, now) || s.rssi_dbm < policy.rssi_threshold_dbm) continue;
      out.push_back(Cand{d.gw[i], s.rssi_dbm});
    }
    std::sort(out.begin(), out.end(), [](const Cand& a, const Cand& b) {
      if (a.rssi != b.rssi) return a.rssi > b.rssi;
      return a.gw < b.gw;
    });
  }

  const DeviceSighting* sighting_of(const DevRec& d, std::uint32_t gw) const {
    for (std::size_t i = 0; i < d.gw.size(); ++i)
      if (d.gw[i] == gw) return &d.d.sightings[i];
    return nullptr;
  }

  // ------------------------------------------------------------------ output

  bool in_cooldown(const FuncRec& r, Millis now) const {
    return r.f.last_move_ms && now - *r.f.last_move_ms < policy.cooldown_s * 1000;
  }
  std::string cooldown_text(const FuncRec& r, Millis now) const {
    return "cooldown " + std::to_string(policy.cooldown_s) + "s: moved " + detail::seconds(now - *r.f.last_move_ms) +
           " ago";
  }
  std::string budget_text() const {
    return "max moves per minute " + std::to_string(policy.max_moves_per_minute) + " reached";
  }

  void touch(Work& w, std::uint32_t f) const {
    if (w.undo) w.touched.push_back(f);
  }
  void emit(Work& w, std::uint32_t f, std::uint32_t to, DecisionKind kind, std::string reason) const {
    const FuncRec& r = funcs[f];
    Decision d{r.f.id, r.f.node, valid(to) ? nodes[to].name : std::string(), kind, std::move(reason)};
    w.out->push_back(std::move(d));
    if (is_counted_move(kind) && w.budget != std::numeric_limits<std::int64_t>::max()) w.budget--;
    (*w.decided)[f] = 1;
    touch(w, f);
    std::int32_t& slot = (*w.stay_slot)[f];
    if (slot >= 0) {
      w.stays[static_cast<std::size_t>(slot)].f = kNone;
      slot = -1;
    }
  }
  void stay(Work& w, std::uint32_t f, std::string reason, Held held = Held::other) const {
    const FuncRec& r = funcs[f];
    std::int32_t& slot = (*w.stay_slot)[f];
    touch(w, f);
    if (slot >= 0) {
      auto& s = w.stays[static_cast<std::size_t>(slot)];
      s.d.reason = std::move(reason);
      s.held = held;
      return;
    }
    slot = static_cast<std::int32_t>(w.stays.size());
    w.stays.push_back({f, Decision{r.f.id, r.f.node, r.f.node, DecisionKind::stay, std::move(reason)}, held});
  }
  void retry(Work& w, std::uint32_t f) const {
    if (w.retry) w.retry->push_back(f);
  }
  bool budget_left(const Work& w) const { return w.budget > 0; }

  // ------------------------------------------------------------------ the rules, one function at a time

  // A device lost everywhere: undeploy (or keep) its function.
  void rule_lost(Work& w, std::uint32_t f) const {
    const FuncRec& r = funcs[f];
    if ((*w.decided)[f] || r.dev == kNone || policy.on_lost == OnLost::keep) return;
    const DevRec& d = devices[r.dev];
    if (!lost(d, w.now)) return;
    if (r.node == kNone) {  // already undeployed: do not place it again
      (*w.decided)[f] = 1;
      touch(w, f);
      return;
    }
    auto l = last_seen(d);
    std::string why = "device " + d.d.id + " lost: " +
                      (l ? "not seen for " + detail::seconds(w.now - *l) + " >= lost_after " +
                               std::to_string(policy.lost_after_s) + "s"
                         : std::string("never seen by a gateway"));
    if (r.pinned) {
      stay(w, f, "pinned; " + why, Held::pin);
      (*w.decided)[f] = 1;
      return;
    }
    commit(w, f, r.node, kNone);
    emit(w, f, kNone, DecisionKind::undeploy, std::move(why));
  }

  // What is wrong with the function's current node, empty when nothing.
  std::string node_problem(const FuncRec& r, Millis now) const {
    if (r.node == kNone) return "";
    if (r.node == kUnknown) return "node " + r.f.node + " unknown";
    std::uint32_t n = r.node;
    const Node& nd = nodes[n];
    const TemplRec& t = templates[r.tmpl];
    if (!nd.ready) return "node " + nd.name + " not ready";
    if (nd.last_heartbeat_ms && now - *nd.last_heartbeat_ms > policy.node_stale_after_s * 1000)
      return "node " + nd.name + " heartbeat " + detail::seconds(now - *nd.last_heartbeat_ms) + " old > " +
             std::to_string(policy.node_stale_after_s) + "s";
    if (!t.arch_ok[node_arch[n]]) return "node " + nd.name + " arch " + nd.arch + " not in template " + t.t.name + " archs";
    if (t.pos[static_cast<int>(nd.tier)] < 0)
      return "node " + nd.name + " tier " + std::string(to_string(nd.tier)) + " not allowed for template " + t.t.name;
    for (const auto& [k, v] : t.t.node_selector) {
      auto it = nd.labels.find(k);
      if (it == nd.labels.end() || it->second != v) return "node " + nd.name + " lacks label " + k + "=" + v;
    }
    return "";
  }
  bool node_fine(const FuncRec& r, Millis now) const {
    if (!valid(r.node)) return false;
    std::uint32_t n = r.node;
    const TemplRec& t = templates[r.tmpl];
    return usable(n, now) && t.arch_ok[node_arch[n]] && t.pos[static_cast<int>(nodes[n].tier)] >= 0 &&
           (t.t.node_selector.empty() || selector_ok(n, t));
  }

  // Chooses a node for a function to be placed: its tiers in preference
  // order; for a near-device function, the gateway tier means the gateways
  // that see its device (best RSSI first). Returns kNone with `why` set.
  std::uint32_t choose_place(Work& w, std::uint32_t f, std::string& why) const {
    const FuncRec& r = funcs[f];
    const TemplRec& t = templates[r.tmpl];
    Resources ld = load_of(f), rq = requests_of(f);
    std::string near_note;
    // A near-device function with no device has nothing to be near: it is
    // placed like any other.
    bool near = t.t.near_device && r.dev != kNone;
    for (std::size_t i = 0; i < t.tiers.size(); ++i) {
      Tier tier = t.tiers[i];
      if (tier == Tier::gateway && near) {
        const DevRec& d = devices[r.dev];
        candidates(d, w.now, kNone, *w.cands);
        if (w.cands->empty()) {
          why = "device " + d.d.id + " not seen by any gateway at >= " + detail::db(policy.rssi_threshold_dbm) + " dBm";
          return kNone;
        }
        for (const Cand& c : *w.cands)
          if (accepts(*w.acct, c.gw, t, ld, rq, Mode::place, w.now)) {
            why = "rssi " + nodes[c.gw].name + " " + detail::db(c.rssi) + " >= threshold " +
                  detail::db(policy.rssi_threshold_dbm);
            return c.gw;
          }
        near_note = "no room near device " + d.d.id + ": " +
                    reject_reason(*w.acct, (*w.cands)[0].gw, t, ld, rq, Mode::place, w.now);
        continue;
      }
      std::uint32_t n = best_in_tier(w, tier, t, ld, rq, Mode::place);
      if (n != kNone) {
        const Node& nd = nodes[n];
        why = (near_note.empty() ? "" : near_note + "; ") + std::string(to_string(tier)) + " " + nd.name +
              " has most room (cpu " + detail::fixed2(frac(w.acct->usage[n].cpu_millis + ld.cpu_millis, nd.capacity.cpu_millis)) +
              ", mem " + detail::fixed2(frac(w.acct->usage[n].memory_bytes + ld.memory_bytes, nd.capacity.memory_bytes)) + ")";
        return n;
      }
    }
    std::vector<Tier> rest;
    for (Tier tier : t.tiers)
      if (!(tier == Tier::gateway && near)) rest.push_back(tier);
    if (rest.empty()) {
      why = near_note;
    } else {
      why = (near_note.empty() ? "" : near_note + "; ") + no_node_cached(w, r.tmpl, rest, ld, rq);
    }
    return kNone;
  }

  // Unplaced functions, and functions on a node that is gone, not ready or no
  // longer fit for them (arch, tier, labels).
  void rule_place(Work& w, std::uint32_t f) const {
    const FuncRec& r = funcs[f];
    if ((*w.decided)[f]) return;
    if (r.node != kNone && node_fine(r, w.now)) return;
    std::string problem = node_problem(r, w.now);
    if (r.pinned && r.node != kNone) {
      stay(w, f, "pinned; " + problem, Held::pin);
      (*w.decided)[f] = 1;
      return;
    }
    std::string why;
    std::uint32_t n = choose_place(w, f, why);
    std::string reason = problem.empty() ? why : problem + "; " + why;
    if (n == kNone) {
      stay(w, f, std::move(reason), Held::unplaceable);
      retry(w, f);
      return;
    }
    commit(w, f, valid(r.node) ? r.node : kNone, n);
    emit(w, f, n, DecisionKind::place, std::move(reason));
  }

  // A near-device function on a gateway follows its device (hysteresis and margin).
  void rule_roam(Work& w, std::uint32_t f) const {
    const FuncRec& r = funcs[f];
    if ((*w.decided)[f] || !valid(r.node) || r.dev == kNone) return;
    const TemplRec& t = templates[r.tmpl];
    if (!t.t.near_device || nodes[r.node].tier != Tier::gateway) return;
    if (!node_fine(r, w.now)) return;  // rule_place's case (held there, with its reason)
    const DevRec& d = devices[r.dev];
    std::uint32_t cur = r.node;
    const DeviceSighting* s = sighting_of(d, cur);
    bool cur_fresh = s && fresh(*s, w.now);
    bool cur_in = cur_fresh && s->rssi_dbm >= policy.rssi_threshold_dbm - policy.hysteresis_db;
    auto& cands = *w.cands;
    candidates(d, w.now, cur, cands);
    if (cur_in) {
      double bar = s->rssi_dbm + policy.roam_margin_db;
      std::size_t keep = 0;
      while (keep < cands.size() && cands[keep].rssi > bar) ++keep;
      cands.resize(keep);
    }
    if (cands.empty()) return;
    const std::string& cur_name = nodes[cur].name;
    auto roam_text = [&](const Cand& c) {
      std::string head = "rssi " + nodes[c.gw].name + " " + detail::db(c.rssi);
      if (cur_in) return head + " > " + cur_name + " " + detail::db(s->rssi_dbm) + " + margin " + detail::db(policy.roam_margin_db);
      head += " >= threshold " + detail::db(policy.rssi_threshold_dbm) + "; ";
      if (!s) return head + cur_name + " does not see the device";
      if (!cur_fresh) return head + cur_name + " not seen for " + detail::seconds(w.now - s->last_seen_ms);
      if (s->rssi_dbm <= kGoneRssi) return head + cur_name + " gave the device up";
      return head + cur_name + " " + detail::db(s->rssi_dbm) + " < threshold " + detail::db(policy.rssi_threshold_dbm) +
             " - hysteresis " + detail::db(policy.hysteresis_db);
    };
    if (r.pinned) {
      stay(w, f, "pinned; " + roam_text(cands[0]), Held::pin);
      return;
    }
    if (cur_in && in_cooldown(r, w.now)) {
      stay(w, f, cooldown_text(r, w.now) + "; " + roam_text(cands[0]), Held::cooldown);
      return;
    }
    Resources ld = load_of(f), rq = requests_of(f);
    for (const Cand& c : cands) {
      if (!accepts(*w.acct, c.gw, t, ld, rq, Mode::place, w.now)) continue;
      std::string why = roam_text(c);
      if (!budget_left(w)) {
        stay(w, f, budget_text() + "; " + why, Held::budget);
        return;
      }
      commit(w, f, cur, c.gw);
      emit(w, f, c.gw, DecisionKind::roam, std::move(why));
      return;
    }
    std::string full = reject_reason(*w.acct, cands[0].gw, t, ld, rq, Mode::place, w.now);
    if (!cur_in) {
      // The current gateway lost the device and no gateway near it has room:
      // up to the next tier the template allows, as near as possible.
      for (Tier tier : t.tiers) {
        if (tier == Tier::gateway) continue;
        std::uint32_t n = best_in_tier(w, tier, t, ld, rq, Mode::place);
        if (n == kNone) continue;
        std::string why = "no room near device " + d.d.id + ": " + full + "; " + cur_name + " lost it";
        if (!budget_left(w)) {
          stay(w, f, budget_text() + "; " + why, Held::budget);
          return;
        }
        commit(w, f, cur, n);
        emit(w, f, n, DecisionKind::offload_up, std::move(why));
        return;
      }
    }
    stay(w, f, "roam to " + nodes[cands[0].gw].name + " held: " + full);
    retry(w, f);
  }

  bool over_high(const Acct& a, std::uint32_t n) const {
    const Node& nd = nodes[n];
    const Watermarks& wm = policy.tier(nd.tier);
    return frac(a.usage[n].cpu_millis, nd.capacity.cpu_millis) > wm.cpu_high ||
           frac(a.usage[n].memory_bytes, nd.capacity.memory_bytes) > wm.mem_high;
  }

  // A node above a high watermark: its cheapest movable functions go up.
  void rule_offload(Work& w, std::uint32_t n) const {
    Acct& a = *w.acct;
    if (!usable(n, w.now) || !over_high(a, n)) return;
    const Node& nd = nodes[n];
    const Watermarks& wm = policy.tier(nd.tier);
    double c0 = frac(a.usage[n].cpu_millis, nd.capacity.cpu_millis);
    double m0 = frac(a.usage[n].memory_bytes, nd.capacity.memory_bytes);
    bool over_cpu = c0 > wm.cpu_high, over_mem = m0 > wm.mem_high;
    std::string why = node_label(n);
    if (over_cpu) why += " cpu " + detail::fixed2(c0) + " > high " + detail::fixed2(wm.cpu_high);
    if (over_mem) why += std::string(over_cpu ? "," : "") + " mem " + detail::fixed2(m0) + " > high " + detail::fixed2(wm.mem_high);

    auto& cands = w.offload_cands;
    cands.clear();
    for (std::uint32_t f : node_funcs[n]) {
      const FuncRec& r = funcs[f];
      if ((*w.decided)[f] || r.node != n) continue;
      if (r.pinned) continue;
      const TemplRec& t = templates[r.tmpl];
      if (t.tiers.empty() || static_cast<int>(t.tiers.back()) <= static_cast<int>(nd.tier)) continue;
      Resources ld = load_of(f);
      if (!((over_cpu && ld.cpu_millis > 0) || (over_mem && ld.memory_bytes > 0))) continue;
      if (in_cooldown(r, w.now)) {
        if (w.round == 0) w.stats->held_by_cooldown++;
        continue;
      }
      cands.push_back(f);
    }
    if (cands.empty()) return;
    // Cheapest first: functions not tied to a device, then by move cost, then
    // the smallest, then by id.
    std::sort(cands.begin(), cands.end(), [&](std::uint32_t x, std::uint32_t y) {
      const TemplRec& tx = templates[funcs[x].tmpl];
      const TemplRec& ty = templates[funcs[y].tmpl];
      if (tx.t.near_device != ty.t.near_device) return !tx.t.near_device;
      if (tx.t.move_cost != ty.t.move_cost) return tx.t.move_cost < ty.t.move_cost;
      Resources lx = load_of(x), ly = load_of(y);
      if (lx.cpu_millis != ly.cpu_millis) return lx.cpu_millis < ly.cpu_millis;
      if (lx.memory_bytes != ly.memory_bytes) return lx.memory_bytes < ly.memory_bytes;
      return func_rank[x] < func_rank[y];
    });
    auto& chosen = w.chosen;
    chosen.clear();
    std::uint32_t first_fail = kNone;
    for (std::uint32_t f : cands) {
      if (!over_high(a, n)) break;
      const TemplRec& t = templates[funcs[f].tmpl];
      Resources ld = load_of(f), rq = requests_of(f);
      std::uint32_t target = kNone;
      for (Tier tier : t.tiers) {
        if (static_cast<int>(tier) <= static_cast<int>(nd.tier)) continue;
        target = best_in_tier(w, tier, t, ld, rq, Mode::place);
        if (target != kNone) break;
      }
      if (target == kNone) {
        if (first_fail == kNone) first_fail = f;
        continue;
      }
      move_load(a, f, n, target);
      chosen.emplace_back(f, target);
    }
    // Drop the moves that turn out not to be needed: the node stays at or
    // under its high watermarks without them.
    for (auto& [f, target] : chosen) {
      Resources ld = load_of(f);
      double c = frac(a.usage[n].cpu_millis + ld.cpu_millis, nd.capacity.cpu_millis);
      double m = frac(a.usage[n].memory_bytes + ld.memory_bytes, nd.capacity.memory_bytes);
      if (c <= wm.cpu_high && m <= wm.mem_high) {
        move_load(a, f, target, n);
        target = kNone;
      }
    }
    for (auto& [f, target] : chosen) {
      if (target == kNone) continue;
      if (!budget_left(w)) {
        move_load(a, f, target, n);
        stay(w, f, budget_text() + "; " + why + " (offload_up to " + nodes[target].name + ")", Held::budget);
        continue;
      }
      emit(w, f, target, DecisionKind::offload_up, why);
    }
    if (first_fail != kNone && over_high(a, n)) {
      const FuncRec& r = funcs[first_fail];
      const TemplRec& t = templates[r.tmpl];
      std::vector<Tier> up;
      for (Tier tier : t.tiers)
        if (static_cast<int>(tier) > static_cast<int>(nd.tier)) up.push_back(tier);
      stay(w, first_fail, why + "; " + no_node_cached(w, r.tmpl, up, load_of(first_fail), requests_of(first_fail)),
           Held::unplaceable);
      retry(w, first_fail);
    }
  }

  // A function above its preferred tier comes back when a node there is below
  // its low watermarks and keeps under its high ones with the function.
  void rule_bring_down(Work& w, std::uint32_t f) const {
    const FuncRec& r = funcs[f];
    if ((*w.decided)[f] || !valid(r.node) || r.pinned) return;
    const TemplRec& t = templates[r.tmpl];
    int pos = t.pos[static_cast<int>(nodes[r.node].tier)];
    if (pos <= 0) return;
    if (!node_fine(r, w.now)) return;  // rule_place's case
    if (in_cooldown(r, w.now)) return;
    Resources ld = load_of(f), rq = requests_of(f);
    for (int i = 0; i < pos; ++i) {
      Tier tier = t.tiers[static_cast<std::size_t>(i)];
      std::uint32_t n = kNone;
      if (tier == Tier::gateway && t.t.near_device && r.dev != kNone) {
        candidates(devices[r.dev], w.now, kNone, *w.cands);
        for (const Cand& c : *w.cands)
          if (accepts(*w.acct, c.gw, t, ld, rq, Mode::bring_down, w.now)) {
            n = c.gw;
            break;
          }
      } else {
        n = best_in_tier(w, tier, t, ld, rq, Mode::bring_down);
      }
      if (n == kNone) continue;
      const Node& nd = nodes[n];
      const Watermarks& wm = policy.tier(nd.tier);
      std::string why = node_label(n) + " cpu " +
                        detail::fixed2(frac(w.acct->usage[n].cpu_millis, nd.capacity.cpu_millis)) + " < low " +
                        detail::fixed2(wm.cpu_low) + ", mem " +
                        detail::fixed2(frac(w.acct->usage[n].memory_bytes, nd.capacity.memory_bytes)) + " < low " +
                        detail::fixed2(wm.mem_low);
      if (!budget_left(w)) {
        stay(w, f, budget_text() + "; " + why + " (bring_down to " + nd.name + ")", Held::budget);
        return;
      }
      commit(w, f, r.node, n);
      emit(w, f, n, DecisionKind::bring_down, std::move(why));
      return;
    }
    retry(w, f);
  }

  // ------------------------------------------------------------------ plans

  void ensure_order() const {
    if (!order_dirty && order.size() == funcs.size()) return;
    order.resize(funcs.size());
    for (std::uint32_t i = 0; i < funcs.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return funcs[a].f.id < funcs[b].f.id; });
    func_rank.resize(funcs.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) func_rank[order[i]] = i;
    order_dirty = false;
  }

  std::int64_t budget_at(Millis now) const {
    if (policy.max_moves_per_minute == 0) return std::numeric_limits<std::int64_t>::max();
    std::int64_t used = 0;
    for (Millis t : recent_moves)
      if (t > now - kMoveWindowMs && t <= now) ++used;
    return std::max<std::int64_t>(0, policy.max_moves_per_minute - used);
  }

  void finish(Work& w, std::vector<Decision>& out) const {
    std::sort(w.stays.begin(), w.stays.end(), [&](const auto& a, const auto& b) {
      if (a.f == kNone || b.f == kNone) return a.f != kNone && b.f == kNone;
      return func_rank[a.f] < func_rank[b.f];
    });
    for (auto& s : w.stays) {
      if (s.f == kNone) continue;
      switch (s.held) {
        case Held::unplaceable: w.stats->unplaceable++; break;
        case Held::cooldown: w.stats->held_by_cooldown++; break;
        case Held::budget: w.stats->held_by_budget++; break;
        case Held::pin: w.stats->held_by_pin++; break;
        case Held::other: break;
      }
      out.push_back(std::move(s.d));
    }
  }

  Plan plan(Millis now) const {
    ensure_order();
    Plan p;
    Acct acct = base;
    // Staleness depends on `now`: the heaps of this plan hold usable nodes only.
    bool any_stale = false;
    for (std::uint32_t n = 0; n < nodes.size(); ++n) {
      if (!usable(n, now)) {
        p.stats.nodes_unavailable++;
        if (acct.pos[n] != kNone) any_stale = true;
      }
    }
    if (any_stale)
      for (std::uint32_t n = 0; n < nodes.size(); ++n)
        if (acct.pos[n] != kNone && !usable(n, now)) heap_remove(acct, n);
    std::vector<std::uint8_t> decided(funcs.size(), 0);
    std::vector<std::int32_t> stay_slot(funcs.size(), -1);
    std::vector<std::uint32_t> retry_list, next;
    std::vector<Cand> cands;
    Work w;
    w.acct = &acct;
    w.now = now;
    w.decided = &decided;
    w.stay_slot = &stay_slot;
    w.out = &p.decisions;
    w.stats = &p.stats;
    w.budget = budget_at(now);
    w.retry = &retry_list;
    w.cands = &cands;
    w.fail[0].assign(buckets.size(), {});
    w.fail[1].assign(buckets.size(), {});
    p.stats.functions = funcs.size();
    p.stats.sightings_ignored = sightings_ignored + events_dropped;
    for (const DevRec& d : devices)
      if (!d.synthetic && lost(d, now)) p.stats.devices_lost++;

    for (std::uint32_t f : order) rule_lost(w, f);
    for (std::uint32_t f : order) rule_place(w, f);
    for (std::uint32_t f : order) rule_roam(w, f);
    std::vector<std::uint32_t> over;
    for (std::uint32_t n = 0; n < nodes.size(); ++n)
      if (over_high(acct, n)) over.push_back(n);
    for (std::uint32_t n : over) rule_offload(w, n);
    for (std::uint32_t f : order) rule_bring_down(w, f);

    // Retry what was held back for room while the last round freed some, so
    // that applying this plan leaves nothing for the next one to do.
    std::size_t made = p.decisions.size();
    while (made > 0 && !retry_list.empty()) {
      w.round++;
      std::size_t before = p.decisions.size();
      next.swap(retry_list);
      retry_list.clear();
      std::sort(next.begin(), next.end(), [&](std::uint32_t a, std::uint32_t b) { return func_rank[a] < func_rank[b]; });
      next.erase(std::unique(next.begin(), next.end()), next.end());
      for (std::uint32_t f : next) rule_place(w, f);
      for (std::uint32_t f : next) rule_roam(w, f);
      for (std::uint32_t n : over) rule_offload(w, n);
      for (std::uint32_t f : next) rule_bring_down(w, f);
      made = p.decisions.size() - before;
    }
    finish(w, p.decisions);
    return p;
  }

  std::vector<Decision> on_event(const DeviceEvent& ev, Millis now) {
    ensure_order();
    std::vector<Decision> out;
    // An event the world could not hold is dropped (and counted).
    if (ev.device.empty() || ev.gateway.empty() || !std::isfinite(ev.rssi_dbm)) {
      events_dropped++;
      return out;
    }
    double rssi = std::clamp(ev.rssi_dbm, kGoneRssi, 20.0);
    std::uint32_t di;
    auto it = dev_by_id.find(ev.device);
    if (it == dev_by_id.end()) {
      if (ev.kind == DeviceEvent::Kind::lost || ev.device.empty()) return out;
      di = static_cast<std::uint32_t>(devices.size());
      devices.push_back(DevRec{Device{ev.device, {}}, {}, {}, false});
      dev_by_id.emplace(ev.device, di);
    } else {
      di = it->second;
    }
    DevRec& d = devices[di];
    std::size_t at = d.d.sightings.size();
    for (std::size_t i = 0; i < d.d.sightings.size(); ++i)
      if (d.d.sightings[i].gateway == ev.gateway) at = i;
    if (ev.kind == DeviceEvent::Kind::seen) {
      if (at == d.d.sightings.size()) {
        auto g = node_by_name.find(ev.gateway);
        std::uint32_t gi = (g != node_by_name.end() && nodes[g->second].tier == Tier::gateway) ? g->second : kNone;
        if (gi == kNone) sightings_ignored++;
        d.d.sightings.push_back(DeviceSighting{ev.gateway, rssi, ev.at_ms});
        d.gw.push_back(gi);
        d.synthetic = false;
      } else if (ev.at_ms >= d.d.sightings[at].last_seen_ms) {
        d.d.sightings[at].rssi_dbm = rssi;
        d.d.sightings[at].last_seen_ms = ev.at_ms;
      }
    } else if (at < d.d.sightings.size()) {
      // The gateway gave the device up: it no longer counts as in range
      // there, but when it was last seen still counts for lost_after.
      d.d.sightings[at].rssi_dbm = kGoneRssi;
    }

    PlanStats stats;
    Work w;
    w.acct = &base;
    w.now = now;
    w.undo = &inc_undo;
    w.decided = &inc_decided;
    w.stay_slot = &inc_stay_slot;
    w.out = &out;
    w.stats = &stats;
    w.budget = budget_at(now);
    w.cands = &inc_cands;
    inc_undo.clear();
    for (std::uint32_t f : d.funcs) {
      rule_lost(w, f);
      rule_place(w, f);
      rule_roam(w, f);
      rule_bring_down(w, f);
    }
    for (std::size_t i = inc_undo.size(); i-- > 0;) unmove(base, inc_undo[i]);
    inc_undo.clear();
    finish(w, out);
    for (std::uint32_t f : w.touched) {
      inc_decided[f] = 0;
      inc_stay_slot[f] = -1;
    }
    return out;
  }

  // ------------------------------------------------------------------ loading

  std::uint16_t intern_arch(const std::string& a) {
    auto it = arch_by_name.find(a);
    if (it != arch_by_name.end()) return it->second;
    auto id = static_cast<std::uint16_t>(arch_names.size());
    arch_names.push_back(a);
    arch_by_name.emplace(a, id);
    return id;
  }

  void derive_template(TemplRec& tr) {
    auto o = policy.templates.find(tr.t.name);
    tr.tiers = o != policy.templates.end() ? o->second.tiers : tr.t.tiers;
    tr.pos.fill(-1);
    for (std::size_t i = 0; i < tr.tiers.size(); ++i) tr.pos[static_cast<int>(tr.tiers[i])] = static_cast<std::int8_t>(i);
    tr.arch_ok.assign(arch_names.size(), 0);
    for (std::uint16_t a : tr.archs) tr.arch_ok[a] = 1;
  }

  void derive_policy() {
    std::unordered_set<std::string_view> pinned(policy.pinned.begin(), policy.pinned.end());
    for (auto& tr : templates) derive_template(tr);
    for (auto& r : funcs) r.pinned = r.f.pinned || pinned.count(r.f.id) > 0;
    build_heaps(base);
  }

  void load(World w) {
    *this = Impl{policy};
    std::sort(w.nodes.begin(), w.nodes.end(), [](const Node& a, const Node& b) { return a.name < b.name; });
    std::sort(w.templates.begin(), w.templates.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    std::sort(w.devices.begin(), w.devices.end(), [](const Device& a, const Device& b) { return a.id < b.id; });
    std::sort(w.functions.begin(), w.functions.end(), [](const Function& a, const Function& b) { return a.id < b.id; });

    nodes = std::move(w.nodes);
    std::unordered_map<std::uint32_t, std::uint32_t> bucket_key;
    node_arch.resize(nodes.size());
    node_bucket.resize(nodes.size());
    node_funcs.resize(nodes.size());
    node_by_name.reserve(nodes.size());
    base.usage.resize(nodes.size());
    base.requested.assign(nodes.size(), Resources{});
    for (std::uint32_t n = 0; n < nodes.size(); ++n) {
      node_by_name.emplace(nodes[n].name, n);
      node_arch[n] = intern_arch(nodes[n].arch);
      std::uint32_t key = static_cast<std::uint32_t>(nodes[n].tier) << 16 | node_arch[n];
      auto [it, fresh_key] = bucket_key.emplace(key, static_cast<std::uint32_t>(buckets.size()));
      if (fresh_key) {
        buckets.push_back(Bucket{nodes[n].tier, node_arch[n], {}});
        tier_buckets[static_cast<int>(nodes[n].tier)].push_back(it->second);
      }
      buckets[it->second].members.push_back(n);
      node_bucket[n] = it->second;
      base.usage[n] = nodes[n].usage;
    }
    // Buckets of a tier in arch-name order, so ties between archs are stable.
    for (auto& tb : tier_buckets)
      std::sort(tb.begin(), tb.end(), [&](std::uint32_t a, std::uint32_t b) {
        return arch_names[buckets[a].arch] < arch_names[buckets[b].arch];
      });

    templates.reserve(w.templates.size());
    for (auto& t : w.templates) {
      TemplRec tr;
      for (const auto& a : t.archs) tr.archs.push_back(intern_arch(a));
      tr.t = std::move(t);
      tmpl_by_name.emplace(tr.t.name, static_cast<std::uint32_t>(templates.size()));
      templates.push_back(std::move(tr));
    }
    for (auto& tr : templates) derive_template(tr);

    devices.reserve(w.devices.size());
    dev_by_id.reserve(w.devices.size());
    for (auto& d : w.devices) {
      DevRec dr;
      dr.d = std::move(d);
      dr.gw.reserve(dr.d.sightings.size());
      for (const auto& s : dr.d.sightings) {
        auto g = node_by_name.find(s.gateway);
        std::uint32_t gi = (g != node_by_name.end() && nodes[g->second].tier == Tier::gateway) ? g->second : kNone;
        if (gi == kNone) sightings_ignored++;
        dr.gw.push_back(gi);
      }
      dev_by_id.emplace(dr.d.id, static_cast<std::uint32_t>(devices.size()));
      devices.push_back(std::move(dr));
    }

    funcs.reserve(w.functions.size());
    fn_by_id.reserve(w.functions.size());
    for (auto& fn : w.functions) add_function(std::move(fn));
    recent_moves = std::move(w.recent_moves_ms);
    derive_policy();
    order_dirty = true;
  }

  void add_function(Function fn) {
    auto fi = static_cast<std::uint32_t>(funcs.size());
    FuncRec r;
    r.tmpl = tmpl_by_name.at(fn.template_name);
    if (!fn.device.empty()) {
      auto d = dev_by_id.find(fn.device);
      if (d == dev_by_id.end()) {
        d = dev_by_id.emplace(fn.device, static_cast<std::uint32_t>(devices.size())).first;
        devices.push_back(DevRec{Device{fn.device, {}}, {}, {}, true});
      }
      r.dev = d->second;
      auto& fl = devices[r.dev].funcs;
      fl.insert(std::upper_bound(fl.begin(), fl.end(), fi,
                                 [&](std::uint32_t a, std::uint32_t b) {
                                   const std::string& ia = a == fi ? fn.id : funcs[a].f.id;
                                   return ia < funcs[b].f.id;
                                 }),
                fi);
    }
    if (!fn.node.empty()) {
      auto n = node_by_name.find(fn.node);
      r.node = n == node_by_name.end() ? kUnknown : n->second;
    }
    r.pinned = fn.pinned || std::find(policy.pinned.begin(), policy.pinned.end(), fn.id) != policy.pinned.end();
    r.f = std::move(fn);
    fn_by_id.emplace(r.f.id, fi);
    if (valid(r.node)) {
      node_funcs[r.node].push_back(fi);
      base.requested[r.node] = plus(base.requested[r.node], templates[r.tmpl].t.requests);
    }
    funcs.push_back(std::move(r));
    inc_decided.push_back(0);
    inc_stay_slot.push_back(-1);
    order_dirty = true;
  }

  World snapshot() const {
    World w;
    w.nodes = nodes;
    for (std::uint32_t n = 0; n < nodes.size(); ++n) w.nodes[n].usage = base.usage[n];
    for (const auto& d : devices)
      if (!d.synthetic || !d.d.sightings.empty()) w.devices.push_back(d.d);
    std::sort(w.devices.begin(), w.devices.end(), [](const Device& a, const Device& b) { return a.id < b.id; });
    for (const auto& t : templates) w.templates.push_back(t.t);
    ensure_order();
    for (std::uint32_t f : order) w.functions.push_back(funcs[f].f);
    w.recent_moves_ms = recent_moves;
    return w;
  }

  std::size_t memory_bytes() const {
    auto str = [](const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; };
    auto map_bytes = [](const auto& m) { return m.bucket_count() * sizeof(void*) + m.size() * (sizeof(typename std::decay_t<decltype(m)>::value_type) + 2 * sizeof(void*)); };
    std::size_t b = sizeof(Impl);
    b += nodes.capacity() * sizeof(Node);
    for (const auto& n : nodes) {
      b += str(n.name) + str(n.arch);
      for (const auto& [k, v] : n.labels) b += 64 + str(k) + str(v);
    }
    b += map_bytes(node_by_name) + node_arch.capacity() * 2 + node_bucket.capacity() * 4;
    b += node_funcs.capacity() * sizeof(std::vector<std::uint32_t>);
    for (const auto& v : node_funcs) b += v.capacity() * 4;
    b += templates.capacity() * sizeof(TemplRec);
    b += devices.capacity() * sizeof(DevRec) + map_bytes(dev_by_id);
    for (const auto& d : devices) {
      b += str(d.d.id) + d.d.sightings.capacity() * sizeof(DeviceSighting) + d.gw.capacity() * 4 + d.funcs.capacity() * 4;
      for (const auto& s : d.d.sightings) b += str(s.gateway);
    }
    b += funcs.capacity() * sizeof(FuncRec) + map_bytes(fn_by_id);
    for (const auto& r : funcs) b += str(r.f.id) + str(r.f.template_name) + str(r.f.device) + str(r.f.node);
    b += order.capacity() * 4 + func_rank.capacity() * 4 + recent_moves.capacity() * 8;
    b += base.usage.capacity() * sizeof(Resources) * 2 + base.pos.capacity() * 4 + nodes.size() * 4;
    b += inc_decided.capacity() + inc_stay_slot.capacity() * 4;
    return b;
  }
};

// ---------------------------------------------------------------------- Planner

Planner::Planner(Policy policy) : impl_(std::make_unique<Impl>()) {
  if (auto e = find_policy_error(policy)) throw std::invalid_argument("invalid policy: " + e->text());
  impl_->policy = std::move(policy);
}
Planner::Planner(Planner&&) noexcept = default;
Planner& Planner::operator=(Planner&&) noexcept = default;
Planner::~Planner() = default;

const Policy& Planner::policy() const { return impl_->policy; }

Status Planner::set_policy(Policy policy) {
  if (auto s = validate(policy); !s) return s;
  impl_->policy = std::move(policy);
  impl_->derive_policy();
  return ok_status();
}

Status Planner::load(World world) {
  if (auto s = validate(world); !s) return s;
  impl_->load(std::move(world));
  return ok_status();
}

World Planner::snapshot() const { return impl_->snapshot(); }

Plan Planner::plan(Millis now_ms) const { return impl_->plan(now_ms); }

Result<Plan> Planner::plan(World world, Millis now_ms) {
  if (auto s = load(std::move(world)); !s) return s.error();
  return impl_->plan(now_ms);
}

std::vector<Decision> Planner::on_device_event(const DeviceEvent& event, Millis now_ms) {
  return impl_->on_event(event, now_ms);
}

Status Planner::apply(const Decision& d, Millis now_ms) {
  Impl& m = *impl_;
  if (d.kind == DecisionKind::stay) return ok_status();
  auto fi = m.fn_by_id.find(d.function);
  if (fi == m.fn_by_id.end()) return Error{"not_found", "function " + d.function + " unknown"};
  std::uint32_t f = fi->second;
  FuncRec& r = m.funcs[f];
  if (r.f.node != d.from)
    return Error{"conflict", "function " + d.function + " is on \"" + r.f.node + "\", not \"" + d.from + "\""};
  std::uint32_t to = kNone;
  if (d.kind != DecisionKind::undeploy) {
    auto n = m.node_by_name.find(d.to);
    if (n == m.node_by_name.end()) return Error{"not_found", "node " + d.to + " unknown"};
    to = n->second;
  }
  std::uint32_t from = valid(r.node) ? r.node : kNone;
  m.move_load(m.base, f, from, to);
  if (valid(from)) {
    auto& v = m.node_funcs[from];
    v.erase(std::find(v.begin(), v.end(), f));
  }
  if (valid(to)) m.node_funcs[to].push_back(f);
  r.node = to;
  r.f.node = d.kind == DecisionKind::undeploy ? std::string() : d.to;
  if (d.kind != DecisionKind::undeploy) r.f.last_move_ms = now_ms;
  if (is_counted_move(d.kind)) {
    auto& rm = m.recent_moves;
    rm.erase(std::remove_if(rm.begin(), rm.end(), [&](Millis t) { return t <= now_ms - kMoveWindowMs; }), rm.end());
    rm.push_back(now_ms);
  }
  return ok_status();
}

Status Planner::update_node(const Node& node) {
  Impl& m = *impl_;
  if (node.name.empty() || node.arch.empty()) return Error{"invalid_argument", "node: name and arch must not be empty"};
  if (node.capacity.cpu_millis < 0 || node.capacity.memory_bytes < 0 || node.usage.cpu_millis < 0 ||
      node.usage.memory_bytes < 0)
    return Error{"invalid_argument", "node " + node.name + ": capacity and usage must be >= 0"};
  auto it = m.node_by_name.find(node.name);
  if (it == m.node_by_name.end() || m.nodes[it->second].tier != node.tier || m.nodes[it->second].arch != node.arch) {
    // A new node or one that changes bucket: rebuild the indexes (rare).
    World w = m.snapshot();
    bool replaced = false;
    for (auto& n : w.nodes)
      if (n.name == node.name) {
        n = node;
        replaced = true;
      }
    if (!replaced) w.nodes.push_back(node);
    return load(std::move(w));
  }
  std::uint32_t n = it->second;
  m.nodes[n] = node;
  m.base.usage[n] = node.usage;
  bool want = m.in_heap(n);
  if (want && m.base.pos[n] == kNone) {
    m.heap_insert(m.base, n);
  } else if (!want && m.base.pos[n] != kNone) {
    m.heap_remove(m.base, n);
  }
  m.heap_fix(m.base, n);
  return ok_status();
}

Status Planner::upsert_function(const Function& function) {
  Impl& m = *impl_;
  if (function.id.empty()) return Error{"invalid_argument", "function: id must not be empty"};
  if (!m.tmpl_by_name.count(function.template_name))
    return Error{"not_found", "function " + function.id + ": unknown template \"" + function.template_name + "\""};
  if (m.fn_by_id.count(function.id)) {
    if (auto s = remove_function(function.id); !s) return s;
  }
  m.add_function(function);
  std::uint32_t f = static_cast<std::uint32_t>(m.funcs.size() - 1);
  if (valid(m.funcs[f].node)) {
    // Its load is part of the node's measured usage already; requests were
    // added by add_function. Keep the heap order right.
    m.heap_fix(m.base, m.funcs[f].node);
  }
  return ok_status();
}

Status Planner::remove_function(std::string_view id) {
  Impl& m = *impl_;
  auto it = m.fn_by_id.find(std::string(id));
  if (it == m.fn_by_id.end()) return Error{"not_found", "function " + std::string(id) + " unknown"};
  std::uint32_t f = it->second;
  std::uint32_t last = static_cast<std::uint32_t>(m.funcs.size() - 1);
  // Take it out of every index.
  FuncRec& r = m.funcs[f];
  if (valid(r.node)) {
    auto& v = m.node_funcs[r.node];
    v.erase(std::find(v.begin(), v.end(), f));
    Resources rq = m.templates[r.tmpl].t.requests;
    m.base.requested[r.node].cpu_millis -= rq.cpu_millis;
    m.base.requested[r.node].memory_bytes -= rq.memory_bytes;
    m.heap_fix(m.base, r.node);
  }
  if (r.dev != kNone) {
    auto& v = m.devices[r.dev].funcs;
    v.erase(std::find(v.begin(), v.end(), f));
  }
  m.fn_by_id.erase(it);
  // Move the last function into the hole and renumber it.
  if (f != last) {
    FuncRec& l = m.funcs[last];
    if (valid(l.node)) std::replace(m.node_funcs[l.node].begin(), m.node_funcs[l.node].end(), last, f);
    if (l.dev != kNone) std::replace(m.devices[l.dev].funcs.begin(), m.devices[l.dev].funcs.end(), last, f);
    m.fn_by_id[l.f.id] = f;
    m.funcs[f] = std::move(l);
  }
  m.funcs.pop_back();
  m.inc_decided.pop_back();
  m.inc_stay_slot.pop_back();
  m.order_dirty = true;
  return ok_status();
}

Status Planner::upsert_template(const FunctionTemplate& t) {
  World w = impl_->snapshot();
  bool replaced = false;
  for (auto& x : w.templates)
    if (x.name == t.name) {
      x = t;
      replaced = true;
    }
  if (!replaced) w.templates.push_back(t);
  return load(std::move(w));
}

Result<Decision> Planner::check_move(std::string_view function_id, std::string_view node, Millis now_ms) const {
  const Impl& m = *impl_;
  auto fi = m.fn_by_id.find(std::string(function_id));
  if (fi == m.fn_by_id.end()) return Error{"not_found", "function " + std::string(function_id) + " unknown"};
  auto ni = m.node_by_name.find(std::string(node));
  if (ni == m.node_by_name.end()) return Error{"not_found", "node " + std::string(node) + " unknown"};
  std::uint32_t f = fi->second, n = ni->second;
  const FuncRec& r = m.funcs[f];
  const TemplRec& t = m.templates[r.tmpl];
  if (r.node == n) return Error{"conflict", "function " + r.f.id + " already runs on " + m.nodes[n].name};
  // The function's own requests leave its node first only when it is on this
  // node, which it is not: accept against the node's current accounting.
  Resources ld = m.load_of(f), rq = m.requests_of(f);
  if (!m.accepts(m.base, n, t, ld, rq, Mode::manual, now_ms))
    return Error{"conflict", m.reject_reason(m.base, n, t, ld, rq, Mode::manual, now_ms)};
  DecisionKind kind = DecisionKind::place;
  if (valid(r.node)) {
    int a = static_cast<int>(m.nodes[r.node].tier), b = static_cast<int>(m.nodes[n].tier);
    if (b > a) kind = DecisionKind::offload_up;
    else if (b < a) kind = DecisionKind::bring_down;
    else if (a == static_cast<int>(Tier::gateway)) kind = DecisionKind::roam;
  }
  return Decision{r.f.id, r.f.node, m.nodes[n].name, kind, "manual move by operator"};
}

std::size_t Planner::memory_bytes() const { return impl_->memory_bytes(); }

}  // namespace c4i::placement
