package runtime

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gregorhq/gregor/connect"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Error handling configuration names (Kafka Connect's).
const (
	ErrorsRetryTimeoutConfig         = "errors.retry.timeout"
	ErrorsRetryMaxDelayConfig        = "errors.retry.delay.max.ms"
	ErrorsLogEnableConfig            = "errors.log.enable"
	ErrorsLogIncludeMessagesConfig   = "errors.log.include.messages"
	DLQTopicNameConfig               = "errors.deadletterqueue.topic.name"
	DLQTopicReplicationFactorConfig  = "errors.deadletterqueue.topic.replication.factor"
	DLQContextHeadersEnableConfig    = "errors.deadletterqueue.context.headers.enable"
	dlqHeaderPrefix                  = "__connect.errors."
	defaultErrorsRetryMaxDelayMillis = 60000
	initialErrorRetryDelay           = 300 * time.Millisecond
)

// The headers a dead letter queue record carries when
// errors.deadletterqueue.context.headers.enable=true.
const (
	DLQHeaderTopic            = dlqHeaderPrefix + "topic"
	DLQHeaderPartition        = dlqHeaderPrefix + "partition"
	DLQHeaderOffset           = dlqHeaderPrefix + "offset"
	DLQHeaderConnectorName    = dlqHeaderPrefix + "connector.name"
	DLQHeaderTaskID           = dlqHeaderPrefix + "task.id"
	DLQHeaderStage            = dlqHeaderPrefix + "stage"
	DLQHeaderClassName        = dlqHeaderPrefix + "class.name"
	DLQHeaderExceptionClass   = dlqHeaderPrefix + "exception.class.name"
	DLQHeaderExceptionMessage = dlqHeaderPrefix + "exception.message"
	DLQHeaderExceptionTrace   = dlqHeaderPrefix + "exception.stacktrace"
)

// Stage is the step of a record's processing where an error happened, as
// Kafka Connect names it.
type Stage string

// Processing stages.
const (
	StageKeyConverter   Stage = "KEY_CONVERTER"
	StageValueConverter Stage = "VALUE_CONVERTER"
	StageTransformation Stage = "TRANSFORMATION"
	StageTaskPut        Stage = "TASK_PUT"
	StageTaskPoll       Stage = "TASK_POLL"
	StageKafkaProduce   Stage = "KAFKA_PRODUCE"
	StageKafkaConsume   Stage = "KAFKA_CONSUME"
)

// errorsDef returns the error handling keys (the DLQ ones for sinks).
func errorsDef(typ connect.PluginType) *connect.ConfigDef {
	d := connect.NewConfigDef().
		Define(connect.ConfigKey{Name: ErrorsRetryTimeoutConfig, Type: connect.ConfigLong, Default: "0", Importance: connect.Medium, Group: errorGroup, OrderInGroup: 2, Width: "MEDIUM", DisplayName: "Retry Timeout for Errors", Validator: connect.AtLeast(-1),
			Doc: "The maximum duration in milliseconds that a failed operation will be reattempted. The default is 0, which means no retries will be attempted. Use -1 for infinite retries."}).
		Define(connect.ConfigKey{Name: ErrorsRetryMaxDelayConfig, Type: connect.ConfigLong, Default: strconv.Itoa(defaultErrorsRetryMaxDelayMillis), Importance: connect.Medium, Group: errorGroup, OrderInGroup: 3, Width: "MEDIUM", DisplayName: "Maximum Delay Between Retries for Errors", Validator: connect.AtLeast(1),
			Doc: "The maximum duration in milliseconds between consecutive retry attempts."}).
		Define(connect.ConfigKey{Name: ErrorsLogEnableConfig, Type: connect.ConfigBoolean, Default: "false", Importance: connect.Medium, Group: errorGroup, OrderInGroup: 4, Width: "SHORT", DisplayName: "Log Errors",
			Doc: "If true, write each error and the details of the failed operation and problematic record to the Connect application log."}).
		Define(connect.ConfigKey{Name: ErrorsLogIncludeMessagesConfig, Type: connect.ConfigBoolean, Default: "false", Importance: connect.Medium, Group: errorGroup, OrderInGroup: 5, Width: "SHORT", DisplayName: "Log Error Details",
			Doc: "Whether to include in the log the Connect record that resulted in a failure."})
	if typ == connect.PluginSink {
		d.Define(connect.ConfigKey{Name: DLQTopicNameConfig, Type: connect.ConfigString, Importance: connect.Medium, Group: errorGroup, OrderInGroup: 6, Width: "MEDIUM", DisplayName: "Dead Letter Queue Topic Name",
			Doc: "The name of the topic to be used as the dead letter queue (DLQ) for messages that result in an error when processed by this sink connector, or its transformations or converters."}).
			Define(connect.ConfigKey{Name: DLQTopicReplicationFactorConfig, Type: connect.ConfigShort, Default: "1", Importance: connect.Medium, Group: errorGroup, OrderInGroup: 7, Width: "MEDIUM", DisplayName: "Dead Letter Queue Topic Replication Factor", Validator: func(v string) error {
				if n, _ := strconv.Atoi(strings.TrimSpace(v)); n == 0 || n < -1 {
					return fmt.Errorf("Value must be -1 or at least 1")
				}
				return nil
			}, Doc: "Replication factor used to create the dead letter queue topic when it doesn't already exist (Gregor's single-node default: 1)."}).
			Define(connect.ConfigKey{Name: DLQContextHeadersEnableConfig, Type: connect.ConfigBoolean, Default: "false", Importance: connect.Medium, Group: errorGroup, OrderInGroup: 8, Width: "MEDIUM", DisplayName: "Enable Error Context Headers",
				Doc: "If true, add headers containing error context to the messages written to the dead letter queue."})
	}
	return d
}

