//go:build unix

// Package cputime reads the process's CPU time, for benchmarks that report CPU per
// operation (the figure the performance targets are stated in) next to wall time.
package cputime

import (
	"syscall"
	"time"
)

// Process is the process's user and system CPU time so far.
func Process() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
