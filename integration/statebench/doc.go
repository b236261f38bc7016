// Package statebench benchmarks Gregor's key-value store backends (state/memory and
// state/leveldb) side by side with goka's leveldb storage (goka v1.1.17): Put, Get,
// Range over 1000 entries and the restoration path (RestoreBatch next to goka's one
// Set per record and SetOffset). It lives in the integration module so that goka is
// a dependency of the tests only, not of the state library.
//
//	cd integration && go test -run '^$' -bench . -benchtime 1s ./statebench/
package statebench
