#include "ble-reader/transport.hpp"

#include <bluetooth/bluetooth.h>
#include <bluetooth/l2cap.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace c4i::reader {
namespace {

Error sys_error(const std::string& what, int e) {
  const bool unsupported = e == EAFNOSUPPORT || e == EPROTONOSUPPORT || e == ESOCKTNOSUPPORT;
  std::string msg = what + ": " + std::strerror(e);
  if (unsupported && what.find("Bluetooth") != std::string::npos) msg += " (this kernel has no Bluetooth support)";
  return Error{unsupported ? "unsupported" : "unreachable", msg};
}

Result<int> connect_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return Error{"unsupported", "socket path '" + path + "' is empty or too long"};
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error("cannot open a Unix socket", errno);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    ::close(fd);
    return sys_error("cannot connect to unix:" + path, e);
  }
  return fd;
}

// Core v5.3, Vol 3, Part A, 2.1: ATT runs on the LE fixed channel 0x0004;
// BlueZ exposes it as an L2CAP SOCK_SEQPACKET socket bound to that CID.
Result<int> connect_l2cap(const Endpoint& ep) {
  const int fd = ::socket(PF_BLUETOOTH, SOCK_SEQPACKET | SOCK_CLOEXEC, BTPROTO_L2CAP);
  if (fd < 0) return sys_error("cannot open a Bluetooth L2CAP socket", errno);
  sockaddr_l2 local{};
  local.l2_family = AF_BLUETOOTH;
  bdaddr_t any{};  // BDADDR_ANY
  bacpy(&local.l2_bdaddr, &any);
  local.l2_cid = htobs(att::kAttCid);
  local.l2_bdaddr_type = BDADDR_LE_PUBLIC;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    const int e = errno;
    ::close(fd);
    return sys_error("cannot bind the Bluetooth L2CAP socket", e);
  }
  bt_security sec{};
  sec.level = ep.security == SecurityLevel::high     ? BT_SECURITY_HIGH
              : ep.security == SecurityLevel::medium ? BT_SECURITY_MEDIUM
                                                     : BT_SECURITY_LOW;
  if (::setsockopt(fd, SOL_BLUETOOTH, BT_SECURITY, &sec, sizeof sec) != 0) {
    const int e = errno;
    ::close(fd);
    return sys_error("cannot set the Bluetooth security level", e);
  }
  sockaddr_l2 remote{};
  remote.l2_family = AF_BLUETOOTH;
  str2ba(ep.address.c_str(), &remote.l2_bdaddr);
  remote.l2_cid = htobs(att::kAttCid);
  remote.l2_bdaddr_type = ep.address_type == AddressType::le_random ? BDADDR_LE_RANDOM : BDADDR_LE_PUBLIC;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
    const int e = errno;
    ::close(fd);
    return sys_error("cannot connect to Bluetooth device " + ep.address, e);
  }
  return fd;
}

}  // namespace

Result<Endpoint> parse_endpoint(const std::string& text) {
  Endpoint ep;
  if (text.rfind("unix:", 0) == 0) {
    ep.unix_socket = true;
    ep.address = text.substr(5);
    if (ep.address.empty()) return Error{"invalid_argument", "--connect unix: needs a socket path"};
    return ep;
  }
  if (bachk(text.c_str()) != 0)
    return Error{"invalid_argument", "--connect '" + text + "' is neither a Bluetooth address (AA:BB:CC:DD:EE:FF) nor unix:PATH"};
  ep.address = text;
  return ep;
}

Result<int> connect_endpoint(const Endpoint& ep) { return ep.unix_socket ? connect_unix(ep.address) : connect_l2cap(ep); }

bool FdAttIo::send(std::span<const std::uint8_t> pdu) {
  for (;;) {
    const ssize_t n = ::send(fd_, pdu.data(), pdu.size(), MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(pdu.size())) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

}  // namespace c4i::reader
