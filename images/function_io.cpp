#include "images/function_io.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

#include "images/samples.hpp"

namespace c4i::functions {
namespace {

int g_stop_pipe_write = -1;

void on_stop_signal(int) {
  const int saved = errno;
  const char c = 's';
  if (g_stop_pipe_write >= 0) [[maybe_unused]] auto n = ::write(g_stop_pipe_write, &c, 1);
  errno = saved;
}

Error io_error(const std::string& what) { return Error{"io_error", what + ": " + std::strerror(errno)}; }

// Closes an fd on every path.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  void reset(int f = -1) {
    if (fd >= 0) ::close(fd);
    fd = f;
  }
};

// Splits a byte stream into lines; a line longer than the bound is skipped to its end.
class LineSplitter {
 public:
  explicit LineSplitter(const LoopCallbacks& cb) : cb_(cb) {}
  void feed(const char* data, std::size_t n) {
    std::size_t at = 0;
    while (at < n) {
      const void* nl = std::memchr(data + at, '\n', n - at);
      const std::size_t end = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - data) : n;
      if (!discarding_) {
        partial_.append(data + at, end - at);
        if (partial_.size() > kMaxSampleLineBytes) {
          partial_.clear();
          discarding_ = true;
          cb_.on_oversized_line();
        }
      }
      if (!nl) return;
      if (!discarding_) emit();
      discarding_ = false;
      at = end + 1;
    }
  }
  // The stream ended: a last line without its newline still counts.
  void finish() {
    if (!discarding_ && !partial_.empty()) emit();
    partial_.clear();
    discarding_ = false;
  }

 private:
  void emit() {
    std::string_view line = partial_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) cb_.on_line(line);
    partial_.clear();
  }
  const LoopCallbacks& cb_;
  std::string partial_;
  bool discarding_ = false;
};

}  // namespace

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

FunctionIdentity identity_from_env() {
  return FunctionIdentity{env_or_empty("C4I_NODE"), env_or_empty("C4I_FUNCTION"), env_or_empty("C4I_DEVICE"),
                          env_or_empty("C4I_DEVICE_ADDR")};
}

std::string default_input_spec() {
  std::string socket = env_or_empty("C4I_READER_SOCKET");
  return socket.empty() ? "-" : "unix:" + socket;
}

double monotonic_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double unix_now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Result<LoopEnd> run_line_loop(const std::string& input_spec, const LoopCallbacks& cb) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) return io_error("cannot create the signal pipe");
  Fd stop_read(pipe_fds[0]), stop_write(pipe_fds[1]);
  g_stop_pipe_write = stop_write.fd;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  struct Restore {
    ~Restore() { g_stop_pipe_write = -1; }
  } restore;

  Fd listener, conn;
  std::string socket_path;
  bool from_stdin = input_spec == "-";
  if (!from_stdin) {
    if (input_spec.rfind("unix:", 0) != 0)
      return Error{"invalid_argument", "--input '" + input_spec + "' is neither - nor unix:PATH"};
    socket_path = input_spec.substr(5);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path)
      return Error{"invalid_argument", "--input socket path '" + socket_path + "' is empty or too long"};
    std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
    struct stat st {};
    if (::lstat(socket_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(socket_path.c_str());
    listener.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (listener.fd < 0) return io_error("cannot create the input socket");
    if (::bind(listener.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      return io_error("cannot bind --input unix:" + socket_path);
    if (::listen(listener.fd, 4) != 0) return io_error("cannot listen on --input unix:" + socket_path);
  }
  struct Unlink {
    std::string path;
    ~Unlink() {
      if (!path.empty()) ::unlink(path.c_str());
    }
  } unlink_at_exit{socket_path};

  LineSplitter splitter(cb);
  char buf[64 * 1024];
  for (;;) {
    pollfd fds[3];
    nfds_t nfds = 0;
    fds[nfds++] = {stop_read.fd, POLLIN, 0};
    const int data_fd = from_stdin ? 0 : conn.fd;
    const nfds_t data_slot = nfds;
    if (data_fd >= 0) fds[nfds++] = {data_fd, POLLIN, 0};
    const nfds_t listen_slot = nfds;
    if (listener.fd >= 0) fds[nfds++] = {listener.fd, POLLIN, 0};

    int timeout_ms = -1;
    if (auto d = cb.next_deadline()) {
      const double wait_s = *d - monotonic_s();
      timeout_ms = wait_s <= 0 ? 0 : static_cast<int>(std::min(std::ceil(wait_s * 1000.0), 3'600'000.0));
    }
    const int n = ::poll(fds, nfds, timeout_ms);
    if (n < 0 && errno != EINTR) return io_error("poll");
    if (auto d = cb.next_deadline(); d && monotonic_s() >= *d) cb.on_deadline();
    if (n <= 0) continue;
    if (fds[0].revents & POLLIN) {
      splitter.finish();
      return LoopEnd::stop_requested;
    }
    if (data_fd >= 0 && (fds[data_slot].revents & (POLLIN | POLLHUP | POLLERR))) {
      const ssize_t got = ::read(data_fd, buf, sizeof buf);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got <= 0) {
        splitter.finish();
        if (from_stdin) return LoopEnd::end_of_input;
        spdlog::info("the reader closed the input stream; waiting for it to reconnect on {}", socket_path);
        conn.reset();
        continue;
      }
      splitter.feed(buf, static_cast<std::size_t>(got));
    }
    if (listener.fd >= 0 && (fds[listen_slot].revents & POLLIN)) {
      const int c = ::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        if (conn.fd >= 0) {
          spdlog::info("a new reader connection replaces the previous one");
          splitter.finish();
        }
        conn.reset(c);
      }
    }
  }
}

}  // namespace c4i::functions
