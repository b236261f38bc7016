package runtime

import (
	"cmp"
	"slices"
	"time"
)

// workItem is a connector instance (Task == connectorTaskID) or one of
// its tasks: the unit the leader assigns.
type workItem struct {
	Connector string
	Task      int
}

func (w workItem) isConnector() bool { return w.Task == connectorTaskID }

func compareItems(a, b workItem) int {
	if c := cmp.Compare(a.Connector, b.Connector); c != 0 {
		return c
	}
	return cmp.Compare(a.Task, b.Task)
}

type itemSet map[workItem]bool

func (s itemSet) sorted() []workItem {
	out := make([]workItem, 0, len(s))
	for it := range s {
		out = append(out, it)
	}
	slices.SortFunc(out, compareItems)
	return out
}

// count returns how many connectors (conns true) or tasks s holds.
func (s itemSet) count(conns bool) int {
	n := 0
	for it := range s {
		if it.isConnector() == conns {
			n++
		}
	}
	return n
}

func (s itemSet) workSet() workSet {
	var w workSet
	for _, it := range s.sorted() {
		if it.isConnector() {
			w.Connectors = append(w.Connectors, it.Connector)
		} else {
			w.Tasks = append(w.Tasks, TaskID(it))
		}
	}
	return w
}

func itemsOf(w workSet) itemSet {
	s := itemSet{}
	for _, c := range w.Connectors {
		s[workItem{c, connectorTaskID}] = true
	}
	for _, t := range w.Tasks {
		s[workItem(t)] = true
	}
	return s
}

// configuredItems lists every connector and task of the configuration
// (connector name -> task count).
func configuredItems(conns map[string]int) itemSet {
	s := itemSet{}
	for n, tasks := range conns {
		s[workItem{n, connectorTaskID}] = true
		for i := range tasks {
			s[workItem{n, i}] = true
		}
	}
	return s
}

// memberWork is one member of a rebalance and what it runs.
type memberWork struct {
	ID    string
	Owned workSet
}

// cooperativeAssignor is the leader's side of incremental cooperative
// rebalancing (KIP-415). It remembers what it assigned last time, so it
// can tell work that was deleted (no longer configured: revoked), new
// (configured but assigned to nobody: assigned to the least loaded
// members) and lost (assigned last time, but its member has left). Lost
// work waits up to maxDelay (scheduled.rebalance.max.delay.ms) for its
// member to come back; then it goes to the members that joined empty
// while the delay ran (the returning worker), or else is spread like new
// work. While no delay runs, overloaded members give work up (revoked in
// one round, assigned in the next) until the load is even.
//
// It is pure: time comes in as an argument. The Distributed run goroutine
// owns it.
type cooperativeAssignor struct {
	maxDelay time.Duration

	previous        itemSet // what the last assignment left assigned, lost work included
	previousRevoked itemSet // what it revoked
	previousGen     int32
	previousMembers map[string]bool
	scheduled       time.Time // when lost work is reassigned; zero: no delay runs
	candidates      []string  // members that were empty while the delay ran
}

func newCooperativeAssignor(maxDelay time.Duration) *cooperativeAssignor {
	return &cooperativeAssignor{maxDelay: maxDelay, previous: itemSet{}, previousGen: -1}
}

// assign computes the assignment of generation gen. lastCompletedGen is
// the generation of the last rebalance this member completed: if it is
// not the one this assignor computed, its memory of the previous
// assignment is stale (another member led since) and is dropped.
// configured maps each connector to its task count. The result has an
// entry for every member: what it starts (Connectors, Tasks), what it
// stops (Revoked) and the delay after which it should rejoin.
func (a *cooperativeAssignor) assign(now time.Time, gen, lastCompletedGen int32, members []memberWork, configured map[string]int) map[string]*workerAssignment {
	if len(members) == 0 {
		return map[string]*workerAssignment{}
	}
	if a.previousGen != lastCompletedGen {
		a.previous = itemSet{}
	}
	conf := configuredItems(configured)
	ids := make([]string, 0, len(members))
	owned := map[string]itemSet{}
	count := map[workItem]int{}
	active := itemSet{}
	for _, m := range members {
		ids = append(ids, m.ID)
		owned[m.ID] = itemsOf(m.Owned)
		for it := range owned[m.ID] {
			count[it]++
			active[it] = true
		}
	}
	slices.Sort(ids)
	// A revocation that did not take effect: start again from what the
	// members really run.
	for it := range a.previousRevoked {
		if active[it] {
			a.previous = cloneItems(active)
			break
		}
	}

	// Deleted work and work that two members run is revoked from its
	// owners; load is what every member keeps.
	revoke, load, added := map[string]itemSet{}, map[string]itemSet{}, map[string]itemSet{}
	for _, id := range ids {
		revoke[id], load[id], added[id] = itemSet{}, itemSet{}, itemSet{}
		for it := range owned[id] {
			if !conf[it] || count[it] > 1 {
				revoke[id][it] = true
			} else {
				load[id][it] = true
			}
		}
	}
	lost, fresh := itemSet{}, itemSet{}
	for it := range conf {
		switch {
		case active[it]:
		case a.previous[it]:
			lost[it] = true
		default:
			fresh[it] = true
		}
	}

	delay := a.handleLost(now, ids, lost, fresh, load, added)
	if delay == 0 {
		for _, conns := range []bool{true, false} {
			balance(conns, conf.count(conns), ids, load, added, revoke)
		}
	}
	for _, it := range fresh.sorted() {
		m := leastLoaded(it.isConnector(), ids, load, added)
		added[m][it] = true
	}

	a.previous, a.previousRevoked = itemSet{}, itemSet{}
	if delay > 0 {
		a.previous = cloneItems(lost)
	}
	out := map[string]*workerAssignment{}
	for _, id := range ids {
		for it := range load[id] {
			a.previous[it] = true
		}
		for it := range added[id] {
			a.previous[it] = true
		}
		for it := range revoke[id] {
			a.previousRevoked[it] = true
		}
		w := added[id].workSet()
		out[id] = &workerAssignment{Connectors: w.Connectors, Tasks: w.Tasks, Revoked: revoke[id].workSet(), Delay: int32(delay.Milliseconds())}
	}
	a.previousGen = gen
	a.previousMembers = map[string]bool{}
	for _, id := range ids {
		a.previousMembers[id] = true
	}
	return out
}

