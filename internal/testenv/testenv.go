// Package testenv gives tests the services and programs they run against, named by
// environment variables. Without one a test skips on a developer's machine and fails
// in CI (CI set, as .ci/run does): there every service is provided, so a skip would
// only hide a test that never ran.
//
// Every skip for something missing reads "needs KEY (LABEL): how to provide it"
// (KEY usually the variable that provides it): the test command's summary
// (internal/testsummary) counts skips by that prefix.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// service is what the service URL variable env names, and an example URL.
func service(env string) (label, example string) {
	switch env {
	case "TOCSIN_TEST_POSTGRES_URL":
		return "PostgreSQL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	case "TOCSIN_TEST_REDIS_URL":
		return "Redis", "redis://127.0.0.1:6379/0"
	case "TOCSIN_TEST_NATS_URL":
		return "NATS", "nats://127.0.0.1:4222"
	}
	return env, ""
}

// Postgres is the PostgreSQL test database: TOCSIN_TEST_POSTGRES_URL.
func Postgres(t testing.TB) string {
	t.Helper()
	return URL(t, "TOCSIN_TEST_POSTGRES_URL")
}

// Redis is the Redis server: TOCSIN_TEST_REDIS_URL.
func Redis(t testing.TB) string {
	t.Helper()
	return URL(t, "TOCSIN_TEST_REDIS_URL")
}

// NATS is the NATS server: TOCSIN_TEST_NATS_URL.
func NATS(t testing.TB) string {
	t.Helper()
	return URL(t, "TOCSIN_TEST_NATS_URL")
}

// URL is the service URL in the environment variable env, for tests that range over
// services by variable name.
func URL(t testing.TB, env string) string {
	t.Helper()
	u := os.Getenv(env)
	if u == "" {
		label, example := service(env)
		how := "set " + env
		if example != "" {
			how += "=" + example
		}
		Need(t, env, label, how+" to run this test against the real service")
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
	Need(t, env, name, name+" is not on PATH: install it or set "+env+" to its path")
	return ""
}

// Need ends a test that lacks what key (an environment variable, or a path when no
// variable provides it) names: label says what it is (PostgreSQL, chromium), how how
// to provide it. Like Missing, it fails in CI and skips elsewhere, with the message
// "needs KEY (LABEL): how" that the test summary groups by.
func Need(t testing.TB, key, label, how string) {
	t.Helper()
	Missing(t, "needs "+key+" ("+label+")", how)
}

// OptIn is the value of env for a test that runs only when it is set (a long
// soak). Unset, it skips, also in CI, which runs such tests as their own step:
// "needs ENV (LABEL): how", as Need says it.
func OptIn(t testing.TB, env, label, how string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		t.Skipf("needs %s (%s): %s", env, label, how)
	}
	return v
}

// Missing ends a test that lacks what it runs against: it fails in CI, which must
// provide everything (what says what is missing), and skips elsewhere (how says how
// to provide it).
func Missing(t testing.TB, what, how string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: CI must provide it (%s)", what, how)
	}
	t.Skipf("%s: %s", what, how)
}
