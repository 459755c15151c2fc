package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin/webpush"
)

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLayers: each layer overrides the ones below it (default < file < env < flag),
// for a duration, a list and a bool, and Sources says which one won.
func TestLayers(t *testing.T) {
	file := writeFile(t, "tocsin.yaml", "heartbeat: 20s\ncors-origins: [https://file.example]\ndev-tokens: true\n")
	for _, tc := range []struct {
		name      string
		file      bool
		env       map[string]string
		args      []string
		heartbeat time.Duration
		cors      []string
		source    string // of heartbeat
	}{
		{"default", false, nil, nil, 15 * time.Second, nil, "default"},
		{"file over default", true, nil, nil, 20 * time.Second, []string{"https://file.example"}, "file"},
		{"env over file", true, map[string]string{"TOCSIN_HEARTBEAT": "30s"}, nil, 30 * time.Second, []string{"https://file.example"}, "env"},
		{"env without file", false, map[string]string{"TOCSIN_HEARTBEAT": "30s", "TOCSIN_CORS_ORIGINS": "https://env.example"}, nil, 30 * time.Second, []string{"https://env.example"}, "env"},
		{"flag over env and file", true, map[string]string{"TOCSIN_HEARTBEAT": "30s", "TOCSIN_CORS_ORIGINS": "https://env.example"},
			[]string{"--heartbeat", "40s", "--cors-origins", "https://flag.example,https://two.example"}, 40 * time.Second, []string{"https://flag.example", "https://two.example"}, "flag"},
		{"flag over file", true, nil, []string{"--heartbeat=41s"}, 41 * time.Second, []string{"https://file.example"}, "flag"},
		{"empty env is unset", true, map[string]string{"TOCSIN_HEARTBEAT": ""}, nil, 20 * time.Second, []string{"https://file.example"}, "file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range tc.env {
				e[k] = v
			}
			if tc.file {
				e["TOCSIN_CONFIG"] = file
			}
			r, err := Resolve(tc.args, env(e), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Heartbeat != tc.heartbeat || !reflect.DeepEqual(r.CORSOrigins, tc.cors) || r.Sources["heartbeat"] != tc.source {
				t.Fatalf("heartbeat %v from %s, cors %q; want %v from %s, %q", r.Heartbeat, r.Sources["heartbeat"], r.CORSOrigins, tc.heartbeat, tc.source, tc.cors)
			}
			if r.DevTokens != tc.file || r.Sources["addr"] != "default" {
				t.Fatalf("dev-tokens %v (file %v), addr from %s", r.DevTokens, tc.file, r.Sources["addr"])
			}
		})
	}
}

// TestFileValues: YAML lists or comma strings, scalars kept as written (no number
// rounding), empty values, comments after values.
func TestFileValues(t *testing.T) {
	digits := "012345678901234567890123456789" // a YAML number if read as one
	file := writeFile(t, "tocsin.yaml", `# comment
api-key: [`+digits+`, "key-two-0123456789"]
trusted-proxies: 127.0.0.1, 10.0.0.0/8   # a comment, not a part of the value
rate-publish: 1e3
retention-depth: 0
max-fanout-bytes: 1MiB
email-digest: 0
jwt-issuer: 'https://auth.example.com'
tls-cert:
channel-defaults: "*:push=0s"
`)
	c, err := LoadTo([]string{"--config", file}, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.APIKeys, []string{digits, "key-two-0123456789"}) || !reflect.DeepEqual(c.TrustedProxies, []string{"127.0.0.1", "10.0.0.0/8"}) ||
		c.RatePublish != 1000 || c.RetentionDepth != 0 || c.MaxFanoutBytes != 1<<20 || c.EmailDigest != 0 ||
		c.JWTIssuer != "https://auth.example.com" || c.TLSCert != "" || c.ChannelDefaults != "*:push=0s" {
		t.Fatalf("%+v", c)
	}
}

