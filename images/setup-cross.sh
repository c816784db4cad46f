#!/usr/bin/env bash
# Installs what images/build.sh and the image tests need beyond scripts/setup.sh:
# the arm64 cross compiler and arm64 -dev libraries (Debian multiarch), qemu-user
# to run the arm64 binaries, Debian's docker-registry for the local registry,
# UPX to pack the images' binaries, and the arm64 yaml-cpp unpacked into a
# sysroot (libyaml-cpp-dev is not Multi-Arch: same, so it cannot be installed
# beside the amd64 one).
# Idempotent: a second run installs nothing and takes about a second.
set -euo pipefail

sysroot=${C4I_ARM64_SYSROOT:-/opt/c4i-cross/arm64}
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "setup-cross: adding architecture arm64" >&2
  $sudo dpkg --add-architecture arm64
  updated=0
fi

# UPX is not in Debian 12's main suite (upx-ucl was dropped before bookworm's
# release); bookworm-backports has 4.2. Backports' default pin (100) makes it
# the candidate only for packages bookworm lacks, so nothing else is upgraded
# from it. Later Debian releases have upx-ucl in main.
backports=/etc/apt/sources.list.d/c4i-bookworm-backports.list
if [ "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" = bookworm ] && [ ! -f "$backports" ] &&
   ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "setup-cross: adding bookworm-backports (for upx-ucl)" >&2
  echo "deb http://deb.debian.org/debian bookworm-backports main" | $sudo tee "$backports" >/dev/null
  updated=0
fi

packages=(
  g++-aarch64-linux-gnu qemu-user-static docker-registry ca-certificates upx-ucl binutils curl
  libssl-dev:arm64 libfftw3-dev:arm64 libsqlite3-dev:arm64 libbluetooth-dev:arm64
  libboost1.81-dev:arm64
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ "${updated:-1}" = 0 ]; then
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-cross: installing ${missing[*]}" >&2
  $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# docker-registry's Debian package starts a service on :5000; the image tests run
# their own instance on a loopback port, so the packaged one is left as it is.

if [ ! -f "$sysroot/usr/lib/aarch64-linux-gnu/libyaml-cpp.a" ]; then
  echo "setup-cross: unpacking libyaml-cpp-dev:arm64 into $sysroot" >&2
  tmp=$(mktemp -d)
  chmod 755 "$tmp"  # apt downloads as _apt
  (cd "$tmp" && apt-get download -qq libyaml-cpp-dev:arm64 >/dev/null)
  $sudo mkdir -p "$sysroot"
  for deb in "$tmp"/*.deb; do $sudo dpkg-deb -x "$deb" "$sysroot"; done
  rm -rf "$tmp"
fi
echo "setup-cross: cross toolchain, arm64 libraries, qemu-user-static and docker-registry present" >&2
