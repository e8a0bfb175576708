package config

import "testing"

func TestLoadForwardAuth(t *testing.T) {
	trusted := "trusted_proxies: [10.0.0.0/24]\n"
	tests := []loadTest{
		{name: "off by default", yaml: minimal},
		{name: "enabled with trusted proxies",
			yaml: minimal + trusted + "forward_auth: {enabled: true}\n"},
		{name: "enabled with a gRPC listener",
			yaml: minimal + trusted + "forward_auth: {enabled: true, grpc_address: \"127.0.0.1:9191\"}\n"},
		{name: "enabled without trusted proxies",
			yaml: minimal + "forward_auth: {enabled: true}\n",
			want: []string{"forward_auth.enabled: requires trusted_proxies: the addresses of the ingress or mesh proxies that ask for decisions (no one else is answered)"}},
		{name: "gRPC listener without enabled",
			yaml: minimal + trusted + "forward_auth: {grpc_address: \"127.0.0.1:9191\"}\n",
			want: []string{"forward_auth.grpc_address: set, but forward_auth.enabled is false: set enabled: true or remove it"}},
		{name: "gRPC address without port",
			yaml: minimal + trusted + "forward_auth: {enabled: true, grpc_address: \"127.0.0.1\"}\n",
			want: []string{`forward_auth.grpc_address: expected host:port, got "127.0.0.1"`}},
		{name: "gRPC address on the public listener",
			yaml: minimal + trusted + "forward_auth: {enabled: true, grpc_address: \":8080\"}\n",
			want: []string{`forward_auth.grpc_address: must differ from listen.address and admin.address, got ":8080"`}},
		// gateway dev keeps every listener on loopback, the plain-gRPC
		// decision service too.
		{name: "dev: gRPC listener on every interface",
			yaml: minimal + trusted + "forward_auth: {enabled: true, grpc_address: \"0.0.0.0:9191\"}\n", dev: true,
			want: []string{`forward_auth.grpc_address: gateway dev listens on loopback only (127.0.0.1, ::1, localhost), got "0.0.0.0:9191"`}},
		{name: "dev: gRPC listener on loopback",
			yaml: minimal + trusted + "forward_auth: {enabled: true, grpc_address: \"[::1]:9191\"}\n", dev: true},
		{name: "unknown key",
			yaml: minimal + trusted + "forward_auth: {enabled: true, grpc: x}\n",
			want: []string{`forward_auth.grpc: unknown key`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// In gateway dev a gRPC address without a host means loopback, as the
// listen and admin addresses do, not every interface.
func TestDevGRPCAddressWithoutHostIsLoopback(t *testing.T) {
	c, err := Load([]byte(minimal+"trusted_proxies: [10.0.0.0/24]\nforward_auth: {enabled: true, grpc_address: \":9191\"}\n"), Options{Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ForwardAuth.GRPCAddress; got != "127.0.0.1:9191" {
		t.Errorf("forward_auth.grpc_address in dev: expected 127.0.0.1:9191, got %q", got)
	}
}
