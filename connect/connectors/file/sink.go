package file

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gregorhq/gregor/connect"
)

// Sink is FileStreamSink: it appends each record's value, one per line, to
// a file (or stdout), buffered and written once per Put. Flush hands the
// lines to the operating system before the worker commits the consumed
// offsets, as Kafka's sink does: committed lines survive a crash of the
// worker, and with fsync=true (gregor's own setting) also a power loss.
// A clean stop always syncs.
type Sink struct {
	props map[string]string
}

var sinkDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: FileConfig, Type: connect.ConfigString, Importance: connect.High, Doc: "Destination filename. If not specified, the standard output will be used."}).
	Define(connect.ConfigKey{Name: FsyncConfig, Type: connect.ConfigBoolean, Default: "false", Importance: connect.Low, Doc: "Also fsync the file at every flush, before offsets are committed, so that committed lines survive a power loss (gregor's own setting; Kafka's sink only writes them to the operating system)."})

// Version implements connect.Connector.
func (*Sink) Version() string { return connect.Version }

// Config implements connect.Connector.
func (*Sink) Config() *connect.ConfigDef { return sinkDef }

// Start implements connect.Connector.
func (s *Sink) Start(props map[string]string) error { s.props = props; return nil }

// TaskConfigs implements connect.Connector: one task, whatever tasks.max.
func (s *Sink) TaskConfigs(int) ([]map[string]string, error) {
	return []map[string]string{{FileConfig: s.props[FileConfig], FsyncConfig: s.props[FsyncConfig]}}, nil
}

// Stop implements connect.Connector.
func (*Sink) Stop() error { return nil }

// NewTask implements connect.SinkConnector.
func (*Sink) NewTask() connect.SinkTask { return &SinkTask{} }

// SinkTask writes to one file.
type SinkTask struct {
	f     *os.File // nil for stdout
	w     *bufio.Writer
	fsync bool // at every Flush
}

// Version implements connect.Task.
func (*SinkTask) Version() string { return connect.Version }

// Initialize implements connect.SinkTask.
func (*SinkTask) Initialize(connect.SinkTaskContext) {}

// Start implements connect.Task.
func (t *SinkTask) Start(props map[string]string) error {
	var out io.Writer = os.Stdout
	if name := props[FileConfig]; name != "" {
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("file sink: %w", err)
		}
		t.f, out = f, f
	}
	t.w = bufio.NewWriterSize(out, 256<<10)
	t.fsync = strings.EqualFold(strings.TrimSpace(props[FsyncConfig]), "true")
	return nil
}

// Put implements connect.SinkTask.
func (t *SinkTask) Put(records []*connect.SinkRecord) error {
	for _, r := range records {
		var err error
		switch v := r.Value.(type) {
		case string:
			_, err = t.w.WriteString(v)
		case []byte:
			_, err = t.w.Write(v)
		case nil:
			_, err = t.w.WriteString("null")
		default:
			_, err = fmt.Fprint(t.w, v)
		}
		if err == nil {
			err = t.w.WriteByte('\n')
		}
		if err != nil {
			return fmt.Errorf("file sink: write: %w", err)
		}
	}
	// Hand the batch's lines to the OS, as Kafka's FileStreamSinkTask
	// prints them at put: one write per Put, not one per line. Only Flush
	// syncs.
	if err := t.w.Flush(); err != nil {
		return fmt.Errorf("file sink: write: %w", err)
	}
	return nil
}

// RetainsRecords implements connect.SinkTaskRecordRetention: Put writes
// the values out and keeps nothing.
func (*SinkTask) RetainsRecords() bool { return false }

// Flush implements connect.SinkTask.
func (t *SinkTask) Flush(map[connect.TopicPartition]int64) error {
	if err := t.w.Flush(); err != nil {
		return fmt.Errorf("file sink: flush: %w", err)
	}
	if t.fsync && t.f != nil {
		if err := t.f.Sync(); err != nil {
			return fmt.Errorf("file sink: sync: %w", err)
		}
	}
	return nil
}

// Stop implements connect.Task. The worker flushes before stopping; lines
// Put after the last Flush are written but not committed (a restart
// delivers them again).
func (t *SinkTask) Stop() error {
	if t.w == nil {
		return nil
	}
	err := t.w.Flush()
	if t.f != nil {
		if serr := t.f.Sync(); err == nil {
			err = serr
		}
		if cerr := t.f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("file sink: close: %w", err)
	}
	return nil
}

func init() {
	connect.RegisterConnector(SourceClass, func() connect.Connector { return &Source{} })
	connect.RegisterConnector(SinkClass, func() connect.Connector { return &Sink{} })
}
