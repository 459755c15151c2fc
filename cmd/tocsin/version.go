package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/tocsin/tocsin/internal/app"
)

func version(w io.Writer) int {
	v := app.Version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	fmt.Fprintf(w, "tocsin %s (%s, %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}
