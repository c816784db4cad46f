#include "gateway-discovery/sources.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <spdlog/spdlog.h>

#include "common/btsnoop.hpp"
#include "gateway-discovery/sim_wire.hpp"

namespace c4i::discovery {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {
void sleep_ms(int ms) {
  if (ms > 0) ::poll(nullptr, 0, ms);
}
}  // namespace

// ---- MappedFile ----

Result<MappedFile> MappedFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error{"not_found", path + ": cannot open: " + std::strerror(errno)};
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error{"not_found", path + ": not a regular file"};
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return MappedFile(nullptr, 0);
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (p == MAP_FAILED) return Error{"io_error", path + ": cannot map: " + std::strerror(err)};
  ::madvise(p, size, MADV_SEQUENTIAL);
  return MappedFile(static_cast<const std::uint8_t*>(p), size);
}

MappedFile::MappedFile(MappedFile&& o) noexcept : data_(o.data_), size_(o.size_), released_(o.released_) {
  o.data_ = nullptr;
  o.size_ = 0;
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<std::uint8_t*>(data_), size_);
}

void MappedFile::release_before(std::size_t offset) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t upto = std::min(offset, size_) / page * page;
  if (data_ && upto > released_ + (1u << 20)) {
    ::madvise(const_cast<std::uint8_t*>(data_) + released_, upto - released_, MADV_DONTNEED);
    released_ = upto;
  }
}

// ---- btsnoop replay ----

namespace {

class BtsnoopSource final : public Source {
 public:
  BtsnoopSource(std::string path, MappedFile file, btsnoop::Reader reader, double speed)
      : path_(std::move(path)), file_(std::move(file)), reader_(std::move(reader)), speed_(speed),
        start_wall_ms_(wall_ms()) {
    have_ = advance();
    if (have_) t0_us_ = pkt_.unix_us;
  }

  Status pump(int max_wait_ms, const PacketSink& sink) override {
    if (!have_) {
      sleep_ms(max_wait_ms);
      return ok_status();
    }
    for (int n = 0; have_ && n < 4096; ++n) {
      const std::int64_t offset_ms = (pkt_.unix_us - t0_us_) / 1000;
      const std::int64_t t_ms = start_wall_ms_ + offset_ms;
      if (speed_ > 0) {
        const auto due = start_wall_ms_ + static_cast<std::int64_t>(static_cast<double>(offset_ms) / speed_);
        const auto now = wall_ms();
        if (due > now) {
          sleep_ms(static_cast<int>(std::min<std::int64_t>(due - now, max_wait_ms)));
          return ok_status();
        }
      }
      sink(pkt_.data, t_ms);
      last_t_ms_ = t_ms;
      have_ = advance();
    }
    if (!have_) {
      finished_wall_ms_ = wall_ms();
      const auto& st = reader_.stats();
      spdlog::info("btsnoop {}: replay finished, {} records, {} skipped{}", path_, st.records, st.skipped,
                   st.truncated ? ", file truncated" : "");
    }
    return ok_status();
  }

  std::int64_t now_ms() override {
    if (speed_ > 0) {
      return start_wall_ms_ + static_cast<std::int64_t>(static_cast<double>(wall_ms() - start_wall_ms_) * speed_);
    }
    // As fast as possible: capture time while replaying, then it flows on.
    if (have_) return last_t_ms_ ? last_t_ms_ : start_wall_ms_;
    return (last_t_ms_ ? last_t_ms_ : start_wall_ms_) + (wall_ms() - finished_wall_ms_);
  }

  std::string describe() const override { return "btsnoop:" + path_; }

 private:
  // The next HCI event of the capture.
  bool advance() {
    while (reader_.next(pkt_)) {
      if (pkt_.type == btsnoop::PacketType::event) {
        file_.release_before(static_cast<std::size_t>(pkt_.data.data() - file_.bytes().data()));
        return true;
      }
    }
    return false;
  }

  std::string path_;
  MappedFile file_;
  btsnoop::Reader reader_;
  double speed_;
  std::int64_t start_wall_ms_;
  std::int64_t t0_us_ = 0;
  std::int64_t last_t_ms_ = 0;
  std::int64_t finished_wall_ms_ = 0;
  btsnoop::Packet pkt_;
  bool have_ = false;
};

// ---- device simulator ----

class SimSource final : public Source {
 public:
  SimSource(SourceSpec spec, std::string gateway) : spec_(std::move(spec)), gateway_(std::move(gateway)) {}
  ~SimSource() override { disconnect(); }

