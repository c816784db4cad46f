// The gateway's own identity (README.md, section 7): a key pair made here
// and a client certificate signed by the fleet CA. On first start the daemon
// enrols with a bootstrap token (POST /v1/enrol: the token and a CSR; the
// private key never leaves the gateway); afterwards it renews the
// certificate before it expires, with the old one (POST /v1/enrol/renew).
// Key and certificate live in the identity directory: gateway.key (mode
// 0600) and gateway.pem, replaced together by renames so a crash leaves
// either the old pair or the new one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.hpp"
#include "common/x509.hpp"
#include "gateway-discovery/daemon_config.hpp"

namespace c4i::discovery {

struct IdentityOptions {
  std::string name;        // the gateway name to ask for (the CSR's CN)
  Endpoint endpoint;
  std::string ca_file;     // verifies the orchestrator (empty: the system store)
  std::string dir;         // gateway.key, gateway.pem
  std::string token;       // bootstrap token; only needed when there is no usable certificate
  double renew_at = 2.0 / 3.0;  // renew at this share of the certificate's lifetime
  std::chrono::milliseconds request_timeout{10'000};
};

// What a refusal by the orchestrator looks like: its code and message.
// Errors of enrol()/renew(): "refused" (a 4xx: its message says why; retrying
// does not help), "unreachable"/"timeout"/"io_error"/"server_error" (retry),
// "storage" (the identity directory), "invalid_response".
class Identity {
 public:
  explicit Identity(IdentityOptions options);

  // Loads a stored key and certificate that match and have not expired
  // (finishing a renewal a crash interrupted). False when there is none.
  Result<bool> load();
  // Makes a key pair and enrols with the bootstrap token.
  Status enrol();
  // Renews with the current certificate: a new key pair, its CSR, stored.
  Status renew();

  std::string key_file() const { return options_.dir + "/gateway.key"; }
  std::string cert_file() const { return options_.dir + "/gateway.pem"; }
  // The current certificate (after load, enrol or renew).
  const x509::CertInfo& cert() const { return cert_; }
  // When the current certificate should be renewed, Unix ms.
  std::int64_t renew_due_ms() const;

 private:
  Result<std::string> post(const std::string& target, const std::string& body, bool with_cert);
  Status store(const std::string& key_pem, const std::string& cert_pem);

  IdentityOptions options_;
  x509::CertInfo cert_;
};

// A thread that renews the certificate when it is due, retrying with backoff
// on failure, and calls `on_renewed` after each renewal (the delivery client
// then switches to the new certificate).
class Renewer {
 public:
  Renewer(Identity& identity, std::function<void()> on_renewed);
  ~Renewer();  // stops
  void start();
  void stop();

 private:
  void run();
  Identity& identity_;
  std::function<void()> on_renewed_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace c4i::discovery
