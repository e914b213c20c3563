package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// 100 on every Linux architecture Go supports (the kernel fixes it for
// user space whatever CONFIG_HZ is).
const clockTick = 10 * time.Millisecond

// ProcessCPU returns the CPU time (user + system, all threads) a process
// has used so far, from /proc/<pid>/stat; pid 0 is this process.
func ProcessCPU(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("cannot read the CPU time of pid %d: %w", pid, err)
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses and
// may hold spaces and parentheses itself, so fields are counted from the
// last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat line: no command name")
	}
	// After ") " come field 3 (state) onwards; utime is field 14.
	fields := bytes.Fields(b[i+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat line: %d fields after the command name", len(fields))
	}
	utime, err1 := strconv.ParseInt(string(fields[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(fields[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc stat utime %q stime %q", fields[11], fields[12])
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// cpuMeter samples the CPU time of the server (when its pid is known) and
// of this tool at the window's edges.
type cpuMeter struct {
	pid              int
	server0, tool0   time.Duration
	serverOK, toolOK bool
}

func startCPUMeter(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid}
	if pid > 0 {
		m.server0, m.serverOK = cpuOrZero(pid)
	}
	m.tool0, m.toolOK = cpuOrZero(0)
	return m
}

func cpuOrZero(pid int) (time.Duration, bool) {
	d, err := ProcessCPU(pid)
	return d, err == nil
}

// fill sets the CPU fields of r from the time used since start.
func (m *cpuMeter) fill(r *Result) {
	per := func(d time.Duration) float64 {
		if r.Requests == 0 {
			return 0
		}
		return float64(d.Microseconds()) / float64(r.Requests)
	}
	if m.serverOK {
		if now, ok := cpuOrZero(m.pid); ok {
			d := now - m.server0
			r.ServerCPUSeconds = d.Seconds()
			r.ServerCPUPerRequestUs = per(d)
		}
	}
	if m.toolOK {
		if now, ok := cpuOrZero(0); ok {
			d := now - m.tool0
			r.ToolCPUSeconds = d.Seconds()
			r.ToolCPUPerRequestUs = per(d)
		}
	}
}
