#!/usr/bin/env bash
# Builds the three Debian packages from a build tree, installs them on this
# machine, checks what they installed (files, owners, modes, users), runs
# the programs, enrols a site with the installed tools, reinstalls (the
# upgrade path), purges them and checks that no secret is left behind. A
# second round checks that /etc/tessera/keep-state-on-purge keeps the state.
#
#   package_install_test.sh BUILD_DIR SOURCE_DIR VERSION
#
# Needs root, dpkg and apt (CI runs as root on Debian 12); exits 77 (ctest:
# skipped) without them, or when a Tessera package is already installed
# (the test would remove it). Leaves the machine as it found it, also when
# a check fails.
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 BUILD_DIR SOURCE_DIR VERSION" >&2
  exit 2
fi
build=$1 source=$2 version=$3
packages=(tessera-agent tessera-coordinator tessera)

skip() { echo "SKIPPED: $*"; exit 77; }
# pkg_known PACKAGE: dpkg has it in any state but "not installed" (also
# "config-files", what a remove without purge leaves).
pkg_known() {
  local status
  status=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) || return 1
  [ -n "$status" ] && [ "$status" != not-installed ]
}
fail() { echo "FAILED: $*" >&2; exit 1; }
step() { echo "--- $*"; }

[ "$(id -u)" -eq 0 ] || skip "installing packages needs root (CI runs this test as root)"
for tool in dpkg dpkg-deb dpkg-shlibdeps apt-get cpack; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
for pkg in "${packages[@]}"; do
  if pkg_known "$pkg"; then
    skip "$pkg is installed on this machine; this test would remove it"
  fi
done
# Leftovers without a package: a purge with keep-state-on-purge, or an
# earlier run that was killed. Refuse rather than delete someone's state.
for path in /etc/tessera /var/lib/tessera /var/lib/tessera-coordinator; do
  [ ! -e "$path" ] || fail "$path exists; remove it (after checking it holds nothing you need) and run again"
done
for user in tessera-agent tessera-coordinator; do
  ! getent passwd "$user" >/dev/null || fail "user $user exists; remove it with 'deluser --system $user' and run again"
  ! getent group "$user" >/dev/null || fail "group $user exists; remove it with 'delgroup --system $user' and run again"
done
for exe in agent/tessera-agent coordinator/tessera-coordinator coordinator/cli/tessera; do
  [ -x "$build/$exe" ] || fail "$build/$exe is not built; build the tree first"
done

work=$(mktemp -d /tmp/tessera-deploy-test.XXXXXX)
# Put everything back as it was, whatever happened.
cleanup() {
  local status=$?
  set +e
  for pkg in "${packages[@]}"; do
    if pkg_known "$pkg"; then
      rm -f /etc/tessera/keep-state-on-purge
      DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$pkg" >/dev/null 2>&1 || dpkg --purge "$pkg" >/dev/null 2>&1
    fi
  done
  rm -rf /etc/tessera /var/lib/tessera /var/lib/tessera-coordinator "$work"
  for user in tessera-agent tessera-coordinator; do
    getent passwd "$user" >/dev/null && userdel "$user"
    getent group "$user" >/dev/null && groupdel "$user"
  done
  exit $status
}
trap cleanup EXIT

# expect_stat PATH OWNER GROUP MODE
expect_stat() {
  local actual
  actual=$(stat -c '%U %G %a' "$1") || fail "$1 does not exist"
  [ "$actual" = "$2 $3 $4" ] || fail "$1 is '$actual', expected '$2 $3 $4'"
}
# expect_field PACKAGE_FILE FIELD REGEX
expect_field() {
  local value
  value=$(dpkg-deb -f "$1" "$2")
  [[ "$value" =~ $3 ]] || fail "$(basename "$1"): $2 is '$value', expected to match '$3'"
}
# expect_no_private_key PATH...: no file under PATH holds a private key.
expect_no_private_key() {
  local found
  found=$(grep -rl -e 'PRIVATE KEY' "$@" 2>/dev/null || true)
  [ -z "$found" ] || fail "private key material left behind in: $found"
}
install_packages() {
  dpkg -i "$@" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i $*"; }
}
purge_packages() {
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$@" >"$work/purge.log" 2>&1 ||
    { cat "$work/purge.log" >&2; fail "apt-get purge $*"; }
}

step "cpack -G DEB"
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/packages" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log" >&2; fail "cpack"; }
agent_deb=$(ls "$work"/packages/tessera-agent_"$version"_*.deb)
coordinator_deb=$(ls "$work"/packages/tessera-coordinator_"$version"_*.deb)
cli_deb=$(ls "$work"/packages/tessera_"$version"_*.deb)