  Status pump(int max_wait_ms, const PacketSink& sink) override {
    if (fd_ < 0) {
      const auto now = wall_ms();
      if (now < next_attempt_ms_) {
        sleep_ms(static_cast<int>(std::min<std::int64_t>(next_attempt_ms_ - now, max_wait_ms)));
        return ok_status();
      }
      if (!connect_once()) {
        retry_ms_ = std::min(retry_ms_ * 2, 5000);
        next_attempt_ms_ = wall_ms() + retry_ms_;
        return ok_status();
      }
    }
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, max_wait_ms);
    if (r <= 0) return ok_status();  // timeout or EINTR: the caller loops
    std::uint8_t buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      spdlog::warn("sim {}: connection closed{}{}", describe(), n < 0 ? ": " : "", n < 0 ? std::strerror(errno) : "");
      drop();
      return ok_status();
    }
    framer_.feed(std::span<const std::uint8_t>(buf, static_cast<std::size_t>(n)));
    const auto t = wall_ms();
    for (auto ev = framer_.next(); !ev.empty(); ev = framer_.next()) sink(ev, t);
    if (framer_.error()) {
      spdlog::error("sim {}: protocol error: a packet that is not an H4 event (type byte not 0x04); reconnecting",
                    describe());
      drop();
    }
    return ok_status();
  }

  std::int64_t now_ms() override { return wall_ms(); }

  std::string describe() const override {
    return spec_.sim_unix.empty() ? "sim:" + spec_.sim_host + ":" + std::to_string(spec_.sim_port)
                                  : "sim:unix:" + spec_.sim_unix;
  }

 private:
  void disconnect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void drop() {
    disconnect();
    framer_ = sim::H4Framer{};
    next_attempt_ms_ = wall_ms() + retry_ms_;
  }

  int connect_fd() {
    if (!spec_.sim_unix.empty()) {
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      if (spec_.sim_unix.size() >= sizeof a.sun_path) return -1;
      std::memcpy(a.sun_path, spec_.sim_unix.c_str(), spec_.sim_unix.size() + 1);
      const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return -1;
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        const int e = errno;
        ::close(fd);
        errno = e;
        return -1;
      }
      return fd;
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(spec_.sim_port);
    if (::getaddrinfo(spec_.sim_host.c_str(), port.c_str(), &hints, &res) != 0 || !res) {
      errno = EHOSTUNREACH;
      return -1;
    }
    int fd = -1;
    for (auto* ai = res; ai; ai = ai->ai_next) {
      fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) continue;
      if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
      ::close(fd);
      fd = -1;
    }
    ::freeaddrinfo(res);
    return fd;
  }

  bool connect_once() {
    const int fd = connect_fd();
    if (fd < 0) {
      if (!warned_) spdlog::warn("sim {}: cannot connect: {} (retrying)", describe(), std::strerror(errno));
      warned_ = true;
      return false;
    }
    const std::string hello = sim::hello_line(gateway_);
    if (::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(hello.size())) {
      ::close(fd);
      return false;
    }
    fd_ = fd;
    retry_ms_ = 100;
    warned_ = false;
    spdlog::info("sim {}: connected", describe());
    return true;
  }

  SourceSpec spec_;
  std::string gateway_;
  int fd_ = -1;
  sim::H4Framer framer_;
  std::int64_t next_attempt_ms_ = 0;
  int retry_ms_ = 100;
  bool warned_ = false;
};

}  // namespace

Result<std::unique_ptr<Source>> open_btsnoop_source(const std::string& path, double speed) {
  auto file = MappedFile::open(path);
  if (!file) return file.error();
  auto reader = btsnoop::Reader::open(file->bytes());
  if (!reader) return Error{reader.error().code, path + ": " + reader.error().message};
  return std::unique_ptr<Source>(new BtsnoopSource(path, std::move(*file), std::move(*reader), speed));
}

std::unique_ptr<Source> open_sim_source(const SourceSpec& spec, const std::string& gateway) {
  return std::make_unique<SimSource>(spec, gateway);
}

}  // namespace c4i::discovery
