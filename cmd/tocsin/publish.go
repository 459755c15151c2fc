package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/client"
	"github.com/tocsin/tocsin/internal/app"
)

// publishCmd: tocsin publish — send a notification with the application's API key.
func publishCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", envOr("TOCSIN_URL", "http://127.0.0.1:8080"), "the server (env TOCSIN_URL)")
	key := fs.String("api-key", os.Getenv("TOCSIN_API_KEY"), "API key (env TOCSIN_API_KEY; default: the one in --data-dir)")
	dataDir := fs.String("data-dir", envOr("TOCSIN_DATA_DIR", "tocsin-data"), "the server's data dir, for its generated API key (env TOCSIN_DATA_DIR)")
	fromStdin := fs.Bool("json", false, "read the whole notification as JSON from stdin (as POST /api/notifications takes it)")
	var in tocsin.PublishInput
	users := fs.String("user", "", "recipient user id; several, comma-separated, send to userIds")
	fs.StringVar(&in.Topic, "topic", "", "recipient topic (instead of --user)")
	fs.StringVar(&in.Type, "type", "", "notification type (default system)")
	fs.StringVar(&in.Title, "title", "", "title")
	fs.StringVar(&in.Body, "body", "", "body (message)")
	fs.IntVar(&in.Priority, "priority", 0, "priority 1-5 (default 3)")
	tags := fs.String("tags", "", "comma-separated tags")
	data := fs.String("data", "", "data: a JSON object")
	fs.StringVar(&in.ActionURL, "action-url", "", "action URL")
	fs.StringVar(&in.ImageURL, "image-url", "", "image URL")
	fs.StringVar(&in.GroupKey, "group-key", "", "group key (folds repeats into the unread item)")
	fs.StringVar(&in.ActorID, "actor", "", "actor id")
	expires := fs.Duration("expires-in", 0, "expire the notification after this long")
	idem := fs.String("idempotency-key", "", "Idempotency-Key: a repeat within 24h creates nothing")
	at := fs.String("at", "", "schedule: deliver at this time, RFC 3339 (2026-12-24T09:00:00+01:00) or a delay from now (+90m)")
	channels := fs.String("channels", "", "channels beyond the inbox, e.g. push=0s,email=15m,webhook=off (default: the server's by priority)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: tocsin publish --user 42 --title 'Hello' [flags]   or   echo '{...}' | tocsin publish --json")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if err := checkURL(*url); err != nil {
		fmt.Fprintln(stderr, "tocsin publish:", err)
		return 2
	}
	if *fromStdin {
		b, err := io.ReadAll(io.LimitReader(stdin, 2<<20))
		if err == nil {
			err = json.Unmarshal(b, &in)
		}
		if err != nil {
			fmt.Fprintln(stderr, "tocsin publish: stdin:", err)
			return 2
		}
	} else {
		if *users != "" && in.Topic != "" {
			fmt.Fprintln(stderr, "tocsin publish: --user and --topic conflict: send to users or to a topic, not both")
			return 2
		}
		if ids := splitList(*users); len(ids) == 1 {
			in.UserID = ids[0]
		} else if len(ids) > 1 {
			in.UserIDs = ids
		}
		in.Tags = splitList(*tags)
		if *data != "" {
			// Checked here: the server's answer to a malformed body is less clear
			// than naming the flag, and k=v is the usual first guess.
			var obj map[string]any
			if err := json.Unmarshal([]byte(*data), &obj); err != nil || obj == nil {
				fmt.Fprintf(stderr, "tocsin publish: --data %q is not a JSON object; write it as '{\"k\":\"v\"}'\n", *data)
				return 2
			}
			in.Data = json.RawMessage(*data)
		}
		if *expires > 0 {
			t := time.Now().Add(*expires)
			in.ExpiresAt = &t
		}
	}
	if *at != "" {
		t, err := parseAt(*at, time.Now())
		if err != nil {
			fmt.Fprintln(stderr, "tocsin publish: --at:", err)
			return 2
		}
		in.DeliverAt = &t
	}
	if *channels != "" {
		in.Channels = map[string]string{}
		for _, kv := range splitList(*channels) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				fmt.Fprintf(stderr, "tocsin publish: --channels: %q is not CHANNEL=DELAY (e.g. email=15m or push=off)\n", kv)
				return 2
			}
			in.Channels[k] = v
		}
	}
	if *key == "" {
		*key = app.ReadSecret(*dataDir, "api-key")
	}
	if *key == "" {
		// Sending without a key only earns a 401 from the server; say what to set.
		fmt.Fprintf(stderr, "tocsin publish: no API key: set --api-key or TOCSIN_API_KEY, or --data-dir (TOCSIN_DATA_DIR) to the server's data dir (%s has no api-key)\n", *dataDir)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns, err := client.New(*url, client.WithAPIKey(*key)).Publish(ctx, in, client.PublishOptions{IdempotencyKey: *idem})
	if err != nil {
		fmt.Fprintln(stderr, "tocsin publish:", explain(err, *url))
		return 1
	}
	enc := json.NewEncoder(stdout)
	for _, n := range ns {
		_ = enc.Encode(n)
	}
	if in.DeliverAt != nil {
		fmt.Fprintf(stderr, "scheduled %d for %s (list: GET /api/scheduled; cancel: DELETE /api/scheduled/ID)\n",
			len(ns), in.DeliverAt.UTC().Format(time.RFC3339))
	}
	return 0
}

// parseAt reads --at: an RFC 3339 time, or +DURATION from now.
func parseAt(s string, now time.Time) (time.Time, error) {
	if d, ok := strings.CutPrefix(s, "+"); ok {
		dur, err := time.ParseDuration(d)
		if err != nil || dur <= 0 {
			return time.Time{}, fmt.Errorf("%q: want +DURATION such as +90m, or an RFC 3339 time", s)
		}
		return now.Add(dur), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time such as 2026-12-24T09:00:00+01:00, or +90m", s)
	}
	return t, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