// errorHandler applies a connector's error handling settings to one
// task's record processing: it retries retriable failures for up to
// errors.retry.timeout, logs failures, sends failed sink records to the
// dead letter queue, and either skips the record (errors.tolerance=all)
// or fails the task. Only the task's goroutine uses it.
type errorHandler struct {
	h            *Worker
	id           TaskID
	tolerateAll  bool
	retryTimeout time.Duration // <0: forever
	maxDelay     time.Duration
	logEnable    bool
	logMessages  bool
	dlqTopic     string
	dlqRF        int16
	dlqHeaders   bool
	dlqReady     bool
	producer     dlqClient // set by the sink task once its client exists
	m            *taskMetrics
	total        int // records that failed and were tolerated

	mu sync.Mutex // guards total for readers outside the task goroutine
}

func newErrorHandler(h *Worker, id TaskID, cfg map[string]string) *errorHandler {
	get := func(k, def string) string {
		if v := strings.TrimSpace(cfg[k]); v != "" {
			return v
		}
		return def
	}
	ms := func(k, def string) time.Duration {
		n, _ := strconv.ParseInt(get(k, def), 10, 64)
		if n < 0 {
			return -1
		}
		return time.Duration(n) * time.Millisecond
	}
	rf, _ := strconv.Atoi(get(DLQTopicReplicationFactorConfig, "1"))
	return &errorHandler{h: h, id: id, m: &taskMetrics{},
		tolerateAll:  strings.EqualFold(get(ErrorsToleranceConfig, "none"), "all"),
		retryTimeout: ms(ErrorsRetryTimeoutConfig, "0"),
		maxDelay:     ms(ErrorsRetryMaxDelayConfig, strconv.Itoa(defaultErrorsRetryMaxDelayMillis)),
		logEnable:    strings.EqualFold(get(ErrorsLogEnableConfig, "false"), "true"),
		logMessages:  strings.EqualFold(get(ErrorsLogIncludeMessagesConfig, "false"), "true"),
		dlqTopic:     get(DLQTopicNameConfig, ""),
		dlqRF:        int16(rf),
		dlqHeaders:   strings.EqualFold(get(DLQContextHeadersEnableConfig, "false"), "true"),
	}
}

// processingError is a record failure with its context.
type processingError struct {
	stage Stage
	class string
	err   error
}

func (e *processingError) Error() string {
	return fmt.Sprintf("Error encountered in stage %s with class %s: %v", e.stage, e.class, e.err)
}

func (e *processingError) Unwrap() error { return e.err }

// retry runs op, retrying errors that wrap ErrRetriable with exponential
// backoff (from 300ms up to errors.retry.delay.max.ms) for up to
// errors.retry.timeout.
func (e *errorHandler) retry(ctx context.Context, op func() error) error {
	start := time.Now()
	return e.retryFrom(ctx, start, safeCall(op), op)
}

// retryFrom continues retry after a first attempt, begun at start, that
// returned err.
func (e *errorHandler) retryFrom(ctx context.Context, start time.Time, err error, op func() error) error {
	deadline := start.Add(e.retryTimeout)
	delay := initialErrorRetryDelay
	for {
		if err != nil {
			e.m.recordFailures.Add(1)
		}
		if err == nil || !errors.Is(err, connect.ErrRetriable) || e.retryTimeout == 0 {
			return err
		}
		wait := min(delay, e.maxDelay)
		if e.retryTimeout > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return err
			}
			wait = min(wait, left)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		delay *= 2
		e.m.retries.Add(1)
		err = safeCall(op)
	}
}

// execute runs one stage of a record's processing. It returns ok=false
// when the record failed and is to be skipped (tolerated), and an error
// when the failure fails the task. kr is the consumed record for sinks
// (nil for sources); what describes the record for logs.
func (e *errorHandler) execute(ctx context.Context, stage Stage, class string, kr *kgo.Record, what func() string, op func() error) (bool, error) {
	return e.outcome(ctx, stage, class, kr, what, e.retry(ctx, op))
}