// handleLost decides what happens to work whose member left: it returns
// the delay members should wait before rejoining (0: none), having moved
// lost work into fresh or added when it is time to reassign it.
func (a *cooperativeAssignor) handleLost(now time.Time, ids []string, lost, fresh itemSet, load, added map[string]itemSet) time.Duration {
	if len(lost) == 0 {
		a.resetDelay()
		return 0
	}
	allBack := true
	for m := range a.previousMembers {
		if _, ok := load[m]; !ok {
			allBack = false
		}
	}
	expired := !a.scheduled.IsZero() && !now.Before(a.scheduled)
	if (a.scheduled.IsZero() && allBack) || a.maxDelay <= 0 || expired {
		// Nobody left (the members missed an assignment), no delay is
		// configured, or the delay is over.
		var cands []string
		if expired {
			for _, c := range a.candidates {
				if _, ok := load[c]; ok {
					cands = append(cands, c)
				}
			}
		}
		if len(cands) == 0 {
			for it := range lost {
				fresh[it] = true
			}
		} else {
			// Round-robin, connectors and tasks each from the first
			// candidate: a returning worker gets its work back.
			var nc, nt int
			for _, it := range lost.sorted() {
				n := &nt
				if it.isConnector() {
					n = &nc
				}
				added[cands[*n%len(cands)]][it] = true
				*n++
			}
		}
		a.resetDelay()
		return 0
	}
	for _, id := range ids {
		if len(load[id]) == 0 && !slices.Contains(a.candidates, id) {
			a.candidates = append(a.candidates, id)
		}
	}
	if a.scheduled.IsZero() {
		a.scheduled = now.Add(a.maxDelay)
	}
	return max(a.scheduled.Sub(now), time.Millisecond)
}

func (a *cooperativeAssignor) resetDelay() {
	a.scheduled, a.candidates = time.Time{}, nil
}

// balance revokes connectors (conns true) or tasks from members that hold
// more than their share of total: sorted by load, the first total%n
// members may hold total/n+1, the others total/n. What is revoked is
// assigned in the next round.
func balance(conns bool, total int, ids []string, load, added, revoke map[string]itemSet) {
	if len(ids) == 0 {
		return
	}
	held := func(id string) int { return load[id].count(conns) + added[id].count(conns) }
	byLoad := slices.Clone(ids)
	slices.SortStableFunc(byLoad, func(x, y string) int { return cmp.Compare(held(y), held(x)) })
	for i, id := range byLoad {
		target := total / len(ids)
		if i < total%len(ids) {
			target++
		}
		excess := held(id) - target
		items := load[id].sorted()
		for j := len(items) - 1; j >= 0 && excess > 0; j-- {
			if it := items[j]; it.isConnector() == conns {
				delete(load[id], it)
				revoke[id][it] = true
				excess--
			}
		}
	}
}

// leastLoaded picks the member holding the fewest connectors (conns true)
// or tasks, the first by ID on a tie.
func leastLoaded(conns bool, ids []string, load, added map[string]itemSet) string {
	best, bestN := "", -1
	for _, id := range ids {
		if n := load[id].count(conns) + added[id].count(conns); bestN < 0 || n < bestN {
			best, bestN = id, n
		}
	}
	return best
}

func cloneItems(s itemSet) itemSet {
	out := make(itemSet, len(s))
	for it := range s {
		out[it] = true
	}
	return out
}
