package redistest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// convergeTimeout bounds how long StartCluster and StartSentinel wait for
// the servers to agree.
const convergeTimeout = 15 * time.Second

// Cluster is a Redis Cluster of masters without replicas, for tests.
type Cluster struct {
	Nodes []*Server
}

// Addrs are the nodes' addresses, to use as seed addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// StartCluster starts n (at least 3) redis-server nodes in cluster mode,
// shares the 16384 hash slots evenly among them, joins them and returns once
// every node reports cluster_state:ok. Nodes are stopped when the test ends.
func StartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	if n < 3 {
		tb.Fatalf("redistest: StartCluster: expected at least 3 nodes, got %d", n)
	}
	c := &Cluster{}
	for range n {
		c.Nodes = append(c.Nodes, Start(tb,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000"))
	}
	const slots = 16384
	for i, node := range c.Nodes {
		lo, hi := i*slots/n, (i+1)*slots/n-1
		if _, err := node.Do("CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi)); err != nil {
			tb.Fatalf("redistest: cluster node %s: %v", node.Addr(), err)
		}
	}
	for _, node := range c.Nodes[1:] {
		if _, err := c.Nodes[0].Do("CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(node.Port())); err != nil {
			tb.Fatalf("redistest: cluster meet %s: %v", node.Addr(), err)
		}
	}
	deadline := time.Now().Add(convergeTimeout)
	for _, node := range c.Nodes {
		for {
			info, err := node.Do("CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)+"\r\n") {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("redistest: cluster node %s not ready after %v: %v\n%s", node.Addr(), convergeTimeout, err, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return c
}

// StartSentinel starts a Redis Sentinel (redis-server --sentinel) that
// monitors master under name with a quorum of 1, so that this one Sentinel
// can fail over alone. Its timings are short for tests: the master is
// considered down after 500 ms, and a failover times out after 3 s. It
// returns once the Sentinel answers for name. Add a replica with
// Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.Port())).
func StartSentinel(tb testing.TB, master *Server, name string) *Server {
	tb.Helper()
	bin := lookPath(tb)
	dir := tb.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	content := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d 1\n"+
		"sentinel down-after-milliseconds %[1]s 500\n"+
		"sentinel failover-timeout %[1]s 3000\n"+
		"sentinel parallel-syncs %[1]s 1\n", name, master.Port())
	if err := os.WriteFile(conf, []byte(content), 0o600); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	s := start(tb, &Server{tb: tb, bin: bin, dir: dir, sentinel: conf})
	deadline := time.Now().Add(convergeTimeout)
	for {
		addr, err := s.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
		if err == nil && addr == "127.0.0.1\n"+strconv.Itoa(master.Port()) {
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: sentinel %s does not report master %q at %s after %v: %q, %v",
				s.Addr(), name, master.Addr(), convergeTimeout, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
