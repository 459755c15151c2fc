package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/bench"
	"github.com/tocsin/tocsin/internal/app"
)

// benchCmd: tocsin bench SCENARIO [flags] — load a running server on this machine.
func benchCmd(args []string, stdout, stderr io.Writer) int {
	names := make([]string, 0, len(bench.Scenarios))
	for n := range bench.Scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: tocsin bench SCENARIO [flags]   (tocsin bench SCENARIO --help lists the flags)\n\nScenarios: %s\n\n", strings.Join(names, ", "))
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		usage(stdout)
		return 0
	}
	if len(args) == 0 || bench.Scenarios[args[0]] == nil {
		if len(args) > 0 {
			fmt.Fprintf(stderr, "tocsin bench: unknown scenario %q\n", args[0])
		}
		usage(stderr)
		return 2
	}
	name := args[0]
	fs := flag.NewFlagSet("bench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", envOr("TOCSIN_URL", "http://127.0.0.1:8080"), "the server, loopback only (env TOCSIN_URL)")
	publishURL := fs.String("publish-url", "", "send publishes to this node instead (a cluster: streams on --url, publishes here)")
	key := fs.String("api-key", os.Getenv("TOCSIN_API_KEY"), "API key (env TOCSIN_API_KEY; default: the one in --data-dir)")
	secret := fs.String("jwt-secret", os.Getenv("TOCSIN_JWT_SECRET"), "JWT secret for user streams (env TOCSIN_JWT_SECRET; default: the one in --data-dir)")
	dataDir := fs.String("data-dir", envOr("TOCSIN_DATA_DIR", "tocsin-data"), "the server's data dir, for its generated key and secret (env TOCSIN_DATA_DIR)")
	pid := fs.Int("server-pid", 0, "the server's process id, to read its memory and CPU from /proc")
	publishers := fs.Int("publishers", 50, "concurrent publishers")
	duration := fs.Duration("duration", 10*time.Second, "how long the load runs (at most 10m)")
	streams := fs.Int("streams", 1000, "open streams (at most 19,000 per bench process)")
	rate := fs.Float64("rate", 100, "publishes per second (broadcast, per-user, reconnect-storm while away)")
	userIDs := fs.Int("user-ids", 10000, "recipients of the bulk publish (at most 10,000)")
	hold := fs.Duration("hold", 5*time.Second, "how long idle streams are held before the server is measured")
	timers := fs.Int("timers", 100000, "escalation timers (timers; at most 1,000,000)")
	dueIn := fs.Duration("due-in", 30*time.Second, "how far ahead the timers are due, one instant for all (timers; at most 1h)")
	pushes := fs.Int("pushes", 10000, "Web Push subscriptions, one push each (push; at most 100,000; the server needs --push-allow-insecure)")
	out := fs.String("json", "", "also write the result as JSON to this file")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: tocsin bench %s [flags]\n", name)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args[1:], stdout, stderr); !ok {
		return code
	}
	if *duration > 10*time.Minute || *streams > 19000 || *userIDs > 10000 || *publishers > 1000 ||
		*timers > bench.MaxTimers || *pushes > bench.MaxPushes || *dueIn > time.Hour {
		fmt.Fprintln(stderr, "tocsin bench: a limit is exceeded (duration ≤ 10m, streams ≤ 19000, user-ids ≤ 10000, publishers ≤ 1000, timers ≤ 1000000, pushes ≤ 100000, due-in ≤ 1h)")
		return 2
	}
	for _, u := range []string{*url, *publishURL} {
		if u == "" {
			continue
		}
		if err := checkURL(u); err != nil {
			fmt.Fprintln(stderr, "tocsin bench:", err)
			return 2
		}
	}
	if *key == "" {
		*key = app.ReadSecret(*dataDir, "api-key")
	}
	if *secret == "" {
		*secret = app.ReadSecret(*dataDir, "jwt-secret")
	}
	cfg := bench.Config{
		URL: strings.TrimSuffix(*url, "/"), PublishURL: strings.TrimSuffix(*publishURL, "/"), APIKey: *key, ServerPID: *pid, Publishers: *publishers,
		Duration: *duration, Streams: *streams, Rate: *rate, UserIDs: *userIDs, Hold: *hold,
		Timers: *timers, DueIn: *dueIn, Pushes: *pushes,
		Token: func(user string) (string, error) {
			return auth.MintJWT([]byte(*secret), user, time.Hour, time.Now())
		},
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := bench.Scenarios[name](ctx, cfg)
	if werr := bench.Write(stdout, res); werr != nil {
		fmt.Fprintln(stderr, werr)
	}
	if *out != "" {
		f, ferr := os.Create(*out)
		if ferr == nil {
			ferr = bench.Write(f, res)
			f.Close()
		}
		if ferr != nil {
			fmt.Fprintln(stderr, "tocsin bench:", ferr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "tocsin bench:", explain(err, *url))
		return 1
	}
	return 0
}
