package runtime

import (
	"fmt"
	"github.com/gregorhq/gregor/connect"
	"maps"
	"strings"
	"time"
)

// Worker property names (Kafka Connect's).
const (
	BootstrapServersConfig    = "bootstrap.servers"
	KeyConverterConfig        = "key.converter"
	ValueConverterConfig      = "value.converter"
	OffsetFileConfig          = "offset.storage.file.filename"
	OffsetFlushIntervalConfig = "offset.flush.interval.ms"
	OffsetFlushTimeoutConfig  = "offset.flush.timeout.ms"
	ListenersConfig           = "listeners"
	RestAdvertisedHostConfig  = "rest.advertised.host.name"
	RestAdvertisedPortConfig  = "rest.advertised.port"
	TaskShutdownTimeoutConfig = "task.shutdown.graceful.timeout.ms"
	PluginPathConfig          = "plugin.path"
	ClientIDConfig            = "client.id"
)

// Default worker settings. The REST listener is on loopback for safety.
const (
	DefaultListener       = "http://127.0.0.1:8083"
	DefaultConverter      = "org.apache.kafka.connect.json.JsonConverter"
	DefaultBootstrap      = "localhost:9092"
	defaultFlushInterval  = 60 * time.Second
	defaultFlushTimeout   = 5 * time.Second
	defaultShutdownWait   = 5 * time.Second
	producerConfigPrefix  = "producer."
	consumerConfigPrefix  = "consumer."
	converterConfigSuffix = "."
)

// WorkerConfig is a worker's configuration, read from worker properties
// with Kafka Connect's names. Unknown properties are ignored, as are
// plugin.path (connectors are compiled in) and distributed-mode settings.
type WorkerConfig struct {
	BootstrapServers []string
	// KeyConverter and ValueConverter are converter class names or
	// aliases; their settings are the properties under the same prefix
	// (key.converter.schemas.enable -> schemas.enable).
	KeyConverter, ValueConverter string
	KeyConverterProps            map[string]string
	ValueConverterProps          map[string]string
	OffsetFile                   string
	OffsetFlushInterval          time.Duration
	OffsetFlushTimeout           time.Duration
	Listeners                    []string
	AdvertisedHost               string
	AdvertisedPort               int
	TaskShutdownTimeout          time.Duration
	ClientID                     string
	ProducerProps, ConsumerProps map[string]string
	Props                        map[string]string
}

var workerDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: BootstrapServersConfig, Type: connect.ConfigList, Default: DefaultBootstrap, Importance: connect.High, Doc: "Kafka brokers to connect to (host:port,...)."}).
	Define(connect.ConfigKey{Name: KeyConverterConfig, Type: connect.ConfigClass, Default: DefaultConverter, Importance: connect.High, Doc: "Converter for record keys."}).
	Define(connect.ConfigKey{Name: ValueConverterConfig, Type: connect.ConfigClass, Default: DefaultConverter, Importance: connect.High, Doc: "Converter for record values."}).
	Define(connect.ConfigKey{Name: OffsetFileConfig, Type: connect.ConfigString, Importance: connect.Low, Doc: "File to store source offsets in (standalone mode)."}).
	Define(connect.ConfigKey{Name: OffsetFlushIntervalConfig, Type: connect.ConfigLong, Default: "60000", Importance: connect.Low, Validator: connect.AtLeast(1), Doc: "How often offsets are committed, in ms."}).
	Define(connect.ConfigKey{Name: OffsetFlushTimeoutConfig, Type: connect.ConfigLong, Default: "5000", Importance: connect.Low, Validator: connect.AtLeast(1), Doc: "How long an offset commit may wait for records to be acknowledged, in ms."}).
	Define(connect.ConfigKey{Name: ListenersConfig, Type: connect.ConfigList, Default: DefaultListener, Importance: connect.Low, Doc: "REST API listeners."}).
	Define(connect.ConfigKey{Name: RestAdvertisedHostConfig, Type: connect.ConfigString, Importance: connect.Low, Doc: "Host name other workers use to reach this one."}).
	Define(connect.ConfigKey{Name: RestAdvertisedPortConfig, Type: connect.ConfigInt, Default: "0", Importance: connect.Low, Doc: "Port other workers use to reach this one."}).
	Define(connect.ConfigKey{Name: TaskShutdownTimeoutConfig, Type: connect.ConfigLong, Default: "5000", Importance: connect.Low, Validator: connect.AtLeast(0), Doc: "How long to wait for a task to stop, in ms."}).
	Define(connect.ConfigKey{Name: ClientIDConfig, Type: connect.ConfigString, Default: "connect", Importance: connect.Low, Doc: "Client ID prefix for the worker's Kafka clients."})

