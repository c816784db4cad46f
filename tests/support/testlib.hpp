// Helpers for tests that run real processes over real sockets: a temporary
// directory, the test PKI, child processes with captured output, and waiting
// on a condition with a deadline (never a bare sleep).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace c4i::testing {

// The source tree (for tests/pki, ../shared/testdata) and the build tree (binaries).
std::string source_dir();
std::string binary_dir();
// ../shared/testdata next to the checkout (the captures the project is tested on).
std::string testdata_dir();

// A fresh directory under /tmp, removed by the destructor unless C4I_KEEP_TMP is set.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
 private:
  std::string path_;
};

// The test PKI (tests/pki/make-pki.sh), made once per test process.
struct Pki {
  std::string dir;
  std::string ca() const { return dir + "/ca.pem"; }
  std::string cert(const std::string& name) const { return dir + "/" + name + ".pem"; }
  std::string key(const std::string& name) const { return dir + "/" + name + ".key"; }
};
const Pki& test_pki();

// Polls `cond` every few milliseconds until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout);

// A child process with stdout and stderr captured to files.
class Child {
 public:
  Child(std::vector<std::string> argv, std::map<std::string, std::string> extra_env = {},
        const std::string& log_dir = "");
  ~Child();  // SIGKILLs a child still running
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // Waits for exit; the exit code (128+signal when killed), nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  std::string out() const;  // captured stdout so far
  std::string err() const;  // captured stderr so far
  const std::string& out_path() const { return out_path_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_path_, err_path_;
};

// Runs a command to completion: exit code, stdout, stderr.
struct RunResult {
  int code = -1;
  std::string out, err;
};
RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = std::chrono::seconds(60),
              const std::string& stdin_data = "");

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& data);

}  // namespace c4i::testing
