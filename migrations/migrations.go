// Package migrations holds the schema of both stores, one directory per dialect
// (sqlite/, postgres/) with the same numbered steps, and the one runner both use.
// A step is a file NNNN_name.sql; each runs once, in its own transaction, in order.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// Dialect names a directory of steps.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Target is a database the runner migrates. Applied lists the versions already run;
// Apply runs one step's SQL and records its version in the same transaction.
type Target interface {
	Applied(ctx context.Context) (map[int]bool, error)
	Apply(ctx context.Context, version int, sql string) error
}

// Step is one migration.
type Step struct {
	Version int
	Name    string
	SQL     string
}

// Steps returns the dialect's steps in order.
func Steps(d Dialect) ([]Step, error) {
	names, err := fs.Glob(files, string(d)+"/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var steps []Step
	for _, name := range names {
		base := strings.TrimPrefix(name, string(d)+"/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s has no version number", name)
		}
		body, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		steps = append(steps, Step{Version: v, Name: base, SQL: string(body)})
	}
	return steps, nil
}

// Run applies the dialect's steps that t has not applied yet.
func Run(ctx context.Context, t Target, d Dialect) error {
	steps, err := Steps(d)
	if err != nil {
		return err
	}
	done, err := t.Applied(ctx)
	if err != nil {
		return fmt.Errorf("read applied migrations: %w", err)
	}
	for _, s := range steps {
		if done[s.Version] {
			continue
		}
		if err := t.Apply(ctx, s.Version, s.SQL); err != nil {
			return fmt.Errorf("migration %s/%s: %w", d, s.Name, err)
		}
	}
	return nil
}
