package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// cpuSplit is how the fixed-rate pass shares the machine's CPUs: the proxy
// under test gets the upper half to itself, everything else (the harness and
// its load generator, the upstream, Redis, the idle proxies) the lower half.
// On a small machine the proxy otherwise competes with the load generator
// and the upstream for the same cores, and the latency tail measures the
// kernel's time slices between them instead of the proxy's own delay.
type cpuSplit struct {
	all, load, proxy unix.CPUSet
}

// newCPUSplit returns the split of the CPUs this process may use, or false
// when there are fewer than two.
func newCPUSplit() (cpuSplit, bool) {
	var s cpuSplit
	if err := unix.SchedGetaffinity(0, &s.all); err != nil {
		return s, false
	}
	var cpus []int
	for c := 0; c < 1024 && len(cpus) < s.all.Count(); c++ {
		if s.all.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) < 2 {
		return s, false
	}
	half := len(cpus) / 2
	for i, c := range cpus {
		if i < half {
			s.load.Set(c)
		} else {
			s.proxy.Set(c)
		}
	}
	return s, true
}

func (s cpuSplit) String() string {
	return fmt.Sprintf("proxy on %d CPU(s), load generator, upstream and Redis on %d", s.proxy.Count(), s.load.Count())
}

// pin sets the affinity of every thread of pid (threads it starts later
// inherit it).
func pin(pid int, set unix.CPUSet) error {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	tids, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("blackbox: pin %d: %w", pid, err)
	}
	for _, t := range tids {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("blackbox: pin thread %d of %d: %w", tid, pid, err)
		}
	}
	return nil
}

// pinFor places the harness and every process it started on the load CPUs
// and the target's processes on the proxy CPUs (the upstream-directly target
// stays with the load generator: it is the baseline the proxies are compared
// with). The returned function restores all CPUs to all of them.
func (h *harness) pinFor(t *target, s cpuSplit) (restore func(), err error) {
	pids := []int{os.Getpid()}
	for _, p := range h.procs {
		if !p.exited() {
			pids = append(pids, p.pid())
		}
	}
	restore = func() {
		for _, pid := range pids {
			_ = pin(pid, s.all)
		}
	}
	for _, pid := range pids {
		if err := pin(pid, s.load); err != nil {
			restore()
			return nil, err
		}
	}
	if t.key != "upstream" {
		for _, pid := range t.pids() {
			if err := pin(pid, s.proxy); err != nil {
				restore()
				return nil, err
			}
		}
	}
	// The Go runtimes follow the new affinity mask with GOMAXPROCS within
	// a second: the fixed-rate warm-up covers it.
	return restore, nil
}