// TestFileErrors: a mistake in the file stops the start, naming the file, the line,
// the key and what was wanted, even when a flag overrides the bad value.
func TestFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"unknown key", "heartbeat: 1s\nhearbeat: 2s\n", []string{"tocsin.yaml:2", `unknown setting "hearbeat"`}},
		{"nested section", "server:\n  addr: 0.0.0.0:80\n", []string{"tocsin.yaml:1", "server"}},
		{"known key nested", "heartbeat:\n  every: 2s\n", []string{"tocsin.yaml:1", "heartbeat: want a value, not a section"}},
		{"duration without unit", "log-level: warn\nheartbeat: 15\n", []string{"tocsin.yaml:2", "heartbeat", "want a duration such as 15s"}},
		{"not a number", "max-streams: many\n", []string{"tocsin.yaml:1", "max-streams", "want a whole number"}},
		{"not a bool", "dev-tokens: yes please\n", []string{"tocsin.yaml:1", "dev-tokens", "want true or false"}},
		{"list for a single value", "addr: [a, b]\n", []string{"tocsin.yaml:1", "addr: want a single value, not a list"}},
		{"comma in a list item", "api-key: [\"a,b\"]\n", []string{"tocsin.yaml:1", "cannot contain a comma"}},
		{"a share", "max-streams-per-ip: 200%\n", []string{"tocsin.yaml:1", "percentage from 1% to 100%"}},
		{"another config", "config: other.yaml\n", []string{"tocsin.yaml:1", "cannot name another"}},
		{"print-config", "print-config: true\n", []string{"tocsin.yaml:1", `unknown setting "print-config"`}},
		{"duplicate key", "heartbeat: 1s\nheartbeat: 2s\n", []string{"tocsin.yaml:2", "heartbeat is set twice (lines 1 and 2)"}},
		{"neither format", "just words\n", []string{"tocsin.yaml", "neither YAML", "line 1: want 'name: value'"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeFile(t, "tocsin.yaml", tc.text)
			_, err := LoadTo([]string{"--config", file, "--heartbeat", "9s"}, env(nil), &bytes.Buffer{})
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := LoadTo(nil, env(map[string]string{"TOCSIN_CONFIG": filepath.Join(t.TempDir(), "none.yaml")}), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "none.yaml") {
		t.Fatalf("a missing file: %v", err)
	}
	if _, err := LoadTo(nil, env(map[string]string{"TOCSIN_QUEUE_SIZE": "big"}), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "TOCSIN_QUEUE_SIZE: queue-size: want a whole number") {
		t.Fatalf("a bad variable: %v", err)
	}
}

// TestOldFormat: files of the 'flag-name: value' format still load with the values
// they had, whether they happen to be YAML or not; Legacy says which were not.
func TestOldFormat(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		legacy     bool
		check      func(c Config) bool
	}{
		{"docs example (is YAML)", "# /etc/tocsin.conf\naddr: 0.0.0.0:8080\ndata-dir: /var/lib/tocsin\napi-key: tk_live_7f3a9c0d2e1b4a5f, tk_live_second_key_for_rotation\n" +
			"jwt-public-key: /etc/tocsin/jwt.pem\njwt-issuer: https://auth.example.com\ncors-origins: https://app.example.com\nheartbeat: 20s\nlog-format: json\n", false,
			func(c Config) bool {
				return c.Addr == "0.0.0.0:8080" && len(c.APIKeys) == 2 && c.APIKeys[1] == "tk_live_second_key_for_rotation" &&
					c.JWTIssuer == "https://auth.example.com" && c.Heartbeat == 20*time.Second && c.LogFormat == "json"
			}},
		{"equals sign", "# comment\n\nheartbeat: 20s\nmax-streams-per-user: 7\ncors-origins: \"https://a.example, https://b.example\"\nlog-level = warn\n", true,
			func(c Config) bool {
				return c.MaxStreamsPerUser == 7 && len(c.CORSOrigins) == 2 && c.LogLevel == "warn"
			}},
		{"a value starting with *", "cors-origins: *,https://app.example.com\n", true,
			func(c Config) bool { return len(c.CORSOrigins) == 2 && c.CORSOrigins[0] == "*" }},
		{"a value holding ': '", "email-from: Acme: Alerts <notify@acme.example>\nsmtp-url: smtp://u:p@mail.example:587\n", true,
			func(c Config) bool { return c.EmailFrom == "Acme: Alerts <notify@acme.example>" }},
		{"quotes kept literally inside", `email-from: "Acme" <notify@acme.example>` + "\nsmtp-url: smtp://u:p@mail.example:587\n", true,
			func(c Config) bool { return c.EmailFrom == `"Acme" <notify@acme.example>` }},
		{"# inside a value", "jwt-secret: abc#def0123456789abcdef0123456789\nchannel-defaults: 1-2:push=off;*:email=0s\n", false,
			func(c Config) bool {
				return c.JWTSecret == "abc#def0123456789abcdef0123456789" && c.ChannelDefaults == "1-2:push=off;*:email=0s"
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeFile(t, "tocsin.conf", tc.text)
			r, err := Resolve([]string{"--config", file}, env(nil), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Legacy != tc.legacy || !tc.check(r.Config) {
				t.Fatalf("legacy %v, want %v; %+v", r.Legacy, tc.legacy, r.Config)
			}
			if w := r.Warnings(); (len(w) > 0) != tc.legacy {
				t.Fatalf("warnings %q", w)
			}
		})
	}
}

// secretValues are distinct secrets, valid for their flags, per secret flag.
var secretValues = map[string]string{
	"api-key":            "apikey-one-SECRET1111,apikey-two-SECRET2222",
	"jwt-secret":         "jwtsecret-SECRET3333-0123456789abcdef",
	"unsubscribe-secret": "unsub-SECRET4444-0123456789abcdefghijkl",
	"vapid-private-key":  "", // generated below: it must parse
	"store":              "postgres://tocsin:pgpass-SECRET5555@db:5432/tocsin?sslmode=disable&sslpassword=SECRET6666",
	"bus":                "nats://natstoken-SECRET7777@nats:4222",
	"smtp-url":           "smtp://mailer:smtppass-SECRET8888@mail.example:587",
	"public-url":         "https://web:webpass-SECRET9999@notify.example.com",
}

// TestPrintConfigMasksSecrets sets every secret flag, from the environment and from
// flags, and fails if any secret (or any part of a list of them) is in the output.
func TestPrintConfigMasksSecrets(t *testing.T) {
	values := map[string]string{}
	for k, v := range secretValues {
		values[k] = v
	}
	key, err := webpush.GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	if values["vapid-private-key"], err = webpush.EncodeVAPIDPrivateKey(key); err != nil {
		t.Fatal(err)
	}
	// What must not be printed: each marked part, and the key (random, unmarked).
	hidden := append(regexp.MustCompile(`SECRET\d{4}`).FindAllString(strings.Join(mapValues(values), " "), -1), values["vapid-private-key"])
	if len(hidden) != 10 {
		t.Fatalf("secrets to look for: %q", hidden)
	}
	for _, name := range append(append([]string{}, secretFlags...), urlFlags...) {
		if _, ok := values[name]; !ok {
			t.Fatalf("secretValues lacks %s", name)
		}
	}
	for _, viaFlags := range []bool{false, true} {
		e := map[string]string{"TOCSIN_EMAIL_FROM": "Acme <a@acme.example>"}
		var args []string
		for name, v := range values {
			if viaFlags {
				args = append(args, "--"+name, v)
			} else {
				e[EnvName(name)] = v
			}
		}
		r, err := Resolve(append(args, "--print-config"), env(e), &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := r.WriteYAML(&out); err != nil || !r.PrintConfig {
			t.Fatal(err, r.PrintConfig)
		}
		for _, secret := range hidden {
			if strings.Contains(out.String(), secret) {
				t.Errorf("--print-config shows %s:\n%s", secret, out.String())
			}
		}
		for _, name := range append(append([]string{}, secretFlags...), urlFlags...) {
			if !regexp.MustCompile(`(?m)^` + name + `: .*` + regexp.QuoteMeta(Masked) + `.*# from .*, masked$`).MatchString(out.String()) {
				t.Errorf("%s is not shown masked:\n%s", name, out.String())
			}
		}
	}
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestSecretFlagsAreListed guards the lists of print.go: a new flag that looks as if
// it could hold a secret must be classified.
func TestSecretFlagsAreListed(t *testing.T) {
	notSecret := map[string]string{
		"jwt-public-key":        "a path to a public key",
		"tls-key":               "a path; the key is in the file",
		"dev-tokens":            "a bool",
		"max-streams-per-token": "a count",
		"rate-hook":             "a rate",
	}
	c := Default()
	looksSecret := regexp.MustCompile(`(?i)secret|password|pass\b|key|token|url|store|bus|dsn`)
	FlagSet(&c).VisitAll(func(f *flag.Flag) {
		if !looksSecret.MatchString(f.Name) || isSecret(f.Name) || isURLFlag(f.Name) {
			return
		}
		if _, ok := notSecret[f.Name]; !ok {
			t.Errorf("--%s may hold a secret: list it in secretFlags or urlFlags (print.go), or here", f.Name)
		}
	})
}

// TestPrintConfigRoundTrip: the output, loaded as a config file with the secrets set
// by environment, gives back the same configuration, odd values included.
func TestPrintConfigRoundTrip(t *testing.T) {
	secrets := map[string]string{"TOCSIN_API_KEY": "key-one-0123456789,key-two-0123456789", "TOCSIN_JWT_SECRET": strings.Repeat("s", 32),
		"TOCSIN_STORE": "postgres://u:pw@db/x?sslmode=disable"}
	args := []string{"--heartbeat", "21s", "--cors-origins", "*,https://app.example.com", "--email-from", "Acme: Alerts <a@acme.example>",
		"--templates", "null", "--jwt-audience", "0123", "--max-streams-per-token", "7", "--max-fanout-bytes", "3KiB",
		"--channel-defaults", "*:push=0s,email=off", "--dev-tokens", "--rate-user", "2.5", "--jwt-issuer", "a #b: c"}
	first, err := Resolve(args, env(secrets), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := first.WriteYAML(&out); err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, "printed.yaml", out.String())
	again, err := Resolve([]string{"--config", file}, env(secrets), &bytes.Buffer{})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	first.ConfigFile = file
	if !reflect.DeepEqual(first.Config, again.Config) {
		t.Fatalf("reloaded\n%+v\nwant\n%+v\nfrom\n%s", again.Config, first.Config, out.String())
	}
	if again.Legacy {
		t.Fatal("the printed file was not read as YAML")
	}
}
