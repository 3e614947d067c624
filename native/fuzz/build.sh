#!/usr/bin/env bash
# Builds the libFuzzer targets of native/fuzz/*_fuzzer.cc with clang under ASan and UBSan into
# build/fuzz/<name> (name without _fuzzer). Each target links only the pure sources it fuzzes,
# never the I/O loops. A target is rebuilt when it or a native source/header is newer.
#   native/fuzz/build.sh [name...]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/build/fuzz"
mkdir -p "$out"
CXX="${CXX_FUZZ:-clang++}"
flags=(-std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=all -Wall -Wextra -Wno-unused-parameter -I"$root/native/include")

# The pure sources each target needs.
declare -A sources=(
  [rtp_check]="native/src/rtp_check.cc"
  [latch_state]="native/src/latch_state.cc native/src/socket_address.cc native/src/ip_prefix.cc"
)

names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${!sources[@]}")
for name in "${names[@]}"; do
  [ -n "${sources[$name]:-}" ] || { echo "build.sh: unknown target $name (known: ${!sources[*]})" >&2; exit 2; }
  binary="$out/$name"
  inputs=("$root/native/fuzz/${name}_fuzzer.cc")
  for s in ${sources[$name]}; do inputs+=("$root/$s"); done
  if [ -x "$binary" ] && [ -z "$(find "${inputs[@]}" "$root/native/include" "$0" -newer "$binary" -print -quit)" ]; then
    continue
  fi
  echo "build.sh: building $name"
  "$CXX" "${flags[@]}" "${inputs[@]}" -o "$binary.tmp"
  mv "$binary.tmp" "$binary"
done
