#include "orchestrator/controller.hpp"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace c4i::orchestrator {

namespace pl = c4i::placement;
using nlohmann::json;

namespace {
constexpr std::int64_t kMiB = 1024 * 1024;

FunctionSpec spec_of(const FunctionRow& f) {
  FunctionSpec s;
  s.id = f.id;
  s.template_name = f.template_name;
  s.device = f.device;
  s.device_addr = f.device;
  s.command = f.tpl->command;
  s.env = f.tpl->env;
  s.image = f.tpl->spec.value("image", "");
  s.archs = f.tpl->archs;
  s.cpu_m = f.tpl->cpu_m;
  s.mem_mb = f.tpl->mem_mb;
  return s;
}

const NodeRow* find_node(const WorldSnapshot& w, const std::string& name) {
  for (const auto& n : w.nodes)
    if (n.name == name) return &n;
  return nullptr;
}
const SightingRow* find_sighting(const WorldSnapshot& w, const std::string& device, const std::string& gateway) {
  for (const auto& s : w.sightings)
    if (s.device == device && s.gateway == gateway) return &s;
  return nullptr;
}
}  // namespace

Controller::Controller(State& state, Backend& backend, metrics::Registry& metrics, ControllerOptions options)
    : state_(state), backend_(backend), metrics_(metrics), options_(options) {
  listener_ = state_.store().add_commit_listener([this](const std::vector<Change>& changes) { world_.note(changes); });
}

Controller::~Controller() {
  stop();
  state_.store().remove_commit_listener(listener_);
}

void Controller::start() {
  std::size_t n = std::min<std::size_t>(backend_.parallel_applies(), 256);
  if (n > 1)
    for (std::size_t i = 0; i < n; ++i) workers_.emplace_back([this] { worker(); });
  thread_ = std::thread([this] { loop(); });
}

void Controller::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  {
    // Jobs not started are dropped: their migrations stay open in the store
    // and are taken up again by the next start.
    std::lock_guard lock(jobs_mu_);
    jobs_stop_ = true;
    jobs_.clear();
  }
  jobs_cv_.notify_all();
  for (auto& w : workers_)
    if (w.joinable()) w.join();
  workers_.clear();
}

void Controller::worker() {
  while (true) {
    Job job;
    {
      std::unique_lock lock(jobs_mu_);
      jobs_cv_.wait(lock, [&] { return jobs_stop_ || !jobs_.empty(); });
      if (jobs_stop_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      execute(job.migration, job.function);
    } catch (const std::exception& e) {
      spdlog::error("migration {} of {}: {}", job.migration.id, job.migration.function, e.what());
      metrics_.counter("c4i_control_errors_total", "Control loop passes that failed").inc();
    }
    {
      std::lock_guard lock(jobs_mu_);
      in_flight_.erase(job.migration.function);
      finished_at_[job.migration.function] = generation_;
    }
    wake();  // the function's next step (or a later decision) is taken in the next pass
  }
}

void Controller::run_migrations(const WorldSnapshot& w, std::uint64_t generation) {
  std::int64_t now = now_ms();
  std::map<std::string, const FunctionRow*> functions;
  for (const auto& f : w.functions) functions[f.id] = &f;
  if (workers_.empty()) {
    for (const auto& m : w.open_migrations)
      if (auto f = functions.find(m.function); f != functions.end()) execute(m, *f->second);
    return;
  }
  std::size_t handed = 0;
  std::vector<std::pair<const OpenMigration*, const FunctionRow*>> here;
  {
    std::lock_guard lock(jobs_mu_);
    std::erase_if(finished_at_, [&](const auto& kv) { return kv.second < generation; });
    for (const auto& m : w.open_migrations) {
      auto f = functions.find(m.function);
      if (f == functions.end()) continue;  // deleted: the delete cancelled it
      if (m.state == "failed" && m.next_retry_ms && *m.next_retry_ms > now) continue;
      if (in_flight_.count(m.function) || finished_at_.count(m.function)) continue;
      // Applied and waiting for its instance to start: a look at the
      // backend's cache, done here (a worker would only find it unchanged
      // and wake the loop again).
      if (m.state == "applying" && m.applied) {
        here.emplace_back(&m, f->second);
        continue;
      }
      in_flight_.insert(m.function);
      jobs_.push_back(Job{m, *f->second});
      ++handed;
    }
  }
  if (handed) jobs_cv_.notify_all();
  for (const auto& [m, f] : here) execute(*m, *f);
}

void Controller::wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

void Controller::loop() {
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, next_wait_, [&] { return stop_ || wake_; });
      if (stop_) return;
      wake_ = false;
    }
    try {
      pass();
    } catch (const std::exception& e) {
      // A bug, not an expected failure; keep the loop alive and say so.
      spdlog::error("control loop pass failed: {}", e.what());
      metrics_.counter("c4i_control_errors_total", "Control loop passes that failed").inc();
    }
  }
}

