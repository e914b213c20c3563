package node

import (
	"runtime"
	"strings"
	"time"
)

// libraryHousekeeping lists functions of goroutines that libraries start
// and that a stopped node cannot end: process-wide singletons (fasthttp's
// Date header updater, the ants pool gnet creates at init) and fasthttp's
// worker-pool cleaner, which notices the stop only after its idle sleep
// (MaxIdleWorkerDuration, 10 s by default) and then exits; likewise the
// connection cleaner of the HTTP proxy's fasthttp.HostClient, which exits
// after its sleep once the stopped node closed the connections.
var libraryHousekeeping = []string{
	"github.com/valyala/fasthttp.updateServerDate.func1",
	"github.com/valyala/fasthttp.(*workerPool).Start.func2",
	"github.com/valyala/fasthttp.(*HostClient).connsCleaner",
	"github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers",
	"github.com/panjf2000/ants/v2.(*poolCommon).ticktock",
}

// NodeGoroutines returns the number of goroutines running now, excluding
// the library housekeeping ones above. It exists for leak checks: after
// Stop it must be back to its value before New. Costly (it formats every
// stack); never call it on a hot path.
func NodeGoroutines() int {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.TrimSpace(g) == "" {
			continue
		}
		ignored := false
		for _, fn := range libraryHousekeeping {
			if strings.Contains(g, fn) {
				ignored = true
				break
			}
		}
		if !ignored {
			count++
		}
	}
	return count
}

// WaitGoroutines polls NodeGoroutines until it is at most want or timeout
// passes, and returns the last count. Goroutines told to exit take a
// moment to finish; polling avoids a fixed sleep.
func WaitGoroutines(want int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		n := NodeGoroutines()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}
