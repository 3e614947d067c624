#!/usr/bin/env bash
# Builds the addon with AddressSanitizer and UndefinedBehaviorSanitizer into build/asan/pinlatch.node:
# the sources and defines of binding.gyp, compiled with clang directly (node-gyp has one build
# directory, build/, which the normal build owns). It links the shared ASan runtime, so node (not
# instrumented itself) must start with it preloaded; test/fuzz/native-asan.test.ts does that:
#   LD_PRELOAD=$(clang -print-file-name=libclang_rt.asan-x86_64.so) ASAN_OPTIONS=detect_leaks=0 \
#   PINLATCH_ADDON=build/asan/pinlatch.node node --import tsx test/native/forwarding.test.ts
# Rebuilt only when a native source or header is newer than the result.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/build/asan"
mkdir -p "$out/obj"
CXX="${CXX_ASAN:-clang++}"
node_include="$(node -p "require('path').join(process.config.variables.node_prefix || '/usr', 'include', 'node')")"
[ -e "$node_include/node_api.h" ] || node_include="$(dirname "$(command -v node)")/../include/node"
[ -e "$node_include/node_api.h" ] || { echo "build-asan-addon.sh: node headers not found" >&2; exit 2; }
addon_api="$(cd "$root" && node -p "require('node-addon-api').include_dir")"

mapfile -t sources < <(cd "$root" && node -e "
  const gyp = Function('return (' + require('fs').readFileSync('binding.gyp', 'utf8') + ')')();
  for (const s of gyp.targets[0].sources) console.log(s);")

binary="$out/pinlatch.node"
if [ -e "$binary" ] && [ -z "$(cd "$root" && find "${sources[@]}" native/include binding.gyp "$0" -newer "$binary" -print -quit)" ]; then
  exit 0
fi
# vptr is left out: its check probes memory through a pipe, so while no descriptor is free (the
# EMFILE test exhausts them on purpose) it reports a valid object as having an "invalid vptr".
flags=(-std=c++17 -g -O1 -fPIC -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize=vptr
       -fno-sanitize-recover=undefined
       -shared-libasan -Wall -Wno-unused-parameter
       -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DBUILDING_NODE_EXTENSION -D_FILE_OFFSET_BITS=64 -D_LARGEFILE_SOURCE
       -I"$node_include" -I"$addon_api" -I"$root/native/include")
objects=()
jobs=$(nproc)
for s in "${sources[@]}"; do
  o="$out/obj/$(basename "$s" .cc).o"
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  "$CXX" "${flags[@]}" -c "$root/$s" -o "$o" &
  objects+=("$o")
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n; done
"$CXX" -shared -fsanitize=address,undefined -fno-sanitize=vptr -shared-libasan "${objects[@]}" -o "$binary.tmp"
mv "$binary.tmp" "$binary"
echo "build-asan-addon.sh: built $binary"
