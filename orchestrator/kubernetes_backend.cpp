#include "orchestrator/kubernetes_backend.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace c4i::orchestrator {

using nlohmann::json;

namespace {
std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string meta_str(const json& obj, const char* field) {
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return {};
  return obj["metadata"].value(field, "");
}

std::string annotation(const json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains("metadata")) return {};
  const json& m = obj["metadata"];
  if (!m.is_object() || !m.contains("annotations") || !m["annotations"].is_object()) return {};
  return m["annotations"].value(key, "");
}

bool deleting(const json& obj) {
  return obj.is_object() && obj.contains("metadata") && obj["metadata"].is_object() &&
         obj["metadata"].contains("deletionTimestamp") && !obj["metadata"]["deletionTimestamp"].is_null();
}

bool same_nodes(const std::vector<BackendNode>& a, const std::vector<BackendNode>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].name != b[i].name || a[i].tier != b[i].tier || a[i].arch != b[i].arch ||
        a[i].cpu_capacity_m != b[i].cpu_capacity_m || a[i].mem_capacity_mb != b[i].mem_capacity_mb ||
        a[i].labels != b[i].labels)
      return false;
  return true;
}

const char* kSelector = "app.kubernetes.io/managed-by=cloud4iot";
}  // namespace

KubernetesBackend::KubernetesBackend(KubernetesOptions options) : options_(std::move(options)) {
  options_.apply_concurrency = std::max<std::size_t>(options_.apply_concurrency, 1);
}

KubernetesBackend::PooledClient KubernetesBackend::client() {
  {
    std::lock_guard lock(clients_mu_);
    if (!idle_clients_.empty()) {
      auto c = std::move(idle_clients_.back());
      idle_clients_.pop_back();
      return PooledClient(*this, std::move(c));
    }
  }
  return PooledClient(*this, std::make_unique<k8s::Client>(options_.endpoint));
}

KubernetesBackend::PooledClient::~PooledClient() {
  std::lock_guard lock(b_.clients_mu_);
  b_.idle_clients_.push_back(std::move(c_));
}

KubernetesBackend::~KubernetesBackend() { stop_watches(); }

void KubernetesBackend::stop_watches() {
  {
    std::lock_guard lock(usage_mu_);
    usage_stop_ = true;
  }
  usage_cv_.notify_all();
  if (usage_thread_.joinable()) usage_thread_.join();
  for (auto* w : {&node_watch_, &deployment_watch_, &pod_watch_})
    if (*w) (*w)->stop();
}

void KubernetesBackend::set_on_usage(std::function<void(const std::vector<NodeUsage>&)> f) {
  std::lock_guard lock(mu_);
  on_usage_ = std::move(f);
}

void KubernetesBackend::poll_usage_loop() {
  k8s::Client client(options_.endpoint);
  std::unique_lock lock(usage_mu_);
  while (!usage_stop_) {
    lock.unlock();
    poll_usage_once(client);
    lock.lock();
    usage_cv_.wait_for(lock, options_.usage_interval, [this] { return usage_stop_; });
  }
}

void KubernetesBackend::poll_usage_once(k8s::Client& client) {
  auto r = client.call("GET", "/apis/metrics.k8s.io/v1beta1/nodes", {}, {}, /*retry=*/false);
  if (!r || r->status != 200) {
    // 404: no metrics-server (nothing serves the group). Said once per change.
    bool not_served = r && r->status == 404;
    if (usage_served_ != 0)
      spdlog::info("kubernetes: node usage from metrics.k8s.io is not available ({}); using gateway heartbeats",
                   !r ? r.error().message : not_served ? std::string("not served") : "HTTP " + std::to_string(r->status) + " " + k8s::status_message(*r));
    usage_served_ = 0;
    return;
  }
  json list = json::parse(r->body, nullptr, false);
  std::map<std::string, BackendNode> capacity;
  std::function<void(const std::vector<NodeUsage>&)> cb;
  {
    std::lock_guard lock(mu_);
    capacity = nodes_;
    cb = on_usage_;
  }
  std::size_t skipped = 0;
  auto usage = k8s::node_usage_from_metrics(list, capacity, &skipped);
  if (usage_served_ != 1)
    spdlog::info("kubernetes: node usage from metrics.k8s.io ({} node(s), {} skipped)", usage.size(), skipped);
  usage_served_ = 1;
  std::int64_t now = unix_ms();
  // The reading's own time (the end of metrics-server's window) dates the
  // detection, unless the clocks disagree: in the future or minutes old.
  constexpr std::int64_t kMaxSkewMs = 5 * 60 * 1000;
  for (auto& u : usage)
    if (u.t_ms <= 0 || u.t_ms > now || now - u.t_ms > kMaxSkewMs) u.t_ms = now;
  if (cb && !usage.empty()) cb(usage);
}

