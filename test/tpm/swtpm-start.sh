#!/bin/sh
# Start a software TPM (swtpm) for interop tests, provisioned like a real one:
# an RSA EK with its certificate in NV 0x01c00002, signed by swtpm's local CA
# (/var/lib/swtpm-localca), SHA-256 PCR bank only.
#
#   usage: swtpm-start.sh STATEDIR PORT
#
# The TPM listens on 127.0.0.1:PORT (commands) and PORT+1 (platform control),
# the Microsoft simulator protocol: tpm2-tools use TCTI
# "swtpm:host=127.0.0.1,port=PORT", gateway-agent uses --tpm tcp://127.0.0.1:PORT.
# Stop it with: kill "$(cat STATEDIR/swtpm.pid)"
set -eu
dir=$1
port=$2
mkdir -p "$dir"
swtpm_setup --tpm2 --tpmstate "$dir" --create-ek-cert --create-platform-cert --overwrite >"$dir/setup.log" 2>&1 ||
	{ cat "$dir/setup.log" >&2; exit 1; }
swtpm socket --tpm2 --tpmstate dir="$dir" \
	--server type=tcp,port="$port",bindaddr=127.0.0.1 \
	--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
	--flags not-need-init,startup-clear --daemon --pid file="$dir/swtpm.pid" \
	--log file="$dir/swtpm.log"
