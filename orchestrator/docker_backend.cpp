#include "orchestrator/docker_backend.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace c4i::orchestrator {

using nlohmann::json;

namespace {
constexpr const char* kFunctionLabel = "cloud4iot.io/function";
constexpr const char* kDeviceLabel = "cloud4iot.io/device";
constexpr const char* kNodeLabel = "cloud4iot.io/node";
constexpr const char* kOwnerLabel = "cloud4iot.io/owner";
constexpr const char* kTemplateLabel = "cloud4iot.io/template";
constexpr const char* kRoleLabel = "cloud4iot.io/role";  // function | reader
constexpr const char* kReaderSocket = "/run/c4i/samples.sock";

bool is_reader(const docker::ContainerSummary& c) {
  auto r = c.labels.find(kRoleLabel);
  return r != c.labels.end() && r->second == "reader";
}

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Container names: [a-zA-Z0-9][a-zA-Z0-9_.-]* (Docker's rule); function ids are close already.
std::string container_name(const std::string& function_id) {
  std::string out = "c4i-";
  for (char c : function_id) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') ? c : '_';
  return out;
}

std::string volume_name(const std::string& function_id) { return container_name(function_id) + "-run"; }

// /run/c4i of both containers: a volume on tmpfs anyone may write (the images run as 65534), as an emptyDir.
nlohmann::json run_mount(const std::string& function_id) {
  return {{"Type", "volume"},
          {"Source", volume_name(function_id)},
          {"Target", "/run/c4i"},
          {"VolumeOptions",
           {{"DriverConfig",
             {{"Name", "local"}, {"Options", {{"type", "tmpfs"}, {"device", "tmpfs"}, {"o", "size=1m,mode=1777"}}}}}}}};
}

// "create on gw-2: <cause>": the step and the node, then what the engine or the socket said.
Error step_error(const char* code, const std::string& step, const std::string& node, const Error& cause) {
  return Error{code, step + " on " + node + ": " + cause.message};
}
}  // namespace

DockerBackend::DockerBackend(DockerOptions options) : options_(std::move(options)) {
  for (const auto& n : options_.topology.nodes) {
    auto e = std::make_unique<Engine>();
    e->cfg = n;
    e->client = std::make_unique<docker::Client>(n.engine);
    engines_.push_back(std::move(e));
  }
}

DockerBackend::~DockerBackend() { stop_watches(); }

void DockerBackend::set_on_change(std::function<void()> f) {
  std::lock_guard lock(mu_);
  on_change_ = std::move(f);
}

void DockerBackend::set_on_usage(std::function<void(const std::vector<NodeUsage>&)> f) {
  std::lock_guard lock(mu_);
  on_usage_ = std::move(f);
}

std::vector<std::string> DockerBackend::owner_labels() const { return {std::string(kOwnerLabel) + "=" + options_.owner}; }

DockerBackend::Engine* DockerBackend::engine(const std::string& node) {
  for (auto& e : engines_)
    if (e->cfg.node.name == node) return e.get();
  return nullptr;
}

std::string DockerBackend::arch_of(const Engine& e) const {
  if (e.info) return e.info->arch;
  return e.cfg.node.arch.empty() ? "amd64" : e.cfg.node.arch;
}

Status DockerBackend::start() {
  for (auto& e : engines_) {
    auto info = e->client->info();
    if (!info) {
      spdlog::warn("docker: engine of {} ({}) does not answer: {}; using the topology's arch and capacity until it does",
                   e->cfg.node.name, e->cfg.engine.url, info.error().message);
      continue;
    }
    if (!e->cfg.node.arch.empty() && e->cfg.node.arch != info->arch)
      spdlog::warn("docker: {}: the topology says arch {}, the engine {}; using the engine's", e->cfg.node.name,
                   e->cfg.node.arch, info->arch);
    e->info = *info;
    spdlog::info("docker: {} is engine {} ({} {}, {} CPUs, {} MiB) at {}", e->cfg.node.name, info->name,
                 info->server_version, info->arch, info->ncpu, info->mem_total_bytes >> 20, e->cfg.engine.url);
    adopt(*e);
  }
  for (auto& e : engines_)
    if (e->info) sweep(*e);
  for (auto& e : engines_) {
    Engine* p = e.get();
    e->watcher = std::thread([this, p, up = e->info.has_value()] { watch(p, up); });
  }
  if (options_.topology.usage_interval_ms > 0) usage_thread_ = std::thread([this] { usage_loop(); });
  return ok_status();
}

void DockerBackend::stop_watches() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& e : engines_)
    if (e->watcher.joinable()) e->watcher.join();
  if (usage_thread_.joinable()) usage_thread_.join();
}

