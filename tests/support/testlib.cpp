#include "tests/support/testlib.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace c4i::testing {

namespace fs = std::filesystem;

std::string source_dir() {
  const char* s = std::getenv("C4I_SOURCE_DIR");
  return s ? s : C4I_SOURCE_DIR_DEFAULT;
}
std::string binary_dir() {
  const char* s = std::getenv("C4I_BINARY_DIR");
  return s ? s : C4I_BINARY_DIR_DEFAULT;
}
std::string testdata_dir() {
  const char* s = std::getenv("C4I_TESTDATA_DIR");
  if (s) return s;
  return (fs::path(source_dir()) / ".." / "shared" / "testdata").lexically_normal().string();
}

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "c4i-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}
TempDir::~TempDir() {
  if (std::getenv("C4I_KEEP_TMP")) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

const Pki& test_pki() {
  static Pki pki = [] {
    static TempDir dir;  // lives for the process
    auto r = run({source_dir() + "/tests/pki/make-pki.sh", dir.path() + "/pki"});
    if (r.code != 0) throw std::runtime_error("make-pki.sh failed: " + r.err);
    return Pki{dir.path() + "/pki"};
  }();
  return pki;
}

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  if (!out) throw std::runtime_error("cannot write " + path);
}

namespace {
std::atomic<int> child_counter{0};
}

Child::Child(std::vector<std::string> argv, std::map<std::string, std::string> extra_env, const std::string& log_dir) {
  std::string dir = log_dir.empty() ? fs::temp_directory_path().string() : log_dir;
  std::string base = dir + "/child-" + std::to_string(getpid()) + "-" + std::to_string(child_counter++);
  out_path_ = base + ".out";
  err_path_ = base + ".err";
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int o = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int n = open("/dev/null", O_RDONLY);
    dup2(n, 0);
    dup2(o, 1);
    dup2(e, 2);
    setpgid(0, 0);
    for (auto& [k, v] : extra_env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
}

Child::~Child() {
  if (running()) {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    wait(std::chrono::seconds(10));
  }
  if (!std::getenv("C4I_KEEP_TMP")) {
    unlink(out_path_.c_str());
    unlink(err_path_.c_str());
  }
}

bool Child::running() {
  if (status_) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return true;
}

void Child::signal(int sig) {
  if (running()) kill(pid_, sig);
}

std::optional<int> Child::wait(std::chrono::milliseconds timeout) {
  wait_until([&] { return !running(); }, timeout);
  return status_;
}

std::string Child::out() const { return read_file(out_path_); }
std::string Child::err() const { return read_file(err_path_); }

RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout, const std::string& stdin_data) {
  TempDir tmp;
  std::string in_path = tmp.file("stdin");
  write_file(in_path, stdin_data);
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int i = open(in_path.c_str(), O_RDONLY);
    int o = open((tmp.path() + "/out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open((tmp.path() + "/err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(i, 0);
    dup2(o, 1);
    dup2(e, 2);
    std::vector<char*> args;
    std::vector<std::string> copy = argv;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  RunResult r;
  int st = 0;
  bool done = wait_until([&] { return waitpid(pid, &st, WNOHANG) == pid; }, timeout);
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    r.code = -1;
  } else {
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  r.out = read_file(tmp.path() + "/out");
  r.err = read_file(tmp.path() + "/err");
  return r;
}

}  // namespace c4i::testing
