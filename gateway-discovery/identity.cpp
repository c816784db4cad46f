#include "gateway-discovery/identity.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/https_client.hpp"

namespace c4i::discovery {

using nlohmann::json;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool exists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string errno_text() { return std::strerror(errno); }

// Writes `data` to `path` with `mode` (whatever the umask), synced.
Status write_synced(const std::string& path, const std::string& data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return Error{"storage", path + ": cannot create: " + errno_text()};
  Status st = ok_status();
  if (::fchmod(fd, mode) != 0) st = Error{"storage", path + ": chmod: " + errno_text()};
  std::size_t off = 0;
  while (st && off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) st = Error{"storage", path + ": write: " + errno_text()};
    else off += static_cast<std::size_t>(n);
  }
  if (st && ::fsync(fd) != 0) st = Error{"storage", path + ": fsync: " + errno_text()};
  ::close(fd);
  if (!st) ::unlink(path.c_str());
  return st;
}

Status sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Error{"storage", dir + ": " + errno_text()};
  int r = ::fsync(fd);
  ::close(fd);
  if (r != 0) return Error{"storage", dir + ": fsync: " + errno_text()};
  return ok_status();
}

Status rename_file(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return Error{"storage", "rename " + from + " -> " + to + ": " + errno_text()};
  return ok_status();
}

}  // namespace

Identity::Identity(IdentityOptions options) : options_(std::move(options)) {}

std::int64_t Identity::renew_due_ms() const {
  const std::int64_t life = std::max<std::int64_t>(0, cert_.not_after_ms - cert_.not_before_ms);
  return cert_.not_before_ms + static_cast<std::int64_t>(static_cast<double>(life) * options_.renew_at);
}

Result<bool> Identity::load() {
  const std::string key = key_file(), cert = cert_file();
  // A renewal interrupted between its two renames: the new pair is complete
  // in the .new files, or the key is renamed and the certificate is not.
  const std::string key_new = key + ".new", cert_new = cert + ".new";
  if (exists(cert_new)) {
    auto c = slurp(cert_new);
    auto kn = slurp(key_new);
    auto k = slurp(key);
    if (c && kn && x509::key_matches_cert(*kn, *c)) {
      if (auto s = rename_file(key_new, key); !s) return s.error();
      if (auto s = rename_file(cert_new, cert); !s) return s.error();
      spdlog::info("identity: finished a renewal a stop interrupted");
    } else if (c && k && x509::key_matches_cert(*k, *c)) {
      if (auto s = rename_file(cert_new, cert); !s) return s.error();
      spdlog::info("identity: finished a renewal a stop interrupted");
    }
  }
  ::unlink(key_new.c_str());
  ::unlink(cert_new.c_str());

  auto k = slurp(key);
  auto c = slurp(cert);
  if (!k || !c) return false;
  auto info = x509::inspect_cert(*c);
  if (!info) {
    spdlog::warn("identity: {} is not a certificate: enrolling again", cert);
    return false;
  }
  if (!x509::key_matches_cert(*k, *c)) {
    spdlog::warn("identity: {} is not the key of {}: enrolling again", key, cert);
    return false;
  }
  if (info->not_after_ms <= now_ms()) {
    spdlog::warn("identity: certificate {} of gateway {} expired: enrolling again", info->serial_hex, info->common_name);
    return false;
  }
  cert_ = *info;
  return true;
}

Result<std::string> Identity::post(const std::string& target, const std::string& body, bool with_cert) {
  http::ClientOptions co;
  co.host = options_.endpoint.host;
  co.port = options_.endpoint.port;
  co.tls.ca_file = options_.ca_file;
  if (with_cert) {
    co.tls.cert_file = cert_file();
    co.tls.key_file = key_file();
  }
  co.request_timeout = options_.request_timeout;
  co.connect_timeout = std::min(options_.request_timeout, std::chrono::milliseconds(5000));
  co.retry.max_attempts = 1;
  co.user_agent = "c4i-discovery";
  http::Client client(co);
  auto r = client.request("POST", target, body, {{"Content-Type", "application/json"}}, false);
  if (!r) return r.error();
  if (r->status == 201 || r->status == 200) return r->body;
  // The orchestrator's error body names what is wrong.
  std::string why = "HTTP " + std::to_string(r->status);
  json e = json::parse(r->body, nullptr, false);
  if (e.is_object() && e.contains("error") && e["error"].is_object()) {
    // Read by type: an answer whose code is not a string is still reported, not thrown on.
    auto text = [&](const char* k) {
      const json& v = e["error"].contains(k) ? e["error"][k] : json();
      return v.is_string() ? v.get<std::string>() : v.is_null() ? std::string() : v.dump();
    };
    why += " " + text("code") + ": " + text("message");
  }
  if (r->status >= 400 && r->status < 500) return Error{"refused", why};
  return Error{"server_error", why};
}