std::int64_t Controller::retry_at(int attempts) {
  auto d = options_.retry_base.count() * (1LL << std::min(std::max(attempts - 1, 0), 20));
  d = std::min<std::int64_t>(d, options_.retry_max.count());
  std::uniform_int_distribution<std::int64_t> jitter(d / 2, d);
  std::lock_guard lock(rng_mu_);
  return now_ms() + jitter(rng_);
}

pl::World Controller::build_world(const WorldSnapshot& w, std::int64_t now) {
  (void)now;
  pl::World world;
  std::set<std::string> archs;
  for (const auto& n : w.nodes) {
    auto tier = pl::tier_from_string(n.tier);
    if (!tier) continue;
    pl::Node node;
    node.name = n.name;
    node.tier = *tier;
    node.arch = n.arch;
    node.labels = n.labels;
    node.capacity = {n.cpu_capacity_m, n.mem_capacity_mb * kMiB};
    node.usage = {static_cast<std::int64_t>(n.cpu.value_or(0) * static_cast<double>(n.cpu_capacity_m)),
                  static_cast<std::int64_t>(n.mem.value_or(0) * static_cast<double>(n.mem_capacity_mb * kMiB))};
    // Staleness is judged on our clock (when the heartbeat arrived), not the gateway's.
    if (n.heartbeat_notified_ms) node.last_heartbeat_ms = n.heartbeat_notified_ms;
    // An unschedulable node (a revoked gateway) takes nothing new, and what runs there moves away.
    if (n.unschedulable) node.ready = false;
    if (!n.arch.empty()) archs.insert(n.arch);
    world.nodes.push_back(std::move(node));
  }
  std::set<std::string> templates;
  for (const auto& f : w.functions) {
    if (!templates.insert(f.template_name).second) continue;
    pl::FunctionTemplate t;
    t.name = f.template_name;
    t.requests = {f.tpl->cpu_m, f.tpl->mem_mb * kMiB};
    t.archs = f.tpl->archs;
    if (t.archs.empty()) t.archs.assign(archs.begin(), archs.end());  // a plain command runs on any node we have
    if (t.archs.empty()) t.archs.push_back("amd64");
    for (const auto& s : f.tpl->tiers)
      if (auto tier = pl::tier_from_string(s)) t.tiers.push_back(*tier);
    if (t.tiers.empty()) t.tiers = {pl::Tier::gateway, pl::Tier::edge, pl::Tier::cloud};
    t.near_device = f.tpl->spec.value("near_device", true);
    if (f.tpl->spec.contains("node_selector") && f.tpl->spec["node_selector"].is_object())
      for (auto it = f.tpl->spec["node_selector"].begin(); it != f.tpl->spec["node_selector"].end(); ++it)
        if (it->is_string()) t.node_selector[it.key()] = it->get<std::string>();
    t.move_cost = static_cast<std::int32_t>(f.tpl->spec.value("move_cost", 1));
    world.templates.push_back(std::move(t));
  }
  std::map<std::string, pl::Device> devices;
  for (const auto& s : w.sightings) {
    auto& d = devices[s.device];
    d.id = s.device;
    // A gateway that reported the device lost keeps its last-seen time (for
    // lost_after_s) but no longer holds it: its RSSI counts as nothing.
    d.sightings.push_back(pl::DeviceSighting{s.gateway, s.present ? static_cast<double>(s.rssi_dbm) : -127.0, s.last_t});
  }
  for (auto& [id, d] : devices) world.devices.push_back(std::move(d));
  for (const auto& f : w.functions) {
    pl::Function fn;
    fn.id = f.id;
    fn.template_name = f.template_name;
    fn.device = f.device;
    // Where we decided it runs: the last decision, not what the backend reports
    // now (a move in flight must not be decided twice).
    if (f.placement_kind.empty()) fn.node = f.node;
    else if (f.placement_kind == "undeploy") fn.node.clear();
    else fn.node = !f.desired.node.empty() ? f.desired.node : f.node;
    fn.pinned = f.pinned;
    fn.last_move_ms = f.last_move_ms;
    world.functions.push_back(std::move(fn));
  }
  world.recent_moves_ms = w.recent_moves_ms;
  return world;
}

