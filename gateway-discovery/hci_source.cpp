// The radio: a BlueZ raw HCI socket (libbluetooth). Sets the LE scan
// parameters and enables scanning (Core v5.3, Vol 4, Part E, 7.8.10 and
// 7.8.11), filters the socket to LE Meta events, and on exit puts back
// what it changed: scanning disabled again if it was off, the socket
// filter restored.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bluetooth/bluetooth.h>
#include <bluetooth/hci.h>
#include <bluetooth/hci_lib.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "gateway-discovery/sources.hpp"

namespace c4i::discovery {

namespace {

// HCI status codes (Core v5.3, Vol 1, Part F, 1.3).
constexpr std::uint8_t kStatusCommandDisallowed = 0x0C;

Error adapter_error(const std::string& name, int err) {
  std::string why;
  std::string code = "no_adapter";
  switch (err) {
    case EAFNOSUPPORT:
      why = "this kernel has no Bluetooth support";
      break;
    case ENODEV:
      why = "no such adapter";
      break;
    case ENETDOWN:
      why = "the adapter is down (power it on: bluetoothctl power on)";
      break;
    case EPERM:
    case EACCES:
      why = "permission denied (needs CAP_NET_RAW and CAP_NET_ADMIN)";
      code = "permission";
      break;
    default:
      why = std::strerror(err);
  }
  return Error{code, "Bluetooth adapter " + name + ": " + why};
}

// Sends one HCI command and reads its one-byte status (Command Complete).
// Returns the HCI status, or -1 with errno when the command could not be sent.
int send_command(int dd, std::uint16_t ocf, void* params, int len) {
  std::uint8_t status = 0xFF;
  hci_request rq{};
  rq.ogf = OGF_LE_CTL;
  rq.ocf = ocf;
  rq.cparam = params;
  rq.clen = len;
  rq.rparam = &status;
  rq.rlen = 1;
  if (hci_send_req(dd, &rq, 1000) < 0) return -1;
  return status;
}

int set_scan_enable(int dd, bool enable, bool filter_duplicates) {
  le_set_scan_enable_cp cp{};
  cp.enable = enable ? 0x01 : 0x00;
  cp.filter_dup = filter_duplicates ? 0x01 : 0x00;
  return send_command(dd, OCF_LE_SET_SCAN_ENABLE, &cp, LE_SET_SCAN_ENABLE_CP_SIZE);
}

class HciSource final : public Source {
 public:
  HciSource(std::string name, int dd, hci_filter old_filter, bool we_enabled)
      : name_(std::move(name)), dd_(dd), old_filter_(old_filter), we_enabled_(we_enabled) {}

  ~HciSource() override {
    // Put the adapter back as we found it.
    setsockopt(dd_, SOL_HCI, HCI_FILTER, &old_filter_, sizeof old_filter_);
    if (we_enabled_) {
      const int st = set_scan_enable(dd_, false, false);
      if (st != 0) spdlog::warn("{}: could not disable scanning on exit (status {})", name_, st);
      else spdlog::info("{}: scanning disabled (it was off before we started)", name_);
    }
    hci_close_dev(dd_);
  }

  Status pump(int max_wait_ms, const PacketSink& sink) override {
    pollfd p{dd_, POLLIN, 0};
    const int r = ::poll(&p, 1, max_wait_ms);
    if (r < 0 && errno == EINTR) return ok_status();
    if (r < 0) return Error{"io_error", name_ + ": poll: " + std::strerror(errno)};
    if (r == 0) return ok_status();
    std::uint8_t buf[HCI_MAX_EVENT_SIZE + 1];
    const ssize_t n = ::read(dd_, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) return ok_status();
      return adapter_error(name_, errno);
    }
    // Raw HCI sockets deliver the H4 packet type byte first.
    if (n >= 3 && buf[0] == HCI_EVENT_PKT)
      sink(std::span<const std::uint8_t>(buf + 1, static_cast<std::size_t>(n - 1)), wall_ms());
    return ok_status();
  }

