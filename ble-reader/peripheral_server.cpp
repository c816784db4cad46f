#include "ble-reader/peripheral_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace c4i::reader {
namespace {
std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

PeripheralServer::PeripheralServer(std::string socket_path, PeripheralConfig config)
    : path_(std::move(socket_path)), config_(std::move(config)), peripheral_(std::make_unique<GattPeripheral>(config_)) {}

PeripheralServer::~PeripheralServer() { stop(); }

Status PeripheralServer::start() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(addr.sun_path)) return Error{"invalid_argument", "socket path " + path_ + " is too long"};
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  listen_fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return Error{"io_error", std::string("socket: ") + std::strerror(errno)};
  ::unlink(path_.c_str());
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 4) != 0) {
    const int e = errno;
    ::close(listen_fd_);
    listen_fd_ = -1;
    return Error{"io_error", "cannot listen on " + path_ + ": " + std::strerror(e)};
  }
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) return Error{"io_error", std::string("pipe: ") + std::strerror(errno)};
  thread_ = std::thread([this] { run(); });
  return ok_status();
}

void PeripheralServer::stop() {
  if (thread_.joinable()) {
    const char b = 1;
    (void)!::write(wake_[1], &b, 1);
    thread_.join();
  }
  for (int* fd : {&listen_fd_, &wake_[0], &wake_[1]}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
  if (!path_.empty()) ::unlink(path_.c_str());
}

PeripheralServerStats PeripheralServer::stats() const {
  std::lock_guard lock(mu_);
  PeripheralServerStats s = stats_;
  s.peripheral = peripheral_->stats();
  s.heart_rate_cccd = peripheral_->cccd(GattPeripheral::kHeartRateCccdHandle);
  s.battery_cccd = peripheral_->cccd(GattPeripheral::kBatteryCccdHandle);
  return s;
}

void PeripheralServer::run() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    serve(fd);
    ::close(fd);
    {
      std::lock_guard lock(mu_);
      stats_.connected = false;
      ++stats_.disconnects;
    }
    // Check for stop between connections.
    pollfd w{wake_[0], POLLIN, 0};
    if (::poll(&w, 1, 0) > 0) return;
  }
}

// One connection: PDUs in, answers and due notifications out, until the
// client leaves, the configured disconnect, or stop().
void PeripheralServer::serve(int fd) {
  {
    std::lock_guard lock(mu_);
    peripheral_->connect(now_ms());
    ++stats_.connections;
    stats_.connected = true;
  }
  std::uint8_t buf[1024];
  auto send_all = [fd](const std::vector<att::Bytes>& pdus) {
    for (const auto& p : pdus)
      if (::send(fd, p.data(), p.size(), MSG_NOSIGNAL) < 0) return false;
    return true;
  };
  for (;;) {
    int timeout = -1;
    {
      std::lock_guard lock(mu_);
      if (auto due = peripheral_->next_due()) timeout = static_cast<int>(std::max<std::int64_t>(0, *due - now_ms()));
    }
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    const int n = ::poll(fds, 2, timeout);
    if (n < 0 && errno != EINTR) return;
    if (fds[1].revents) return;
    std::vector<att::Bytes> out;
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t got = ::recv(fd, buf, sizeof buf, 0);
      if (got <= 0) return;
      std::lock_guard lock(mu_);
      out = peripheral_->receive(std::span<const std::uint8_t>(buf, static_cast<std::size_t>(got)), now_ms());
    }
    bool leave = false;
    {
      std::lock_guard lock(mu_);
      auto due = peripheral_->poll(now_ms());
      out.insert(out.end(), due.begin(), due.end());
      leave = peripheral_->wants_disconnect();
    }
    if (!send_all(out)) return;
    if (leave) return;
  }
}

}  // namespace c4i::reader