void DockerBackend::adopt(Engine& e) {
  // A restart of ours finds the functions still running: keep them (the
  // control loop's reconcile sees them running and leaves them).
  auto list = e.client->list(owner_labels(), false);
  if (!list) {
    spdlog::warn("docker: listing containers on {}: {}", e.cfg.node.name, list.error().message);
    return;
  }
  std::map<std::string, std::string> readers;  // function id -> its reader's container
  for (const auto& c : *list) {
    auto f = c.labels.find(kFunctionLabel);
    if (f != c.labels.end() && is_reader(c)) readers[f->second] = c.id;
  }
  for (const auto& c : *list) {
    auto f = c.labels.find(kFunctionLabel);
    if (f == c.labels.end() || is_reader(c) || c.state != "running" || instances_.count(f->second)) continue;
    // A function whose reader is gone is not adopted: the sweep removes it and the control loop starts both again.
    auto r = readers.find(f->second);
    if (e.cfg.reader.enabled && r == readers.end()) continue;
    Instance inst;
    if (r != readers.end()) inst.reader = r->second;
    inst.adopted = true;
    inst.spec.id = f->second;
    inst.node = e.cfg.node.name;
    inst.container = c.id;
    inst.status.state = InstanceState::running;
    inst.status.node = inst.node;
    if (auto v = e.client->inspect(c.id)) inst.status.started_ms = docker::parse_docker_time_ms(v->started_at);
    if (!inst.status.started_ms) inst.status.started_ms = unix_ms();
    inst.status.scheduled_ms = inst.status.started_ms;
    inst.started_at = std::chrono::steady_clock::now();
    spdlog::info("docker: adopted container {} of {} on {}", c.id.substr(0, 12), f->second, inst.node);
    instances_[f->second] = std::move(inst);
  }
}

std::vector<std::string> DockerBackend::sweep(Engine& e) {
  std::vector<std::string> changed;
  auto list = e.client->list(owner_labels(), true);
  if (!list) {
    spdlog::warn("docker: sweeping {}: {}", e.cfg.node.name, list.error().message);
    return changed;
  }
  std::set<std::string> present;
  for (const auto& c : *list) {
    auto f = c.labels.find(kFunctionLabel);
    std::string fid = f == c.labels.end() ? "" : f->second;
    auto it = instances_.find(fid);
    bool current = it != instances_.end() && it->second.node == e.cfg.node.name &&
                   (it->second.container == c.id || (!it->second.reader.empty() && it->second.reader == c.id));
    if (current && is_reader(c)) {
      present.insert(c.id);
      continue;
    }
    if (current) {
      present.insert(c.id);
      if (c.state != "running" && it->second.status.state == InstanceState::running) {
        schedule_restart(it->second, "exited (" + c.status + ")");
        changed.push_back(fid);
      }
      continue;
    }
    // Not the function's instance: a leftover of an interrupted move or of an
    // earlier run. At most one container per function may ever run.
    if (auto s = e.client->remove(c.id, true); !s) {
      spdlog::warn("docker: removing stray container {} ({}) on {}: {}", c.id.substr(0, 12), fid, e.cfg.node.name,
                   s.error().message);
      continue;
    }
    strays_removed_++;
    spdlog::warn("docker: removed stray container {} of {} on {} ({})", c.id.substr(0, 12), fid.empty() ? "?" : fid,
                 e.cfg.node.name, c.state);
  }
  for (auto it = instances_.begin(); it != instances_.end();) {
    const Instance& inst = it->second;
    bool fn_gone = !present.count(inst.container);
    bool reader_gone = !inst.reader.empty() && !present.count(inst.reader);
    if (inst.node == e.cfg.node.name && (fn_gone || reader_gone)) {
      spdlog::warn("docker: {} {} of {} is gone from {}", fn_gone ? "container" : "reader container",
                   (fn_gone ? inst.container : inst.reader).substr(0, 12), it->first, e.cfg.node.name);
      // The pair goes together: what is left of it is removed, and both are created again.
      if (auto s = remove_instance(e, inst); !s) spdlog::warn("docker: removing what is left of {}: {}", it->first, s.error().message);
      changed.push_back(it->first);
      it = instances_.erase(it);  // absent: the control loop starts it again where it was decided
    } else {
      ++it;
    }
  }
  return changed;
}