// ParseWorkerConfig reads worker properties.
func ParseWorkerConfig(props map[string]string) (WorkerConfig, error) {
	c, err := workerDef.Parse(props)
	if err != nil {
		return WorkerConfig{}, fmt.Errorf("connect: worker config: %w", err)
	}
	wc := WorkerConfig{
		BootstrapServers:    c.List(BootstrapServersConfig),
		KeyConverter:        c.String(KeyConverterConfig),
		ValueConverter:      c.String(ValueConverterConfig),
		KeyConverterProps:   connect.SubProps(props, KeyConverterConfig+converterConfigSuffix),
		ValueConverterProps: connect.SubProps(props, ValueConverterConfig+converterConfigSuffix),
		OffsetFile:          c.String(OffsetFileConfig),
		OffsetFlushInterval: time.Duration(c.Int(OffsetFlushIntervalConfig)) * time.Millisecond,
		OffsetFlushTimeout:  time.Duration(c.Int(OffsetFlushTimeoutConfig)) * time.Millisecond,
		Listeners:           c.List(ListenersConfig),
		AdvertisedHost:      c.String(RestAdvertisedHostConfig),
		AdvertisedPort:      int(c.Int(RestAdvertisedPortConfig)),
		TaskShutdownTimeout: time.Duration(c.Int(TaskShutdownTimeoutConfig)) * time.Millisecond,
		ClientID:            c.String(ClientIDConfig),
		ProducerProps:       connect.SubProps(props, producerConfigPrefix),
		ConsumerProps:       connect.SubProps(props, consumerConfigPrefix),
		Props:               maps.Clone(props),
	}
	if len(wc.BootstrapServers) == 0 {
		return WorkerConfig{}, fmt.Errorf("connect: worker config: %w: %s is empty", connect.ErrInvalidConfig, BootstrapServersConfig)
	}
	return wc, nil
}

// DefaultWorkerConfig returns the configuration of empty worker properties.
func DefaultWorkerConfig() WorkerConfig {
	wc, err := ParseWorkerConfig(nil)
	if err != nil {
		panic(err)
	}
	return wc
}

// Connector configuration names common to every connector.
const (
	NameConfig             = "name"
	ConnectorClassConfig   = "connector.class"
	TasksMaxConfig         = "tasks.max"
	TopicsConfig           = "topics"
	TopicsRegexConfig      = "topics.regex"
	TransformsConfig       = "transforms"
	ErrorsToleranceConfig  = "errors.tolerance"
	HeaderConverterConfig  = "header.converter"
	ConfigActionReload     = "config.action.reload"
	commonGroup            = "Common"
	errorGroup             = "Error Handling"
	transformsGroup        = "Transforms"
	sinkTopicsMissingError = "Must configure one of topics or topics.regex"
)

func converterValidator(reg *connect.Registry) func(string) error {
	return func(v string) error {
		if strings.TrimSpace(v) == "" {
			return nil
		}
		p, err := reg.Lookup(v)
		if err != nil || p.Type != connect.PluginConverter {
			return fmt.Errorf("Class %s could not be found or is not a converter", v)
		}
		return nil
	}
}