Status Controller::check_move(const std::string& function, const std::string& node) {
  std::lock_guard lock(planner_mu_);
  if (!planner_) return ok_status();
  auto d = planner_->check_move(function, node, now_ms());
  if (!d && d.error().code == "conflict") return d.error();
  return ok_status();  // unknown to the last pass (just created): the store checks existence
}

std::vector<OpenMigration> Controller::decide(const WorldSnapshot& w, std::int64_t now) {
  std::vector<PlannedMove> moves;
  {
    std::lock_guard lock(planner_mu_);
    if (!planner_ || planner_policy_version_ != w.policy.version) {
      auto policy = pl::policy_from_json(w.policy.spec);
      if (!policy) {
        spdlog::error("stored policy version {} is invalid ({}); using the defaults", w.policy.version, policy.error().message);
        policy = pl::Policy{};
      }
      if (planner_) {
        if (auto s = planner_->set_policy(*policy); !s) spdlog::error("policy rejected by the planner: {}", s.error().message);
      } else {
        planner_.emplace(*policy);
      }
      planner_policy_version_ = w.policy.version;
    }
    if (auto s = planner_->load(build_world(w, now)); !s) {
      spdlog::error("placement world rejected: {}", s.error().message);
      metrics_.counter("c4i_control_errors_total", "Control loop passes that failed").inc();
      return {};
    }
    auto plan = planner_->plan(now);
    std::set<std::string> busy;
    for (const auto& m : w.open_migrations) busy.insert(m.function);
    for (const auto& d : plan.decisions) {
      if (d.kind == pl::DecisionKind::stay) continue;
      if (busy.count(d.function)) continue;  // a move in flight finishes first
      PlannedMove m;
      m.function = d.function;
      m.kind = std::string(pl::to_string(d.kind));
      m.reason = d.reason;
      m.from_node = d.from;
      m.to.node = d.to;
      // Offloads on a backend with its own scheduler (kubernetes) name the
      // tier and let it pick the node; a gateway stays a node (the one that
      // sees the device), and roams always pin the node.
      if (backend_.schedules_tiers() &&
          (d.kind == pl::DecisionKind::offload_up || d.kind == pl::DecisionKind::bring_down))
        if (const NodeRow* to = find_node(w, d.to); to && to->tier != "gateway") {
          m.to.tier = to->tier;
          m.to.node.clear();
        }
      m.requested_by = "placement";
      // A snapshot lists functions in id order: a burst of decisions costs a search each, not a scan.
      const FunctionRow* f = nullptr;
      if (auto it = std::lower_bound(w.functions.begin(), w.functions.end(), d.function,
                                     [](const FunctionRow& x, const std::string& id) { return x.id < id; });
          it != w.functions.end() && it->id == d.function)
        f = &*it;
      // detected/notified: when the fact that caused the decision was observed
      // by its source and accepted by us.
      if ((d.kind == pl::DecisionKind::roam || d.kind == pl::DecisionKind::place) && f) {
        if (const auto* s = find_sighting(w, f->device, d.to); s && s->present) {
          m.detected_ms = s->enter_t;
          m.notified_ms = s->enter_notified_ms;
        } else if (d.kind == pl::DecisionKind::place) {
          m.detected_ms = f->created_ms;
          m.notified_ms = f->created_ms;
        }
      } else if (d.kind == pl::DecisionKind::offload_up || d.kind == pl::DecisionKind::bring_down) {
        const NodeRow* n = find_node(w, d.kind == pl::DecisionKind::offload_up ? d.from : d.to);
        if (n && n->heartbeat_ms) {
          m.detected_ms = n->heartbeat_ms;
          m.notified_ms = n->heartbeat_notified_ms;
        }
      }
      if (!m.detected_ms) m.detected_ms = now;
      if (!m.notified_ms) m.notified_ms = now;
      moves.push_back(std::move(m));
    }
  }
  if (moves.empty()) return {};
  if (!may_act()) return {};
  auto ids = state_.record_moves(moves, now);
  if (!ids) {
    spdlog::error("recording {} decision(s) failed: {}", moves.size(), ids.error().message);
    return {};
  }
  std::vector<OpenMigration> recorded;
  for (std::size_t i = 0; i < moves.size(); ++i) {
    OpenMigration m;
    m.id = (*ids)[i];
    m.function = moves[i].function;
    m.kind = moves[i].kind;
    m.to = moves[i].to;
    m.state = "pending";
    recorded.push_back(std::move(m));
    spdlog::info("migration {}: {} {} {} -> {} ({})", (*ids)[i], moves[i].kind, moves[i].function,
                 moves[i].from_node.empty() ? "-" : moves[i].from_node,
                 !moves[i].to.node.empty() ? moves[i].to.node
                 : moves[i].to.tier.empty() ? std::string("-")
                                            : "tier " + moves[i].to.tier,
                 moves[i].reason);
    metrics_.counter("c4i_decisions_total", "Placement decisions recorded", {{"kind", moves[i].kind}}).inc();
  }
  if (!decided_since_act_) {
    decided_since_act_ = true;
    spdlog::info("control loop: first decision since acting (migration {}, decided at {} ms)", ids->front(), now);
  }
  return recorded;
}

