package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
	// The same variables serve reads for --jwt-issuer/--jwt-audience: a shell set up
	// for the server mints tokens it accepts.
	iss := fs.String("iss", os.Getenv("TOCSIN_JWT_ISSUER"), "the iss claim, needed when the server runs with --jwt-issuer (env TOCSIN_JWT_ISSUER)")
	aud := fs.String("aud", os.Getenv("TOCSIN_JWT_AUDIENCE"), "the aud claim, needed when the server runs with --jwt-audience (env TOCSIN_JWT_AUDIENCE)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: tocsin token --sub USER [--ttl 1h] [--topics a,b] [--iss I] [--aud A] [--jwt-secret S | --data-dir DIR]")
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
	tok, err := mintJWT([]byte(key), *sub, *iss, *aud, *ttl, time.Now(), granted)
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

// mintJWT is auth.MintJWT with optional iss and aud claims, which a server started
// with --jwt-issuer/--jwt-audience requires.
func mintJWT(secret []byte, sub, iss, aud string, ttl time.Duration, now time.Time, topics []string) (string, error) {
	c := auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   sub,
			Issuer:    iss,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Topics: topics,
	}
	if aud != "" {
		c.Audience = jwt.ClaimStrings{aud}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}
