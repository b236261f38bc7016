package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// A History is what a workload saw, in the spirit of Jepsen's Kafka
// workload: every write it attempted with its outcome, every record its
// consumers read, every group offset commit, every transaction and every
// partition assignment that starts a consumer's stream. Times are offsets
// from the start of the history on the monotonic clock, so "A ended before
// B started" is a real-time order. A History is safe for concurrent use
// while the workload runs; Check reads it once the workload has stopped.
//
// Consumers in a history read read_committed: a transaction's records
// are visible only once it commits.
type History struct {
	start time.Time

	mu          sync.Mutex
	Writes      []Write
	Reads       []Read
	Commits     []Commit
	Txns        []Txn
	Assignments []Assignment
	// OffsetSamples are the group's committed offsets as OffsetFetch
	// returned them while the workload ran.
	OffsetSamples []OffsetSample
	// FinalDone says the final read (Workload.FinalRead) reached the end
	// offset of every partition; without it Check reports the history
	// incomplete.
	FinalDone bool
}

// FinalConsumer is the Consumer name of the final read's reads.
const FinalConsumer = "final"

// Write is one record a producer tried to write.
type Write struct {
	Producer  string
	Value     string // unique in the history
	Txn       string // the transaction it was written in, "" if none
	Partition int32
	Offset    int64 // where it was acknowledged; valid if Acked
	Acked     bool
	Err       string // why it was not acknowledged: failed or uncertain
	Start     time.Duration
	End       time.Duration // when the producer heard the outcome
}

// Read is one record a consumer read.
type Read struct {
	Consumer  string // FinalConsumer for the final read
	Session   int    // which Assignment of the partition to this consumer
	Partition int32
	Offset    int64
	Value     string
	At        time.Duration
}

// Assignment starts a consumer's stream of one partition: Reads with the
// same Consumer, Partition and Session follow it in order. A group
// member's stream resumes from the group's committed offset; any other
// stream reads from the start of the partition.
type Assignment struct {
	Consumer  string
	Partition int32
	Session   int
	Group     bool
	At        time.Duration
}

// Commit is a group offset commit of one partition by one member.
type Commit struct {
	Consumer  string
	Partition int32
	Offset    int64 // the next offset to read
	Err       string
	Start     time.Duration
	End       time.Duration
}

// OffsetSample is the group's committed offset of one partition as one
// OffsetFetch returned it: Offset is -1 if the group had none.
type OffsetSample struct {
	Partition int32
	Offset    int64
	Start     time.Duration // when the OffsetFetch was sent
	End       time.Duration // when its answer came
}

// TxnStatus is how a transaction ended, as far as its producer knows.
type TxnStatus int

// Transaction outcomes.
const (
	TxnOpen          TxnStatus = iota // never ended: no commit was asked for
	TxnCommitted                      // the commit was acknowledged
	TxnAborted                        // an abort was asked for (a commit never was)
	TxnCommitUnknown                  // a commit was asked for and failed: either way
)

var txnStatusNames = [...]string{"open", "committed", "aborted", "commit-unknown"}

// String names the status: open, committed, aborted, commit-unknown.
func (s TxnStatus) String() string {
	if s < 0 || int(s) >= len(txnStatusNames) {
		return fmt.Sprintf("TxnStatus(%d)", int(s))
	}
	return txnStatusNames[s]
}

// MarshalText writes the status by name, for readable JSON histories.
func (s TxnStatus) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(txnStatusNames) {
		return nil, fmt.Errorf("history: %v: %w", s, errBadTxnStatus)
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a status written by MarshalText.
func (s *TxnStatus) UnmarshalText(b []byte) error {
	for i, n := range txnStatusNames {
		if n == string(b) {
			*s = TxnStatus(i)
			return nil
		}
	}
	return fmt.Errorf("history: transaction status %q: %w", b, errBadTxnStatus)
}

var errBadTxnStatus = errors.New("unknown transaction status")

// Txn is one transaction of a transactional producer.
type Txn struct {
	ID       string
	Producer string
	Values   []string // every value written in it, acknowledged or not
	Status   TxnStatus
	Err      string
	// CommitAsked is when the producer asked to commit (EndTransaction
	// with commit), for committed and commit-unknown transactions: no
	// read_committed consumer may read a value of it earlier.
	CommitAsked time.Duration
}

// NewHistory returns an empty history whose clock starts now.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the time since the history started.
func (h *History) Now() time.Duration { return time.Since(h.start) }

// AddWrite records an attempted write (Start set to now) and returns its
// index for FinishWrite.
func (h *History) AddWrite(w Write) int {
	w.Start = h.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Writes = append(h.Writes, w)
	return len(h.Writes) - 1
}

// FinishWrite records the outcome of write i: acknowledged at offset, or
// not with err.
func (h *History) FinishWrite(i int, offset int64, err error) {
	end := h.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	w := &h.Writes[i]
	w.End = end
	if err != nil {
		w.Err = err.Error()
		return
	}
	w.Acked, w.Offset = true, offset
}

// AddRead records a read at the current time.
func (h *History) AddRead(r Read) {
	r.At = h.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Reads = append(h.Reads, r)
}

// AddAssignment records the start of a stream at the current time.
func (h *History) AddAssignment(a Assignment) {
	a.At = h.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Assignments = append(h.Assignments, a)
}

// AddCommit records a commit (Start and End set by the caller with Now).
func (h *History) AddCommit(c Commit) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Commits = append(h.Commits, c)
}

// AddTxn records a transaction once its producer knows how it ended.
func (h *History) AddTxn(t Txn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Txns = append(h.Txns, t)
}

// AddOffsetSamples records the committed offsets one OffsetFetch returned.
func (h *History) AddOffsetSamples(s ...OffsetSample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.OffsetSamples = append(h.OffsetSamples, s...)
}

// SetFinalDone marks the final read complete.
func (h *History) SetFinalDone() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.FinalDone = true
}

// snapshot copies the history, for Check and WriteJSON.
func (h *History) snapshot() *History {
	h.mu.Lock()
	defer h.mu.Unlock()
	return &History{
		start:       h.start,
		Writes:      append([]Write(nil), h.Writes...),
		Reads:       append([]Read(nil), h.Reads...),
		Commits:     append([]Commit(nil), h.Commits...),
		Txns:        append([]Txn(nil), h.Txns...),
		Assignments: append([]Assignment(nil), h.Assignments...),
		FinalDone:   h.FinalDone,

		OffsetSamples: append([]OffsetSample(nil), h.OffsetSamples...),
	}
}

// WriteJSON saves the history to path, to study a failed run.
func (h *History) WriteJSON(path string) error {
	data, err := json.Marshal(h.snapshot())
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}