void Controller::execute(const OpenMigration& m, const FunctionRow& f) {
  if (!may_act()) return;  // fencing: a replica past its renew deadline touches nothing
  std::int64_t now = now_ms();
  if (m.state == "failed" && m.next_retry_ms && *m.next_retry_ms > now) return;
  if (m.kind == "undeploy") {
    if (auto s = backend_.stop(m.function); !s) {
      (void)state_.migration_failed(m.id, "applied", s.error().message, retry_at(m.attempts + 1));
      return;
    }
    (void)state_.migration_step(m.id, {{"applied", now_ms()}}, "done", "");
    (void)state_.forget_undeployed(m.function);
    metrics_.counter("c4i_migrations_completed_total", "Migrations carried out", {{"kind", m.kind}}).inc();
    return;
  }
  if (m.state == "applying" && m.applied) {
    // Applied earlier; waiting for the instance to start.
    auto st = backend_.status(m.function);
    if (st.started_ms) {
      std::map<std::string, std::int64_t> steps{{"started", *st.started_ms}};
      if (st.scheduled_ms) steps["scheduled"] = *st.scheduled_ms;
      (void)state_.migration_step(m.id, steps, "done", st.node);
      metrics_.counter("c4i_migrations_completed_total", "Migrations carried out", {{"kind", m.kind}}).inc();
      return;
    }
    if (st.state != InstanceState::absent) return;  // still starting (backoff)
  }
  auto call_start = std::chrono::steady_clock::now();
  auto r = backend_.apply(spec_of(f), m.to, {});
  metrics_.histogram("c4i_backend_apply_seconds", "Time a backend's apply() of a migration takes")
      .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - call_start).count());
  if (!r) {
    std::string step = failed_step_of(r.error());
    std::int64_t next = retry_at(m.attempts + 1);
    spdlog::warn("migration {} ({} of {}): step {} failed: {}; retry in {} ms", m.id, m.kind, m.function, step,
                 r.error().message, next - now);
    // A start that failed after the old instance stopped still applied.
    if (step == "started") {
      auto st = backend_.status(m.function);
      std::map<std::string, std::int64_t> steps{{"applied", now_ms()}};
      if (st.scheduled_ms) steps["scheduled"] = *st.scheduled_ms;
      (void)state_.migration_step(m.id, steps, "", st.node);
    }
    (void)state_.migration_failed(m.id, step, r.error().message, next);
    metrics_.counter("c4i_migration_failures_total", "Migration steps that failed", {{"step", step}}).inc();
    return;
  }
  std::map<std::string, std::int64_t> steps{{"applied", r->applied_ms}};
  if (r->scheduled_ms) steps["scheduled"] = r->scheduled_ms;  // kubernetes: known later, through status()
  if (r->started_ms) steps["started"] = *r->started_ms;
  steps.insert(r->steps.begin(), r->steps.end());  // the backend's finer steps (docker: stopped, pulled, created)
  auto write_start = std::chrono::steady_clock::now();
  (void)state_.migration_step(m.id, steps, r->started_ms ? "done" : "applying", r->node);
  metrics_.histogram("c4i_migration_write_seconds", "Time to record a migration's applied steps durably")
      .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count());
  if (r->started_ms) {
    metrics_.counter("c4i_migrations_completed_total", "Migrations carried out", {{"kind", m.kind}}).inc();
    metrics_.histogram("c4i_migration_decided_to_started_seconds", "From decided to started, per migration")
        .observe(static_cast<double>(*r->started_ms - now) / 1000.0);
  }
}

