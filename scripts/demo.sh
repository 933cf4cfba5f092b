#!/usr/bin/env bash
# The README's demo command: installs what is needed (Debian packages),
# builds the three executables, and runs a demo federation on 127.0.0.1:
# a throwaway PKI, one tessera-coordinator and five tessera-agent processes
# (one per NHS trust, each with a small synthetic cohort), which connect over
# mutual TLS 1.3 and report in.
#
# Everything the demo writes goes to demo-run/ (git-ignored); every process
# it starts is stopped on exit, also on Ctrl-C or failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${TESSERA_JOBS:-$(nproc)}

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs" --target tessera-coordinator tessera-agent tessera

bin=$root/build
run=$root/demo-run
rm -rf "$run"
mkdir -p "$run"
sites=(rfh guys leeds nuth ouh)

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # Demo keys are throwaway, but keys never outlive the run that made them.
  rm -rf "$run/pki"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> creating a throwaway federation PKI in $run/pki"
scripts/local-pki.sh "$root/build" "$run/pki" "${sites[@]}"

cat > "$run/coordinator.toml" <<TOML
[server]
listen = "127.0.0.1:0"
[tls]
ca_file = "$run/pki/ca.pem"
cert_file = "$run/pki/coordinator.pem"
key_file = "$run/pki/coordinator.key"
crl_file = "$run/pki/crl.pem"
[storage]
dir = "$run/coordinator-state"
TOML

echo "==> starting tessera-coordinator"
"$bin/coordinator/tessera-coordinator" serve --config "$run/coordinator.toml" \
  --port-file "$run/coordinator.port" 2>"$run/coordinator.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$run/coordinator.port" ] && break; sleep 0.1; done
[ -s "$run/coordinator.port" ] || { echo "coordinator did not start:"; cat "$run/coordinator.log"; exit 1; }
address="127.0.0.1:$(cat "$run/coordinator.port")"
echo "    listening on $address (TLS 1.3 only, client certificates required)"

size=0
for site in "${sites[@]}"; do
  # A small synthetic cohort per trust, of a different size each (not patient data).
  size=$((size + 170))
  awk -v n="$size" -v seed="${#site}$size" 'BEGIN {
    srand(seed); print "age,sex,hba1c,outcome"
    for (i = 0; i < n; i++) printf "%d,%s,%.1f,%d\n", 30 + int(rand() * 55),
      (rand() < 0.5 ? "female" : "male"), 4.5 + rand() * 6, (rand() < 0.2) }' > "$run/cohort-$site.csv"
  cat > "$run/agent-$site.toml" <<TOML
[coordinator]
address = "$address"
heartbeat_seconds = 1
[tls]
ca_file = "$run/pki/ca.pem"
cert_file = "$run/pki/site-$site.pem"
key_file = "$run/pki/site-$site.key"
[state]
dir = "$run/state-$site"
[datasets.cohort]
kind = "csv"
path = "$run/cohort-$site.csv"
TOML
  mkdir -p -m 0700 "$run/state-$site"
  "$bin/agent/tessera-agent" run --config "$run/agent-$site.toml" 2>"$run/agent-$site.log" &
  pids+=($!)
done
echo "==> started ${#sites[@]} tessera-agent processes: ${sites[*]}"

export TESSERA_COORDINATOR=$address TESSERA_CA=$run/pki/ca.pem \
  TESSERA_CERT=$run/pki/person-operator.pem TESSERA_KEY=$run/pki/person-operator.key
connected=0
for _ in $(seq 150); do
  connected=$("$bin/coordinator/cli/tessera" sites list --json 2>/dev/null |
    python3 -c 'import json,sys; print(sum(s["connected"] for s in json.load(sys.stdin)["sites"]))' 2>/dev/null || echo 0)
  [ "$connected" -ge "${#sites[@]}" ] && break
  sleep 0.2
done
echo "==> tessera status (as the demo operator)"
"$bin/coordinator/cli/tessera" status
echo "==> tessera sites list"
"$bin/coordinator/cli/tessera" sites list
if [ "$connected" -lt "${#sites[@]}" ]; then
  echo "demo: only $connected of ${#sites[@]} agents connected; logs are in $run" >&2
  exit 1
fi
echo "==> all ${#sites[@]} trusts connected; stopping the federation (logs in $run)"
