// Command tocsin is the tocsin notification server and its command-line tools, in
// one binary: tocsin serve | token | publish | listen | keys | webhooks | bench | version.
package main

import (
	"fmt"
	"io"
	"os"
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

Every serve flag --foo-bar may also be set as TOCSIN_FOO_BAR.
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
		return serve(args[1:], stderr)
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
