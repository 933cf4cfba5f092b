#!/usr/bin/env bash
# Runs Tessera's libFuzzer targets (tests/fuzz/) for a while each and
# prints what they found.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]
#   scripts/fuzz.sh 600                       # every target, 10 minutes each
#   scripts/fuzz.sh 60 csv_reader_fuzz pki_fuzz
#
# Builds the fuzz build (clang, sanitizers, TESSERA_FUZZ=ON) in
# ${TESSERA_FUZZ_BUILD:-build-fuzz} when needed. Each target fuzzes a
# working corpus in fuzz-work/<target>/corpus (git-ignored), seeded from the
# committed tests/fuzz/corpus/<target>/ and kept between runs; crashes,
# leaks, timeouts and out-of-memory inputs go to fuzz-work/<target>/artifacts/
# and the log to fuzz-work/<target>/last.log. Reproduce a finding with
#   build-fuzz/tests/fuzz/<target> fuzz-work/<target>/artifacts/crash-...
# Exit code 1 when any target left a new artefact.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
build=${TESSERA_FUZZ_BUILD:-build-fuzz}
all=(csv_reader_fuzz config_fuzz pki_fuzz secagg_client_fuzz secagg_server_fuzz
     coordinator_services_fuzz)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DTESSERA_WERROR=ON -DTESSERA_SANITIZE=ON \
    -DTESSERA_FUZZ=ON -DTESSERA_WITH_TORCH=OFF -DTESSERA_BUILD_BENCHMARKS=OFF \
    -DCMAKE_BUILD_TYPE=Debug
fi
nice cmake --build "$build" -j "${TESSERA_JOBS:-$(nproc)}" --target "${targets[@]}"

summary=()
found=0
for target in "${targets[@]}"; do
  work=fuzz-work/$target
  mkdir -p "$work/corpus" "$work/artifacts"
  before=$(find "$work/artifacts" -type f | wc -l)
  dict=()
  [ -f "tests/fuzz/$target.dict" ] && dict=("-dict=tests/fuzz/$target.dict")
  echo "==> $target for ${seconds} s"
  status=0
  nice "$build/tests/fuzz/$target" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2560 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "${dict[@]}" \
    "$work/corpus" "tests/fuzz/corpus/$target" >"$work/last.log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/last.log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$work/last.log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$work/last.log" | tail -1 | cut -d' ' -f2)
  new=$(( $(find "$work/artifacts" -type f | wc -l) - before ))
  if [ "$new" -gt 0 ] || [ "$status" -ne 0 ]; then
    found=1
    echo "    finding (exit $status); see $work/last.log and $work/artifacts/"
  fi
  summary+=("$(printf '%-28s %12s %8s %8s %8s' "$target" "${runs:-?}" "${cov:-?}" "${ft:-?}" "$new")")
done

printf '\n%-28s %12s %8s %8s %8s\n' target runs cov features crashes
printf '%s\n' "${summary[@]}"
exit $found