void Controller::reconcile(const WorldSnapshot& w) {
  std::set<std::string> open;
  for (const auto& m : w.open_migrations) open.insert(m.function);
  std::set<std::string> wanted;
  std::vector<Observation> observed;
  for (const auto& f : w.functions) {
    bool should_run = !f.placement_kind.empty() && f.placement_kind != "undeploy" &&
                      (!f.desired.node.empty() || !f.desired.tier.empty());
    if (should_run) wanted.insert(f.id);
    if (!may_act()) return;
    if (should_run && !open.count(f.id)) {
      auto st = backend_.status(f.id);
      if (st.state == InstanceState::absent) {
        // Should run and does not (a restart of ours, or a lost instance): start it where it was decided.
        Target t = f.desired;
        if (!t.node.empty()) t.tier.clear();
        auto r = backend_.apply(spec_of(f), t, {});
        if (!r) spdlog::warn("function {}: restoring on {} failed: {}", f.id, t.is_node() ? t.node : t.tier, r.error().message);
        else spdlog::info("function {} restored on {}", f.id, r->node);
      }
    }
    auto st = backend_.status(f.id);
    std::string state = st.state == InstanceState::absent ? (f.placement_kind == "undeploy" ? "undeployed" : "pending")
                                                          : to_string(st.state);
    if (state != f.state || st.node != f.node || st.restarts != f.restarts || st.last_exit != f.last_exit ||
        st.started_ms != f.started_ms)
      observed.push_back(Observation{f.id, state, st.node, st.restarts, st.last_exit, st.started_ms});
  }
  if (auto s = state_.functions_observed(observed); !s)
    spdlog::warn("recording what {} function(s) do failed: {}", observed.size(), s.error().message);
  for (const auto& id : backend_.instances()) {
    if (wanted.count(id) || open.count(id)) continue;
    if (!may_act()) return;
    spdlog::info("function {} should not run: stopping it", id);
    (void)backend_.stop(id);
  }
}

