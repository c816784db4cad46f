#!/usr/bin/env bash
# Builds the IoT functions' images, for amd64 and arm64:
#  1. static, stripped Release binaries of c4i-fn-omh, c4i-fn-engine and (when
#     ble-reader/ builds) c4i-reader, with the project's CMake and the static
#     toolchains in images/cmake/ (arm64: Debian's g++-aarch64-linux-gnu and the
#     arm64 -dev libraries, installed by images/setup-cross.sh);
#  2. one image per function and architecture, FROM scratch, holding only the
#     function, the reader and the CA certificates (images/<fn>/Dockerfile),
#     built with this machine's Docker engine and tagged per architecture;
#  3. Debian's docker-registry on 127.0.0.1, the per-architecture tags pushed
#     and joined in a manifest list per function;
#  4. a table of the binaries' and images' sizes (OUT/sizes.txt).
# The amd64 binaries copied into the images are packed with UPX (Debian's
# upx-ucl, LZMA; they unpack themselves in memory at start) unless C4I_UPX=0:
# a static binary with OpenSSL is about 6 MB, packed about 2.3 MB. The arm64
# ones are not: packed, they ran but died with SIGILL at exit under
# qemu-user-static, the only arm64 this project can test on.
# Without a Docker engine, steps 2-3 are skipped with a message.
#
# Environment: C4I_IMAGES_OUT (default build/images-out: build trees, contexts,
#   registry storage, sizes.txt), C4I_SOURCE (the source tree, default this
#   checkout), C4I_REGISTRY_PORT (5123), C4I_IMAGE_TAG (0.1.0), C4I_JOBS (2),
#   C4I_ARCHES ("amd64 arm64"), C4I_UPX (1).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
src=${C4I_SOURCE:-$root}
out=${C4I_IMAGES_OUT:-$root/build/images-out}
port=${C4I_REGISTRY_PORT:-5123}
tag=${C4I_IMAGE_TAG:-0.1.0}
jobs=${C4I_JOBS:-2}
arches=${C4I_ARCHES:-amd64 arm64}
use_upx=${C4I_UPX:-1}
registry=127.0.0.1:$port
say() { echo "images/build.sh: $*" >&2; }

images/setup-cross.sh
mkdir -p "$out"
: > "$out/notes.txt"

# --- 1. static binaries ---
# The image's binary is c4i-image-<fn> (images/multicall.cpp): the function and
# c4i-reader in one executable. A build tree configured with other toolchain
# files than the current ones is configured again (cached flags would hide a
# change).
toolchain_id() { cat "$root"/images/cmake/*.cmake "$root"/images/cmake/static/*/*.cmake | sha256sum | cut -c1-16; }
for arch in $arches; do
  bdir=$out/build-$arch
  if [ ! -f "$bdir/build.ninja" ] || [ "$(cat "$bdir/c4i-toolchain.id" 2>/dev/null)" != "$(toolchain_id)" ]; then
    say "configuring $arch in $bdir"
    rm -f "$bdir/CMakeCache.txt"
    cmake -S "$src" -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_TOOLCHAIN_FILE="$root/images/cmake/static-$arch.cmake" -DC4I_TESTS=OFF -DC4I_BENCH=OFF >"$bdir.configure.log" 2>&1 ||
      { cat "$bdir.configure.log" >&2; say "cmake failed for $arch"; exit 1; }
    toolchain_id > "$bdir/c4i-toolchain.id"
  fi
  targets=(c4i-image-omh c4i-image-engine)
  if ! ninja -C "$bdir" -t targets all 2>/dev/null | grep -q '^c4i-image-omh:'; then
    targets=(c4i-fn-omh c4i-fn-engine)
    say "no c4i-reader target for $arch (ble-reader/ not built): its images hold the function only"
    echo "c4i-reader not built for $arch: images hold the function only" >> "$out/notes.txt"
  fi
  say "building ${targets[*]} for $arch"
  nice ninja -C "$bdir" -j "$jobs" "${targets[@]}"
  for fn in omh engine; do
    b=$bdir/images/c4i-image-$fn
    [ -f "$b" ] || b=$bdir/images/c4i-fn-$fn
    if readelf -lW "$b" | grep -q 'INTERP'; then say "$b is not static"; exit 1; fi
  done
done

