package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/config"
	"github.com/tocsin/tocsin/internal/app"
)

// keysCmd: tocsin keys create|list|revoke — API keys kept (hashed) in the store,
// next to the keys of the config. A running server sees a new or revoked key within
// ten seconds.
func keysCmd(args []string, stdout, stderr io.Writer) int {
	usage := "Usage: tocsin keys create [--name NAME] | list | revoke ID   (flags before ID: --data-dir DIR or --store URL)"
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, usage)
		return 0
	}
	verb := args[0]
	fs := flag.NewFlagSet("keys "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := config.Default()
	fs.StringVar(&cfg.DataDir, "data-dir", envOr("TOCSIN_DATA_DIR", cfg.DataDir), "the server's data dir (env TOCSIN_DATA_DIR)")
	fs.StringVar(&cfg.Store, "store", os.Getenv("TOCSIN_STORE"), "the server's store, when not SQLite in the data dir (env TOCSIN_STORE)")
	name := fs.String("name", "", "a name for the key (create)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args[1:], stdout, stderr); !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := app.OpenStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(stderr, "tocsin keys:", err)
		return 1
	}
	defer store.Close()
	switch verb {
	case "create":
		key, rec, err := auth.NewAPIKey(*name, time.Now())
		if err == nil {
			err = store.PutAPIKey(ctx, rec)
		}
		if err != nil {
			fmt.Fprintln(stderr, "tocsin keys:", err)
			return 1
		}
		fmt.Fprintf(stderr, "created %s (%s); the key is shown once:\n", rec.ID, rec.Name)
		fmt.Fprintln(stdout, key)
	case "list":
		keys, err := store.APIKeys(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "tocsin keys:", err)
			return 1
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tNAME\tCREATED\tREVOKED")
		for _, k := range keys {
			revoked := "-"
			if k.RevokedAt != nil {
				revoked = k.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.ID, k.Name, k.CreatedAt.Format(time.RFC3339), revoked)
		}
		w.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, usage)
			return 2
		}
		k, err := store.RevokeAPIKey(ctx, fs.Arg(0), time.Now().UTC())
		if err != nil {
			fmt.Fprintln(stderr, "tocsin keys:", err)
			return 1
		}
		fmt.Fprintf(stdout, "revoked %s\n", k.ID)
	default:
		fmt.Fprintln(stderr, usage)
		return 2
	}
	return 0
}
