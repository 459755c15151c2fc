package soak

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Fault kinds.
const (
	faultKill     = "kill-node"   // SIGKILL a node, restart it after a short delay
	faultPause    = "pause-node"  // SIGSTOP a node for 1-5 s, then SIGCONT
	faultBus      = "restart-bus" // SIGKILL Redis or NATS, start it again (empty: no persistence)
	faultPostgres = "restart-pg"  // fast shutdown of PostgreSQL, start it again
)

var faultKinds = [...]string{faultKill, faultPause, faultBus, faultPostgres}

// fault is one injected fault. target is a node index, or -1 for the bus and
// PostgreSQL, which every node shares.
type fault struct {
	kind   string
	target int
	start  time.Time
	healed time.Time // restart begun, SIGCONT sent, or service accepting again
	ready  time.Time // the node's /readyz answered 200 again (node faults)
	hold   time.Duration
	// Network faults: partition-oneway drops what comes to the node (inbound)
	// or what it sends; slow-link delays the node's egress by delay.
	inbound bool
	delay   time.Duration
}

// injector draws faults from a seeded source. Only its run goroutine draws from
// rng, so a seed gives the same schedule of kinds, targets and delays; each fault
// runs in a goroutine of its own, so faults overlap.
type injector struct {
	t     *testing.T
	rng   *rand.Rand
	nodes []*node
	pg    *proc
	bus   *proc // Redis or NATS
	// pgAddr and busAddr are where the services accept once restarted.
	pgAddr, busAddr string
	// net is the nodes' namespaces, nil on the loopback layout; kinds is what
	// is drawn from (faultKinds, plus the network kinds with namespaces).
	net   *netLayout
	kinds []string

	mu     sync.Mutex
	faults []*fault
	busy   map[string]bool // kind+target of faults in progress
	wg     sync.WaitGroup
}

// maxNodesFaulted keeps one node of three out of node faults at any time, so
// publishers always have somewhere to go; store and bus faults overlap freely.
const maxNodesFaulted = 2

func (in *injector) run(ctx context.Context) {
	in.busy = map[string]bool{}
	for {
		sleep(ctx, time.Duration(300+in.rng.IntN(1700))*time.Millisecond)
		if ctx.Err() != nil {
			break
		}
		f := &fault{kind: in.kinds[in.rng.IntN(len(in.kinds))], target: -1}
		switch f.kind {
		case faultPartition, faultCutStore, faultCutBus:
			f.target, f.hold = in.rng.IntN(len(in.nodes)), time.Duration(1000+in.rng.IntN(4000))*time.Millisecond
		case faultOneWay:
			f.target, f.hold = in.rng.IntN(len(in.nodes)), time.Duration(1000+in.rng.IntN(4000))*time.Millisecond
			f.inbound = in.rng.IntN(2) == 0
		case faultSlow:
			f.target, f.hold = in.rng.IntN(len(in.nodes)), time.Duration(2000+in.rng.IntN(4000))*time.Millisecond
			f.delay = time.Duration(100+in.rng.IntN(200)) * time.Millisecond
		case faultKill:
			f.target, f.hold = in.rng.IntN(len(in.nodes)), time.Duration(100+in.rng.IntN(2900))*time.Millisecond
		case faultPause:
			f.target, f.hold = in.rng.IntN(len(in.nodes)), time.Duration(1000+in.rng.IntN(4000))*time.Millisecond
		default:
			f.hold = time.Duration(100+in.rng.IntN(1900)) * time.Millisecond
		}
		if !in.claim(f) {
			continue
		}
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			in.inject(f)
			in.release(f)
		}()
	}
	in.wg.Wait()
}

// claim records f unless its target is already under a fault (or too many nodes are).
func (in *injector) claim(f *fault) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	key := targetKey(f)
	if in.busy[key] {
		return false
	}
	if f.target >= 0 {
		n := 0
		for k := range in.busy {
			if k != "bus" && k != "pg" {
				n++
			}
		}
		if n >= maxNodesFaulted {
			return false
		}
	}
	in.busy[key] = true
	f.start = time.Now()
	in.faults = append(in.faults, f)
	return true
}

func (in *injector) release(f *fault) {
	in.mu.Lock()
	defer in.mu.Unlock()
	delete(in.busy, targetKey(f))
}

func targetKey(f *fault) string {
	switch f.kind {
	case faultBus:
		return "bus"
	case faultPostgres:
		return "pg"
	}
	return "node" + strconv.Itoa(f.target)
}

func (in *injector) inject(f *fault) {
	in.t.Logf("%s fault %s target=%d hold=%v%s", stamp(f.start), f.kind, f.target, f.hold, netDetail(f))
	switch f.kind {
	case faultPartition, faultOneWay, faultSlow, faultCutStore, faultCutBus:
		in.injectNet(f)
	case faultKill:
		n := in.nodes[f.target]
		n.stop(syscall.SIGKILL)
		time.Sleep(f.hold)
		f.healed = time.Now()
		if err := n.start(); err != nil {
			in.t.Errorf("restart %s: %v", n.name, err)
			return
		}
	case faultPause:
		n := in.nodes[f.target]
		n.signal(syscall.SIGSTOP)
		time.Sleep(f.hold)
		n.signal(syscall.SIGCONT)
		f.healed = time.Now()
	case faultBus:
		in.restartService(f, in.bus, syscall.SIGKILL, in.busAddr)
	case faultPostgres:
		in.restartService(f, in.pg, syscall.SIGINT, in.pgAddr)
	}
	if f.target >= 0 {
		// A node killed while PostgreSQL is down exits at start; the supervisor
		// restarts it, so readiness may take a while.
		if err := in.nodes[f.target].waitReady(60 * time.Second); err == nil {
			f.ready = time.Now()
		}
	} else {
		f.ready = f.healed
	}
	in.t.Logf("%s healed %s target=%d (ready after %v)", stamp(f.healed), f.kind, f.target, f.ready.Sub(f.healed).Round(time.Millisecond))
}

func (in *injector) restartService(f *fault, p *proc, sig syscall.Signal, addr string) {
	p.stop(sig)
	time.Sleep(f.hold)
	if err := p.start(); err != nil {
		in.t.Errorf("restart %s: %v", p.name, err)
		return
	}
	if err := waitTCP(addr, 30*time.Second); err != nil {
		in.t.Errorf("restart %s: %v", p.name, err)
		return
	}
	f.healed = time.Now()
}

// selfExit is a process that exited without being stopped on purpose.
type selfExit struct {
	at   time.Time
	name string
	err  string
}

// supervise restarts any process that died on its own (a node that could not
// start while PostgreSQL was down) until ctx is done, like a service manager.
func supervise(ctx context.Context, t *testing.T, procs []*proc) []selfExit {
	var exits []selfExit
	for ctx.Err() == nil {
		sleep(ctx, 300*time.Millisecond)
		for _, p := range procs {
			if err := p.restartIfDied(); err != nil {
				e := selfExit{at: time.Now(), name: p.name, err: err.Error()}
				t.Logf("%s %s exited on its own (%s): restarted", stamp(e.at), e.name, e.err)
				exits = append(exits, e)
			}
		}
	}
	return exits
}

func stamp(t time.Time) string { return t.UTC().Format("15:04:05.000") }