  std::int64_t now_ms() override { return wall_ms(); }
  std::string describe() const override { return "hci:" + name_; }

 private:
  std::string name_;
  int dd_;
  hci_filter old_filter_;
  bool we_enabled_;
};

}  // namespace

Result<std::unique_ptr<Source>> open_hci_source(const std::string& device, const ScanSettings& scan) {
  errno = 0;
  const int dev_id = device.empty() ? hci_get_route(nullptr) : hci_devid(device.c_str());
  const std::string name = device.empty() ? std::string("(default)") : device;
  if (dev_id < 0) return adapter_error(name, errno ? errno : ENODEV);
  const int dd = hci_open_dev(dev_id);
  if (dd < 0) return adapter_error(name, errno);
  const std::string dev_name = "hci" + std::to_string(dev_id);

  // LE Set Scan Parameters (7.8.10): interval and window in 0.625 ms units.
  le_set_scan_parameters_cp params{};
  params.type = scan.active ? 0x01 : 0x00;
  params.interval = htobs(static_cast<std::uint16_t>(scan.interval_ms * 1000 / 625));
  params.window = htobs(static_cast<std::uint16_t>(scan.window_ms * 1000 / 625));
  params.own_bdaddr_type = 0x00;
  params.filter = 0x00;
  int st = send_command(dd, OCF_LE_SET_SCAN_PARAMETERS, &params, LE_SET_SCAN_PARAMETERS_CP_SIZE);
  if (st < 0) {
    const int e = errno;
    hci_close_dev(dd);
    return adapter_error(dev_name, e);
  }
  bool we_enabled = false;
  if (st == kStatusCommandDisallowed) {
    // Scanning is already on (bluetoothd or another scanner): keep its
    // parameters and leave it on at exit.
    spdlog::info("{}: scanning already enabled by someone else; listening only", dev_name);
  } else if (st != 0) {
    hci_close_dev(dd);
    return Error{"io_error", "Bluetooth adapter " + dev_name + ": LE Set Scan Parameters failed with HCI status " +
                                 std::to_string(st)};
  } else {
    st = set_scan_enable(dd, true, scan.filter_duplicates);
    if (st < 0) {
      const int e = errno;
      hci_close_dev(dd);
      return adapter_error(dev_name, e);
    }
    if (st == 0) we_enabled = true;
    else if (st != kStatusCommandDisallowed) {
      hci_close_dev(dd);
      return Error{"io_error", "Bluetooth adapter " + dev_name + ": LE Set Scan Enable failed with HCI status " +
                                   std::to_string(st)};
    }
  }

  hci_filter old_filter{};
  socklen_t olen = sizeof old_filter;
  if (getsockopt(dd, SOL_HCI, HCI_FILTER, &old_filter, &olen) < 0) {
    const int e = errno;
    if (we_enabled) set_scan_enable(dd, false, false);
    hci_close_dev(dd);
    return adapter_error(dev_name, e);
  }
  hci_filter nf{};
  hci_filter_clear(&nf);
  hci_filter_set_ptype(HCI_EVENT_PKT, &nf);
  hci_filter_set_event(EVT_LE_META_EVENT, &nf);
  if (setsockopt(dd, SOL_HCI, HCI_FILTER, &nf, sizeof nf) < 0) {
    const int e = errno;
    if (we_enabled) set_scan_enable(dd, false, false);
    hci_close_dev(dd);
    return adapter_error(dev_name, e);
  }
  spdlog::info("{}: {} scanning, interval {} ms, window {} ms", dev_name, scan.active ? "active" : "passive",
               scan.interval_ms, scan.window_ms);
  return std::unique_ptr<Source>(new HciSource(dev_name, dd, old_filter, we_enabled));
}

}  // namespace c4i::discovery
