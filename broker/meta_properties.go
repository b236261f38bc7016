package broker

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/gregorhq/gregor/internal/fsutil"
)

// metaProperties is the data dir's identity file, as Kafka's KRaft writes it.
type metaProperties struct {
	ClusterID   string
	NodeID      int32
	DirectoryID string
}

// newKafkaUUID renders a fresh random UUID the way Kafka does.
func newKafkaUUID() string {
	id := uuid.New()
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// readMetaProperties loads dir/meta.properties, creating it (with a new
// cluster.id and the given node.id) when the dir has none.
func readMetaProperties(dir string) (metaProperties, error) {
	path := filepath.Join(dir, "meta.properties")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return metaProperties{}, errMetaMissing
	}
	if err != nil {
		return metaProperties{}, fmt.Errorf("read meta.properties: %w", err)
	}
	props, err := ParseProperties(string(data))
	if err != nil {
		return metaProperties{}, fmt.Errorf("meta.properties: %w", err)
	}
	mp := metaProperties{ClusterID: props["cluster.id"], DirectoryID: props["directory.id"]}
	n, err := strconv.ParseInt(props["node.id"], 10, 32)
	if err != nil || mp.ClusterID == "" {
		return metaProperties{}, fmt.Errorf("%w: meta.properties in %s lacks cluster.id or node.id", ErrBadConfig, dir)
	}
	mp.NodeID = int32(n)
	return mp, nil
}

var errMetaMissing = errors.New("meta.properties missing")

// writeMetaProperties writes meta.properties atomically.
func writeMetaProperties(dir string, mp metaProperties) error {
	text := fmt.Sprintf("#\n#%s\ncluster.id=%s\ndirectory.id=%s\nnode.id=%d\nversion=1\n",
		time.Now().UTC().Format(time.UnixDate), mp.ClusterID, mp.DirectoryID, mp.NodeID)
	if err := fsutil.WriteFile(filepath.Join(dir, "meta.properties"), []byte(text), 0o644); err != nil {
		return fmt.Errorf("write meta.properties: %w", err)
	}
	return nil
}
