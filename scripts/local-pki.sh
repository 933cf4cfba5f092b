#!/usr/bin/env bash
# Creates a throwaway federation PKI for the demo and the end-to-end tests
# with Tessera's own tools, following the same steps as a real federation:
#   tessera pki init                  the operator's CA (DIR holds it)
#   tessera pki issue                 the coordinator (127.0.0.1, localhost) and
#                                     one person per role (operator, ml-lead,
#                                     governance, auditor), named demo-ROLE
#   tessera-agent enroll              each site makes its own key and CSR
#   tessera pki sign --site           the operator signs each CSR
#   tessera-agent install-cert        each site checks and installs its certificate
#
#   scripts/local-pki.sh BUILD_DIR DIR SITE_ID [SITE_ID ...]
#
# Files in DIR: ca.pem, coordinator.{pem,key}, person-ROLE.{pem,key},
# site-SITE.{pem,key}, and the CA's own ca.key, issued.json and crl.pem.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 BUILD_DIR DIR SITE_ID [SITE_ID ...]" >&2
  exit 2
fi
build=$1 dir=$2
shift 2
days=${TESSERA_PKI_DAYS:-90}
tessera=$build/coordinator/cli/tessera
agent=$build/agent/tessera-agent

"$tessera" pki init --ca-dir "$dir" --name "Tessera demo federation" --days "$days" >/dev/null
"$tessera" pki issue --ca-dir "$dir" --role coordinator --name coordinator \
  --ip 127.0.0.1 --dns localhost --days "$days" \
  --out "$dir/coordinator.pem" --out-key "$dir/coordinator.key" >/dev/null
for role in operator ml-lead governance auditor; do
  "$tessera" pki issue --ca-dir "$dir" --role "$role" --name "demo-$role" --days "$days" \
    --out "$dir/person-$role.pem" --out-key "$dir/person-$role.key" >/dev/null
done
for site in "$@"; do
  "$agent" enroll --key "$dir/site-$site.key" --site "$site" --csr "$dir/site-$site.csr" >/dev/null
  "$tessera" pki sign --ca-dir "$dir" --csr "$dir/site-$site.csr" --site "$site" --days "$days" \
    --out "$dir/site-$site.signed.pem" >/dev/null
  "$agent" install-cert --ca "$dir/ca.pem" --key "$dir/site-$site.key" \
    --cert "$dir/site-$site.signed.pem" --cert-out "$dir/site-$site.pem" >/dev/null
  rm -f "$dir/site-$site.csr" "$dir/site-$site.signed.pem"
done
echo "local-pki: CA, coordinator, $# site and 4 person certificates in $dir"
