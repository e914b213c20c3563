// Command eventstored runs one Event Store compatible node. It holds only
// flag handling and wiring: options come from node/config, the node from
// node.New.
//
// Exit codes: 0 after --help, --version, --what-if or a clean shutdown on
// SIGINT/SIGTERM; 2 for a bad configuration (nothing was bound); 1 when
// the node fails to start or to stop cleanly.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"syscall"
	"time"

	"github.com/eventstored/eventstored/node"
	"github.com/eventstored/eventstored/node/config"
)

// shutdownTimeout bounds Stop after a signal; 4.0.3 gives shutdown 5 s
// (spec cluster-and-options §4.2).
const shutdownTimeout = 5 * time.Second

// goroutineReportEnv makes the process print its goroutine count before
// start and after shutdown, for the process-level leak test.
const goroutineReportEnv = "EVENTSTORED_TEST_REPORT_GOROUTINES"

// Profiling of a running node under load (no HTTP endpoint, so profiling
// never reaches a client-facing port): EVENTSTORED_CPUPROFILE=<file> writes
// a CPU profile and EVENTSTORED_TRACE=<file> an execution trace, both from
// start to shutdown.
const (
	cpuProfileEnv = "EVENTSTORED_CPUPROFILE"
	traceEnv      = "EVENTSTORED_TRACE"
)

// startProfiling starts what the profiling variables ask for and returns
// the function that stops and flushes it.
func startProfiling(stderr io.Writer) func() {
	var stops []func()
	if path := os.Getenv(cpuProfileEnv); path != "" {
		if f, err := os.Create(path); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cpuProfileEnv, err)
		} else if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cpuProfileEnv, err)
			f.Close()
		} else {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if path := os.Getenv(traceEnv); path != "" {
		if f, err := os.Create(path); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", traceEnv, err)
		} else if err := trace.Start(f); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", traceEnv, err)
			f.Close()
		} else {
			stops = append(stops, func() { trace.Stop(); f.Close() })
		}
	}
	return func() {
		for _, stop := range stops {
			stop()
		}
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, err := config.Load(args)
	if err != nil {
		fmt.Fprintf(stderr, "Error while parsing options:\n%v\n\nRun 'eventstored --help' to see every option.\n", err)
		return 2
	}
	switch {
	case opts.Help:
		config.WriteUsage(stdout, "eventstored")
		return 0
	case opts.Version:
		fmt.Fprintf(stdout, "EventStore version %s (%s)\n", node.ESVersion, buildInfo())
		return 0
	}

	log, logCloser, err := node.NewLogger(opts, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "Error while setting up logging:\n%v\n", err)
		return 2
	}
	defer logCloser.Close()
	for _, n := range opts.Notices() {
		log.Warn(n)
	}
	warnings, verr := opts.Validate()
	for _, w := range warnings {
		log.Warn(w)
	}

	if opts.WhatIf {
		fmt.Fprintf(stdout, "ES VERSION:               %s (%s)\n", node.ESVersion, buildInfo())
		fmt.Fprintf(stdout, "OS:                       %s/%s\n", runtime.GOOS, runtime.GOARCH)
		fmt.Fprintf(stdout, "RUNTIME:                  %s\n", runtime.Version())
		if f := opts.ConfigFile(); f != "" {
			fmt.Fprintf(stdout, "CONFIG FILE:              %s\n", f)
		}
		fmt.Fprintln(stdout)
		opts.WriteEffective(stdout)
		if verr != nil {
			fmt.Fprintf(stderr, "Invalid configuration:\n%v\n", verr)
			return 2
		}
		return 0
	}
	if verr != nil {
		fmt.Fprintf(stderr, "Invalid configuration:\n%v\n", verr)
		return 2
	}

	// Signals are caught before anything binds, so a SIGTERM during
	// start-up still ends in an orderly Stop.
	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stopSignals()
	report := os.Getenv(goroutineReportEnv) != ""
	before := 0
	if report {
		before = node.NodeGoroutines()
		fmt.Fprintf(stderr, "goroutines before start: %d\n", before)
	}

	stopProfiling := startProfiling(stderr)
	defer stopProfiling()

	n, err := node.New(opts, node.WithLogger(log))
	if err != nil {
		fmt.Fprintf(stderr, "Invalid configuration:\n%v\n", err)
		return 2
	}
	log.Info("starting node", "version", node.ESVersion, "build", buildInfo(), "cluster_size", opts.ClusterSize)
	if err := n.Start(); err != nil {
		log.Error("start-up failed", "err", err)
		fmt.Fprintf(stderr, "Start-up failed: %v\n", err)
		return 1
	}
	code := 0
	select {
	case <-ctx.Done():
		log.Info("shutdown requested by signal")
	case <-n.ShutdownRequested():
		if cause := n.ShutdownCause(); cause != nil {
			// The node stops itself on a failure (consensus stopped): the
			// exit code says so to whatever supervises the process.
			log.Error("the node stops on a failure", "err", cause)
			code = 1
		} else {
			log.Info("shutdown requested over HTTP")
		}
	}
	// A second SIGINT/SIGTERM during shutdown takes the default action
	// (the process ends at once), so an operator can always force it.
	stopSignals()
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := n.Stop(stopCtx); err != nil && !errors.Is(err, node.ErrNotStarted) {
		log.Error("shutdown was not clean", "err", err)
		code = 1
	}
	if report {
		fmt.Fprintf(stderr, "goroutines after shutdown: %d\n", node.WaitGoroutines(before, 2*time.Second))
	}
	return code
}

// commit and commitTime are set by the Makefile (-ldflags "-X
// main.commit=...") for builds where Go's own VCS stamp is unavailable.
var commit, commitTime string

// buildInfo returns "eventstored/<revision>, <commit time>" from the Go
// build stamp or the Makefile's commit, or "development build".
func buildInfo() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = &debug.BuildInfo{}
	}
	rev, at := commit, commitTime
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if rev == "" {
				rev = s.Value
			}
		case "vcs.time":
			if at == "" {
				at = s.Value
			}
		}
	}
	if rev == "" {
		return "development build"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if at == "" {
		return "eventstored/" + rev
	}
	return "eventstored/" + rev + ", " + at
}
