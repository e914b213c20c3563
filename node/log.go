package node

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/eventstored/eventstored/node/config"
)

// LogFileName is the file written in the --log directory.
const LogFileName = "eventstored.log"

// NewLogger returns the process logger: text records to stderr and, when
// --log was given by any source, also to <Log>/eventstored.log (appended).
// The returned closer closes the file; call it after the node has stopped.
//
// NB: 4.0.3 always writes files under its default log directory; we log to
// stderr only unless asked, because the default /var/log/eventstore is
// rarely writable for a developer and containers collect stderr.
func NewLogger(opts *config.Options, stderr io.Writer) (*slog.Logger, io.Closer, error) {
	h := slog.Handler(slog.NewTextHandler(stderr, nil))
	var closer io.Closer = nopCloser{}
	if opts.LogGiven() {
		if err := os.MkdirAll(opts.Log, 0o755); err != nil {
			return nil, nil, fmt.Errorf("cannot create log directory %s: %w", opts.Log, err)
		}
		p := filepath.Join(opts.Log, LogFileName)
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot open log file %s: %w", p, err)
		}
		h = slog.NewMultiHandler(h, slog.NewTextHandler(f, nil))
		closer = f
	}
	return slog.New(h), closer, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