Result<std::vector<BackendNode>> DockerBackend::list_nodes() {
  std::vector<BackendNode> out;
  for (const auto& e : engines_) {
    const auto& n = e->cfg.node;
    BackendNode b{n.name, n.tier, arch_of(*e), n.cpu_capacity_m, n.mem_capacity_mb, n.labels};
    // The engine's host figures unless the topology sets a share of it.
    if (b.cpu_capacity_m <= 0) b.cpu_capacity_m = e->info ? e->info->ncpu * 1000 : 1000;
    if (b.mem_capacity_mb <= 0) b.mem_capacity_mb = e->info ? e->info->mem_total_bytes >> 20 : 1024;
    out.push_back(std::move(b));
  }
  return out;
}

std::string DockerBackend::choose_node(const std::string& tier, const std::vector<std::string>& exclude) const {
  std::vector<std::pair<std::string, std::string>> nodes;
  for (const auto& e : engines_) nodes.emplace_back(e->cfg.node.name, e->cfg.node.tier);
  std::vector<std::string> placed;
  for (const auto& [id, inst] : instances_) placed.push_back(inst.node);
  return least_loaded_node(nodes, placed, tier, exclude);
}

// The labels of a function's containers: which function, device, node,
// template and orchestrator (owner) they belong to, and their role.
json DockerBackend::labels(const FunctionSpec& spec, const std::string& node, const char* role) const {
  return {{kFunctionLabel, spec.id}, {kDeviceLabel, spec.device},           {kNodeLabel, node},
          {kOwnerLabel, options_.owner}, {kTemplateLabel, spec.template_name}, {kRoleLabel, role}};
}

json DockerBackend::container_config(const FunctionSpec& spec, const Engine& e, const docker::ImageRef& ref) const {
  std::map<std::string, std::string> env = options_.env;
  for (const auto& [k, v] : spec.env) env[k] = v;
  env["C4I_NODE"] = e.cfg.node.name;
  env["C4I_TIER"] = e.cfg.node.tier;
  env["C4I_FUNCTION"] = spec.id;
  env["C4I_DEVICE"] = spec.device;
  env["C4I_DEVICE_ADDR"] = spec.device_addr;
  env["C4I_TEMPLATE"] = spec.template_name;
  env["C4I_ORCHESTRATOR_URL"] = options_.orchestrator_url;
  const bool reader = e.cfg.reader.enabled;
  if (reader) env["C4I_READER_SOCKET"] = kReaderSocket;  // the function's --input (images/README.md)
  json envs = json::array();
  for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
  json c = {{"Image", ref.str()},
            {"Env", envs},
            {"Labels", labels(spec, e.cfg.node.name, "function")},
            // Without a reader, the stream is the function's stdin (it can be attached).
            {"OpenStdin", !reader},
            {"StdinOnce", false},
            {"HostConfig", {{"NetworkMode", e.cfg.network}, {"RestartPolicy", {{"Name", "no"}}}}}};
  if (reader) c["HostConfig"]["Mounts"] = json::array({run_mount(spec.id)});
  // As the kubernetes backend's `command`: the template's argv replaces the image's entrypoint.
  if (!spec.command.empty()) c["Entrypoint"] = spec.command;
  return c;
}

