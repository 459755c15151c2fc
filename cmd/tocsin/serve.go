package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tocsin/tocsin/config"
	"github.com/tocsin/tocsin/internal/app"
	"github.com/tocsin/tocsin/redisbus"
)

// serve runs the server until SIGINT or SIGTERM, then shuts down gracefully.
// --help prints the usage on stdout and exits 0, like every other command;
// --print-config prints the merged configuration on stdout and exits without
// serving (2 if it is invalid, with the reasons on stderr).
func serve(args []string, stdout, stderr io.Writer) int {
	r, err := config.Resolve(args, os.Getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if r != nil && r.PrintConfig { // merged in full: printed even if invalid
		if werr := r.WriteYAML(stdout); werr != nil {
			fmt.Fprintf(stderr, "tocsin serve: %v\n", werr)
			return 1
		}
		if err != nil {
			fmt.Fprintf(stderr, "tocsin serve: this configuration would not start:\n%v\n", err)
			return 2
		}
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "tocsin serve: %v\n", err)
		return 2
	}
	cfg := r.Config
	log := newLogger(cfg, stderr)
	for _, w := range r.Warnings() {
		log.Warn(w)
	}
	// go-redis logs through one process-wide logger: set here, once, for the process.
	redisbus.LogLibraryTo(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	a, err := app.New(ctx, cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		log.Error("cannot listen", "addr", cfg.Addr, "err", err)
		a.Close()
		return 1
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	log.Info("tocsin serving", "url", scheme+"://"+ln.Addr().String()+cfg.BasePath,
		"version", app.Version, "data_dir", cfg.DataDir, "bus", app.Redact(cfg.Bus), "store", app.Redact(cfg.StoreURL()))

	done := make(chan error, 1)
	go func() { done <- a.Serve(ln) }()
	if cfg.DebugAddr != "" {
		go serveDebug(cfg.DebugAddr, log)
	}
	select {
	case err := <-done:
		a.Close()
		if err != nil {
			log.Error("server failed", "err", err)
			return 1
		}
		return 0
	case <-ctx.Done():
	}
	stop() // a second signal kills at once
	log.Info("shutting down: streams told to reconnect, finishing in-flight requests", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		log.Warn("shutdown did not finish in time", "err", err)
	}
	<-done
	log.Info("stopped")
	return 0
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serveDebug serves net/http/pprof on a loopback address of its own, never on the
// public listener.
func serveDebug(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Info("profiles served", "url", "http://"+addr+"/debug/pprof/")
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		log.Warn("debug listener stopped", "err", err)
	}
}
