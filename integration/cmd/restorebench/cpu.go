package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// brokerPid is the broker process, whose CPU time is measured next to ours.
var brokerPid int

// cpuClock is the kernel's clock tick for /proc/PID/stat times (USER_HZ, 100 on Linux).
const cpuClock = 100

// cpuTimes returns the CPU time (user and system) used so far by this process and by the
// broker process.
func cpuTimes() (self, broker time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", brokerPid)); err == nil {
		// Fields after the command name, which is in parentheses and may hold spaces:
		// state is field 3, utime field 14, stime field 15.
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 {
			f := strings.Fields(string(b[i+1:]))
			if len(f) > 12 {
				u, _ := strconv.ParseInt(f[11], 10, 64)
				s, _ := strconv.ParseInt(f[12], 10, 64)
				broker = time.Duration(u+s) * time.Second / cpuClock
			}
		}
	}
	return self, broker
}

// cpuMeter measures the CPU time this process and the broker use between start and stop.
type cpuMeter struct{ self, broker time.Duration }

func startCPU() cpuMeter {
	s, b := cpuTimes()
	return cpuMeter{s, b}
}

// stop returns the CPU time used since start by this process and by the broker.
func (m cpuMeter) stop() (self, broker time.Duration) {
	s, b := cpuTimes()
	return s - m.self, b - m.broker
}
