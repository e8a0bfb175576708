// Package agent is the device side of device trust: it talks to the TPM
// (through go-tpm transports: the kernel resource manager /dev/tpmrm0,
// swtpm over TCP, or the in-process Microsoft reference simulator) and to
// the gateway's device API. cmd/gateway-agent is a thin front end to it.
//
// Keys: the EK is the TCG default RSA-2048 EK (ECC P-256 if the TPM cannot
// make an RSA one); the AK is a primary ECC P-256 restricted signing key in
// the endorsement hierarchy, re-derived from the same seed and template on
// every run (nothing to store; quotes carry unobfuscated reset counters);
// the certificate key is a primary ECC P-256 signing key in the owner
// hierarchy, likewise re-derivable, certified by the AK with TPM2_Certify.
//
// This package imports the simulator and therefore needs cgo; the gateway
// (package device) does not import it.
package agent
