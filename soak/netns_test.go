package soak

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Network fault kinds: only drawn when the nodes run in network namespaces.
const (
	faultPartition = "partition-node"   // the node's veth down on the root side: cut off from everything
	faultOneWay    = "partition-oneway" // every packet one way dropped (node to root, or root to node)
	faultSlow      = "slow-link"        // netem delay with jitter on the node's egress
	faultCutStore  = "cut-store"        // the node's route to PostgreSQL blackholed: the bus and its clients still reach it
	faultCutBus    = "cut-bus"          // the node's route to the bus blackholed: the store and its clients still reach it
)

// allFaultKinds is every kind the report knows, process kinds first.
var allFaultKinds = [...]string{faultKill, faultPause, faultBus, faultPostgres, faultPartition, faultOneWay, faultSlow, faultCutStore, faultCutBus}

func isNetFault(kind string) bool {
	switch kind {
	case faultPartition, faultOneWay, faultSlow, faultCutStore, faultCutBus:
		return true
	}
	return false
}

// netPrefix starts the name of every namespace and veth the soak creates,
// followed by the creating test process's PID: a later run deletes those whose
// process is gone (a run killed before its cleanup), and leaves alone those of
// a run still going.
const netPrefix = "tsk"

// netNode is one node's namespace: a veth pair, hostVeth in the root namespace
// with hostIP, nodeVeth in the namespace with nodeIP, on a /30 of their own.
// PostgreSQL and the bus are reached at addresses of their own (storeIP, busIP:
// /32s on hostVeth, routed from the namespace), so that the node's way to one of
// them can be cut (a blackhole route) while the other and its clients still reach
// it: this machine has no iptables and no tc classifiers to cut by port.
type netNode struct {
	ns, hostVeth, nodeVeth string
	hostIP, nodeIP         string
	storeIP, busIP         string
}

// netLayout is the namespaces of a run. netem says whether the kernel has the
// netem qdisc (slow-link is drawn only then).
type netLayout struct {
	nodes []netNode
	tbf   bool // the one-way drop's qdisc works (tc present, sch_tbf there)
	netem bool
}

// storeIPs and busIPs are the root-side addresses PostgreSQL and the bus must
// listen on.
func (l *netLayout) storeIPs() []string {
	var ips []string
	for _, n := range l.nodes {
		ips = append(ips, n.storeIP)
	}
	return ips
}

func (l *netLayout) busIPs() []string {
	var ips []string
	for _, n := range l.nodes {
		ips = append(ips, n.busIP)
	}
	return ips
}

// setupNetns creates one namespace per node unless TOCSIN_SOAK_NETNS=0, the
// test is not root, or `ip netns` does not work; then it returns nil and why.
// Everything it creates is deleted in t.Cleanup, also when the test fails.
func setupNetns(t *testing.T, n int) (*netLayout, string) {
	t.Helper()
	switch os.Getenv("TOCSIN_SOAK_NETNS") {
	case "0":
		return nil, "TOCSIN_SOAK_NETNS=0"
	case "", "1":
	default:
		t.Fatalf("TOCSIN_SOAK_NETNS=%q: want 0 or 1", os.Getenv("TOCSIN_SOAK_NETNS"))
	}
	if os.Geteuid() != 0 {
		return nil, "not running as root (network namespaces need it)"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, "no ip command"
	}
	deleteStale(t)
	pid := os.Getpid()
	// A /30 per node in 10.77.0.0/16, placed by PID so that two runs at once
	// (separate worktrees) do not share root-side addresses.
	base := (pid % 60) * 4
	l := &netLayout{}
	for i := range n {
		nn := netNode{
			ns:       fmt.Sprintf("%s%dn%d", netPrefix, pid, i),
			hostVeth: fmt.Sprintf("%s%dh%d", netPrefix, pid, i),
			nodeVeth: fmt.Sprintf("%s%dv%d", netPrefix, pid, i),
			hostIP:   fmt.Sprintf("10.77.%d.1", base+i),
			nodeIP:   fmt.Sprintf("10.77.%d.2", base+i),
			storeIP:  fmt.Sprintf("10.78.%d.1", base+i),
			busIP:    fmt.Sprintf("10.79.%d.1", base+i),
		}
		if err := ipRun("netns", "add", nn.ns); err != nil {
			if i == 0 {
				return nil, "ip netns add failed: " + err.Error()
			}
			t.Fatal(err)
		}
		t.Cleanup(func() {
			// Deleting the namespace deletes its veth end, and so the pair
			// (and the qdiscs on them); the root end is deleted too in case
			// the move into the namespace never happened.
			_ = ipRun("netns", "del", nn.ns)
			_ = ipRun("link", "del", nn.hostVeth)
		})
		for _, args := range [][]string{
			{"link", "add", nn.hostVeth, "type", "veth", "peer", "name", nn.nodeVeth},
			{"link", "set", nn.nodeVeth, "netns", nn.ns},
			{"addr", "add", nn.hostIP + "/30", "dev", nn.hostVeth},
			{"link", "set", nn.hostVeth, "up"},
			{"-n", nn.ns, "addr", "add", nn.nodeIP + "/30", "dev", nn.nodeVeth},
			{"-n", nn.ns, "link", "set", nn.nodeVeth, "up"},
			{"-n", nn.ns, "link", "set", "lo", "up"},
			{"addr", "add", nn.storeIP + "/32", "dev", nn.hostVeth},
			{"addr", "add", nn.busIP + "/32", "dev", nn.hostVeth},
			{"-n", nn.ns, "route", "add", nn.storeIP + "/32", "dev", nn.nodeVeth},
			{"-n", nn.ns, "route", "add", nn.busIP + "/32", "dev", nn.nodeVeth},
		} {
			if err := ipRun(args...); err != nil {
				t.Fatal(err)
			}
		}
		l.nodes = append(l.nodes, nn)
	}
	// tc may be missing, and netem is a module many kernels lack: probe both
	// on a veth of ours, so a fault never fails for want of them.
	if err := tcRun(l.nodes[0].hostVeth, "", "add", "root", "tbf", "rate", "1kbit", "burst", "10", "latency", "1ms"); err == nil {
		l.tbf = true
		_ = tcRun(l.nodes[0].hostVeth, "", "del", "root")
	} else {
		t.Logf("tc tbf unavailable (%v): no partition-oneway faults", err)
	}
	if err := tcRun(l.nodes[0].hostVeth, "", "add", "root", "netem", "delay", "1ms"); err == nil {
		l.netem = true
		_ = tcRun(l.nodes[0].hostVeth, "", "del", "root")
	} else {
		t.Logf("tc netem unavailable (%v): no slow-link faults", err)
	}
	return l, ""
}

