package soak

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is one restartable child process: a node, PostgreSQL or Redis. Every
// start, stop and signal goes through its mutex, so the fault injector and the
// node supervisor never race on the same process.
type proc struct {
	name string
	args []string
	log  string // file the process's output is appended to
	cred *syscall.Credential

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	exitErr error
	down    bool // stopped on purpose: the supervisor leaves it alone
	starts  int
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.startLocked()
}

func (p *proc) startLocked() error {
	out, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "=== %s start %d at %s\n", p.name, p.starts+1, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.down = cmd, done, false
	p.starts++
	go func() {
		err := cmd.Wait()
		out.Close()
		p.mu.Lock()
		if p.cmd == cmd {
			p.exitErr = err
		}
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// stop sends sig (SIGKILL, or SIGINT for PostgreSQL's fast shutdown), marks the
// process down on purpose and waits for it to exit.
func (p *proc) stop(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.down = true
	if cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGCONT) // a paused process cannot shut down
		_ = cmd.Process.Signal(sig)
	}
	p.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// signal sends sig (SIGSTOP, SIGCONT) to the running process, if any.
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !p.exited() {
		_ = p.cmd.Process.Signal(sig)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// restartIfDied restarts a process that exited without being stopped on purpose
// (a node refuses to start while PostgreSQL is down, as a real service manager
// would restart it). It reports the exit it saw, or nil.
func (p *proc) restartIfDied() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down || p.cmd == nil || !p.exited() {
		return nil
	}
	err := p.exitErr
	if err == nil {
		err = errors.New("exit status 0")
	}
	if serr := p.startLocked(); serr != nil {
		return serr
	}
	return err
}

// kill ends the process for good (cleanup): SIGKILL by PID and wait.
func (p *proc) kill() { p.stop(syscall.SIGKILL) }

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// buildTocsin builds ./cmd/tocsin once for this run into dir.
func buildTocsin(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "tocsin")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/tocsin").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/tocsin: %v\n%s", err, out)
	}
	return bin
}

