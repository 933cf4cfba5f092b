#!/usr/bin/env bash
# Creates a throwaway federation PKI for the demo and the end-to-end tests:
# a CA, a coordinator certificate for 127.0.0.1/localhost, one certificate per
# site id given, and one per person role (operator, ml-lead, governance,
# auditor). Keys are ECDSA P-256, written with mode 0600.
#
#   scripts/dev-pki.sh DIR SITE_ID [SITE_ID ...]
#
# For a real federation use `tessera pki` (see docs/operator-guide.md): there
# each site's private key is made inside the trust and never leaves it.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 DIR SITE_ID [SITE_ID ...]" >&2
  exit 2
fi
dir=$1
shift
mkdir -p "$dir"
umask 077

days=30
subj_prefix="/O=Tessera demo federation"

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

issue() {  # name ou cn extfile
  local name=$1 ou=$2 cn=$3 ext=$4
  new_key "$dir/$name.key"
  openssl req -new -key "$dir/$name.key" -subj "$subj_prefix/OU=$ou/CN=$cn" -out "$dir/$name.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days "$days" -sha256 -extfile "$ext" -out "$dir/$name.pem" 2>/dev/null
  rm -f "$dir/$name.csr"
  chmod 644 "$dir/$name.pem"
}

new_key "$dir/ca.key"
openssl req -x509 -new -key "$dir/ca.key" -sha256 -days "$days" \
  -subj "$subj_prefix/CN=Tessera demo CA" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$dir/ca.pem" 2>/dev/null
chmod 644 "$dir/ca.pem"

server_ext=$(mktemp)
client_ext=$(mktemp)
trap 'rm -f "$server_ext" "$client_ext"' EXIT
cat > "$server_ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EXT
cat > "$client_ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
EXT

issue coordinator coordinator coordinator "$server_ext"
for site in "$@"; do
  issue "site-$site" site "$site" "$client_ext"
done
for role in operator ml-lead governance auditor; do
  issue "person-$role" "$role" "demo-$role" "$client_ext"
done
rm -f "$dir/ca.srl"
echo "dev-pki: wrote CA, coordinator, $# site and 4 person certificates to $dir"
