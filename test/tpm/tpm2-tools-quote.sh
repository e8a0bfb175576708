#!/bin/sh
# Make an AK and a quote with tpm2-tools against a running swtpm, as a
# third-party agent would, for the gateway's verifier to check.
#
#   usage: tpm2-tools-quote.sh WORKDIR PORT NONCEHEX
#
# Writes to WORKDIR: ak.pub (TPM2B_PUBLIC), ak.name, ekcert.der (EK
# certificate from NV), quote.msg (TPMS_ATTEST), quote.sig (TPMT_SIGNATURE),
# quote.pcrs (SHA-256 values of PCRs 0 and 7, concatenated).
set -eu
cd "$1"
export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$2"
flush() { tpm2_flushcontext -t; tpm2_flushcontext -s; tpm2_flushcontext -l; }
tpm2_createek -c ek.ctx -G rsa -u ek.pub
# The AK lives under the EK (endorsement hierarchy): unobfuscated clock info.
tpm2_createak -C ek.ctx -c ak.ctx -G ecc -g sha256 -s ecdsa -u ak.pub -n ak.name -r ak.priv
flush
tpm2_nvread 0x1c00002 -C o -o ekcert.der
tpm2_quote -c ak.ctx -l sha256:0,7 -q "$3" -m quote.msg -s quote.sig -o quote.pcrs -F values -g sha256
flush
