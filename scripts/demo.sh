#!/usr/bin/env bash
# The README's demo command: installs what is needed (Debian packages),
# builds the three executables, and runs a federated training job across
# five synthetic NHS trusts on 127.0.0.1 with `tessera simulate`:
#
#   1. `tessera synthetic-cohorts` writes one CSV per trust (different sizes
#      and case mixes; the outcome `admitted` drawn from a known risk model,
#      see docs/ml-lead-guide.md). Not patient data.
#   2. `tessera simulate` makes a throwaway PKI, starts one tessera-coordinator
#      and five tessera-agent processes, submits the job as the ML lead,
#      approves it as governance, and follows it round by round: record-level
#      differential privacy (epsilon 3 per trust) and secure aggregation. It
#      then trains the same model centralised on the pooled records and at
#      each trust alone, compares all of them on every trust's hold-out
#      records, shows each trust's epsilon from its own ledger, and writes a
#      report folder with the governance board's report of the job
#      (governance-report.html, open it in a browser).
#
# Everything the demo writes goes to demo-run/ (git-ignored); the processes
# and their keys are gone when it ends, also on Ctrl-C or failure.
# TESSERA_DEMO_ROUNDS (default 6) and TESSERA_JOBS (build parallelism)
# change the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${TESSERA_JOBS:-$(nproc)}
rounds=${TESSERA_DEMO_ROUNDS:-6}

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs" --target tessera-coordinator tessera-agent tessera

tessera=$root/build/coordinator/cli/tessera
run=$root/demo-run
rm -rf "$run"
mkdir -p "$run"
started=$(date +%s)

echo "==> synthetic cohorts for five trusts"
"$tessera" synthetic-cohorts --out "$run/cohorts" --seed 7 --scale 2

echo
echo "==> tessera simulate: a federated job across the five trusts"
data=()
for site in guys rfh leeds nuth ouh; do data+=(--data "$run/cohorts/$site.csv"); done
# DP-SGD clips each record's gradient; a clip norm of 4 keeps the rare
# positives' gradients from being cut to the same size as everyone else's.
"$tessera" simulate "${data[@]}" --label admitted --model logistic \
  --rounds "$rounds" --local-epochs 1 --learning-rate 0.1 --batch-size 32 \
  --privacy record --epsilon 3 --delta 1e-5 --clip-norm 4 \
  --compare --seed 7 --report "$run/report"

echo
echo "==> done in $(($(date +%s) - started)) s; the report is in $run/report"
echo "    the governance board's report: $run/report/governance-report.html"
