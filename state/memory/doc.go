// Package memory is the in-memory backend of the state stores: an ordered key-value store
// on a skip list, and window and session stores whose segments are such stores. Nothing
// survives Close; a Task restores in-memory stores from their changelogs on every start.
//
//	kv := memory.NewKeyValueStore("counts")
//	defer kv.Close()
//	_ = kv.Put([]byte("a"), []byte("1"))
//	it, err := kv.Range([]byte("a"), []byte("m"))
//	if err != nil {
//		return err
//	}
//	defer it.Close() // iterators must always be closed
//	for it.Next() {
//		fmt.Printf("%s=%s\n", it.Key(), it.Value())
//	}
//
// Iterators are weakly consistent: they read the store in chunks and see writes made
// after they were opened to keys they have not reached yet.
package memory