json DockerBackend::reader_config(const FunctionSpec& spec, const Engine& e, const docker::ImageRef& ref) const {
  const auto& rc = e.cfg.reader;
  const std::map<std::string, std::string> values{
      {"addr", spec.device_addr.empty() ? spec.device : spec.device_addr}, {"device", spec.device}, {"node", e.cfg.node.name}, {"function", spec.id}};
  json argv = {"/usr/bin/c4i-reader", "--connect", docker::expand_reader_template(rc.connect, values), "--output",
               std::string("unix:") + kReaderSocket};
  if (!options_.orchestrator_url.empty()) {
    argv.push_back("--orchestrator");  // the first_data mark; --function from C4I_FUNCTION
    argv.push_back(options_.orchestrator_url);
  }
  for (const auto& a : rc.args) argv.push_back(docker::expand_reader_template(a, values));
  json binds = json::array();
  for (const auto& b : rc.binds) binds.push_back(docker::expand_reader_template(b, values));
  json envs = json::array({"C4I_NODE=" + e.cfg.node.name, "C4I_TIER=" + e.cfg.node.tier, "C4I_FUNCTION=" + spec.id,
                           "C4I_DEVICE=" + spec.device, "C4I_DEVICE_ADDR=" + spec.device_addr,
                           std::string("C4I_READER_SOCKET=") + kReaderSocket, "C4I_ORCHESTRATOR_URL=" + options_.orchestrator_url});
  json c = {{"Image", rc.image.empty() ? ref.str() : rc.image},
            {"Entrypoint", argv},
            {"Env", envs},
            {"Labels", labels(spec, e.cfg.node.name, "reader")},
            {"HostConfig",
             {{"NetworkMode", rc.network},
              // It exits when the function's socket is not there yet, or when the function restarts.
              {"RestartPolicy", {{"Name", "on-failure"}}},
              {"Mounts", json::array({run_mount(spec.id)})},
              {"Binds", binds}}}};
  return c;
}

Status DockerBackend::ensure_image(Engine& e, const docker::ImageRef& ref, const std::string& arch) {
  const std::string& node = e.cfg.node.name;
  auto img = e.client->inspect_image(ref.str());
  if (!img) return step_error("pull_failed", "pull", node, img.error());
  if (*img && (*img)->arch == arch) return ok_status();
  auto t0 = unix_ms();
  if (auto s = e.client->pull(ref, "linux/" + arch, std::chrono::milliseconds(options_.topology.pull_timeout_ms)); !s)
    return step_error("pull_failed", "pull", node, s.error());
  spdlog::info("docker: pulled {} (linux/{}) on {} in {} ms", ref.str(), arch, node, unix_ms() - t0);
  return ok_status();
}

Status DockerBackend::remove_instance(Engine& e, const Instance& inst) {
  const int t = static_cast<int>(options_.topology.stop_timeout_s);
  // The reader first: it lets the device go (CCCD := 0) before the function it feeds stops.
  for (const std::string* id : {&inst.reader, &inst.container}) {
    if (id->empty()) continue;
    if (auto s = e.client->stop(*id, t); !s) return step_error("stop_failed", "stop", inst.node, s.error());
    if (auto s = e.client->remove(*id, true); !s) return step_error("stop_failed", "remove", inst.node, s.error());
  }
  if (!inst.reader.empty())
    if (auto s = e.client->remove_volume(volume_name(inst.spec.id)); !s)
      spdlog::warn("docker: removing the volume of {} on {}: {}", inst.spec.id, inst.node, s.error().message);
  return ok_status();
}

