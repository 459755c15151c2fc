package storetest

import (
	"reflect"
	"strings"
	"time"

	"github.com/tocsin/tocsin/internal/stacks"
)

// Lingering returns the stacks of the goroutines started by code of store's
// package that still run: once Close has returned there must be none, or the store
// may still write (to its files, its database) after its owner let go of it. A
// goroutine seen is looked at again after grace, since one that Close waited for
// may still be returning past the Done or close it signalled with.
func Lingering(store any, grace time.Duration) []string {
	typ := reflect.TypeOf(store)
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	created := "created by " + typ.PkgPath() + "."
	first := goroutinesCreatedBy(created)
	if len(first) == 0 {
		return nil
	}
	time.Sleep(grace)
	var out []string
	for id, stack := range goroutinesCreatedBy(created) {
		if _, ok := first[id]; ok {
			out = append(out, stack)
		}
	}
	return out
}

// goroutinesCreatedBy maps the id of each goroutine whose stack has the line
// prefix created (and that has not returned) to its stack.
func goroutinesCreatedBy(created string) map[string]string {
	out := map[string]string{}
	for _, g := range stacks.All() {
		header, _, _ := strings.Cut(g, "\n")
		id := strings.Fields(header)
		returned := strings.Contains(g, "\nruntime.goexit1()")
		if len(id) < 2 || returned || !strings.Contains(g, "\n"+created) {
			continue
		}
		out[id[1]] = g
	}
	return out
}
