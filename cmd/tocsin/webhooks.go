package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/client"
	"github.com/tocsin/tocsin/internal/app"
)

const webhooksUsage = `Usage: tocsin webhooks VERB [flags]
  add --endpoint URL --events E1,E2   register an endpoint; prints its id and signing secret (shown once)
  list                           the registered endpoints
  delete ID                      remove an endpoint
  deliveries ID                  an endpoint's delivery history, newest first
Events: notification.created, notification.updated, notification.deleted, notification.deliver, event.custom
Flags of every verb: --url (the server; env TOCSIN_URL), --api-key (env TOCSIN_API_KEY), --data-dir (env TOCSIN_DATA_DIR), --json
`

// webhooksCmd: tocsin webhooks add|list|delete|deliveries — outbound webhook
// endpoints, through the server's API with the application's API key.
func webhooksCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := stderr
		if len(args) > 0 {
			w = stdout
		}
		fmt.Fprint(w, webhooksUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	verb := args[0]
	fs := flag.NewFlagSet("webhooks "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("url", envOr("TOCSIN_URL", "http://127.0.0.1:8080"), "the server (env TOCSIN_URL)")
	key := fs.String("api-key", os.Getenv("TOCSIN_API_KEY"), "API key (env TOCSIN_API_KEY; default: the one in --data-dir)")
	dataDir := fs.String("data-dir", envOr("TOCSIN_DATA_DIR", "tocsin-data"), "the server's data dir, for its generated API key (env TOCSIN_DATA_DIR)")
	endpoint := fs.String("endpoint", "", "add: the endpoint's URL (https://...)")
	events := fs.String("events", tocsin.WebhookDeliver, "add: comma-separated events")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if code, ok := parseFlags(fs, args[1:], stdout, stderr); !ok {
		return code
	}
	if err := checkURL(*server); err != nil {
		fmt.Fprintf(stderr, "tocsin webhooks %s: %v\n", verb, err)
		return 2
	}
	if *key == "" {
		*key = app.ReadSecret(*dataDir, "api-key")
	}
	if *key == "" {
		fmt.Fprintf(stderr, "tocsin webhooks %s: no API key: set --api-key or TOCSIN_API_KEY, or --data-dir (TOCSIN_DATA_DIR) to the server's data dir (%s has no api-key)\n", verb, *dataDir)
		return 2
	}
	c := client.New(*server, client.WithAPIKey(*key))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fail := func(err error) int {
		fmt.Fprintln(stderr, "tocsin webhooks "+verb+":", explain(err, *server))
		return 1
	}
	needID := func() (string, bool) {
		if fs.NArg() != 1 {
			fmt.Fprintf(stderr, "tocsin webhooks %s: want exactly one endpoint ID (tocsin webhooks list shows them)\n", verb)
			return "", false
		}
		return fs.Arg(0), true
	}
	enc := json.NewEncoder(stdout)
	switch verb {
	case "add":
		if *endpoint == "" {
			fmt.Fprintln(stderr, "tocsin webhooks add: --endpoint is required (the URL that receives the webhooks)")
			return 2
		}
		wh, err := c.CreateWebhook(ctx, *endpoint, splitList(*events))
		if err != nil {
			return fail(err)
		}
		if *asJSON {
			_ = enc.Encode(wh)
			return 0
		}
		fmt.Fprintf(stderr, "created %s for %s (%v); the signing secret is shown once:\n", wh.ID, wh.URL, wh.Events)
		fmt.Fprintln(stdout, wh.Secret)
	case "list":
		whs, err := c.Webhooks(ctx)
		if err != nil {
			return fail(err)
		}
		if *asJSON {
			_ = enc.Encode(whs)
			return 0
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tURL\tEVENTS\tCREATED")
		for _, wh := range whs {
			fmt.Fprintf(w, "%s\t%s\t%v\t%s\n", wh.ID, wh.URL, wh.Events, wh.CreatedAt.Format(time.RFC3339))
		}
		w.Flush()
	case "delete":
		id, ok := needID()
		if !ok {
			return 2
		}
		if err := c.DeleteWebhook(ctx, id); err != nil {
			return fail(err)
		}
		fmt.Fprintln(stderr, "deleted", id)
	case "deliveries":
		id, ok := needID()
		if !ok {
			return 2
		}
		ds, _, err := c.WebhookDeliveries(ctx, id, "")
		if err != nil {
			return fail(err)
		}
		if *asJSON {
			_ = enc.Encode(ds)
			return 0
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "MESSAGE\tEVENT\tUSER\tSTATUS\tATTEMPTS\tLAST\tCREATED")
		for _, d := range ds {
			last := d.LastError
			if d.LastStatus != 0 {
				last = fmt.Sprintf("%d %s", d.LastStatus, d.LastError)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Event, d.UserID, d.Status, d.Attempts, last, d.CreatedAt.Format(time.RFC3339))
		}
		w.Flush()
	default:
		fmt.Fprintf(stderr, "tocsin webhooks: unknown verb %q\n\n%s", verb, webhooksUsage)
		return 2
	}
	return 0
}
