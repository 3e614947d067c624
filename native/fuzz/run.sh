#!/usr/bin/env bash
# Runs one libFuzzer target for a number of seconds over its corpus.
#   native/fuzz/run.sh <name> <seconds> [extra libFuzzer flags...]
# The committed corpus (native/fuzz/corpus/<name>/) is read only; inputs libFuzzer finds go to
# build/fuzz/corpus-<name>/ (kept between runs, not committed: `-merge=1` folds it in, see
# docs/fuzzing.md). A crash, leak, timeout or sanitizer report is written to
# native/fuzz/findings/<name>/ and the exit code is non-zero.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
name="${1:?target name}"
seconds="${2:?seconds}"
shift 2
"$root/native/fuzz/build.sh" "$name"
work="$root/build/fuzz/corpus-$name"
findings="$root/native/fuzz/findings/$name"
mkdir -p "$work" "$findings"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
exec "$root/build/fuzz/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -print_final_stats=1 -artifact_prefix="$findings/" "$@" "$work" "$root/native/fuzz/corpus/$name"
