// Package leveldb is the persistent backend of the state stores, on goleveldb
// (github.com/syndtr/goleveldb). A key-value store is one leveldb database in its own
// directory; window and session stores keep one database per time segment, in directories
// named <store>.<segment start>, and drop a segment's directory when it expires.
//
//	kv, err := leveldb.Open("counts", filepath.Join(taskDir, "leveldb", "counts"), nil)
//	if err != nil {
//		return err // wraps state.ErrCorrupt when the files cannot be read
//	}
//	defer kv.Close()
//	_ = kv.Put([]byte("a"), []byte("1"))
//	it, err := kv.PrefixScan([]byte("a"))
//	if err != nil {
//		return err
//	}
//	defer it.Close() // iterators must always be closed: they pin a leveldb snapshot
//	for it.Next() {
//		fmt.Printf("%s=%s\n", it.Key(), it.Value())
//	}
//
// Writes are not synced one by one (the changelog is what makes state durable); Flush
// syncs the write-ahead journal so that a checkpoint written after it never runs ahead of
// the data.
package leveldb
