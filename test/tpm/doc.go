// Package tpm holds interop tests of device trust against a software TPM
// (swtpm) and the TCG reference tools (tpm2-tools): a quote made by
// tpm2_quote is checked by the gateway's verifier, swtpm's EK certificate
// chains to its CA through the gateway's EK certificate handling, and the
// gateway agent enrolls and attests over swtpm's TCP interface.
//
// The tests skip, saying why, when swtpm or tpm2-tools are not installed
// (Debian: apt-get install swtpm swtpm-tools tpm2-tools). The scripts next to
// them start swtpm and make the tpm2-tools quote; they work by hand too.
package tpm
