#!/usr/bin/env bash
# Renders the tessera-coordinator Helm chart with its default values and
# with every optional branch switched (exec probes, no NetworkPolicy, a
# LoadBalancer with source ranges, a configuration given as a value), and
# checks the manifests with deploy/helm/check_chart.py.
#
#   helm_chart_test.sh SOURCE_DIR WORK_DIR
#
# The chart is rendered by deploy/helm/render (Go's text/template with
# sprig, as Helm does), built from Debian's Go packages: golang-go,
# golang-github-masterminds-sprig-dev, golang-gopkg-yaml.v3-dev. Exits 77
# (ctest: skipped) when they or python3-yaml are missing.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 SOURCE_DIR WORK_DIR" >&2
  exit 2
fi
source=$1 work=$2
chart=$source/deploy/helm/tessera-coordinator

skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAILED: $*" >&2; exit 1; }

command -v go >/dev/null || skip "golang-go is not installed"
[ -d /usr/share/gocode/src/github.com/Masterminds/sprig ] ||
  skip "golang-github-masterminds-sprig-dev is not installed"
[ -d /usr/share/gocode/src/gopkg.in/yaml.v3 ] || skip "golang-gopkg-yaml.v3-dev is not installed"
python3 -c 'import tomllib, yaml' 2>/dev/null || skip "python3 (3.11+) with python3-yaml is needed"

mkdir -p "$work"
(cd "$source/deploy/helm/render" &&
  GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE="$work/go-cache" \
    go build -o "$work/render" .) || fail "building deploy/helm/render"

# render NAME [VALUES_FILE]: renders into $work/NAME.yaml.
render() {
  "$work/render" "$chart" "${@:2}" >"$work/$1.yaml" || fail "rendering with $1 values"
}

render default
python3 "$source/deploy/helm/check_chart.py" "$work/default.yaml" || fail "default values"

cat >"$work/switched-values.yaml" <<'VALUES'
probes:
  exec:
    command: [/usr/bin/tessera-coordinator, check, --health]
networkPolicy:
  enabled: false
service:
  type: LoadBalancer
  loadBalancerSourceRanges: [192.0.2.0/24]
config: |
  [server]
  listen = "0.0.0.0:7443"
  [tls]
  ca_file = "/etc/tessera/tls/ca.pem"
  cert_file = "/etc/tessera/tls/coordinator.pem"
  key_file = "/run/tessera/keys/coordinator.key"
  crl_file = "/var/lib/tessera-coordinator/crl.pem"
  [storage]
  dir = "/var/lib/tessera-coordinator"
  [log]
  level = "debug"
VALUES
render switched "$work/switched-values.yaml"
python3 "$source/deploy/helm/check_chart.py" "$work/switched.yaml" \
  --expect-exec-probe --expect-no-network-policy || fail "switched values"
grep -q 'level = "debug"' "$work/switched.yaml" || fail "the config value was not used"
grep -q '192.0.2.0/24' "$work/switched.yaml" || fail "loadBalancerSourceRanges was not used"

# A configuration whose paths do not match the volumes must be caught.
sed 's|^  dir = .*|  dir = "/srv/state"|' "$work/switched-values.yaml" >"$work/broken-values.yaml"
render broken "$work/broken-values.yaml"
if python3 "$source/deploy/helm/check_chart.py" "$work/broken.yaml" \
    --expect-exec-probe --expect-no-network-policy >/dev/null; then
  fail "check_chart.py accepted a storage.dir outside the volume claim"
fi

echo "PASSED"
