#include "gateway-discovery/privileges.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>

namespace c4i::discovery {

namespace {

Error sys_error(const std::string& what) { return Error{"privileges", what + ": " + std::strerror(errno)}; }

// The three 64-bit capability sets, as capget/capset see them (version 3: two 32-bit words each).
struct CapSets {
  std::uint64_t effective = 0, permitted = 0, inheritable = 0;
};

Result<CapSets> get_caps() {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &h, d) != 0) return sys_error("capget");
  CapSets s;
  s.effective = d[0].effective | (std::uint64_t{d[1].effective} << 32);
  s.permitted = d[0].permitted | (std::uint64_t{d[1].permitted} << 32);
  s.inheritable = d[0].inheritable | (std::uint64_t{d[1].inheritable} << 32);
  return s;
}

Status set_caps(const CapSets& s) {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};
  d[0].effective = static_cast<std::uint32_t>(s.effective);
  d[1].effective = static_cast<std::uint32_t>(s.effective >> 32);
  d[0].permitted = static_cast<std::uint32_t>(s.permitted);
  d[1].permitted = static_cast<std::uint32_t>(s.permitted >> 32);
  d[0].inheritable = static_cast<std::uint32_t>(s.inheritable);
  d[1].inheritable = static_cast<std::uint32_t>(s.inheritable >> 32);
  if (syscall(SYS_capset, &h, d) != 0) return sys_error("capset");
  return ok_status();
}

// The highest capability number this kernel knows (it may know more than our headers).
int last_cap() {
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  int n = CAP_LAST_CAP;
  if (in >> n && n >= 0 && n < 64) return n;
  return CAP_LAST_CAP;
}

constexpr std::uint64_t bit(int cap) { return std::uint64_t{1} << cap; }

}  // namespace

std::vector<int> hci_capabilities() { return {CAP_NET_RAW, CAP_NET_ADMIN}; }

Status drop_privileges(const std::vector<int>& keep, const std::string& user) {
  std::uint64_t keep_mask = 0;
  for (int c : keep)
    if (c >= 0 && c < 64) keep_mask |= bit(c);
  auto before = get_caps();
  if (!before) return before.error();

  // The bounding set first: dropping from it needs CAP_SETPCAP, which goes next.
  if (before->effective & bit(CAP_SETPCAP)) {
    for (int c = 0; c <= last_cap(); ++c) {
      if (keep_mask & bit(c)) continue;
      if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)  // EINVAL: unknown to this kernel
        return sys_error("prctl(PR_CAPBSET_DROP, " + std::to_string(c) + ")");
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return sys_error("prctl(PR_CAP_AMBIENT_CLEAR_ALL)");

  if (!user.empty()) {
    errno = 0;
    const passwd* pw = getpwnam(user.c_str());
    if (!pw) return Error{"unknown_user", "--user: no user named " + user};
    // Keep the permitted set across setuid; the effective set is emptied by it and restored below.
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return sys_error("prctl(PR_SET_KEEPCAPS)");
    if (setgroups(0, nullptr) != 0) return sys_error("setgroups");
    if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0) return sys_error("setresgid(" + std::to_string(pw->pw_gid) + ")");
    if (setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0) return sys_error("setresuid(" + std::to_string(pw->pw_uid) + ")");
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return sys_error("prctl(PR_SET_KEEPCAPS, 0)");
  }

  CapSets want;
  want.permitted = before->permitted & keep_mask;
  want.effective = want.permitted;
  want.inheritable = 0;
  if (auto st = set_caps(want); !st) return st;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return sys_error("prctl(PR_SET_NO_NEW_PRIVS)");

  // Check what the kernel now says: a capability kept by mistake is a failure, not a warning.
  auto after = get_caps();
  if (!after) return after.error();
  if ((after->permitted | after->effective | after->inheritable) & ~keep_mask)
    return Error{"privileges", "capabilities beyond the kept ones remain after dropping"};
  return ok_status();
}

}  // namespace c4i::discovery
