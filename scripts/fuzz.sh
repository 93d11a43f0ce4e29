#!/usr/bin/env bash
# Fuzzes octet's parsers with libFuzzer (clang): each target for FUZZ_SECONDS over a copy of its seed corpus
# (fuzz/corpus/<target>), failing on any crash, sanitizer report, OOM (> 2 GiB RSS or one malloc over it) or
# timeout (10 s for one input). New reproducers land in build-fuzz/findings/<target>/ (copy them to
# fuzz/regressions/<target>/ after the fix, see fuzz/corpus/README.md).
#   scripts/fuzz.sh                         # every target, 30 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh onnx   # one target, longer
#   FUZZ_JOBS=2 ...                         # targets run in parallel (default 1)
#   FUZZ_RUNS=1000000 FUZZ_SEED=1 ...       # CI: a fixed seed and number of inputs per target (FUZZ_SECONDS
#                                           # then only caps the time), so that a run is the same on every
#                                           # machine: a new finding comes from a change, not from luck.
#                                           # Exploratory fuzzing (the default) draws a new seed each run.
# Needs clang and libFuzzer (Debian 12: clang-14 + libclang-rt-14-dev; installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${FUZZ_SECONDS:-30}"
JOBS="${FUZZ_JOBS:-1}"
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(npy cache plan onnx image)
B=build-fuzz

fuzzer_lib() { ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null | head -1; }
if ! command -v clang++ >/dev/null || [ -z "$(fuzzer_lib)" ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  echo "installing clang and libFuzzer (clang, libclang-rt-dev)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang libclang-rt-dev >/dev/null
fi

cmake -S . -B $B -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DOCTET_FUZZ=ON -DOCTET_TESTS=OFF >/dev/null
cmake --build $B -j"$(nproc)" --target $(printf 'fuzz_%s ' "${TARGETS[@]}") 2>&1 | grep -E ' error|error:' || true
for t in "${TARGETS[@]}"; do
  [ -x "$B/fuzz/fuzz_$t" ] || { echo "fuzz.sh: build of fuzz_$t failed" >&2; exit 1; }
done

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}"
run_one() {
  local t=$1 work=$B/work/$t findings=$B/findings/$t log=$B/fuzz_$t.log
  rm -rf "$work"
  mkdir -p "$work" "$findings"
  cp -r fuzz/corpus/fuzz_$t/. "$work/"
  [ -d fuzz/regressions/fuzz_$t ] && cp -r fuzz/regressions/fuzz_$t/. "$work/"
  find "$work" -name '*.md' -delete
  local start=$SECONDS rc=0
  # -close_fd_mask=1: the harnesses print nothing useful on stdout
  local fixed=()
  if [ -n "${FUZZ_RUNS:-}" ]; then fixed=(-runs="$FUZZ_RUNS" -seed="${FUZZ_SEED:-1}"); fi
  "$B/fuzz/fuzz_$t" "$work" "${fixed[@]}" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 \
    -max_len=65536 -artifact_prefix="$findings/" -print_final_stats=1 -close_fd_mask=1 >"$log" 2>&1 || rc=$?
  local stats
  stats=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  if [ $rc -ne 0 ]; then
    echo "fuzz_$t: FAILED (rc $rc) after $((SECONDS - start)) s; log $log, input(s) in $findings/:" >&2
    # the sanitizer's or libFuzzer's report, its first frames, the reproducer; not the decoders' own log lines
    grep -a -v -E '^\[ *(ERROR|WARN|INFO)[:0-9@. ]*\]' "$log" |
      grep -a -E '^==[0-9]+==|^SUMMARY|out-of-memory|timeout|deadly signal|^ +#[0-9] |Test unit written|Running:' |
      head -16 >&2
    return 1
  fi
  echo "fuzz_$t: ok, ${stats:-?} runs in $((SECONDS - start)) s"
}

status=0
if [ "$JOBS" -gt 1 ]; then
  pids=()
  for t in "${TARGETS[@]}"; do
    run_one "$t" &
    pids+=($!)
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 1; done
  done
  for p in "${pids[@]}"; do wait "$p" || status=1; done
else
  for t in "${TARGETS[@]}"; do run_one "$t" || status=1; done
fi
exit $status
