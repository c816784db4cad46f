// The daemon: source -> HCI event decoder -> AD decoder -> presence ->
// durable outbox -> delivery thread; heartbeats from /proc. Returns the
// process exit code (README.md: 0, 2, 3, 4).
#pragma once

#include "gateway-discovery/daemon_config.hpp"

namespace c4i::discovery {

int run_daemon(const DaemonConfig& config);

}  // namespace c4i::discovery
