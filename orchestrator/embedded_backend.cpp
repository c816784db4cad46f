#include "orchestrator/embedded_backend.hpp"

#include <dirent.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <linux/close_range.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

namespace c4i::orchestrator {

namespace {
std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string describe_exit(int st) {
  if (WIFEXITED(st)) return "exit " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return "signal " + std::to_string(WTERMSIG(st));
  return "status " + std::to_string(st);
}

// What the child of spawn() needs, all made before the clone.
struct ChildStart {
  pid_t parent;
  int stdin_fd, log_fd, error_fd;
  char** argv;
  char** envp;
};

// The child of spawn(), on its own stack in our memory (CLONE_VM): only
// system calls, nothing that allocates or locks, until exec.
__attribute__((no_sanitize_address)) int child_main(void* arg) {
  auto* c = static_cast<ChildStart*>(arg);
  // Die with the orchestrator; if it is already gone, do not start.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != c->parent) _exit(127);
  setpgid(0, 0);
  // Our handlers must not run here, in our memory: every signal was blocked
  // before the clone; handled ones go back to their default, then the mask clears.
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction sa {};
    if (sigaction(sig, nullptr, &sa) == 0 && sa.sa_handler != SIG_IGN && sa.sa_handler != SIG_DFL) {
      sa = {};
      sa.sa_handler = SIG_DFL;
      sigaction(sig, &sa, nullptr);
    }
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (c->stdin_fd >= 0) dup2(c->stdin_fd, 0);
  dup2(c->log_fd, 1);
  dup2(c->log_fd, 2);
  // Nothing of ours crosses exec: not the listening socket (a function's
  // child outliving us would hold our port), not the database. Asio and
  // SQLite do not open everything close-on-exec; the error pipe is.
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
    for (int fd = 3; fd < 4096; ++fd)
      if (fd != c->error_fd) close(fd);
  execvpe(c->argv[0], c->argv, c->envp);
  int err = errno;
  ssize_t w = write(c->error_fd, &err, sizeof err);
  (void)w;
  _exit(127);
}

// File names from function ids: keep [A-Za-z0-9._-], replace the rest.
std::string safe_file_name(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') ? c : '_';
  return out;
}
}  // namespace

const char* to_string(InstanceState s) {
  switch (s) {
    case InstanceState::absent: return "absent";
    case InstanceState::scheduled: return "scheduled";
    case InstanceState::running: return "running";
    case InstanceState::backoff: return "backoff";
    case InstanceState::stopping: return "stopping";
  }
  return "?";
}

EmbeddedBackend::EmbeddedBackend(EmbeddedOptions options) : options_(std::move(options)) {}

EmbeddedBackend::~EmbeddedBackend() { stop_all(); }

void EmbeddedBackend::stop_all() {
  std::map<std::string, Instance> all;
  {
    std::lock_guard lock(mu_);
    all.swap(instances_);
  }
  for (auto& [id, inst] : all)
    if (inst.pid > 0) terminate(inst.pid);
}

Result<std::vector<BackendNode>> EmbeddedBackend::list_nodes() {
  std::vector<BackendNode> out;
  for (const auto& n : options_.nodes)
    out.push_back(BackendNode{n.name, n.tier, n.arch, n.cpu_capacity_m, n.mem_capacity_mb, n.labels});
  return out;
}

std::string EmbeddedBackend::choose_node(const std::string& tier, const std::vector<std::string>& exclude) const {
  std::vector<std::pair<std::string, std::string>> nodes;
  for (const auto& n : options_.nodes) nodes.emplace_back(n.name, n.tier);
  std::vector<std::string> placed;
  for (const auto& [id, inst] : instances_) placed.push_back(inst.node);
  return least_loaded_node(nodes, placed, tier, exclude);
}

Result<pid_t> EmbeddedBackend::spawn(const FunctionSpec& spec, const std::string& node) {
  if (spec.command.empty()) return Error{"invalid_argument", "function " + spec.id + ": its template has no command"};
  // Everything the child needs is built before the clone: the child shares
  // our memory until exec and only makes system calls.
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : options_.env) env[k] = v;
  for (const auto& [k, v] : spec.env) env[k] = v;
  env["C4I_NODE"] = node;
  // The tier lets a function adapt (the engine diagnostics: intensive near the
  // engine, relaxed in the cloud).
  for (const auto& n : options_.nodes)
    if (n.name == node) env["C4I_TIER"] = n.tier;
  env["C4I_FUNCTION"] = spec.id;
  env["C4I_DEVICE"] = spec.device;
  env["C4I_DEVICE_ADDR"] = spec.device_addr;
  env["C4I_TEMPLATE"] = spec.template_name;
  env["C4I_ORCHESTRATOR_URL"] = options_.orchestrator_url;
  env["C4I_OWNER"] = options_.owner;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.command;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string log_path = options_.log_dir + "/" + safe_file_name(spec.id) + ".log";
  int log_fd = options_.log_dir.empty() ? open("/dev/null", O_WRONLY | O_CLOEXEC)
                                        : open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return Error{"spawn_failed", "open " + log_path + ": " + std::strerror(errno)};
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    close(log_fd);
    if (null_fd >= 0) close(null_fd);
    return Error{"spawn_failed", std::string("pipe: ") + std::strerror(errno)};
  }
  // clone(CLONE_VM | CLONE_VFORK), as posix_spawn does (which cannot set
  // PR_SET_PDEATHSIG): no copy of our page tables, and no copy-on-write
  // fault on every page we write afterwards. With fork(), each start cost a
  // fault per page of our memory; under the soak's 2,000 functions that was
  // a quarter of the orchestrator's CPU. We resume once the child has exec'd
  // or exited.
  ChildStart start{getpid(), null_fd, log_fd, pipefd[1], argv.data(), envp.data()};
  std::vector<char> stack(64 * 1024);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  pid_t pid = clone(child_main, stack.data() + stack.size(), CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    int err = clone_errno;
    close(log_fd);
    if (null_fd >= 0) close(null_fd);
    close(pipefd[0]);
    close(pipefd[1]);
    return Error{"spawn_failed", std::string("clone: ") + std::strerror(err)};
  }
  close(pipefd[1]);
  close(log_fd);
  if (null_fd >= 0) close(null_fd);
  setpgid(pid, pid);  // also from the parent: no race with a signal to the group
  int child_errno = 0;
  ssize_t n;
  do n = read(pipefd[0], &child_errno, sizeof child_errno);
  while (n < 0 && errno == EINTR);
  close(pipefd[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    int st = 0;
    waitpid(pid, &st, 0);
    return Error{"spawn_failed", "exec " + spec.command[0] + ": " + std::strerror(child_errno)};
  }
  spdlog::info("function {} started on {} (pid {})", spec.id, node, pid);
  return pid;
}

