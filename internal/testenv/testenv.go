// Package testenv gives tests the services and programs they run against, named by
// environment variables. Without one a test skips on a developer's machine and fails
// in CI (CI set, as .ci/run does): there every service is provided, so a skip would
// only hide a test that never ran.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Postgres is the PostgreSQL test database: TOCSIN_TEST_POSTGRES_URL.
func Postgres(t testing.TB) string {
	t.Helper()
	return url(t, "TOCSIN_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
}

// Redis is the Redis server: TOCSIN_TEST_REDIS_URL.
func Redis(t testing.TB) string {
	t.Helper()
	return url(t, "TOCSIN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
}

// NATS is the NATS server: TOCSIN_TEST_NATS_URL.
func NATS(t testing.TB) string {
	t.Helper()
	return url(t, "TOCSIN_TEST_NATS_URL", "nats://127.0.0.1:4222")
}

// URL is the service URL in the environment variable env, for tests that range over
// services by variable name.
func URL(t testing.TB, env string) string {
	t.Helper()
	return url(t, env, "")
}

func url(t testing.TB, env, example string) string {
	t.Helper()
	u := os.Getenv(env)
	if u == "" {
		how := "set " + env
		if example != "" {
			how += " (e.g. " + example + ")"
		}
		Missing(t, env+" is unset", how+" to run this test against the real service")
	}
	return u
}

// Chromium is headless Chromium, for the browser tests: TOCSIN_TEST_CHROMIUM or
// chromium on PATH.
func Chromium(t testing.TB) string {
	t.Helper()
	return Program(t, "TOCSIN_TEST_CHROMIUM", "chromium")
}

// Nginx is nginx, for the reverse-proxy test: TOCSIN_TEST_NGINX, nginx on PATH, or
// Debian's /usr/sbin/nginx.
func Nginx(t testing.TB) string {
	t.Helper()
	return Program(t, "TOCSIN_TEST_NGINX", "nginx")
}

// Program finds the program named by env, or name on PATH or in /usr/sbin or
// /usr/local/sbin (where Debian puts daemons that PATH often lacks).
func Program(t testing.TB, env, name string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	Missing(t, name+" not found and "+env+" unset", "install "+name+" or set "+env+" to run this test")
	return ""
}

// Missing ends a test that lacks what it runs against: it fails in CI, which must
// provide everything (what says what is missing), and skips elsewhere (how says how
// to provide it).
func Missing(t testing.TB, what, how string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: CI must provide it", what)
	}
	t.Skipf("%s: %s", what, how)
}