void KubernetesBackend::set_on_change(std::function<void()> f) {
  std::lock_guard lock(mu_);
  on_change_ = std::move(f);
}

void KubernetesBackend::set_on_nodes(std::function<void(const std::vector<BackendNode>&)> f) {
  std::lock_guard lock(mu_);
  on_nodes_ = std::move(f);
}

std::string KubernetesBackend::deployment_path(const std::string& name) const {
  return "/apis/apps/v1/namespaces/" + options_.ns + "/deployments/" + name;
}

Status KubernetesBackend::start() {
  // The namespace must exist: say so at start rather than at the first move.
  auto ns = client()->call("GET", "/api/v1/namespaces/" + options_.ns);
  if (!ns) return Error{"unreachable", "kubernetes (" + options_.endpoint.description + "): " + ns.error().message};
  if (ns->status != 200)
    return Error{"invalid_config", "kubernetes namespace " + options_.ns + ": HTTP " + std::to_string(ns->status) + " " +
                                       k8s::status_message(*ns)};
  node_watch_ = std::make_unique<k8s::Watch>(
      options_.endpoint, "/api/v1/nodes", "",
      k8s::Watch::Handlers{[this](const auto& items) { on_nodes_replace(items); },
                           [this](const auto& type, const auto& obj) { on_node_event(type, obj); }});
  deployment_watch_ = std::make_unique<k8s::Watch>(
      options_.endpoint, "/apis/apps/v1/namespaces/" + options_.ns + "/deployments", kSelector,
      k8s::Watch::Handlers{[this](const auto& items) { on_deployments_replace(items); },
                           [this](const auto& type, const auto& obj) { on_deployment_event(type, obj); }});
  pod_watch_ = std::make_unique<k8s::Watch>(
      options_.endpoint, "/api/v1/namespaces/" + options_.ns + "/pods", kSelector,
      k8s::Watch::Handlers{[this](const auto& items) { on_pods_replace(items); },
                           [this](const auto& type, const auto& obj) { on_pod_event(type, obj); }});
  node_watch_->start();
  deployment_watch_->start();
  pod_watch_->start();
  for (auto* w : {node_watch_.get(), deployment_watch_.get(), pod_watch_.get()})
    if (!w->wait_synced(options_.sync_timeout))
      return Error{"unreachable", "kubernetes: no list of " + w->collection() + " within " +
                                      std::to_string(options_.sync_timeout.count()) + " ms: " + w->last_error()};
  if (options_.usage_interval.count() > 0) usage_thread_ = std::thread([this] { poll_usage_loop(); });
  std::lock_guard lock(mu_);
  spdlog::info("kubernetes backend ({}): namespace {}, {} node(s), {} deployment(s), {} pod(s)",
               options_.endpoint.description, options_.ns, nodes_.size(), deployments_.size(), pods_.size());
  return ok_status();
}

// ---------------------------------------------------------------- watch handlers

void KubernetesBackend::on_nodes_replace(const std::vector<json>& items) {
  {
    std::lock_guard lock(mu_);
    nodes_.clear();
    for (const auto& it : items)
      if (auto n = k8s::node_from_json(it)) nodes_[n->name] = *n;
  }
  nodes_changed();
}

void KubernetesBackend::on_node_event(const std::string& type, const json& obj) {
  {
    std::lock_guard lock(mu_);
    std::string name = meta_str(obj, "name");
    if (type == "DELETED") nodes_.erase(name);
    else if (auto n = k8s::node_from_json(obj)) nodes_[n->name] = *n;
    else nodes_.erase(name);  // lost its tier label
  }
  nodes_changed();
}