// postgresBin finds a PostgreSQL server program (initdb, postgres):
// TOCSIN_SOAK_PG_BIN, PATH, or Debian's /usr/lib/postgresql/*/bin.
func postgresBin(t *testing.T, name string) string {
	t.Helper()
	if dir := os.Getenv("TOCSIN_SOAK_PG_BIN"); dir != "" {
		return filepath.Join(dir, name)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(found) == 0 {
		t.Fatalf("%s not found: install PostgreSQL or set TOCSIN_SOAK_PG_BIN", name)
	}
	return found[len(found)-1]
}

// startPostgres initdbs a private cluster (trust auth, listening on 127.0.0.1
// and on the root-side veth addresses extra, if any, which it trusts too) and
// starts it. PostgreSQL refuses to run as root, so as root it runs as
// the postgres user, in a directory outside t.TempDir (whose parents root owns).
func startPostgres(t *testing.T, logDir string, extra []string) (*proc, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "tocsin-soak-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres user for PostgreSQL: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(postgresBin(t, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
	if cred != nil {
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if len(extra) > 0 {
		// initdb trusts loopback only; the nodes come from their veth subnets.
		hba, err := os.OpenFile(filepath.Join(data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fmt.Fprintf(hba, "host all all 10.77.0.0/16 trust\n")
		if cerr := hba.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	pg := &proc{
		name: "postgres",
		args: []string{postgresBin(t, "postgres"), "-D", data, "-p", strconv.Itoa(port),
			"-h", strings.Join(append([]string{"127.0.0.1"}, extra...), ","), "-k", "", "-c", "fsync=off", "-c", "max_connections=200"},
		log:  filepath.Join(logDir, "postgres.log"),
		cred: cred,
	}
	if err := pg.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.kill)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitTCP(addr, 30*time.Second); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	return pg, fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr)
}

// startBus starts a private bus server: redis-server without persistence, or
// nats-server (with JetStream, its store in a temp dir). It returns the process
// and the node's --bus URL. It listens on 127.0.0.1 and on the root-side veth
// addresses extra (NATS takes one address: 0.0.0.0 then).
func startBus(t *testing.T, kind, logDir string, extra []string) (*proc, string) {
	t.Helper()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var p *proc
	var busURL string
	switch kind {
	case "redis":
		p = &proc{name: "redis", args: []string{program(t, "TOCSIN_TEST_REDIS_SERVER", "redis-server"),
			"--bind", strings.Join(append([]string{"127.0.0.1"}, extra...), " "), "--protected-mode", "no", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no", "--daemonize", "no"}}
		busURL = "redis://" + addr + "/0"
	case "nats":
		bind := "127.0.0.1"
		if len(extra) > 0 {
			bind = "0.0.0.0"
		}
		p = &proc{name: "nats", args: []string{program(t, "TOCSIN_TEST_NATS_SERVER", "nats-server"),
			"-a", bind, "-p", strconv.Itoa(port), "-js", "-sd", t.TempDir()}}
		busURL = "nats://" + addr
	default:
		t.Fatalf("TOCSIN_SOAK_BUS=%q: want redis or nats", kind)
	}
	p.log = filepath.Join(logDir, p.name+".log")
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	if err := waitTCP(addr, 10*time.Second); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	return p, busURL
}

// program is the path of a server program: the environment variable env, or
// name on PATH.
func program(t *testing.T, env, name string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install it or set %s", name, env)
	}
	return p
}

func waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not accept connections within %v: %w", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// node is one tocsin serve process of the cluster.
type node struct {
	*proc
	index int
	url   string
}

// Credentials every node shares, so any client may talk to any node.
const (
	apiKey    = "soak-api-key-0123456789"
	jwtSecret = "soak-jwt-secret-0123456789abcdef0123456789"
)

// startNodes starts n nodes on 127.0.0.1, or each in its namespace of l: it
// listens on its namespace's address and reaches PostgreSQL and the bus at the
// root side of its veth. `ip netns exec` execs the node, so the PID the proc
// signals is the node's own.
func startNodes(t *testing.T, bin, storeURL, busURL, logDir string, n int, l *netLayout) []*node {
	t.Helper()
	nodes := make([]*node, n)
	for i := range nodes {
		port := freePort(t)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		var prefix []string
		store, bus := storeURL, busURL
		if l != nil {
			nn := l.nodes[i]
			addr = fmt.Sprintf("%s:%d", nn.nodeIP, port)
			prefix = []string{"ip", "netns", "exec", nn.ns}
			store = strings.Replace(storeURL, "127.0.0.1", nn.storeIP, 1)
			bus = strings.Replace(busURL, "127.0.0.1", nn.busIP, 1)
		}
		nodes[i] = &node{index: i, url: "http://" + addr, proc: &proc{
			name: fmt.Sprintf("node%d", i),
			args: append(prefix, bin, "serve", "--addr", addr,
				"--data-dir", filepath.Join(logDir, fmt.Sprintf("node%d-data", i)),
				"--store", store, "--bus", bus,
				"--api-key", apiKey, "--jwt-secret", jwtSecret,
				"--rate-publish", "0", "--rate-connect", "0", "--rate-user", "0",
				"--max-streams-per-token", "0", "--max-streams-per-ip", "0", "--max-conns-per-ip", "0",
				"--heartbeat", heartbeat.String(), "--shutdown-timeout", "2s",
				// Scheduled publishes a killed or paused node had claimed are taken
				// over after the lease: short, so they arrive within the quiet time.
				"--delivery-lease", "3s",
				// info: the bus outages and resyncs, with their times, for anomalies.
				"--log-level", "info"),
			log: filepath.Join(logDir, fmt.Sprintf("node%d.log", i)),
		}}
		if err := nodes[i].start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nodes[i].kill)
	}
	for _, nd := range nodes {
		if err := nd.waitReady(30 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// waitReady polls /readyz (store and bus reachable) until it answers 200.
func (n *node) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", n.url+"/readyz", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		cancel()
		if err == nil && resp.StatusCode == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %v (last: %v)", n.name, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
