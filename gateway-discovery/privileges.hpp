// What the daemon may do, decided once at startup before it opens anything:
// optionally become an unprivileged user, and keep only the capabilities its
// source needs (a raw HCI socket and the adapter's LE scan commands need
// CAP_NET_RAW and CAP_NET_ADMIN; a capture or the simulator need none). Raw
// syscalls (capget/capset, prctl): no libcap.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"

namespace c4i::discovery {

// The capabilities the HCI source needs (linux/capability.h numbers).
std::vector<int> hci_capabilities();

// Switches to `user` when it is not empty (its uid, primary gid, no
// supplementary groups), keeping `keep` across the switch; then leaves
// exactly `keep` (intersected with what the process had) in the permitted
// and effective sets, clears the inheritable and ambient sets, drops every
// other capability from the bounding set (when the process may: it needs
// CAP_SETPCAP, which an unprivileged process lacks and cannot regain), and
// sets no_new_privs so no exec can give anything back.
// Errors: "unknown_user", "privileges" (a syscall failed; the message names it).
Status drop_privileges(const std::vector<int>& keep, const std::string& user);

}  // namespace c4i::discovery
