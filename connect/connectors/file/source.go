package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gregorhq/gregor/connect"
)

// Configuration names, as in Kafka's FileStream connectors.
const (
	FileConfig      = "file"
	TopicConfig     = "topic"
	BatchSizeConfig = "batch.size"
	// FsyncConfig is gregor's own (Kafka's sink has no such setting).
	FsyncConfig = "fsync"
	// Offset keys: source partition {"filename": path}, offset {"position": n}.
	FilenameField = "filename"
	PositionField = "position"
)

// Class names and versions.
const (
	SourceClass = "org.apache.kafka.connect.file.FileStreamSourceConnector"
	SinkClass   = "org.apache.kafka.connect.file.FileStreamSinkConnector"
)

// pollWait is how long Poll waits for more data at the end of the file.
var pollWait = 200 * time.Millisecond

// Source is FileStreamSource: it reads lines of a file (or stdin) into a
// topic, one record per line with a string value and no key. The source
// offset is the byte position after the last line sent, so a restarted
// task resumes at the next line. A line is sent only once its newline has
// been written.
type Source struct {
	props map[string]string
}

var sourceDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: FileConfig, Type: connect.ConfigString, Importance: connect.High, Doc: "Source filename. If not specified, the standard input will be used."}).
	Define(connect.ConfigKey{Name: TopicConfig, Type: connect.ConfigList, Required: true, Importance: connect.High, Doc: "The topic to publish data to.", Validator: func(v string) error {
		if len(connect.SplitList(v)) != 1 {
			return errors.New("'topic' in FileStreamSourceConnector configuration requires definition of a single topic")
		}
		return nil
	}}).
	Define(connect.ConfigKey{Name: BatchSizeConfig, Type: connect.ConfigInt, Default: "2000", Importance: connect.Low, Validator: connect.AtLeast(1), Doc: "The maximum number of records the source task can read from the file each time it is polled."})

// Version implements connect.Connector.
func (*Source) Version() string { return connect.Version }

// Config implements connect.Connector.
func (*Source) Config() *connect.ConfigDef { return sourceDef }

// Start implements connect.Connector.
func (s *Source) Start(props map[string]string) error {
	if _, err := sourceDef.Parse(props); err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	s.props = props
	return nil
}

// TaskConfigs implements connect.Connector: one task, whatever tasks.max.
func (s *Source) TaskConfigs(int) ([]map[string]string, error) {
	return []map[string]string{{
		FileConfig:      s.props[FileConfig],
		TopicConfig:     strings.TrimSpace(s.props[TopicConfig]),
		BatchSizeConfig: fmt.Sprint(batchSize(s.props)),
	}}, nil
}

func batchSize(props map[string]string) int {
	c, err := sourceDef.Parse(props)
	if err != nil {
		return 2000
	}
	return int(c.Int(BatchSizeConfig))
}

// Stop implements connect.Connector.
func (*Source) Stop() error { return nil }

// NewTask implements connect.SourceConnector.
func (*Source) NewTask() connect.SourceTask { return &SourceTask{} }

// SourceTask reads one file.
type SourceTask struct {
	ctx       connect.SourceTaskContext
	filename  string
	topic     string
	batchSize int

	in       io.ReadCloser
	position int64 // byte offset of buf[0] in the file
	buf      []byte
	eof      bool
}

// Version implements connect.Task.
func (*SourceTask) Version() string { return connect.Version }

// Initialize implements connect.SourceTask.
func (t *SourceTask) Initialize(ctx connect.SourceTaskContext) { t.ctx = ctx }

// Start implements connect.Task.
func (t *SourceTask) Start(props map[string]string) error {
	t.filename = props[FileConfig]
	t.topic = props[TopicConfig]
	t.batchSize = batchSize(props)
	if t.filename == "" {
		t.in = io.NopCloser(os.Stdin)
	}
	return nil
}

func (t *SourceTask) partition() map[string]any { return map[string]any{FilenameField: t.filename} }

// open opens the file at the stored offset; it returns false (no error)
// when the file does not exist yet.
func (t *SourceTask) open() (bool, error) {
	f, err := os.Open(t.filename)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("file source: %w", err)
	}
	off, err := t.ctx.OffsetReader().Offset(t.partition())
	if err != nil {
		_ = f.Close()
		return false, fmt.Errorf("file source: read offset: %w", err)
	}
	if off != nil {
		pos, ok := off[PositionField].(int64)
		if !ok {
			_ = f.Close()
			return false, fmt.Errorf("file source: offset %v has no integer %q", off, PositionField)
		}
		if _, err := f.Seek(pos, io.SeekStart); err != nil {
			_ = f.Close()
			return false, fmt.Errorf("file source: seek to %d: %w", pos, err)
		}
		t.position = pos
	}
	t.in = f
	return true, nil
}

// Poll implements connect.SourceTask.
func (t *SourceTask) Poll(ctx context.Context) ([]*connect.SourceRecord, error) {
	for ctx.Err() == nil {
		if t.in == nil {
			ok, err := t.open()
			if err != nil {
				return nil, err
			}
			if !ok {
				if !sleep(ctx, pollWait) {
					return nil, nil
				}
				continue
			}
		}
		recs, err := t.readLines()
		if err != nil || len(recs) > 0 {
			return recs, err
		}
		if t.eof && t.filename == "" {
			<-ctx.Done() // stdin is finished
			return nil, nil
		}
		// Nothing new: wait a little and return, so that the worker can
		// commit offsets in between.
		sleep(ctx, pollWait)
		return nil, nil
	}
	return nil, nil
}

// readLines reads what is available and returns up to batchSize complete
// lines.
func (t *SourceTask) readLines() ([]*connect.SourceRecord, error) {
	var recs []*connect.SourceRecord
	for len(recs) < t.batchSize {
		i := bytes.IndexByte(t.buf, '\n')
		if i < 0 {
			if t.eof && t.filename != "" {
				t.eof = false // a file may grow: try again next poll
				break
			}
			if t.eof {
				break
			}
			if err := t.fill(); err != nil {
				return nil, err
			}
			continue
		}
		line := string(bytes.TrimSuffix(t.buf[:i], []byte{'\r'}))
		t.buf = t.buf[i+1:]
		t.position += int64(i + 1)
		rec := &connect.SourceRecord{Topic: t.topic, ValueSchema: connect.StringSchema, Value: line}
		if t.filename != "" {
			rec.SourcePartition = t.partition()
			rec.SourceOffset = map[string]any{PositionField: t.position}
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// fill reads one chunk; at the end of the input it sets eof.
func (t *SourceTask) fill() error {
	if len(t.buf) > 0 && cap(t.buf)-len(t.buf) < 4096 {
		nb := make([]byte, len(t.buf), max(2*len(t.buf), 64<<10))
		copy(nb, t.buf)
		t.buf = nb
	} else if len(t.buf) == 0 && cap(t.buf) < 64<<10 {
		t.buf = make([]byte, 0, 64<<10)
	}
	n, err := t.in.Read(t.buf[len(t.buf):cap(t.buf)])
	t.buf = t.buf[:len(t.buf)+n]
	if errors.Is(err, io.EOF) || (n == 0 && err == nil) {
		t.eof = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("file source: read %s: %w", t.filename, err)
	}
	return nil
}

// Stop implements connect.Task.
func (t *SourceTask) Stop() error {
	if t.in != nil && t.filename != "" {
		return t.in.Close()
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