step "package metadata"
# Runtime dependencies come from dpkg-shlibdeps: the Debian 12 library
# packages each program links, and nothing it does not.
expect_field "$agent_deb" Depends 'libtorch1\.13'
expect_field "$agent_deb" Depends 'libgrpc\+\+1\.51'
expect_field "$agent_deb" Depends '(^|, )adduser($|,)'
expect_field "$coordinator_deb" Depends 'libsqlite3-0'
expect_field "$coordinator_deb" Depends '(^|, )adduser($|,)'
# The coordinator never runs a model; the command-line tool does (it builds
# the model of `tessera job submit` and writes `tessera model export`).
! dpkg-deb -f "$coordinator_deb" Depends | grep -q libtorch ||
  fail "$(basename "$coordinator_deb") depends on libtorch"
expect_field "$cli_deb" Depends 'libtorch1\.13'
dpkg-deb -e "$agent_deb" "$work/agent-control"
dpkg-deb -e "$coordinator_deb" "$work/coordinator-control"
[ "$(cat "$work/agent-control/conffiles")" = /etc/tessera/agent.toml ] ||
  fail "agent conffiles: $(cat "$work/agent-control/conffiles")"
[ "$(cat "$work/coordinator-control/conffiles")" = /etc/tessera/coordinator.toml ] ||
  fail "coordinator conffiles: $(cat "$work/coordinator-control/conffiles")"
for script in postinst prerm postrm; do
  sh -n "$work/agent-control/$script" || fail "agent $script does not parse"
  sh -n "$work/coordinator-control/$script" || fail "coordinator $script does not parse"
done

step "dpkg -i"
install_packages "$agent_deb" "$coordinator_deb" "$cli_deb"
for exe in tessera-agent tessera-coordinator tessera; do
  expect_stat "/usr/bin/$exe" root root 755
  out=$("/usr/bin/$exe" --version)
  [ "$out" = "$exe $version" ] || fail "$exe --version printed '$out', expected '$exe $version'"
done
expect_stat /etc/tessera/agent.toml root root 644
expect_stat /etc/tessera/coordinator.toml root root 644
cmp /etc/tessera/agent.toml "$source/deploy/config/agent.toml"
cmp /etc/tessera/coordinator.toml "$source/deploy/config/coordinator.toml"
expect_stat /lib/systemd/system/tessera-agent.service root root 644
expect_stat /lib/systemd/system/tessera-coordinator.service root root 644
expect_stat /var/lib/tessera tessera-agent tessera-agent 700
expect_stat /var/lib/tessera-coordinator tessera-coordinator tessera-coordinator 700
for user in tessera-agent tessera-coordinator; do
  IFS=: read -r _ _ uid _ _ home shell < <(getent passwd "$user")
  [ "$shell" = /usr/sbin/nologin ] || fail "$user has login shell $shell"
  [ "$uid" -lt 1000 ] || fail "$user is not a system user (uid $uid)"
  case $user in
    tessera-agent) [ "$home" = /var/lib/tessera ] || fail "$user home is $home" ;;
    tessera-coordinator) [ "$home" = /var/lib/tessera-coordinator ] || fail "$user home is $home" ;;
  esac
done
[ -f /usr/share/doc/tessera-agent/copyright ] || fail "no copyright file"

step "programs read the shipped configurations"
# With no certificates installed yet, both fail on the first missing file,
# never on a configuration key (those messages name agent.toml:LINE).
if out=$(timeout 30 tessera-coordinator serve --config /etc/tessera/coordinator.toml 2>&1); then
  fail "coordinator started without certificates"
fi
[[ "$out" == *"/etc/tessera/ca.pem"* ]] || fail "coordinator: unexpected error: $out"
[[ "$out" != *"coordinator.toml:"* ]] || fail "coordinator rejected its shipped config: $out"
if out=$(timeout 30 tessera-agent run --config /etc/tessera/agent.toml 2>&1); then
  fail "agent started without certificates"
fi
[[ "$out" == *"/etc/tessera/"* ]] || fail "agent: unexpected error: $out"
[[ "$out" != *"agent.toml:"* ]] || fail "agent rejected its shipped config: $out"