// executeAfter is execute for an op whose first attempt, begun at start,
// the caller made itself (the per-record fast path, free of closures) and
// which failed with err.
func (e *errorHandler) executeAfter(ctx context.Context, stage Stage, class string, kr *kgo.Record, what func() string, start time.Time, err error, op func() error) (bool, error) {
	return e.outcome(ctx, stage, class, kr, what, e.retryFrom(ctx, start, err, op))
}

// outcome handles the final result of a stage after retries.
func (e *errorHandler) outcome(ctx context.Context, stage Stage, class string, kr *kgo.Record, what func() string, err error) (bool, error) {
	if err == nil {
		return true, nil
	}
	var te *TransformError
	if errors.As(err, &te) {
		class = te.Class
	}
	pe := &processingError{stage: stage, class: class, err: err}
	e.m.recordErrors.Add(1)
	e.m.lastErrorMs.Store(time.Now().UnixMilli())
	e.report(ctx, pe, kr, what)
	if !e.tolerateAll {
		return false, fmt.Errorf("Tolerance exceeded in error handler: %w", pe)
	}
	e.m.recordsSkipped.Add(1)
	e.mu.Lock()
	e.total++
	e.mu.Unlock()
	return false, nil
}

// report logs the failure (errors.log.enable) and, for sinks, writes the
// original record to the dead letter queue.
func (e *errorHandler) report(ctx context.Context, pe *processingError, kr *kgo.Record, what func() string) {
	log := e.h.log
	if e.logEnable {
		attrs := []any{"connector", e.id.Connector, "task", e.id.Task, "stage", string(pe.stage), "class", pe.class, "err", pe.err}
		if kr != nil {
			attrs = append(attrs, "topic", kr.Topic, "partition", kr.Partition, "offset", kr.Offset)
		}
		if e.logMessages && what != nil {
			attrs = append(attrs, "record", what())
		}
		log.Error("Error encountered in task", attrs...)
		e.m.errorsLogged.Add(1)
	} else if !e.tolerateAll {
		log.Warn("record processing failed", "connector", e.id.Connector, "task", e.id.Task, "stage", string(pe.stage), "err", pe.err)
	}
	if kr == nil || e.dlqTopic == "" {
		return
	}
	e.m.dlqRequests.Add(1)
	if err := e.sendToDLQ(ctx, pe, kr); err != nil {
		e.m.dlqFailures.Add(1)
		log.Error("could not write to the dead letter queue", "connector", e.id.Connector, "topic", e.dlqTopic, "err", err)
	}
}

// dlqClient is the client that writes DLQ records; the sink's consumer
// client produces too.
type dlqClient interface {
	ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults
}

func (e *errorHandler) sendToDLQ(ctx context.Context, pe *processingError, kr *kgo.Record) error {
	if e.producer == nil {
		return errors.New("no producer for the dead letter queue")
	}
	if !e.dlqReady {
		if err := e.ensureDLQTopic(ctx); err != nil {
			return err
		}
		e.dlqReady = true
	}
	rec := &kgo.Record{Topic: e.dlqTopic, Key: kr.Key, Value: kr.Value, Timestamp: kr.Timestamp, Headers: append([]kgo.RecordHeader(nil), kr.Headers...)}
	if e.dlqHeaders {
		add := func(k, v string) { rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
		add(DLQHeaderTopic, kr.Topic)
		add(DLQHeaderPartition, strconv.Itoa(int(kr.Partition)))
		add(DLQHeaderOffset, strconv.FormatInt(kr.Offset, 10))
		add(DLQHeaderConnectorName, e.id.Connector)
		add(DLQHeaderTaskID, strconv.Itoa(e.id.Task))
		add(DLQHeaderStage, string(pe.stage))
		add(DLQHeaderClassName, pe.class)
		add(DLQHeaderExceptionClass, errorClass(pe.err))
		add(DLQHeaderExceptionMessage, pe.err.Error())
		add(DLQHeaderExceptionTrace, errorTrace(pe.err))
	}
	pctx, cancel := context.WithTimeout(ctx, e.h.cfg.OffsetFlushTimeout)
	defer cancel()
	if err := e.producer.ProduceSync(pctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("produce to %s: %w", e.dlqTopic, err)
	}
	return nil
}

func (e *errorHandler) ensureDLQTopic(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, e.h.cfg.OffsetFlushTimeout)
	defer cancel()
	resp, err := kadm.NewClient(e.h.admin).CreateTopic(cctx, 1, e.dlqRF, nil, e.dlqTopic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create dead letter queue topic %s: %w", e.dlqTopic, err)
	}
	return nil
}

// errorClass names the innermost error's Go type, the counterpart of
// Kafka's exception class name.
func errorClass(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return fmt.Sprintf("%T", err)
		}
		err = next
	}
}

// errorTrace lists the chain of wrapped errors, outermost first: Go's
// counterpart of a stack trace.
func errorTrace(err error) string {
	var b strings.Builder
	for i := 0; err != nil; i++ {
		if i > 0 {
			b.WriteString("\nCaused by: ")
		}
		fmt.Fprintf(&b, "%T: %v", err, err)
		err = errors.Unwrap(err)
	}
	return b.String()
}