# --- 2. image contexts (also without a Docker engine: the tests run their binaries) ---
# ctx/<fn>-<arch>/rootfs is the image's whole file system: usr/bin/c4i-fn-<fn>
# (the multi-call binary, packed with UPX when C4I_UPX=1), usr/bin/c4i-reader
# (a symlink to it) and the CA bundle.
ca_bundle=/etc/ssl/certs/ca-certificates.crt
# arm64 is not packed: UPX 4.2.2 packed static arm64 binaries (even a static hello
# world) die with SIGILL under qemu-aarch64-static 7.2 (the only arm64 here).
upx_arches=${C4I_UPX_ARCHES:-amd64}
for fn in omh engine; do
  for arch in $arches; do
    ctx=$out/ctx/$fn-$arch
    rm -rf "$ctx"
    mkdir -p "$ctx/rootfs/usr/bin" "$ctx/rootfs/etc/ssl/certs"
    cp "images/$fn/Dockerfile" "$ctx/Dockerfile"
    cp "$ca_bundle" "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
    bin=$ctx/rootfs/usr/bin/c4i-fn-$fn
    if [ -f "$out/build-$arch/images/c4i-image-$fn" ]; then
      cp "$out/build-$arch/images/c4i-image-$fn" "$bin"
      ln -s "c4i-fn-$fn" "$ctx/rootfs/usr/bin/c4i-reader"
    else
      cp "$out/build-$arch/images/c4i-fn-$fn" "$bin"
    fi
    if [ "$use_upx" = 1 ] && [[ " $upx_arches " == *" $arch "* ]]; then
      upx -q --best --lzma "$bin" >/dev/null
    fi
  done
done

file_size() { stat -c %s "$1" 2>/dev/null || echo -; }
{
  printf '%-24s %-6s %10s %10s\n' binary arch built shipped
  for arch in $arches; do
    for fn in omh engine; do
      b=$out/build-$arch/images/c4i-image-$fn
      [ -f "$b" ] || b=$out/build-$arch/images/c4i-fn-$fn
      printf '%-24s %-6s %10s %10s\n' "$(basename "$b")" "$arch" "$(file_size "$b")" "$(file_size "$out/ctx/$fn-$arch/rootfs/usr/bin/c4i-fn-$fn")"
    done
  done
} > "$out/sizes.txt"

# --- 3. images ---
if ! docker info >/dev/null 2>&1; then
  say "no Docker engine answers (docker info): binaries and contexts built, images skipped"
  echo "docker engine absent: images not built" >> "$out/notes.txt"
  cat "$out/sizes.txt"
  exit 0
fi
export DOCKER_BUILDKIT=0  # the classic builder: FROM scratch needs nothing from a registry
for fn in omh engine; do
  for arch in $arches; do
    say "docker build $registry/cloud4iot/fn-$fn:$tag-$arch"
    docker build -q --platform "linux/$arch" -t "$registry/cloud4iot/fn-$fn:$tag-$arch" "$out/ctx/$fn-$arch" >/dev/null
  done
done

# --- 4. local registry and manifest lists ---
regdir=$out/registry
mkdir -p "$regdir/data"
cat > "$regdir/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $regdir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YAML
started_registry=
if ! curl -fsS "http://$registry/v2/" >/dev/null 2>&1; then
  say "starting docker-registry on $registry"
  setsid docker-registry serve "$regdir/config.yml" >"$regdir/registry.log" 2>&1 < /dev/null &
  echo $! > "$regdir/registry.pid"
  started_registry=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://$registry/v2/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://$registry/v2/" >/dev/null || { cat "$regdir/registry.log" >&2; say "docker-registry did not start"; exit 1; }
fi
stop_registry() { if [ -n "$started_registry" ]; then kill "$started_registry" 2>/dev/null || true; wait "$started_registry" 2>/dev/null || true; fi; }
trap stop_registry EXIT

for fn in omh engine; do
  list=$registry/cloud4iot/fn-$fn:$tag
  members=()
  for arch in $arches; do
    docker push -q "$list-$arch" >/dev/null
    members+=("$list-$arch")
  done
  docker manifest rm "$list" >/dev/null 2>&1 || true
  docker manifest create --insecure "$list" "${members[@]}" >/dev/null
  for arch in $arches; do docker manifest annotate --os linux --arch "$arch" "$list" "$list-$arch"; done
  digest=$(docker manifest push --insecure --purge "$list")
  say "pushed manifest list $list ($digest)"
done

{
  echo
  printf '%-40s %10s %s\n' image bytes "(amd64 binaries packed: $([ "$use_upx" = 1 ] && echo upx || echo no))"
  for fn in omh engine; do
    for arch in $arches; do
      ref=$registry/cloud4iot/fn-$fn:$tag-$arch
      printf '%-40s %10s\n' "${ref#"$registry"/}" "$(docker image inspect -f '{{.Size}}' "$ref")"
    done
  done
} >> "$out/sizes.txt"
cat "$out/sizes.txt"