Result<ApplyResult> DockerBackend::apply(const FunctionSpec& spec, const Target& target,
                                         const std::vector<std::string>& exclude) {
  auto it = instances_.find(spec.id);
  if (it != instances_.end()) {
    Instance& cur = it->second;
    const Engine* ce = engine(cur.node);
    bool same_place = target.is_node() ? cur.node == target.node
                                       : ce && ce->cfg.node.tier == target.tier &&
                                             std::find(exclude.begin(), exclude.end(), cur.node) == exclude.end();
    bool same_spec = cur.adopted || (cur.spec.image == spec.image && cur.spec.command == spec.command && cur.spec.env == spec.env &&
                                     cur.spec.device_addr == spec.device_addr);
    if (same_place && same_spec) {
      if (cur.adopted) {
        cur.spec = spec;
        cur.adopted = false;
      }
      return unchanged_apply(cur.node, cur.status, unix_ms());
    }
  }
  if (spec.image.empty())
    return Error{"invalid_argument", "template " + spec.template_name + " has no image: the docker backend runs images"};
  auto ref = docker::parse_image_ref(spec.image);
  if (!ref) return ref.error();
  std::string node = target.node;
  if (target.is_node()) {
    if (!engine(node)) return Error{"unknown_node", "node " + node + " is not in the topology"};
  } else {
    node = choose_node(target.tier, exclude);
    if (node.empty()) return Error{"no_node", "no node of tier " + target.tier + " is available"};
  }
  Engine& dst = *engine(node);
  ApplyResult r;
  r.node = node;
  // The new engine must answer before the old instance goes: its arch picks the image.
  auto info = dst.client->info();
  if (!info) return step_error("pull_failed", "pull", node, info.error());
  dst.info = *info;
  const std::string arch = info->arch;
  if (!spec.archs.empty() && std::find(spec.archs.begin(), spec.archs.end(), arch) == spec.archs.end())
    return Error{"pull_failed", "pull on " + node + ": template " + spec.template_name + " has no image for " + arch};

  // 1. The old instance: stopped and removed before anything starts.
  if (it != instances_.end()) {
    Instance& old = it->second;
    Engine* src = engine(old.node);
    if (src) {
      if (auto s = remove_instance(*src, old); !s) return s.error();
      spdlog::info("function {} stopped on {} (container {}{} removed)", spec.id, old.node, old.container.substr(0, 12),
                   old.reader.empty() ? "" : ", reader " + old.reader.substr(0, 12));
    }
    instances_.erase(it);
    r.steps["stopped"] = unix_ms();
  }
  r.applied_ms = unix_ms();
  r.scheduled_ms = r.applied_ms;

  // 2. The image, for the engine's architecture.
  const std::string platform = "linux/" + arch;
  if (auto s = ensure_image(dst, *ref, arch); !s) return s.error();
  const bool with_reader = dst.cfg.reader.enabled;
  if (with_reader && !dst.cfg.reader.image.empty()) {
    auto rref = docker::parse_image_ref(dst.cfg.reader.image);
    if (!rref) return step_error("pull_failed", "pull", node, rref.error());
    if (auto s = ensure_image(dst, *rref, arch); !s) return s.error();
  }
  r.steps["pulled"] = unix_ms();

  // 3. Create, after removing what an interrupted earlier attempt left here.
  auto leftovers = dst.client->list({std::string(kOwnerLabel) + "=" + options_.owner, std::string(kFunctionLabel) + "=" + spec.id}, true);
  if (!leftovers) return step_error("create_failed", "create", node, leftovers.error());
  for (const auto& c : *leftovers) {
    if (auto s = dst.client->remove(c.id, true); !s) return step_error("create_failed", "create", node, s.error());
    strays_removed_++;
    spdlog::warn("docker: removed leftover container {} of {} on {}", c.id.substr(0, 12), spec.id, node);
  }
  if (with_reader)
    if (auto s = dst.client->remove_volume(volume_name(spec.id)); !s) return step_error("create_failed", "create", node, s.error());
  auto id = dst.client->create(container_name(spec.id), container_config(spec, dst, *ref), platform);
  if (!id) return step_error("create_failed", "create", node, id.error());
  std::string reader_id;
  if (with_reader) {
    auto rid = dst.client->create(container_name(spec.id) + "-reader", reader_config(spec, dst, *ref), platform);
    if (!rid) {
      (void)dst.client->remove(*id, true);
      return step_error("create_failed", "create", node, rid.error());
    }
    reader_id = *rid;
  }
  r.steps["created"] = unix_ms();

  // 4. Start.
  Instance inst;
  inst.spec = spec;
  inst.node = node;
  inst.container = *id;
  inst.reader = reader_id;
  inst.status.node = node;
  inst.status.scheduled_ms = r.scheduled_ms;
  // The function: it listens on the socket the reader connects to. The reader
  // starts at the next poll(), which the control loop runs after it recorded
  // `started` and the function's new node: the reader's first_data mark,
  // authorised by the node's certificate, can come within milliseconds.
  if (auto s = dst.client->start(*id); !s) {
    (void)remove_instance(dst, inst);  // best effort; a later attempt removes them anyway
    return step_error("start_failed", "start", node, s.error());
  }
  inst.started_at = std::chrono::steady_clock::now();
  inst.status.state = InstanceState::running;
  inst.status.started_ms = unix_ms();
  inst.reader_pending = !reader_id.empty();
  r.started_ms = inst.status.started_ms;
  spdlog::info("function {} started on {} (container {}{})", spec.id, node, id->substr(0, 12),
               reader_id.empty() ? "" : ", reader " + reader_id.substr(0, 12));
  instances_[spec.id] = std::move(inst);
  if (!reader_id.empty()) {
    std::function<void()> cb;
    {
      std::lock_guard lock(mu_);
      cb = on_change_;
    }
    if (cb) cb();  // the next pass starts the reader
  }
  return r;
}

