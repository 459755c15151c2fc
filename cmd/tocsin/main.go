// Command tocsin is the tocsin notification server and its command-line tools, in
// one binary: tocsin serve | token | publish | listen | keys | webhooks | bench | version.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"syscall"
)

const usage = `tocsin — a self-hosted real-time notification server

Usage:
  tocsin serve [flags]     run the server (tocsin serve --help lists every flag)
  tocsin token [flags]     mint a user JWT for development
  tocsin publish [flags]   send a notification (flags, or --json on stdin)
  tocsin listen [flags]    tail a user's or a topic's stream, reconnecting by itself
  tocsin keys VERB         create, list or revoke API keys kept in the store
  tocsin webhooks VERB     add, list or delete webhook endpoints; see their deliveries
  tocsin bench SCENARIO    load a running server on this machine (publish, bulk, idle, broadcast, per-user, reconnect-storm)
  tocsin version           print the version

Every serve flag --foo-bar may also be set as TOCSIN_FOO_BAR, or as foo-bar: in the
YAML file of tocsin serve --config; tocsin serve --print-config shows the result.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "token":
		return token(args[1:], stdout, stderr)
	case "publish":
		return publishCmd(args[1:], os.Stdin, stdout, stderr)
	case "listen":
		return listenCmd(args[1:], stdout, stderr)
	case "keys":
		return keysCmd(args[1:], stdout, stderr)
	case "webhooks":
		return webhooksCmd(args[1:], stdout, stderr)
	case "bench":
		return benchCmd(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		return version(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tocsin: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

// parseFlags parses a subcommand's flags. --help/-h prints the usage on stdout and
// exits 0 (it is an answer, not an error); any other parse error prints on stderr
// and exits 2. ok is false when the caller must return code.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		_, _ = stdout.Write(buf.Bytes())
		return 0, false
	default:
		_, _ = stderr.Write(buf.Bytes())
		return 2, false
	}
}

// checkURL refuses a --url without a scheme or host locally: "127.0.0.1:8080"
// otherwise parses as scheme "127.0.0.1" and fails with an obscure transport error.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q needs a scheme, e.g. http://%s (or set TOCSIN_URL)", raw, raw)
	}
	return nil
}

// explain adds a hint to an error a newcomer cannot act on by itself.
func explain(err error, server string) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w\nhint: nothing answers at %s; check --url / TOCSIN_URL and that tocsin serve is running", err, server)
	}
	return err
}