void KubernetesBackend::nodes_changed() {
  std::vector<BackendNode> now;
  std::function<void(const std::vector<BackendNode>&)> cb;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, n] : nodes_) now.push_back(n);
    // Kubelets (kwok) update node status every few seconds: report only real changes.
    if (same_nodes(now, last_nodes_reported_)) return;
    last_nodes_reported_ = now;
    cb = on_nodes_;
  }
  if (cb) cb(now);
}

void KubernetesBackend::on_deployments_replace(const std::vector<json>& items) {
  std::set<std::string> touched;
  {
    std::lock_guard lock(mu_);
    for (const auto& [fid, name] : deployment_of_) touched.insert(fid);
    deployments_.clear();
    deployment_of_.clear();
    for (const auto& d : items) {
      DeploymentInfo info{annotation(d, k8s::kAnnotationFunctionId), annotation(d, k8s::kAnnotationPlacement), deleting(d)};
      if (info.function_id.empty()) continue;
      std::string name = meta_str(d, "name");
      deployment_of_[info.function_id] = name;
      touched.insert(info.function_id);
      deployments_[name] = std::move(info);
    }
  }
  for (const auto& f : touched) changed(f);
}

void KubernetesBackend::on_deployment_event(const std::string& type, const json& d) {
  std::string name = meta_str(d, "name");
  std::string fid = annotation(d, k8s::kAnnotationFunctionId);
  if (fid.empty()) return;
  {
    std::lock_guard lock(mu_);
    if (type == "DELETED") {
      deployments_.erase(name);
      auto it = deployment_of_.find(fid);
      if (it != deployment_of_.end() && it->second == name) deployment_of_.erase(it);
      // Deleted behind our back (or by our stop): nothing of ours runs; the
      // control loop sees it absent and restores it if it should run.
      if (auto a = applied_.find(fid); a != applied_.end() && a->second.deployment == name) applied_.erase(a);
    } else {
      deployments_[name] = DeploymentInfo{fid, annotation(d, k8s::kAnnotationPlacement), deleting(d)};
      deployment_of_[fid] = name;
    }
  }
  changed(fid);
}

void KubernetesBackend::observe_pod_locked(const json& obj, std::optional<std::int64_t> now) {
  k8s::PodView v = k8s::pod_from_json(obj);
  if (v.name.empty() || v.function_id.empty()) return;
  auto& p = pods_[v.name];
  bool was_bound = !p.view.node.empty();
  bool was_ready = p.view.ready && p.view.phase == "Running";
  bool is_ready = v.ready && v.phase == "Running";
  if (!v.node.empty() && !was_bound && !p.scheduled_ms) p.scheduled_ms = now ? now : v.scheduled_ms;
  if (!v.node.empty() && !p.scheduled_ms) p.scheduled_ms = v.scheduled_ms;
  if (is_ready && !was_ready) p.started_ms = now ? now : (v.ready_ms ? v.ready_ms : v.scheduled_ms);
  p.view = std::move(v);
  pods_of_[p.view.function_id].insert(p.view.name);
}

void KubernetesBackend::on_pods_replace(const std::vector<json>& items) {
  std::set<std::string> touched;
  {
    std::lock_guard lock(mu_);
    std::map<std::string, PodInfo> old;
    old.swap(pods_);
    for (const auto& [fid, names] : pods_of_) touched.insert(fid);
    pods_of_.clear();
    for (const auto& it : items) {
      std::string name = meta_str(it, "name");
      // A pod we already knew keeps the times we observed (a relist after an outage).
      if (auto o = old.find(name); o != old.end()) pods_[name] = o->second;
      observe_pod_locked(it, std::nullopt);
      if (auto p = pods_.find(name); p != pods_.end()) touched.insert(p->second.view.function_id);
    }
  }
  for (const auto& f : touched) changed(f);
}