// deleteStale deletes the namespaces and veths of earlier runs whose process
// is gone.
func deleteStale(t *testing.T) {
	t.Helper()
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if staleName(name) {
			t.Logf("deleting namespace %s of an earlier run", name)
			_ = ipRun("netns", "del", name)
		}
	}
	out, _ = exec.Command("ip", "-o", "link", "show").Output()
	for _, line := range strings.Split(string(out), "\n") {
		// "12: tsk123h0@if11: <...>"
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if staleName(name) {
			t.Logf("deleting veth %s of an earlier run", name)
			_ = ipRun("link", "del", name)
		}
	}
}

// staleName reports whether name is one of ours whose creating process is gone.
func staleName(name string) bool {
	rest, ok := strings.CutPrefix(name, netPrefix)
	if !ok {
		return false
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end <= 0 {
		return false
	}
	pid, err := strconv.Atoi(rest[:end])
	if err != nil {
		return false
	}
	return pid != os.Getpid() && syscall.Kill(pid, 0) == syscall.ESRCH
}

func ipRun(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// tcRun runs `tc qdisc VERB dev DEV ARGS...`, inside namespace ns unless it is "".
func tcRun(dev, ns, verb string, args ...string) error {
	full := append([]string{"qdisc", verb, "dev", dev}, args...)
	if ns != "" {
		full = append([]string{"-n", ns}, full...)
	}
	out, err := exec.Command("tc", full...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("tc %s: %v: %s", strings.Join(full, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// injectNet applies a network fault to node f.target for f.hold and undoes it.
// An undo that fails is a test error: the cut would outlive the fault.
func (in *injector) injectNet(f *fault) {
	nn := in.net.nodes[f.target]
	var apply, undo func() error
	switch f.kind {
	case faultPartition:
		apply = func() error { return ipRun("link", "set", nn.hostVeth, "down") }
		undo = func() error { return ipRun("link", "set", nn.hostVeth, "up") }
	case faultOneWay:
		// A token bucket whose burst (10 bytes) is smaller than any packet drops
		// every packet on that egress, silently: the other way still flows.
		// (tbf, not netem loss, so it works on kernels without netem.)
		dev, ns := nn.nodeVeth, nn.ns // the node's packets out
		if f.inbound {
			dev, ns = nn.hostVeth, "" // the packets to the node
		}
		apply = func() error {
			return tcRun(dev, ns, "add", "root", "tbf", "rate", "1kbit", "burst", "10", "latency", "1ms")
		}
		undo = func() error { return tcRun(dev, ns, "del", "root") }
	case faultCutStore, faultCutBus:
		// Packets from the node to that address are dropped; existing connections
		// stall (no reset), as in a real partition, and resume when it heals.
		ip := nn.storeIP
		if f.kind == faultCutBus {
			ip = nn.busIP
		}
		apply = func() error { return ipRun("-n", nn.ns, "route", "replace", "blackhole", ip+"/32") }
		undo = func() error { return ipRun("-n", nn.ns, "route", "replace", ip+"/32", "dev", nn.nodeVeth) }
	case faultSlow:
		jitter := f.delay / 5
		apply = func() error {
			return tcRun(nn.nodeVeth, nn.ns, "add", "root", "netem", "delay", f.delay.String(), jitter.String())
		}
		undo = func() error { return tcRun(nn.nodeVeth, nn.ns, "del", "root") }
	}
	if err := apply(); err != nil {
		in.t.Errorf("%s: %v", f.kind, err)
		f.healed = time.Now()
		return
	}
	time.Sleep(f.hold)
	if err := undo(); err != nil {
		in.t.Errorf("heal %s: %v", f.kind, err)
	}
	f.healed = time.Now()
}

// netDetail is the log's description of a network fault's direction or delay.
func netDetail(f *fault) string {
	switch {
	case f.kind == faultOneWay && f.inbound:
		return " inbound"
	case f.kind == faultOneWay:
		return " outbound"
	case f.kind == faultSlow:
		return " delay=" + f.delay.String()
	}
	return ""
}

// faultKindsFor is what the injector draws from: the process kinds, and with
// namespaces partition-node, partition-oneway where tc's tbf works and
// slow-link where the kernel has netem.
func faultKindsFor(l *netLayout) []string {
	kinds := append([]string(nil), faultKinds[:]...)
	if l == nil {
		return kinds
	}
	kinds = append(kinds, faultPartition, faultCutStore, faultCutBus)
	if l.tbf {
		kinds = append(kinds, faultOneWay)
	}
	if l.netem {
		kinds = append(kinds, faultSlow)
	}
	return kinds
}
