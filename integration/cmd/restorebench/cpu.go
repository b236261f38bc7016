package main

import (
	"time"

	"github.com/gregorhq/gregor/integration/benchkit"
)

// brokerPid is the broker process, whose CPU time is measured next to ours.
var brokerPid int

// cpuMeter measures the CPU time this process and the broker use between start and stop.
type cpuMeter struct{ self, broker time.Duration }

func startCPU() cpuMeter {
	return cpuMeter{benchkit.SelfCPU(), benchkit.ProcessCPU(brokerPid)}
}

// stop returns the CPU time used since start by this process and by the broker.
func (m cpuMeter) stop() (self, broker time.Duration) {
	return benchkit.SelfCPU() - m.self, benchkit.ProcessCPU(brokerPid) - m.broker
}
