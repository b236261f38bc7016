package state

// KeyValueFactory opens, creating it if needed, the key-value store named name whose files
// live in directory dir (in-memory backends ignore dir). A backend whose data is
// unreadable returns an error wrapping ErrCorrupt.
type KeyValueFactory func(name, dir string) (KeyValueStore, error)

// SegmentsFactory returns the segment storage of the window or session store named name,
// rooted at directory dir (in-memory backends ignore dir).
type SegmentsFactory func(name, dir string) (Segments, error)
