package runtime_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gregorhq/gregor/connect"
	"github.com/gregorhq/gregor/connect/internal/connecttest"
	"github.com/gregorhq/gregor/connect/runtime"
)

// badTaskConfigs is a source connector that cannot say what its tasks
// are: TaskConfigs fails, or panics when panics is set.
type badTaskConfigs struct {
	stubConnector
	panics bool
}

func (c badTaskConfigs) TaskConfigs(int) ([]map[string]string, error) {
	if c.panics {
		panic("no task configurations today")
	}
	return nil, errors.New("no task configurations today")
}

func (badTaskConfigs) NewTask() connect.SourceTask { return &boomTask{} }

func init() {
	connect.RegisterConnector("test.BadTaskConfigsConnector", func() connect.Connector { return badTaskConfigs{} })
	connect.RegisterConnector("test.PanickyTaskConfigsConnector", func() connect.Connector { return badTaskConfigs{panics: true} })
}

// TestTaskConfigsFailure: a connector whose TaskConfigs fails or panics
// is FAILED, with the failure in its trace, and runs no task.
func TestTaskConfigsFailure(t *testing.T) {
	br := connecttest.Broker(t)
	h := connecttest.Worker(t, br.Addr(), filepath.Join(t.TempDir(), "offsets"), nil)
	defer h.Close()
	for _, class := range []string{"test.BadTaskConfigsConnector", "test.PanickyTaskConfigsConnector"} {
		connecttest.Create(t, h, class, map[string]string{"connector.class": class})
		var st runtime.ConnectorStatus
		connecttest.Eventually(t, 30*time.Second, class+" FAILED", func() bool {
			st, _ = h.ConnectorStatus(class)
			return st.Connector.State == "FAILED"
		})
		if !strings.Contains(st.Connector.Trace, "task configurations") || !strings.Contains(st.Connector.Trace, "no task configurations today") {
			t.Errorf("%s: trace %q does not say why", class, st.Connector.Trace)
		}
		if len(st.Tasks) != 0 {
			t.Errorf("%s: tasks %+v, want none", class, st.Tasks)
		}
	}
}