void Controller::pass() {
  static constexpr auto kReconcileEvery = std::chrono::milliseconds(100);
  next_wait_ = options_.interval;  // shortened below when a reconcile is put off
  if (!may_act()) {
    if (acting_) spdlog::info("control loop: no longer acting (not the leader)");
    acting_ = false;
    ready_ = true;  // serves reads
    return;
  }
  if (!acting_) {
    spdlog::info("control loop: acting (at {} ms)", now_ms());
    acting_ = true;
    decided_since_act_ = false;
    world_.invalidate();  // a new leader's store was loaded anew: read it whole
  }
  // The cache follows the store's change feed; a whole read now and then
  // bounds what a change written without its mark could cost.
  if (std::chrono::steady_clock::now() - last_full_read_ >= std::chrono::seconds(60)) {
    world_.invalidate();
    last_full_read_ = std::chrono::steady_clock::now();
  }
  // History is kept for migration_retention: a few hundred ended migrations
  // go every 10 s, so a fleet's roams do not pile up in the store (and, on
  // the kubernetes backend, in etcd).
  if (options_.migration_retention.count() > 0 && std::chrono::steady_clock::now() - last_prune_ >= std::chrono::seconds(10)) {
    last_prune_ = std::chrono::steady_clock::now();
    if (auto n = state_.prune_migrations(now_ms(), options_.migration_retention.count(), 200); !n)
      spdlog::warn("control loop: pruning old migrations: {}", n.error().message);
    else if (*n)
      metrics_.counter("c4i_migrations_pruned_total", "Ended migrations deleted after the retention period").inc(static_cast<double>(*n));
  }
  // Where a pass spends its time, per phase (c4i_control_phase_seconds).
  auto t0 = std::chrono::steady_clock::now();
  auto phase_done = [&](const char* phase) {
    auto t = std::chrono::steady_clock::now();
    metrics_.histogram("c4i_control_phase_seconds", "Time a control loop pass spends per phase", {{"phase", phase}})
        .observe(std::chrono::duration<double>(t - t0).count());
    t0 = t;
  };
  bool backend_changed = !backend_.poll().empty();
  phase_done("poll");
  std::int64_t now = now_ms();
  // Numbers the snapshot about to be read (see finished_at_).
  auto next_snapshot = [this] {
    std::lock_guard lock(jobs_mu_);
    return ++generation_;
  };
  auto generation = next_snapshot();
  auto w = state_.snapshot(world_);
  if (!w) {
    spdlog::error("control loop: reading state failed: {}", w.error().message);
    return;
  }
  phase_done("snapshot");
  // Decisions recorded are acted on in the same pass. With workers they join
  // the snapshot's open migrations as recorded (the planner skipped every
  // function that had one, so none is superseded); run here, one by one,
  // they are read back with the rest from a fresh snapshot.
  auto decided = decide(*w, now);
  phase_done("decide");
  if (!decided.empty()) {
    if (workers_.empty()) {
      generation = next_snapshot();
      w = state_.snapshot(world_);
      if (!w) return;
      phase_done("snapshot");
    } else {
      w->open_migrations.insert(w->open_migrations.end(), decided.begin(), decided.end());
    }
  }
  if (!w->open_migrations.empty()) {
    run_migrations(*w, generation);
    if (workers_.empty()) {
      w = state_.snapshot(world_);
      if (!w) return;
    }
    phase_done("migrations");
  }
  // Reconciling (restore what is lost, stop what should not run, record what
  // runs) looks at every function: not on every event's pass, but whenever
  // the backend saw a change, and at least every 100 ms.
  auto since = std::chrono::steady_clock::now() - last_reconcile_;
  if (backend_changed || workers_.empty() || since >= kReconcileEvery || !ready_) {
    reconcile(*w);
    last_reconcile_ = std::chrono::steady_clock::now();
    phase_done("reconcile");
  } else {
    next_wait_ = std::chrono::duration_cast<std::chrono::milliseconds>(kReconcileEvery - since) + std::chrono::milliseconds(1);
  }
  passes_++;
  metrics_.counter("c4i_control_passes_total", "Control loop passes completed").inc();
  ready_ = true;
}

}  // namespace c4i::orchestrator