Status DockerBackend::stop(const std::string& function_id) {
  auto it = instances_.find(function_id);
  if (it == instances_.end()) return ok_status();
  Instance& inst = it->second;
  if (Engine* e = engine(inst.node))
    if (auto s = remove_instance(*e, inst); !s) return s.error();
  spdlog::info("function {} stopped on {}", function_id, inst.node);
  instances_.erase(it);
  return ok_status();
}

InstanceStatus DockerBackend::status(const std::string& function_id) {
  auto it = instances_.find(function_id);
  return it == instances_.end() ? InstanceStatus{} : it->second.status;
}

std::vector<std::string> DockerBackend::instances() {
  std::vector<std::string> out;
  for (const auto& [id, inst] : instances_) out.push_back(id);
  return out;
}

std::string DockerBackend::container_of(const std::string& function_id) const {
  auto it = instances_.find(function_id);
  return it == instances_.end() ? std::string() : it->second.container;
}

std::string DockerBackend::reader_of(const std::string& function_id) const {
  auto it = instances_.find(function_id);
  return it == instances_.end() ? std::string() : it->second.reader;
}

void DockerBackend::schedule_restart(Instance& inst, const std::string& why) {
  auto now = std::chrono::steady_clock::now();
  if (now - inst.started_at > std::chrono::seconds(10)) inst.consecutive_failures = 0;  // not a crash loop
  inst.consecutive_failures++;
  auto delay = restart_delay(options_.restart_base, options_.restart_max, inst.consecutive_failures);
  inst.restart_at = now + delay;
  inst.status.state = InstanceState::backoff;
  inst.status.started_ms.reset();
  inst.status.last_exit = why;
  inst.status.restarts++;
  spdlog::warn("function {} on {}: {}; start again in {} ms", inst.spec.id, inst.node, why,
               std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
}

std::vector<std::string> DockerBackend::poll() {
  std::vector<Notice> notices;
  {
    std::lock_guard lock(mu_);
    notices.swap(notices_);
  }
  std::vector<std::string> changed;
  for (const auto& n : notices) {
    Engine* e = engine(n.node);
    if (!e) continue;
    if (n.action == "up") {
      // Back after being unreachable: what it runs may no longer be what we think.
      auto info = e->client->info();
      if (info) e->info = *info;
      auto c = sweep(*e);
      changed.insert(changed.end(), c.begin(), c.end());
      continue;
    }
    for (auto& [id, inst] : instances_) {
      if (inst.node != n.node || inst.status.state != InstanceState::running) continue;
      if (n.action == "down") {
        schedule_restart(inst, "engine unreachable");
        changed.push_back(id);
      } else if (inst.container == n.container && (n.action == "die" || n.action == "destroy")) {
        schedule_restart(inst, n.exit_code.empty() ? n.action : "exit " + n.exit_code);
        changed.push_back(id);
      }
    }
  }
  // Readers of functions started since the last pass (apply() leaves them created).
  for (auto& [id, inst] : instances_) {
    if (!inst.reader_pending || inst.status.state != InstanceState::running) continue;
    Engine* e = engine(inst.node);
    if (!e) continue;
    if (auto s = e->client->start(inst.reader); s) {
      inst.reader_pending = false;
      spdlog::info("function {}: reader {} started on {}", id, inst.reader.substr(0, 12), inst.node);
    } else if (s.error().code == "not_found") {
      inst.reader_pending = false;  // gone: the next sweep removes the function too and it starts again
    } else {
      spdlog::warn("function {}: starting its reader on {}: {} (again at the next pass)", id, inst.node, s.error().message);
    }
  }
  auto now = std::chrono::steady_clock::now();
  for (auto it = instances_.begin(); it != instances_.end();) {
    Instance& inst = it->second;
    if (inst.status.state != InstanceState::backoff || now < inst.restart_at) {
      ++it;
      continue;
    }
    Engine* e = engine(inst.node);
    auto s = e ? e->client->start(inst.container) : Status(Error{"unknown_node", inst.node});
    if (s) {
      inst.status.state = InstanceState::running;
      inst.status.started_ms = unix_ms();
      inst.started_at = now;
      spdlog::info("function {} started again on {}", it->first, inst.node);
    } else if (s.error().code == "not_found") {
      // The container is gone (removed by hand, an engine reset): the control loop creates it again.
      spdlog::warn("function {}: container {} is gone from {}", it->first, inst.container.substr(0, 12), inst.node);
      changed.push_back(it->first);
      it = instances_.erase(it);
      continue;
    } else {
      inst.consecutive_failures++;
      inst.restart_at = now + restart_delay(options_.restart_base, options_.restart_max, inst.consecutive_failures);
      inst.status.last_exit = "start on " + inst.node + ": " + s.error().message;
    }
    changed.push_back(it->first);
    ++it;
  }
  return changed;
}

void DockerBackend::notify(Notice n) {
  std::function<void()> cb;
  {
    std::lock_guard lock(mu_);
    notices_.push_back(std::move(n));
    cb = on_change_;
  }
  if (cb) cb();
}

void DockerBackend::watch(const Engine* e, bool up) {
  // The watcher's own connection: the events stream blocks for as long as the engine runs.
  docker::Client client(e->cfg.engine);
  const std::string node = e->cfg.node.name;  // cfg is never written after construction
  auto pause = std::chrono::milliseconds(200);
  while (!stop_.load()) {
    if (!up) {
      if (client.ping()) {
        up = true;
        pause = std::chrono::milliseconds(200);
        spdlog::info("docker: the engine of {} answers again", node);
        notify(Notice{node, "", "up", ""});
      } else {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, pause, [&] { return stop_.load(); });
        pause = std::min(pause * 2, std::chrono::milliseconds(2000));
        continue;
      }
    }
    auto since = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto r = client.events(owner_labels(), since,
                           [&](const docker::ContainerEvent& ev) {
                             if (ev.action != "die" && ev.action != "destroy" && ev.action != "oom") return;
                             auto code = ev.attributes.find("exitCode");
                             notify(Notice{node, ev.id, ev.action == "oom" ? "die" : ev.action,
                                           code == ev.attributes.end() ? "" : code->second});
                           },
                           stop_);
    if (stop_.load()) break;
    // The stream ended: the engine stopped (or restarts). Its containers are not ours to trust until it answers.
    spdlog::warn("docker: lost the events of {} ({})", node, r ? "stream ended" : r.error().message);
    up = false;
    notify(Notice{node, "", "down", ""});
  }
}