void KubernetesBackend::on_pod_event(const std::string& type, const json& obj) {
  std::string fid;
  {
    std::lock_guard lock(mu_);
    std::string name = meta_str(obj, "name");
    if (type == "DELETED") {
      auto it = pods_.find(name);
      if (it == pods_.end()) return;
      fid = it->second.view.function_id;
      pods_.erase(it);
      if (auto s = pods_of_.find(fid); s != pods_of_.end()) {
        s->second.erase(name);
        if (s->second.empty()) pods_of_.erase(s);
      }
    } else {
      observe_pod_locked(obj, unix_ms());
      auto it = pods_.find(name);
      if (it == pods_.end()) return;
      fid = it->second.view.function_id;
    }
  }
  changed(fid);
}

void KubernetesBackend::changed(const std::string& function_id) {
  std::function<void()> cb;
  {
    std::lock_guard lock(mu_);
    changed_.insert(function_id);
    cb = on_change_;
  }
  if (cb) cb();
}

// ---------------------------------------------------------------- Backend

Result<std::vector<BackendNode>> KubernetesBackend::list_nodes() {
  std::lock_guard lock(mu_);
  std::vector<BackendNode> out;
  for (const auto& [name, n] : nodes_) out.push_back(n);
  return out;
}

Result<ApplyResult> KubernetesBackend::apply(const FunctionSpec& spec, const Target& target,
                                             const std::vector<std::string>& exclude) {
  k8s::DeploymentParams p;
  p.ns = options_.ns;
  p.name = k8s::deployment_name(spec.template_name, spec.device);
  p.spec = spec;
  p.target = target;
  p.exclude = exclude;
  p.archs = spec.archs;
  p.reader_image = options_.reader_image;
  p.orchestrator_url = options_.orchestrator_url;
  p.cpu_m = spec.cpu_m;
  p.mem_mb = spec.mem_mb;
  {
    std::lock_guard lock(mu_);
    if (p.archs.empty()) {
      // A template that names no architecture runs on any the cluster has.
      std::set<std::string> archs;
      for (const auto& [name, n] : nodes_)
        if (!n.arch.empty()) archs.insert(n.arch);
      p.archs.assign(archs.begin(), archs.end());
    }
    if (auto d = deployments_.find(p.name); d != deployments_.end()) {
      if (d->second.function_id != spec.id)
        return Error{"conflict", "deployment " + p.name + " belongs to function " + d->second.function_id};
      // Foreground deletion still running: writing now would touch an object about to vanish.
      if (d->second.deleting) return Error{"conflict", "deployment " + p.name + " is being deleted; retrying later"};
    }
  }
  auto manifest = k8s::deployment_manifest(p);
  if (!manifest) return manifest.error();
  // Server-side apply (KEP-555): we own every field we send; force takes
  // fields another manager (kubectl edit) set, as the orchestrator decides placement.
  auto r = client()->call("PATCH", deployment_path(p.name) + "?fieldManager=" + k8s::kFieldManager + "&force=true",
                        manifest->dump(), "application/apply-patch+yaml");
  if (!r) return Error{r.error().code, "apply deployment " + p.name + ": " + r.error().message};
  if (r->status != 200 && r->status != 201) {
    std::string code = r->status == 409 ? "conflict" : (r->status == 422 || r->status == 400) ? "invalid_argument" : "backend_error";
    return Error{code, "apply deployment " + p.name + ": HTTP " + std::to_string(r->status) + " " + k8s::status_message(*r)};
  }
  ApplyResult out;
  out.applied_ms = unix_ms();
  out.node = target.node;
  {
    std::lock_guard lock(mu_);
    applied_[spec.id] = Applied{p.name, k8s::placement_key(target, exclude), out.applied_ms};
    deployment_of_[spec.id] = p.name;
    auto& d = deployments_[p.name];
    d.function_id = spec.id;
    d.placement = applied_[spec.id].placement;
    // A pod already running for exactly this placement (an idempotent apply) counts as started.
    if (auto s = pods_of_.find(spec.id); s != pods_of_.end())
      for (const auto& name : s->second) {
        auto pit = pods_.find(name);
        if (pit == pods_.end()) continue;
        const auto& pod = pit->second;
        if (pod.view.placement == d.placement && !pod.view.deleting && pod.started_ms) {
          out.node = pod.view.node;
          out.scheduled_ms = pod.scheduled_ms.value_or(0);
          out.started_ms = pod.started_ms;
        }
      }
  }
  return out;
}

