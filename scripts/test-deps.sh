#!/usr/bin/env bash
# Installs what the tests need when it is missing: redis-server (session store
# tests), chromium (browser tests), swtpm + swtpm-tools + tpm2-tools (device
# attestation interop), libssl-dev and gcc (the TPM simulator is cgo and links
# OpenSSL), nginx and caddy (forward-auth mode behind real ingresses),
# prometheus (its promtool checks the alerting rules in deploy/monitoring).
# helm comes from the Go module proxy (go install) into the user's cache
# directory, where the Helm chart's test looks for it (the test installs it
# itself when this script did not run).
# As root it uses apt-get; otherwise it says what to install.
set -euo pipefail

# HELM_VERSION must equal HelmVersion in test/ops/helm_test.go (a test checks).
HELM_VERSION=v3.22.0
helm_dir="${XDG_CACHE_HOME:-$HOME/.cache}/accessgateway-tools/helm-$HELM_VERSION"
if ! command -v helm >/dev/null && [ ! -x "$helm_dir/helm" ] && command -v go >/dev/null; then
  echo "installing helm $HELM_VERSION into $helm_dir (go install)"
  GOBIN="$helm_dir" GOFLAGS=-buildvcs=false go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" ||
    echo "could not install helm; the Helm chart's test will try again or skip" >&2
fi

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v chromium >/dev/null || need+=(chromium)
command -v swtpm >/dev/null || need+=(swtpm)
command -v swtpm_setup >/dev/null || need+=(swtpm-tools)
command -v tpm2_quote >/dev/null || need+=(tpm2-tools)
command -v gcc >/dev/null || need+=(gcc)
[ -e /usr/include/openssl/evp.h ] || need+=(libssl-dev)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v caddy >/dev/null || need+=(caddy)
command -v promtool >/dev/null || need+=(prometheus)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "missing test dependencies: ${need[*]}" >&2
  echo "install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing test dependencies: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
