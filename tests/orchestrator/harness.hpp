// Test harness for c4i-orchestrator: runs the real binary over TLS on
// 127.0.0.1 with a temporary state directory, topology and token file, and
// gives clients with a bearer token or a gateway's client certificate.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/https_client.hpp"
#include "tests/support/testlib.hpp"

namespace c4i::testing {

inline constexpr const char* kAdminToken = "admin-secret-token";
inline constexpr const char* kOperatorToken = "operator-secret-token";
inline constexpr const char* kViewerToken = "viewer-secret-token";

struct Reply {
  int status = 0;
  nlohmann::json body;
  std::map<std::string, std::string> headers;
  std::string raw;
};

class Orchestrator {
 public:
  // Writes the files; does not start. `extra_config` is appended to config.yaml.
  explicit Orchestrator(std::string extra_config = "");
  ~Orchestrator();
  // Starts the binary and waits until it listens; false on failure.
  bool start();
  // What start() puts before the binary (say `ip netns exec NS`) and after its
  // --config (flags that override the file, say --listen).
  void launch_with(std::vector<std::string> prefix, std::vector<std::string> extra_args) {
    prefix_ = std::move(prefix);
    extra_args_ = std::move(extra_args);
  }
  void kill9();
  // SIGTERM and wait; the exit code.
  std::optional<int> stop();
  bool running();
  std::uint16_t port() const { return port_; }
  const std::string& state_dir() const { return state_dir_; }
  std::string db_path() const { return state_dir_ + "/state.db"; }
  std::string log() const;  // captured stderr
  TempDir& dir() { return dir_; }
  pid_t pid() const { return child_ ? child_->pid() : -1; }

  std::unique_ptr<http::Client> client(const std::string& token = kOperatorToken) const;
  std::unique_ptr<http::Client> gateway(const std::string& name) const;  // client certificate <name>.pem

  // Creates the test template `tpl` running c4i-test-function (admin token).
  void create_test_template(const std::string& tpl = "fn", const std::map<std::string, std::string>& extra_env = {});

 private:
  TempDir dir_;
  std::string state_dir_;
  std::unique_ptr<Child> child_;
  std::uint16_t port_ = 0;
  std::vector<std::string> prefix_, extra_args_;
};

Reply call(http::Client& c, const std::string& method, const std::string& target, const nlohmann::json& body = nullptr,
           const std::vector<std::pair<std::string, std::string>>& headers = {});

// Event batch builders (gateway-discovery/README.md, 1).
nlohmann::json seen(std::int64_t seq, const std::string& addr, int rssi, std::int64_t t_ms, const std::string& reason = "enter");
nlohmann::json lost(std::int64_t seq, const std::string& addr, std::int64_t t_ms);
nlohmann::json heartbeat(std::int64_t seq, double cpu, double mem, std::int64_t t_ms);
nlohmann::json batch(const std::string& gateway, const std::string& boot_id, const std::vector<nlohmann::json>& events);

std::int64_t unix_ms();

// Writes the token file both harnesses give the orchestrator: alice (admin,
// kAdminToken), oscar (operator) and victor (viewer), hashed by the
// orchestrator's own `hash-token`.
void write_test_tokens(const std::string& path);

// Clients of an orchestrator listening on 127.0.0.1:port with the test PKI:
// an operator's (bearer token) and a gateway's (its client certificate).
std::unique_ptr<http::Client> token_client(std::uint16_t port, const std::string& token);
std::unique_ptr<http::Client> gateway_client(std::uint16_t port, const std::string& gateway);
// With a client certificate in files (an enrolled gateway's), trusting the test CA.
std::unique_ptr<http::Client> certificate_client(std::uint16_t port, const std::string& cert_file, const std::string& key_file);

// Function processes of the orchestrator whose state directory is `owner`,
// found in /proc by their environment: function id -> [(process group, node)],
// one entry per running instance.
std::map<std::string, std::vector<std::pair<pid_t, std::string>>> function_processes(const std::string& owner);
// The environment of a process (/proc/PID/environ), empty when it is gone or not ours to read.
std::map<std::string, std::string> process_environment(pid_t pid);

// Waits until GET `target` answers 200 with a body for which `pred` holds; returns the last body.
nlohmann::json wait_for(http::Client& c, const std::string& target, const std::function<bool(const nlohmann::json&)>& pred,
                        std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace c4i::testing