void DockerBackend::usage_loop() {
  std::vector<std::unique_ptr<docker::Client>> clients;
  for (const auto& e : engines_) clients.push_back(std::make_unique<docker::Client>(e->cfg.engine));
  std::map<std::string, docker::StatsSample> last;  // by container id
  while (!stop_.load()) {
    std::vector<NodeUsage> usage;
    std::map<std::string, docker::StatsSample> seen;
    for (std::size_t i = 0; i < engines_.size(); ++i) {
      auto info = clients[i]->info();
      if (!info) continue;
      auto list = clients[i]->list(owner_labels(), false);
      if (!list) continue;
      double cpu = 0;
      std::uint64_t mem = 0;
      for (const auto& c : *list) {
        auto s = clients[i]->stats(c.id);
        if (!s) continue;
        if (auto p = last.find(c.id); p != last.end()) cpu += docker::cpu_share(p->second, *s);
        mem += s->mem_usage_bytes;
        seen[c.id] = *s;
      }
      // Shares of the node: the topology's capacity (a gateway emulated as part of a host), else the host's.
      const auto& n = engines_[i]->cfg.node;
      const double host_cpu_m = static_cast<double>(std::max<std::int64_t>(info->ncpu, 1)) * 1000.0;
      const double cpu_cap_m = n.cpu_capacity_m > 0 ? static_cast<double>(n.cpu_capacity_m) : host_cpu_m;
      const double mem_cap = n.mem_capacity_mb > 0 ? static_cast<double>(n.mem_capacity_mb) * 1048576.0
                                                   : static_cast<double>(std::max<std::int64_t>(info->mem_total_bytes, 1));
      NodeUsage u;
      u.node = n.name;
      u.cpu = std::min(cpu * host_cpu_m / cpu_cap_m, 1.0);
      u.mem = std::min(static_cast<double>(mem) / mem_cap, 1.0);
      u.t_ms = unix_ms();
      usage.push_back(u);
    }
    last.swap(seen);
    std::function<void(const std::vector<NodeUsage>&)> cb;
    {
      std::lock_guard lock(mu_);
      cb = on_usage_;
    }
    if (cb && !usage.empty()) cb(usage);
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(options_.topology.usage_interval_ms), [&] { return stop_.load(); });
  }
}

}  // namespace c4i::orchestrator
