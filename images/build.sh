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
for arch in $arches; do
  bdir=$out/build-$arch
  if [ ! -f "$bdir/build.ninja" ]; then
    say "configuring $arch in $bdir"
    cmake -S "$src" -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_TOOLCHAIN_FILE="$root/images/cmake/static-$arch.cmake" -DC4I_TESTS=OFF -DC4I_BENCH=OFF >"$bdir.configure.log" 2>&1 ||
      { cat "$bdir.configure.log" >&2; say "cmake failed for $arch"; exit 1; }
  fi
  say "building c4i-fn-omh c4i-fn-engine for $arch"
  nice ninja -C "$bdir" -j "$jobs" c4i-fn-omh c4i-fn-engine
  if ninja -C "$bdir" -t targets all 2>/dev/null | grep -q '^c4i-reader:' &&
     nice ninja -C "$bdir" -j "$jobs" c4i-reader >"$bdir.reader.log" 2>&1; then
    say "c4i-reader built for $arch"
  else
    rm -f "$bdir/ble-reader/c4i-reader"
    say "c4i-reader does not build for $arch (see $bdir.reader.log): its images hold the function only"
    echo "c4i-reader not built for $arch: images hold the function only" >> "$out/notes.txt"
  fi
  for b in "$bdir/images/c4i-fn-omh" "$bdir/images/c4i-fn-engine" "$bdir/ble-reader/c4i-reader"; do
    [ -f "$b" ] || continue
    if readelf -lW "$b" | grep -q 'INTERP'; then say "$b is not static"; exit 1; fi
  done
done

binary_size() { stat -c %s "$1" 2>/dev/null || echo -; }
{
  printf '%-16s %-6s %10s\n' binary arch bytes
  for arch in $arches; do
    for b in images/c4i-fn-omh images/c4i-fn-engine ble-reader/c4i-reader; do
      printf '%-16s %-6s %10s\n' "$(basename "$b")" "$arch" "$(binary_size "$out/build-$arch/$b")"
    done
  done
} > "$out/sizes.txt"

# --- 2. images ---
if ! docker info >/dev/null 2>&1; then
  say "no Docker engine answers (docker info): binaries built, images skipped"
  echo "docker engine absent: images not built" >> "$out/notes.txt"
  cat "$out/sizes.txt"
  exit 0
fi
export DOCKER_BUILDKIT=0  # the classic builder: FROM scratch needs nothing from a registry
ca_bundle=/etc/ssl/certs/ca-certificates.crt
for fn in omh engine; do
  for arch in $arches; do
    ctx=$out/ctx/$fn-$arch
    rm -rf "$ctx"
    mkdir -p "$ctx"
    cp "$out/build-$arch/images/c4i-fn-$fn" "$ctx/"
    cp "$ca_bundle" "$ctx/ca-certificates.crt"
    if [ -f "$out/build-$arch/ble-reader/c4i-reader" ]; then
      cp "$out/build-$arch/ble-reader/c4i-reader" "$ctx/"
      cp "images/$fn/Dockerfile" "$ctx/Dockerfile"
    else
      sed -e 's/ c4i-reader / /' "images/$fn/Dockerfile" > "$ctx/Dockerfile"
    fi
    if [ "$use_upx" = 1 ] && [ "$arch" = amd64 ]; then
      for b in "$ctx"/c4i-*; do upx -q --best --lzma "$b" >/dev/null; done
    fi
    say "docker build $registry/cloud4iot/fn-$fn:$tag-$arch"
    docker build -q --platform "linux/$arch" -t "$registry/cloud4iot/fn-$fn:$tag-$arch" "$ctx" >/dev/null
  done
done

# --- 3. local registry and manifest lists ---
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
