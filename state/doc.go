// Package state holds the local, fault-tolerant state stores under every stateful
// stream operator: the store interfaces (key-value, window, session), the changelogging
// layer with its record cache, the .checkpoint file, restoration from changelog topics and
// the per-task directory that ties them together.
//
// Backends live in subpackages: state/leveldb (persistent, on goleveldb) and state/memory.
// state/statetest is the conformance suite both pass; state/kafkachangelog implements the
// ChangelogWriter and ChangelogReader interfaces with franz-go.
//
// Stores take and return raw bytes; typed wrappers belong to the streams package.
// Keys are compared as unsigned bytes, ranges are inclusive at both ends, and a nil value
// passed to Put deletes the key, as in Kafka Streams. Every iterator a store returns must
// be closed by the caller, also when it was not read to the end.
//
// A task's stores are opened through a Task, which locks the task directory, loads the
// checkpoint, restores each store from its changelog and logs every later write:
//
//	task, err := state.OpenTask(state.TaskConfig{
//		ApplicationID: "wordcount",
//		TaskID:        "0_3",
//		Partition:     3,
//		StateDir:      "/var/lib/gregor-streams",
//		Writer:        kafkachangelog.NewWriter(producer),
//		Reader:        kafkachangelog.NewReader(client),
//	})
//	if err != nil {
//		return err
//	}
//	counts, err := task.KeyValueStore("counts", leveldb.KeyValueFactory(nil))
//	if err != nil {
//		return err
//	}
//	if err := task.Restore(ctx); err != nil {
//		return err
//	}
//	_ = counts.Put([]byte("gregor"), []byte("1"))
//	if err := task.Commit(ctx); err != nil { // flush the cache and the changelog
//		return err
//	}
//	return task.Close(ctx, true) // clean close: writes the checkpoint
//
// Restore fetches each changelog from a goroutine of its own, one batch ahead of the
// batch being applied, and applies whole fetches at once (RestoreBatch): the leveldb
// backend writes each as one unsynced leveldb batch and syncs once at the end, before the
// restored offsets are checkpointed. integration/cmd/restorebench measures it on a Gregor
// broker next to goka's table recovery.
package state
