package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tocsin.conf")
	os.WriteFile(file, []byte("# comment\n\nheartbeat: 20s\nmax-streams-per-user: 7\ncors-origins: \"https://a.example, https://b.example\"\nlog-level = warn\n"), 0o600)
	for _, tc := range []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c Config)
	}{
		{"defaults", nil, nil, func(t *testing.T, c Config) {
			if c.Addr != "127.0.0.1:8080" || c.Heartbeat != 15*time.Second || c.MaxStreamsPerUser != 10 ||
				c.Bus != "memory" || c.StoreURL() != "sqlite:"+filepath.Join("tocsin-data", "tocsin.db") {
				t.Fatalf("%+v", c)
			}
		}},
		{"env over default", nil, map[string]string{"TOCSIN_ADDR": "127.0.0.1:9000", "TOCSIN_API_KEY": "key-one-0123456789,key-two-0123456789"}, func(t *testing.T, c Config) {
			if c.Addr != "127.0.0.1:9000" || len(c.APIKeys) != 2 || c.APIKeys[1] != "key-two-0123456789" {
				t.Fatalf("%+v", c)
			}
		}},
		{"head check: default, env, off", nil, nil, func(t *testing.T, c Config) {
			if c.HeadCheckInterval != 5*time.Second {
				t.Fatalf("default head check interval %v, want 5s", c.HeadCheckInterval)
			}
			for v, want := range map[string]time.Duration{"2s": 2 * time.Second, "0": 0} {
				c, err := LoadTo(nil, env(map[string]string{"TOCSIN_HEAD_CHECK_INTERVAL": v}), &bytes.Buffer{})
				if err != nil || c.HeadCheckInterval != want {
					t.Fatalf("TOCSIN_HEAD_CHECK_INTERVAL=%s: %v (%v), want %v", v, c.HeadCheckInterval, err, want)
				}
			}
		}},
		{"flag over env", []string{"--addr", "127.0.0.1:9001"}, map[string]string{"TOCSIN_ADDR": "127.0.0.1:9000"}, func(t *testing.T, c Config) {
			if c.Addr != "127.0.0.1:9001" {
				t.Fatal(c.Addr)
			}
		}},
		{"file", []string{"--config", file}, nil, func(t *testing.T, c Config) {
			if c.Heartbeat != 20*time.Second || c.MaxStreamsPerUser != 7 || len(c.CORSOrigins) != 2 || c.LogLevel != "warn" {
				t.Fatalf("%+v", c)
			}
		}},
		{"env over file", nil, map[string]string{"TOCSIN_CONFIG": file, "TOCSIN_HEARTBEAT": "30s"}, func(t *testing.T, c Config) {
			if c.Heartbeat != 30*time.Second || c.MaxStreamsPerUser != 7 {
				t.Fatalf("%+v", c)
			}
		}},
		{"flag over file", []string{"--config", file, "--max-streams-per-user", "2"}, nil, func(t *testing.T, c Config) {
			if c.MaxStreamsPerUser != 2 {
				t.Fatal(c.MaxStreamsPerUser)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadTo(tc.args, env(tc.env), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestInvalid(t *testing.T) {
	dir := t.TempDir()
	badFile := filepath.Join(dir, "bad.conf")
	os.WriteFile(badFile, []byte("heartbeat: 1s\nnot-a-flag: 1\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "nope"}, "--addr"},
		{[]string{"--heartbeat", "0s"}, "--heartbeat"},
		{[]string{"--heartbeat", "soon"}, "heartbeat"},
		{[]string{"--head-check-interval", "-1s"}, "--head-check-interval"},
		{[]string{"--store", "mysql://x"}, "--store"},
		{[]string{"--bus", "kafka://x"}, "--bus"},
		{[]string{"--api-key", "short"}, "--api-key"},
		{[]string{"--jwt-secret", "short"}, "--jwt-secret"},
		{[]string{"--jwt-secret", strings.Repeat("s", 31)}, "openssl rand"},
		{[]string{"--api-key", "fifteen-chars-k"}, "at least 16"},
		{[]string{"--tls-cert", "a.pem"}, "--tls-cert"},
		{[]string{"--base-path", "notify/"}, "--base-path"},
		{[]string{"--cors-origins", "ftp://x"}, "--cors-origins"},
		{[]string{"--slot-policy", "random"}, "--slot-policy"},
		{[]string{"--sqlite-sync", "off"}, "--sqlite-sync"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--max-streams-per-user", "0"}, "--max-streams-per-user"},
		{[]string{"--trusted-user-header", "Member ID"}, "--trusted-user-header"},
		{[]string{"--trusted-user-header", "Member-ID,Member_ID"}, "underscore"},
		{[]string{"--trusted-user-header", "Authorization"}, "--trusted-user-header"},
		{[]string{"--trusted-user-header", "Member-ID,cookie"}, "--trusted-user-header"},
		{[]string{"--config", badFile}, "bad.conf:2"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := LoadTo(tc.args, env(nil), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// TestHelpDocumentsEveryFlag fails when a flag lacks its help line or env variable.
func TestHelpDocumentsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	_, err := LoadTo([]string{"--help"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v, want flag.ErrHelp", err)
	}
	help := out.String()
	c := Default()
	FlagSet(&c).VisitAll(func(f *flag.Flag) {
		if !strings.Contains(help, "--"+f.Name+" ") {
			t.Errorf("--help lacks --%s", f.Name)
		}
		if f.Name == flagPrintConfig {
			if !strings.Contains(help, "[flag only]") {
				t.Errorf("--help does not say --%s is a flag only", f.Name)
			}
		} else if !strings.Contains(help, "$"+EnvName(f.Name)+"]") {
			t.Errorf("--help lacks %s", EnvName(f.Name))
		}
	})
	for _, must := range []string{"TOCSIN_MAX_STREAMS_PER_USER", "(default 127.0.0.1:8080)", "(default 15s)"} {
		if !strings.Contains(help, must) {
			t.Errorf("--help lacks %q", must)
		}
	}
}