Status KubernetesBackend::stop(const std::string& function_id) {
  std::string name;
  {
    std::lock_guard lock(mu_);
    auto it = deployment_of_.find(function_id);
    if (it == deployment_of_.end()) {
      applied_.erase(function_id);
      return ok_status();
    }
    name = it->second;
  }
  // Foreground: the Deployment goes only after its pods, so a later apply
  // under the same name cannot start a pod beside a terminating one.
  auto r = client()->call("DELETE", deployment_path(name), R"({"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground"})",
                        "application/json");
  if (!r) return Error{r.error().code, "delete deployment " + name + ": " + r.error().message};
  if (r->status != 200 && r->status != 202 && r->status != 404)
    return Error{"backend_error", "delete deployment " + name + ": HTTP " + std::to_string(r->status) + " " + k8s::status_message(*r)};
  std::lock_guard lock(mu_);
  applied_.erase(function_id);
  if (r->status == 404) {
    deployments_.erase(name);
    deployment_of_.erase(function_id);
  } else if (auto d = deployments_.find(name); d != deployments_.end()) {
    d->second.deleting = true;
  }
  return ok_status();
}

InstanceStatus KubernetesBackend::status(const std::string& function_id) {
  std::lock_guard lock(mu_);
  InstanceStatus st;
  auto dep_it = deployment_of_.find(function_id);
  const DeploymentInfo* dep = nullptr;
  if (dep_it != deployment_of_.end())
    if (auto d = deployments_.find(dep_it->second); d != deployments_.end()) dep = &d->second;
  auto ap = applied_.find(function_id);
  std::string want = ap != applied_.end() ? ap->second.placement : (dep ? dep->placement : std::string());
  const PodInfo* current = nullptr;
  const PodInfo* old = nullptr;
  if (auto s = pods_of_.find(function_id); s != pods_of_.end())
    for (const auto& name : s->second) {
      auto p = pods_.find(name);
      if (p == pods_.end()) continue;
      if (!p->second.view.deleting && p->second.view.placement == want && (!dep || !dep->deleting)) current = &p->second;
      else if (p->second.view.phase != "Succeeded" && p->second.view.phase != "Failed") old = &p->second;
    }
  if (!dep && ap == applied_.end()) {
    if (old || current) {  // pods outliving their Deployment (garbage collection in progress)
      st.state = InstanceState::stopping;
      st.node = (old ? old : current)->view.node;
    }
    return st;
  }
  if (dep && dep->deleting && ap == applied_.end()) {
    st.state = InstanceState::stopping;
    if (old) st.node = old->view.node;
    return st;
  }
  if (current) {
    const auto& v = current->view;
    st.node = v.node;
    st.restarts = v.restarts;
    st.last_exit = v.last_exit;
    if (!v.node.empty()) st.scheduled_ms = current->scheduled_ms;
    if (v.phase == "Running" && v.ready) {
      st.state = InstanceState::running;
      st.started_ms = current->started_ms;
    } else if (v.waiting_reason == "CrashLoopBackOff" || v.waiting_reason == "ImagePullBackOff" ||
               v.waiting_reason == "ErrImagePull") {
      st.state = InstanceState::backoff;
    } else {
      st.state = InstanceState::scheduled;
    }
    return st;
  }
  if (old) {  // Recreate: the old pod goes first
    st.state = InstanceState::stopping;
    st.node = old->view.node;
    return st;
  }
  // Written, no pod yet (the ReplicaSet and the scheduler are at work).
  st.state = InstanceState::scheduled;
  if (want.rfind("node=", 0) == 0) st.node = want.substr(5);
  return st;
}

std::vector<std::string> KubernetesBackend::instances() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [fid, name] : deployment_of_) {
    auto d = deployments_.find(name);
    if (d != deployments_.end() && d->second.deleting) continue;  // already on its way out
    out.push_back(fid);
  }
  return out;
}

std::vector<std::string> KubernetesBackend::poll() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out(changed_.begin(), changed_.end());
  changed_.clear();
  return out;
}

}  // namespace c4i::orchestrator