// connectorDef returns the configuration keys every connector has, plus
// the sink ones for sinks.
func connectorDef(reg *connect.Registry, typ connect.PluginType) *connect.ConfigDef {
	d := connect.NewConfigDef().
		Define(connect.ConfigKey{Name: NameConfig, Type: connect.ConfigString, Required: true, Importance: connect.High, Group: commonGroup, OrderInGroup: 1, Width: "MEDIUM", DisplayName: "Connector name", Validator: connect.NonEmptyString, Doc: "Globally unique name to use for this connector."}).
		Define(connect.ConfigKey{Name: ConnectorClassConfig, Type: connect.ConfigString, Required: true, Importance: connect.High, Group: commonGroup, OrderInGroup: 2, Width: "LONG", DisplayName: "Connector class", Doc: "Name or alias of the connector class."}).
		Define(connect.ConfigKey{Name: TasksMaxConfig, Type: connect.ConfigInt, Default: "1", Importance: connect.High, Group: commonGroup, OrderInGroup: 3, Width: "SHORT", DisplayName: "Tasks max", Validator: connect.AtLeast(1), Doc: "Maximum number of tasks to use for this connector."}).
		Define(connect.ConfigKey{Name: KeyConverterConfig, Type: connect.ConfigClass, Importance: connect.Low, Group: commonGroup, OrderInGroup: 4, Width: "SHORT", DisplayName: "Key converter class", Validator: converterValidator(reg), Doc: "Converter for keys; overrides the worker's."}).
		Define(connect.ConfigKey{Name: ValueConverterConfig, Type: connect.ConfigClass, Importance: connect.Low, Group: commonGroup, OrderInGroup: 5, Width: "SHORT", DisplayName: "Value converter class", Validator: converterValidator(reg), Doc: "Converter for values; overrides the worker's."}).
		Define(connect.ConfigKey{Name: TransformsConfig, Type: connect.ConfigList, Importance: connect.Low, Group: transformsGroup, OrderInGroup: 1, Width: "LONG", DisplayName: "Transforms", Validator: uniqueAliases, Doc: "Aliases for the transformations to apply to records, in order."}).
		Define(connect.ConfigKey{Name: PredicatesConfig, Type: connect.ConfigList, Importance: connect.Low, Group: predicatesGroup, OrderInGroup: 1, Width: "LONG", DisplayName: "Predicates", Validator: uniqueAliases, Doc: "Aliases for the predicates used by transformations."}).
		Define(connect.ConfigKey{Name: ErrorsToleranceConfig, Type: connect.ConfigString, Default: "none", Importance: connect.Medium, Group: errorGroup, OrderInGroup: 1, Width: "SHORT", DisplayName: "Error tolerance", Validator: connect.OneOf("none", "all"), Recommended: []string{"none", "all"}, Doc: "Behavior for tolerating errors during connector operation. 'none' is the default value and signals that any error will result in an immediate connector task failure; 'all' changes the behavior to skip over problematic records."})
	if typ == connect.PluginSink {
		d.Define(connect.ConfigKey{Name: TopicsConfig, Type: connect.ConfigList, Importance: connect.High, Group: commonGroup, OrderInGroup: 6, Width: "LONG", DisplayName: "Topics", Doc: "Topics to consume (or topics.regex)."}).
			Define(connect.ConfigKey{Name: TopicsRegexConfig, Type: connect.ConfigString, Importance: connect.High, Group: commonGroup, OrderInGroup: 7, Width: "LONG", DisplayName: "Topics regex", Doc: "Regular expression of the topics to consume (or topics)."})
	}
	return d.Merge(errorsDef(typ))
}

func uniqueAliases(v string) error {
	seen := map[string]bool{}
	for _, a := range connect.SplitList(v) {
		if seen[a] {
			return fmt.Errorf("Duplicate alias provided.")
		}
		seen[a] = true
	}
	return nil
}
