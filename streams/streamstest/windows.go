package streamstest

import "github.com/gregorhq/gregor/streams"

// WindowStore returns the window store named name (a windowed aggregation's, or one
// added with streams.WindowStoreBuilder), as typed when it was built.
func WindowStore[K, V any](d *Driver, name string) *streams.WindowStore[K, V] {
	d.tb.Helper()
	s, err := streams.GetWindowStore[K, V](d.h, name)
	if err != nil {
		d.tb.Fatalf("streamstest: %v", err)
	}
	return s
}

// SessionStore returns the session store named name (a session aggregation's, or one
// added with streams.SessionStoreBuilder), as typed when it was built.
func SessionStore[K, V any](d *Driver, name string) *streams.SessionStore[K, V] {
	d.tb.Helper()
	s, err := streams.GetSessionStore[K, V](d.h, name)
	if err != nil {
		d.tb.Fatalf("streamstest: %v", err)
	}
	return s
}

// WindowedContents returns every entry of the window or session store named name,
// keyed by windowed key.
func WindowedContents[K comparable, V any](d *Driver, name string) map[streams.Windowed[K]]V {
	d.tb.Helper()
	var it *streams.WindowIterator[K, V]
	var err error
	if ws, werr := streams.GetWindowStore[K, V](d.h, name); werr == nil {
		it, err = ws.All()
	} else {
		it, err = SessionStore[K, V](d, name).All()
	}
	if err != nil {
		d.tb.Fatalf("streamstest: %v", err)
	}
	defer it.Close()
	out := map[streams.Windowed[K]]V{}
	for it.Next() {
		out[it.Key()] = it.Value()
	}
	if err := it.Err(); err != nil {
		d.tb.Fatalf("streamstest: %v", err)
	}
	return out
}
