#!/usr/bin/env bash
# Installs every build and test dependency of Tessera from Debian 12's archive.
# Idempotent and non-interactive: packages already present are left alone.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git
  clang libclang-rt-14-dev  # the sanitizer pass and the libFuzzer targets (tests/fuzz/)
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev
  libtorch-dev
  libssl-dev openssl
  libeigen3-dev
  libsqlite3-dev sqlite3
  libgtest-dev libgmock-dev
  libbenchmark-dev
  libabsl-dev
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  python3-sklearn-lib python3-sklearn python3-torch
  chromium
  faketime libfaketime
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "install-deps: these Debian packages are missing: ${missing[*]}" >&2
    echo "install-deps: run this script as root (e.g. 'sudo $0'), or install them with" >&2
    echo "  sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