Status Identity::store(const std::string& key_pem, const std::string& cert_pem) {
  std::error_code ec;
  if (!std::filesystem::exists(options_.dir, ec)) {
    std::filesystem::create_directories(options_.dir, ec);
    if (ec) return Error{"storage", options_.dir + ": cannot create: " + ec.message()};
    ::chmod(options_.dir.c_str(), 0700);
  }
  const std::string key = key_file(), cert = cert_file();
  if (auto s = write_synced(key + ".new", key_pem, 0600); !s) return s;
  if (auto s = write_synced(cert + ".new", cert_pem, 0644); !s) return s;
  if (auto s = rename_file(key + ".new", key); !s) return s;
  if (auto s = rename_file(cert + ".new", cert); !s) return s;
  return sync_dir(options_.dir);
}

namespace {
// The certificate in an answer of /v1/enrol or /v1/enrol/renew, checked
// against the key we kept.
Result<std::pair<std::string, x509::CertInfo>> issued_cert(const std::string& body, const std::string& key_pem) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("certificate") || !j["certificate"].is_string())
    return Error{"invalid_response", "the orchestrator's answer has no certificate"};
  std::string cert = j["certificate"].get<std::string>();
  auto info = x509::inspect_cert(cert);
  if (!info) return Error{"invalid_response", "the orchestrator's certificate: " + info.error().message};
  if (!x509::key_matches_cert(key_pem, cert))
    return Error{"invalid_response", "the orchestrator's certificate is not for our key"};
  return std::pair{cert, *info};
}
}  // namespace

Status Identity::enrol() {
  if (options_.token.empty())
    return Error{"no_token", "no certificate in " + options_.dir +
                                 " and no bootstrap token (--enrol-token, --enrol-token-file or enrolment.token_file)"};
  auto key = x509::generate_p256_key();
  if (!key) return key.error();
  auto csr = x509::make_csr(*key, options_.name);
  if (!csr) return csr.error();
  auto body = post("/v1/enrol", json{{"csr", *csr}, {"token", options_.token}}.dump(), false);
  if (!body) return body.error();
  auto cert = issued_cert(*body, *key);
  if (!cert) return cert.error();
  if (auto s = store(*key, cert->first); !s) return s;
  cert_ = cert->second;
  spdlog::info("identity: enrolled as gateway {}: certificate {} valid until {} (renewal due at {})", cert_.common_name,
               cert_.serial_hex, x509::utc_text(cert_.not_after_ms), x509::utc_text(renew_due_ms()));
  return ok_status();
}

Status Identity::renew() {
  auto key = x509::generate_p256_key();
  if (!key) return key.error();
  auto csr = x509::make_csr(*key, cert_.common_name);
  if (!csr) return csr.error();
  auto body = post("/v1/enrol/renew", json{{"csr", *csr}}.dump(), true);
  if (!body) return body.error();
  auto cert = issued_cert(*body, *key);
  if (!cert) return cert.error();
  if (cert->second.common_name != cert_.common_name)
    return Error{"invalid_response", "the renewed certificate names " + cert->second.common_name + ", not " + cert_.common_name};
  if (auto s = store(*key, cert->first); !s) return s;
  const std::string old = cert_.serial_hex;
  cert_ = cert->second;
  spdlog::info("identity: renewed certificate {} of gateway {}: new certificate {} valid until {}", old,
               cert_.common_name, cert_.serial_hex, x509::utc_text(cert_.not_after_ms));
  return ok_status();
}

Renewer::Renewer(Identity& identity, std::function<void()> on_renewed)
    : identity_(identity), on_renewed_(std::move(on_renewed)) {}

Renewer::~Renewer() { stop(); }

void Renewer::start() { thread_ = std::thread([this] { run(); }); }

void Renewer::stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Renewer::run() {
  http::Backoff backoff(std::chrono::milliseconds(500), std::chrono::milliseconds(60'000));
  std::int64_t due = identity_.renew_due_ms();
  for (;;) {
    {
      std::unique_lock lk(mu_);
      const auto wait = std::chrono::milliseconds(std::max<std::int64_t>(0, due - now_ms()));
      if (cv_.wait_for(lk, wait, [&] { return stop_; })) return;
    }
    auto st = identity_.renew();
    if (st) {
      backoff.reset();
      on_renewed_();
      due = identity_.renew_due_ms();
      continue;
    }
    // A refusal (revoked, not enrolled) is logged each time; the daemon
    // keeps its certificate until it expires, then keeps trying.
    const auto remaining = identity_.cert().not_after_ms - now_ms();
    auto wait = std::max(backoff.next(), std::chrono::milliseconds(200));
    if (remaining > 0) wait = std::min(wait, std::chrono::milliseconds(std::max<std::int64_t>(100, remaining / 4)));
    spdlog::warn("identity: renewing certificate {} failed ({}); {} s left, retry in {} ms", identity_.cert().serial_hex,
                 st.error().message, remaining / 1000, wait.count());
    due = now_ms() + wait.count();
  }
}

}  // namespace c4i::discovery
