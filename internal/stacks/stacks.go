// Package stacks lists the stacks of the process's goroutines, for tests that check
// what a component left running (a store after Close, a hub after Close).
package stacks

import (
	"runtime"
	"strings"
)

// All returns the stack of every goroutine, each beginning with its header line
// ("goroutine 42 [select]:"; ids are never reused).
func All() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Split(string(buf[:n]), "\n\n")
		}
		buf = make([]byte, 2*len(buf))
	}
}