step "enrol a site and install a coordinator key with the installed tools"
tessera pki init --ca-dir "$work/ca" --name "deploy test federation" >/dev/null
tessera-agent enroll --config /etc/tessera/agent.toml --site deploy-test --csr "$work/site.csr" >/dev/null
expect_stat /var/lib/tessera/site.key root root 600
tessera pki sign --ca-dir "$work/ca" --csr "$work/site.csr" --site deploy-test --out "$work/site.pem" >/dev/null
cp "$work/ca/ca.pem" /etc/tessera/ca.pem
tessera-agent install-cert --config /etc/tessera/agent.toml --cert "$work/site.pem" >/dev/null
[ -f /etc/tessera/site.pem ] || fail "install-cert did not write /etc/tessera/site.pem"
tessera pki issue --ca-dir "$work/ca" --role coordinator --name coordinator --dns localhost \
  --out /etc/tessera/coordinator.pem --out-key /etc/tessera/coordinator.key >/dev/null
expect_stat /etc/tessera/coordinator.key root root 600
# Records a trust keeps next to the agent's state, and a database the
# coordinator would have written.
mkdir -p /var/lib/tessera/data
echo "age,outcome" >/var/lib/tessera/data/records.csv
echo "state" >/var/lib/tessera-coordinator/coordinator.db

step "reinstall (upgrade path): state, keys and a changed configuration stay"
echo "# changed by trust IT" >>/etc/tessera/agent.toml
install_packages "$agent_deb" "$coordinator_deb" "$cli_deb"
tail -n 1 /etc/tessera/agent.toml | grep -q "changed by trust IT" || fail "reinstall overwrote agent.toml"
expect_stat /var/lib/tessera tessera-agent tessera-agent 700
expect_stat /var/lib/tessera/site.key root root 600
[ -f /var/lib/tessera-coordinator/coordinator.db ] || fail "reinstall lost coordinator.db"
[ -f /etc/tessera/coordinator.key ] || fail "reinstall lost coordinator.key"

step "apt-get purge"
purge_packages "${packages[@]}"
for pkg in "${packages[@]}"; do
  ! pkg_known "$pkg" || fail "$pkg is still known to dpkg after purge"
done
for path in /usr/bin/tessera-agent /usr/bin/tessera-coordinator /usr/bin/tessera \
  /lib/systemd/system/tessera-agent.service /lib/systemd/system/tessera-coordinator.service \
  /etc/tessera/agent.toml /etc/tessera/coordinator.toml /etc/tessera/coordinator.key \
  /var/lib/tessera/site.key /var/lib/tessera-coordinator; do
  [ ! -e "$path" ] || fail "$path is still there after purge"
done
! getent passwd tessera-coordinator >/dev/null || fail "user tessera-coordinator is still there after purge"
! getent group tessera-coordinator >/dev/null || fail "group tessera-coordinator is still there after purge"
# The trust's records are kept, with the user that owns them; nothing else
# of the agent's state is.
[ "$(ls -A /var/lib/tessera)" = data ] || fail "purge left $(ls -A /var/lib/tessera) in /var/lib/tessera"
[ -f /var/lib/tessera/data/records.csv ] || fail "purge deleted the trust's records"
getent passwd tessera-agent >/dev/null || fail "purge deleted the user that owns the kept records"
# Certificates placed by hand are public and stay; no private key does.
expect_no_private_key /etc/tessera /var/lib/tessera
rm -rf /etc/tessera /var/lib/tessera
userdel tessera-agent
! getent group tessera-agent >/dev/null || groupdel tessera-agent

step "purge without records in the state directory deletes the user too"
install_packages "$agent_deb"
tessera-agent enroll --key /var/lib/tessera/site.key --site deploy-test --csr "$work/site1.csr" >/dev/null
purge_packages tessera-agent
[ ! -e /var/lib/tessera ] || fail "purge left /var/lib/tessera"
! getent passwd tessera-agent >/dev/null || fail "user tessera-agent is still there after purge"
! getent group tessera-agent >/dev/null || fail "group tessera-agent is still there after purge"

step "purge with /etc/tessera/keep-state-on-purge keeps the key, the state and the user"
install_packages "$agent_deb"
tessera-agent enroll --key /var/lib/tessera/site.key --site deploy-test --csr "$work/site2.csr" >/dev/null
touch /etc/tessera/keep-state-on-purge
purge_packages tessera-agent
[ -f /var/lib/tessera/site.key ] || fail "keep-state-on-purge: the site key was deleted"
getent passwd tessera-agent >/dev/null || fail "keep-state-on-purge: the user was deleted"
expect_stat /var/lib/tessera tessera-agent tessera-agent 700
[ ! -e /etc/tessera/agent.toml ] || fail "purge left agent.toml"

echo "PASSED"