void EmbeddedBackend::terminate(pid_t pid) {
  // SIGTERM to the process group, SIGKILL after the grace period; reaped
  // before we return, so the next instance never overlaps this one.
  kill(-pid, SIGTERM);
  kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + options_.stop_grace;
  int st = 0;
  while (true) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  // Whatever the function left in its group goes too.
  kill(-pid, SIGKILL);
}

Result<ApplyResult> EmbeddedBackend::apply(const FunctionSpec& spec, const Target& target,
                                           const std::vector<std::string>& exclude) {
  std::string node = target.node;
  pid_t old_pid = -1;
  {
    std::lock_guard lock(mu_);
    auto it = instances_.find(spec.id);
    if (it != instances_.end()) {
      const Instance& cur = it->second;
      bool same = target.is_node() ? cur.node == target.node
                                   : std::any_of(options_.nodes.begin(), options_.nodes.end(), [&](const TopologyNode& n) {
                                       return n.name == cur.node && n.tier == target.tier &&
                                              std::find(exclude.begin(), exclude.end(), n.name) == exclude.end();
                                     });
      if (same && cur.spec.command == spec.command) {
        return unchanged_apply(cur.node, cur.status, unix_ms());
      }
    }
    if (target.is_node()) {
      bool known = std::any_of(options_.nodes.begin(), options_.nodes.end(), [&](const TopologyNode& n) { return n.name == node; });
      if (!known) return Error{"unknown_node", "node " + node + " is not in the topology"};
    } else {
      node = choose_node(target.tier, exclude);
      if (node.empty()) return Error{"no_node", "no node of tier " + target.tier + " is available"};
    }
    if (it != instances_.end()) {
      old_pid = it->second.pid;
      instances_.erase(it);
    }
  }
  // Stop the old instance first: a BLE device takes one connection.
  if (old_pid > 0) terminate(old_pid);
  ApplyResult r;
  r.applied_ms = unix_ms();
  r.node = node;
  r.scheduled_ms = unix_ms();
  Instance inst;
  inst.spec = spec;
  inst.node = node;
  inst.status.node = node;
  inst.status.scheduled_ms = r.scheduled_ms;
  auto pid = spawn(spec, node);
  if (!pid) {
    // Keep it scheduled in backoff: poll() retries the start.
    inst.status.state = InstanceState::backoff;
    inst.status.last_exit = pid.error().message;
    inst.consecutive_failures = 1;
    inst.restart_at = std::chrono::steady_clock::now() + options_.restart_base;
    std::lock_guard lock(mu_);
    instances_[spec.id] = std::move(inst);
    return pid.error();
  }
  inst.pid = *pid;
  inst.started_at = std::chrono::steady_clock::now();
  inst.status.state = InstanceState::running;
  inst.status.started_ms = unix_ms();
  r.started_ms = inst.status.started_ms;
  std::lock_guard lock(mu_);
  instances_[spec.id] = std::move(inst);
  return r;
}

