#!/usr/bin/env bash
# The round-overhead grid of tessera_loadgen: n = 10, 50, 100, 200, 300 sites
# x d = 10^5, 10^6 parameters, one run at a time under `nice -n 10` (the
# machine is shared), each run's JSON and log in OUT_DIR; then the table and
# benchmarks/round/round_scale.svg (plot_round_scale.py).
#
#   benchmarks/round/run_grid.sh [BUILD_DIR [OUT_DIR]]
#
# BUILD_DIR defaults to build-bench (configured with -DTESSERA_BUILD_BENCHMARKS=ON),
# OUT_DIR to /tmp/tessera-round-grid. Environment: SITES, DIMS and ROUNDS
# override the grid (ROUNDS=4: three whole rounds are measured), EXTRA adds
# tessera_loadgen options to every run, TIMEOUT bounds each run in seconds.
# A run that fails is reported and the grid goes on.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build-bench}
out=${2:-/tmp/tessera-round-grid}
sites=${SITES:-10 50 100 200 300}
dims=${DIMS:-100000 1000000}
rounds=${ROUNDS:-4}
timeout_s=${TIMEOUT:-3600}
loadgen=$build/benchmarks/round/tessera_loadgen

if [ ! -x "$loadgen" ]; then
  echo "no $loadgen; build it with: cmake --build $build --target tessera_loadgen" >&2
  exit 2
fi
mkdir -p "$out"
failed=()
for d in $dims; do
  for n in $sites; do
    name=n$n-d$d
    echo "$(date +%T) $name ..." >&2
    # shellcheck disable=SC2086
    if nice -n 10 timeout "$((timeout_s + 60))" "$loadgen" --sites "$n" --dim "$d" \
        --rounds "$rounds" --timeout "$timeout_s" --json ${EXTRA:-} \
        >"$out/$name.json" 2>"$out/$name.log"; then
      echo "$(date +%T) $name done" >&2
    else
      echo "$(date +%T) $name FAILED (exit $?); see $out/$name.log" >&2
      failed+=("$name")
    fi
  done
done
results=()
for file in "$out"/n*-d*.json; do
  [ -s "$file" ] && results+=("$file")
done
if [ ${#results[@]} -gt 0 ]; then
  python3 "$here/plot_round_scale.py" "${results[@]}" --svg "$here/round_scale.svg" \
    | tee "$out/table.md"
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
