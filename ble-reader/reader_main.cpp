// c4i-reader: connects to one BLE device (or an emulated one on a Unix
// socket), discovers its GATT database, subscribes, and streams decoded
// samples as JSON lines; `c4i-reader replay FILE` does the same for the
// notifications in a btsnoop capture. See ble-reader/README.md.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "ble-reader/att_client.hpp"
#include "ble-reader/decoders.hpp"
#include "ble-reader/gatt_client.hpp"
#include "ble-reader/replay.hpp"
#include "ble-reader/transport.hpp"
#include "common/btsnoop.hpp"
#include "common/https_client.hpp"

namespace {

using namespace c4i::reader;

int g_signal_pipe[2] = {-1, -1};
std::atomic<int> g_signal{0};

void on_signal(int sig) {
  g_signal.store(sig);
  const char b = 1;
  (void)!::write(g_signal_pipe[1], &b, 1);
}

void say(const std::string& line) {
  std::string s = "c4i-reader: " + line + "\n";
  (void)!::write(2, s.data(), s.size());
}

std::int64_t mono_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
std::int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// --- replay ---

int run_replay(const std::string& file, const std::string& format) {
  if (format != "jsonl") {
    say("--format '" + format + "' is not supported (use jsonl)");
    return 2;
  }
  auto bytes = c4i::btsnoop::read_file(file);
  if (!bytes) {
    say(bytes.error().message);
    return 2;
  }
  std::string out;
  out.reserve(1 << 20);
  auto stats = replay(*bytes, [&](const ReplayRecord& r) {
    out += replay_json_line(r);
    out += '\n';
    if (out.size() > (1 << 20)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  });
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  if (!stats) {
    say(file + ": " + stats.error().message);
    return 2;
  }
  say(summary(*stats));
  return 0;
}

// --- output ---

class Output {
 public:
  // "-" (stdout) or "unix:PATH" (a SOCK_STREAM socket the function listens on).
  c4i::Status open(const std::string& spec) {
    if (spec == "-" || spec.empty()) {
      fd_ = 1;
      return c4i::ok_status();
    }
    if (spec.rfind("unix:", 0) != 0) return c4i::Error{"invalid_argument", "--output '" + spec + "' is neither - nor unix:PATH"};
    const std::string path = spec.substr(5);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
      return c4i::Error{"invalid_argument", "--output socket path '" + path + "' is empty or too long"};
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      return c4i::Error{"unreachable", "cannot connect --output unix:" + path + ": " + std::strerror(errno)};
    socket_ = true;
    return c4i::ok_status();
  }
  bool write_line(const std::string& line) {
    std::string s = line + "\n";
    std::size_t at = 0;
    while (at < s.size()) {
      // send() with MSG_NOSIGNAL on our socket; write() on stdout (a file, pipe or terminal).
      const ssize_t n = socket_ ? ::send(fd_, s.data() + at, s.size() - at, MSG_NOSIGNAL)
                                : ::write(fd_, s.data() + at, s.size() - at);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      at += static_cast<std::size_t>(n);
    }
    return true;
  }

 private:
  int fd_ = 1;
  bool socket_ = false;
};

// --- first_data mark ---

struct MarkOptions {
  std::string url, ca, cert, key, token, function;
};

// POST /v1/functions/{function}/marks {"mark":"first_data","t":<unix ms>}, on its own thread.
class FirstDataReporter {
 public:
  explicit FirstDataReporter(MarkOptions o) : o_(std::move(o)) {}
  ~FirstDataReporter() {
    if (thread_.joinable()) thread_.join();
  }
  bool enabled() const { return !o_.url.empty(); }
  void report(std::int64_t unix_ms) {
    if (!enabled() || sent_) return;
    sent_ = true;
    thread_ = std::thread([this, unix_ms] { post(unix_ms); });
  }

  static c4i::Result<c4i::http::ClientOptions> client_options(const MarkOptions& o) {
    std::string rest = o.url;
    if (rest.rfind("https://", 0) != 0) return c4i::Error{"invalid_argument", "--orchestrator '" + o.url + "' must start with https://"};
    rest = rest.substr(8);
    while (!rest.empty() && rest.back() == '/') rest.pop_back();
    if (rest.find('/') != std::string::npos)
      return c4i::Error{"invalid_argument", "--orchestrator '" + o.url + "' must be https://HOST[:PORT] without a path"};
    c4i::http::ClientOptions co;
    co.port = 443;
    const auto colon = rest.rfind(':');
    if (colon != std::string::npos && rest.find(']') == std::string::npos) {
      const std::string port = rest.substr(colon + 1);
      char* end = nullptr;
      const long p = std::strtol(port.c_str(), &end, 10);
      if (port.empty() || *end != '\0' || p < 1 || p > 65535)
        return c4i::Error{"invalid_argument", "--orchestrator '" + o.url + "' has a bad port"};
      co.port = static_cast<std::uint16_t>(p);
      rest = rest.substr(0, colon);
    }
    if (rest.empty()) return c4i::Error{"invalid_argument", "--orchestrator '" + o.url + "' has no host"};
    co.host = rest;
    co.server_name = rest;
    co.tls.ca_file = o.ca;
    co.tls.cert_file = o.cert;
    co.tls.key_file = o.key;
    co.bearer_token = o.token;
    co.user_agent = "c4i-reader";
    co.retry.max_attempts = 5;
    co.retry.base = std::chrono::milliseconds(200);
    co.retry.max = std::chrono::milliseconds(5'000);
    return co;
  }

 private:
  void post(std::int64_t unix_ms) {
    auto co = client_options(o_);
    if (!co) return say(co.error().message);
    c4i::http::Client client(*co);
    const std::string body = nlohmann::json{{"mark", "first_data"}, {"t", unix_ms}}.dump();
    // The mark is idempotent on the orchestrator side, so retrying is safe.
    auto r = client.request("POST", "/v1/functions/" + o_.function + "/marks", body, {{"content-type", "application/json"}}, true);
    if (!r) return say("first_data mark not delivered to " + o_.url + ": " + r.error().message);
    if (r->status / 100 != 2)
      return say("first_data mark rejected by " + o_.url + ": HTTP " + std::to_string(r->status) + " " + r->body);
  }

  MarkOptions o_;
  bool sent_ = false;
  std::thread thread_;
};

// --- the streaming reader ---

struct ReaderOptions {
  Endpoint endpoint;
  std::string connect_text;
  std::string format = "jsonl";
  SessionOptions session;
  std::int64_t att_timeout_ms = 30'000;
  std::int64_t reconnect_min_ms = 500;
  std::int64_t reconnect_max_ms = 30'000;
  std::int64_t stop_timeout_ms = 3'000;
};

class Reader {
 public:
  Reader(ReaderOptions o, Output& out, FirstDataReporter& marks)
      : o_(std::move(o)), out_(out), marks_(marks),
        backoff_(std::chrono::milliseconds(o_.reconnect_min_ms), std::chrono::milliseconds(o_.reconnect_max_ms)) {}

  int run() {
    std::int64_t next_connect = mono_ms();
    std::optional<std::int64_t> stop_deadline;
    for (;;) {
      const std::int64_t now = mono_ms();
      if (g_signal.load() != 0) {
        if (!stop_deadline) {
          stop_deadline = now + o_.stop_timeout_ms;
          if (session_ && att_ && att_->open()) session_->stop(now);
        }
        if (!session_ || !att_ || !att_->open() || session_->state() == Session::State::stopped || now >= *stop_deadline) {
          if (session_ && session_->state() != Session::State::stopped && att_ && att_->open())
            say("notifications not disabled within " + std::to_string(o_.stop_timeout_ms) + " ms; closing anyway");
          teardown("stopped");
          return 0;
        }
      }
      if (output_failed_) {
        teardown("output closed");
        return 1;
      }
      if (fd_ < 0 && !stop_deadline && now >= next_connect) {
        if (auto code = connect(now)) return *code;
        if (fd_ < 0) next_connect = now + backoff_delay();
      }
      // Wait for the socket, a signal, or the next deadline.
      std::int64_t wake = now + 60'000;
      if (fd_ < 0 && !stop_deadline) wake = std::min(wake, next_connect);
      if (att_) {
        if (auto d = att_->next_deadline()) wake = std::min(wake, *d);
      }
      if (stop_deadline) wake = std::min(wake, *stop_deadline);
      pollfd fds[2] = {{g_signal_pipe[0], POLLIN, 0}, {fd_, POLLIN, 0}};
      const int timeout = static_cast<int>(std::clamp<std::int64_t>(wake - now, 0, 60'000));
      const int n = ::poll(fds, fd_ >= 0 ? 2 : 1, timeout);
      if (n < 0 && errno != EINTR) {
        say(std::string("poll: ") + std::strerror(errno));
        return 1;
      }
      if (n > 0 && (fds[0].revents & POLLIN)) {
        char b[16];
        (void)!::read(g_signal_pipe[0], b, sizeof b);
      }
      if (fd_ >= 0 && n > 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) read_socket();
      if (att_) att_->tick(mono_ms());
      if (lost_) {
        const std::string why = lost_reason_;
        teardown(why);
        if (!stop_deadline && g_signal.load() == 0) {
          const std::int64_t delay = backoff_delay();
          say(why + "; reconnecting in " + std::to_string(delay) + " ms");
          next_connect = mono_ms() + delay;
        }
      }
    }
  }

 private:
  std::int64_t backoff_delay() {
    // Full jitter can pick 0; keep a floor so a peer that drops at once is not hammered.
    return std::max<std::int64_t>(o_.reconnect_min_ms / 2, backoff_.next().count());
  }

  // Returns an exit code when the reader must end.
  std::optional<int> connect(std::int64_t now) {
    auto fd = connect_endpoint(o_.endpoint);
    if (!fd) {
      if (fd.error().code == "unsupported") {
        say(fd.error().message);
        return 1;
      }
      if (!unreachable_reported_) say(fd.error().message + "; retrying with backoff");
      unreachable_reported_ = true;
      return std::nullopt;
    }
    unreachable_reported_ = false;
    fd_ = *fd;
    lost_ = false;
    io_ = std::make_unique<FdAttIo>(fd_);
    att_ = std::make_unique<AttClient>(*io_, AttClientOptions{o_.att_timeout_ms});
    Session::Callbacks cb;
    cb.sample = [this](const Sample& s) { emit(s); };
    cb.problem = [this](const std::string& line, bool fatal) {
      if (tearing_down_) return;  // requests failing because we close are not news
      say(line);
      if (fatal) lose("giving up on this connection");
    };
    cb.streaming = [this](std::size_t n) {
      backoff_.reset();
      say("streaming from " + o_.connect_text + ": " + std::to_string(n) + " subscription(s)");
    };
    cb.stopped = [] {};
    session_ = std::make_unique<Session>(*att_, o_.session, std::move(cb));
    session_->start(now);
    if (!att_->open()) lose(att_->close_reason());
    return std::nullopt;
  }

  void lose(const std::string& why) {
    if (lost_) return;
    lost_ = true;
    lost_reason_ = why;
  }

  void read_socket() {
    std::uint8_t buf[1024];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      const std::string why = n == 0 ? "the device disconnected" : std::string("the connection failed: ") + std::strerror(errno);
      att_->close(why);
      lose(why);
      return;
    }
    att_->receive(std::span<const std::uint8_t>(buf, static_cast<std::size_t>(n)), mono_ms());
    if (!att_->open()) lose(att_->close_reason());
  }

  void teardown(const std::string& why) {
    tearing_down_ = true;
    if (att_ && att_->open()) att_->close(why);
    tearing_down_ = false;
    session_.reset();
    att_.reset();
    io_.reset();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    lost_ = false;
  }

  void emit(const Sample& s) {
    const std::int64_t t_us = wall_us();
    std::string line;
    std::optional<HeartRateMeasurement> hr;
    if (s.uuid && s.uuid->as16() == kHeartRateMeasurement) {
      auto m = decode_heart_rate(s.value);
      if (m) hr = *m;
    }
    if (o_.format == "omh") {
      if (!hr) return;
      nlohmann::json dp{{"header",
                         {{"schema_id", {{"namespace", "omh"}, {"name", "heart-rate"}, {"version", "2.0"}}},
                          {"creation_date_time", iso8601_utc(t_us)},
                          {"source", o_.connect_text}}},
                        {"body", omh_heart_rate_body(*hr, t_us)}};
      line = dp.dump();
    } else {
      nlohmann::json j;
      j["t"] = iso8601_utc(t_us);
      j["device"] = o_.connect_text;
      j["source"] = s.source == Sample::Source::read ? "read" : s.source == Sample::Source::indication ? "indication" : "notification";
      j["handle"] = s.handle;
      if (s.uuid) j["uuid"] = s.uuid->str();
      j["value"] = to_hex(s.value);
      j["decoded"] = s.uuid ? decode(*s.uuid, s.value) : nlohmann::json{{"hex", to_hex(s.value)}};
      if (hr) j["omh"] = omh_heart_rate_body(*hr, t_us);
      line = j.dump();
    }
    if (!out_.write_line(line)) {
      say("cannot write to the output: " + std::string(std::strerror(errno)));
      output_failed_ = true;
      return;
    }
    marks_.report(t_us / 1000);
  }

  ReaderOptions o_;
  Output& out_;
  FirstDataReporter& marks_;
  c4i::http::Backoff backoff_;
  int fd_ = -1;
  std::unique_ptr<FdAttIo> io_;
  std::unique_ptr<AttClient> att_;
  std::unique_ptr<Session> session_;
  bool lost_ = false;
  std::string lost_reason_;
  bool unreachable_reported_ = false;
  bool output_failed_ = false;
  bool tearing_down_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"c4i-reader: stream a BLE device's GATT data as JSON lines"};
  app.set_help_flag("-h,--help", "show this help");
  std::string connect_text, addr_type = "public", security = "low", output = "-", format = "jsonl";
  std::vector<std::string> chars;
  bool indications = false;
  int mtu = 247;
  std::int64_t att_timeout_ms = 30'000, reconnect_min_ms = 500, reconnect_max_ms = 30'000, stop_timeout_ms = 3'000;
  MarkOptions marks;
  app.add_option("--connect", connect_text, "device: AA:BB:CC:DD:EE:FF, or unix:PATH for an emulated peripheral");
  app.add_option("--address-type", addr_type, "public|random")->check(CLI::IsMember({"public", "random"}));
  app.add_option("--security", security, "low|medium|high")->check(CLI::IsMember({"low", "medium", "high"}));
  app.add_option("--output", output, "- (stdout) or unix:PATH (a stream socket the function listens on)");
  app.add_option("--format", format, "jsonl|omh")->check(CLI::IsMember({"jsonl", "omh"}));
  app.add_option("--char", chars, "characteristic UUID to subscribe to (repeatable; default: all that notify or indicate)");
  app.add_flag("--indications", indications, "prefer indications where a characteristic offers both");
  app.add_option("--mtu", mtu, "ATT MTU to ask for")->check(CLI::Range(23, 517));
  app.add_option("--att-timeout-ms", att_timeout_ms, "ATT request timeout (Core: 30 s)")->check(CLI::Range(1, 600'000));
  app.add_option("--reconnect-min-ms", reconnect_min_ms, "first reconnect backoff")->check(CLI::Range(1, 600'000));
  app.add_option("--reconnect-max-ms", reconnect_max_ms, "largest reconnect backoff")->check(CLI::Range(1, 3'600'000));
  app.add_option("--stop-timeout-ms", stop_timeout_ms, "how long SIGTERM waits for the CCCDs to be disabled")->check(CLI::Range(1, 600'000));
  app.add_option("--orchestrator", marks.url, "https://HOST:PORT: report the first sample as the first_data mark");
  app.add_option("--ca", marks.ca, "CA bundle for the orchestrator");
  app.add_option("--cert", marks.cert, "client certificate for the orchestrator");
  app.add_option("--key", marks.key, "client key for the orchestrator");
  app.add_option("--token", marks.token, "bearer token for the orchestrator (or env C4I_TOKEN)");
  app.add_option("--function", marks.function, "function id for the first_data mark (or env C4I_FUNCTION)");

  auto* replay_cmd = app.add_subcommand("replay", "print the notifications and indications of a btsnoop capture");
  std::string replay_file, replay_format = "jsonl";
  replay_cmd->add_option("file", replay_file, "btsnoop capture")->required();
  replay_cmd->add_option("--format", replay_format, "jsonl");
  app.require_subcommand(0, 1);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    say(e.what());
    return 2;
  }
  if (replay_cmd->parsed()) return run_replay(replay_file, replay_format);

  if (connect_text.empty()) {
    say("--connect is required (a Bluetooth address or unix:PATH), or use the replay subcommand");
    return 2;
  }
  auto ep = parse_endpoint(connect_text);
  if (!ep) {
    say(ep.error().message);
    return 2;
  }
  ep->address_type = addr_type == "random" ? AddressType::le_random : AddressType::le_public;
  ep->security = security == "high" ? SecurityLevel::high : security == "medium" ? SecurityLevel::medium : SecurityLevel::low;
  ReaderOptions ro;
  ro.endpoint = *ep;
  ro.connect_text = connect_text;
  ro.format = format;
  ro.session.mtu = static_cast<std::uint16_t>(mtu);
  ro.session.prefer_indications = indications;
  for (const auto& c : chars) {
    auto u = Uuid::parse(c);
    if (!u) {
      say("--char '" + c + "' is not a UUID (2a37 or 128-bit form)");
      return 2;
    }
    ro.session.characteristics.push_back(*u);
  }
  ro.att_timeout_ms = att_timeout_ms;
  ro.reconnect_min_ms = reconnect_min_ms;
  ro.reconnect_max_ms = std::max(reconnect_max_ms, reconnect_min_ms);
  ro.stop_timeout_ms = stop_timeout_ms;

  if (marks.token.empty()) {
    if (const char* t = std::getenv("C4I_TOKEN")) marks.token = t;
  }
  if (marks.function.empty()) {
    if (const char* f = std::getenv("C4I_FUNCTION")) marks.function = f;
  }
  if (!marks.url.empty()) {
    if (marks.function.empty()) {
      say("--orchestrator needs --function or C4I_FUNCTION (the function id the first_data mark belongs to)");
      return 2;
    }
    if (auto co = FirstDataReporter::client_options(marks); !co) {
      say(co.error().message);
      return 2;
    }
  }

  if (::pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    say(std::string("pipe: ") + std::strerror(errno));
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking connect() returns EINTR on SIGTERM
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  Output out;
  if (auto s = out.open(output); !s) {
    say(s.error().message);
    return s.error().code == "invalid_argument" ? 2 : 1;
  }
  FirstDataReporter reporter(marks);
  Reader reader(std::move(ro), out, reporter);
  return reader.run();
}