Status EmbeddedBackend::stop(const std::string& function_id) {
  Instance inst;
  {
    std::lock_guard lock(mu_);
    auto it = instances_.find(function_id);
    if (it == instances_.end()) return ok_status();
    inst = std::move(it->second);
    instances_.erase(it);
  }
  if (inst.pid > 0) terminate(inst.pid);
  spdlog::info("function {} stopped on {}", function_id, inst.node);
  return ok_status();
}

InstanceStatus EmbeddedBackend::status(const std::string& function_id) {
  std::lock_guard lock(mu_);
  auto it = instances_.find(function_id);
  if (it == instances_.end()) return InstanceStatus{};
  return it->second.status;
}

std::vector<std::string> EmbeddedBackend::instances() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [id, inst] : instances_) out.push_back(id);
  return out;
}

pid_t EmbeddedBackend::pid_of(const std::string& function_id) const {
  std::lock_guard lock(mu_);
  auto it = instances_.find(function_id);
  return it == instances_.end() ? -1 : it->second.pid;
}

std::vector<std::string> EmbeddedBackend::poll() {
  std::lock_guard lock(mu_);
  std::vector<std::string> changed;
  auto now = std::chrono::steady_clock::now();
  for (auto& [id, inst] : instances_) {
    if (inst.pid > 0) {
      int st = 0;
      pid_t r = waitpid(inst.pid, &st, WNOHANG);
      if (r != inst.pid) continue;
      kill(-inst.pid, SIGKILL);  // the rest of its group
      inst.pid = -1;
      inst.status.last_exit = describe_exit(st);
      inst.status.restarts++;
      // A run that lasted a while resets the backoff: it was not a crash loop.
      if (now - inst.started_at > std::chrono::seconds(10)) inst.consecutive_failures = 0;
      inst.consecutive_failures++;
      auto delay = options_.restart_base * (1LL << std::min(inst.consecutive_failures - 1, 16));
      if (delay > options_.restart_max) delay = options_.restart_max;
      inst.restart_at = now + delay;
      inst.status.state = InstanceState::backoff;
      inst.status.started_ms.reset();
      spdlog::warn("function {} on {} ended ({}); restart in {} ms", id, inst.node, inst.status.last_exit,
                   std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
      changed.push_back(id);
    } else if (inst.status.state == InstanceState::backoff && now >= inst.restart_at) {
      auto pid = spawn(inst.spec, inst.node);
      if (pid) {
        inst.pid = *pid;
        inst.started_at = now;
        inst.status.state = InstanceState::running;
        inst.status.started_ms = unix_ms();
      } else {
        inst.consecutive_failures++;
        auto delay = options_.restart_base * (1LL << std::min(inst.consecutive_failures - 1, 16));
        if (delay > options_.restart_max) delay = options_.restart_max;
        inst.restart_at = now + delay;
        inst.status.last_exit = pid.error().message;
      }
      changed.push_back(id);
    }
  }
  return changed;
}

int EmbeddedBackend::kill_leftovers() {
  if (options_.owner.empty()) return 0;
  std::string marker = "C4I_OWNER=" + options_.owner;
  int killed = 0;
  DIR* d = opendir("/proc");
  if (!d) return 0;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (!end || *end != '\0' || pid <= 1 || pid == getpid()) continue;
    std::ifstream in("/proc/" + std::string(e->d_name) + "/environ", std::ios::binary);
    if (!in) continue;
    std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::size_t pos = 0;
    while (pos < env.size()) {
      std::size_t z = env.find('\0', pos);
      if (z == std::string::npos) z = env.size();
      if (std::string_view(env).substr(pos, z - pos) == marker) {
        if (kill(static_cast<pid_t>(pid), SIGKILL) == 0) {
          ++killed;
          spdlog::warn("killed leftover function process {} of an earlier run", pid);
        }
        break;
      }
      pos = z + 1;
    }
  }
  closedir(d);
  return killed;
}

}  // namespace c4i::orchestrator
