package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/internal/app"
)

// token mints an HS256 user JWT for development, with the server's secret: the
// --jwt-secret flag, TOCSIN_JWT_SECRET, or the secret generated in the data dir.
func token(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sub := fs.String("sub", "", "the user id (JWT sub claim); required")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid (its exp claim; the server refuses tokens without one, and ends their streams at exp)")
	topics := fs.String("topics", "", "comma-separated topics the user may stream (claim \"topics\"; * for all)")
	secret := fs.String("jwt-secret", os.Getenv("TOCSIN_JWT_SECRET"), "HS256 secret (env TOCSIN_JWT_SECRET; default: the one generated in --data-dir)")
	dataDir := fs.String("data-dir", envOr("TOCSIN_DATA_DIR", "tocsin-data"), "the server's data dir (env TOCSIN_DATA_DIR)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: tocsin token --sub USER [--ttl 1h] [--topics a,b] [--jwt-secret S | --data-dir DIR]")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *sub == "" && fs.NArg() == 1 {
		*sub = fs.Arg(0)
	}
	if *sub == "" {
		fmt.Fprintln(stderr, "tocsin token: --sub is required")
		return 2
	}
	if *ttl <= 0 {
		fmt.Fprintln(stderr, "tocsin token: --ttl must be positive: every token carries an exp")
		return 2
	}
	key := *secret
	if key == "" {
		key = app.ReadSecret(*dataDir, "jwt-secret")
	}
	if key == "" {
		fmt.Fprintf(stderr, "tocsin token: no secret: set --jwt-secret or TOCSIN_JWT_SECRET, or run tocsin serve once with --data-dir %s\n", *dataDir)
		return 1
	}
	var granted []string
	for _, t := range strings.Split(*topics, ",") {
		if t = strings.TrimSpace(t); t != "" {
			granted = append(granted, t)
		}
	}
	tok, err := auth.MintJWT([]byte(key), *sub, *ttl, time.Now(), granted...)
	if err != nil {
		fmt.Fprintf(stderr, "tocsin token: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
