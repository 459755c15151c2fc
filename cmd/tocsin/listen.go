package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/client"
	"github.com/tocsin/tocsin/internal/app"
)

// listenCmd: tocsin listen — tail a user's or a topic's stream, reconnecting and
// resuming by itself.
func listenCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", envOr("TOCSIN_URL", "http://127.0.0.1:8080"), "the server (env TOCSIN_URL)")
	user := fs.String("user", "", "the user whose stream to tail (a token is minted with the JWT secret)")
	topic := fs.String("topic", "", "a topic to tail (a token granting it is minted with the JWT secret)")
	tok := fs.String("token", "", "a user JWT to use instead of minting one")
	streamToken := fs.String("stream-token", "", "a capability (subscribe) token: tail /api/stream/<token>")
	secret := fs.String("jwt-secret", os.Getenv("TOCSIN_JWT_SECRET"), "JWT secret for minting (env TOCSIN_JWT_SECRET; default: the one in --data-dir)")
	dataDir := fs.String("data-dir", envOr("TOCSIN_DATA_DIR", "tocsin-data"), "the server's data dir, for its generated JWT secret (env TOCSIN_DATA_DIR)")
	last := fs.String("last-event-id", "", "resume after this event id")
	asJSON := fs.Bool("json", false, "print one JSON object per event: {\"id\",\"event\",\"data\"}")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: tocsin listen --user 42 | --topic deploys | --stream-token tks_... [--json]")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if err := checkURL(*url); err != nil {
		fmt.Fprintln(stderr, "tocsin listen:", err)
		return 2
	}
	opts := client.SubscribeOptions{LastEventID: *last, OnDisconnect: func(err error, wait time.Duration) {
		fmt.Fprintf(stderr, "tocsin listen: disconnected (%v); reconnecting in %v\n", explain(err, *url), wait.Round(time.Millisecond))
	}}
	var c *client.Client
	switch {
	case *streamToken != "":
		opts.Path = "/api/stream/" + *streamToken
		c = client.New(*url)
	case *user != "" || *topic != "" || *tok != "":
		if *topic != "" {
			opts.Path = "/api/topics/" + *topic + "/stream"
		}
		if *tok != "" {
			c = client.New(*url, client.WithToken(*tok))
			break
		}
		if *secret == "" {
			*secret = app.ReadSecret(*dataDir, "jwt-secret")
		}
		if *secret == "" {
			// A token signed with no secret is one the server refuses; say what to set.
			fmt.Fprintf(stderr, "tocsin listen: no JWT secret: set --jwt-secret or TOCSIN_JWT_SECRET, or --data-dir (TOCSIN_DATA_DIR) to the server's data dir (%s has no jwt-secret), or pass --token\n", *dataDir)
			return 2
		}
		sub, topics := *user, []string(nil)
		if sub == "" {
			sub = "tocsin-listen"
		}
		if *topic != "" {
			topics = []string{*topic}
		}
		// Minted here, so minted again whenever the server ends the stream at the
		// token's expiry: listen runs for as long as it is left running.
		mint := func(context.Context) (string, error) {
			return auth.MintJWT([]byte(*secret), sub, 24*time.Hour, time.Now(), topics...)
		}
		if _, err := mint(context.Background()); err != nil {
			fmt.Fprintln(stderr, "tocsin listen:", err)
			return 1
		}
		c = client.New(*url, client.WithTokenSource(mint))
	default:
		fs.Usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	enc := json.NewEncoder(stdout)
	err := c.Subscribe(ctx, opts, func(ev client.Event) error {
		if *asJSON {
			return enc.Encode(map[string]any{"id": ev.ID, "event": ev.Name, "data": ev.Data})
		}
		_, err := fmt.Fprintf(stdout, "%-22s %-22s %s\n", ev.ID, ev.Name, ev.Data)
		return err
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "tocsin listen:", explain(err, *url))
		return 1
	}
	return 0
}
