// Package history records what concurrent clients did to an etcd cluster
// and checks it: that the history is linearizable (porcupine, against a
// model of one etcd key) and that a final read finds every acknowledged
// write. Fault-injection specs put this load on a cluster while they break
// it.
//
// A few clients (Config.Clients, default 4) issue gets, puts, deletes and
// compare-and-swap txns on a few keys (Config.Keys, default 8) so that
// operations on a key overlap; every written value is unique. Each
// operation is recorded with its call and return times on the monotonic
// clock, its input and its result. A client that times out or loses its
// connection does not know whether a write happened: the operation is
// Unknown, and the model lets it take effect at any time after its call,
// or never. Only errors with which etcd refuses a request (NOSPACE, too
// many requests, ...) make an operation Failed, left out of the check.
//
// A fault spec runs:
//
//	r, err := history.Start(ctx, history.Config{Endpoints: eps, TLS: tlsConfig, Duration: 2 * time.Minute})
//	// ... inject faults, heal them, wait for <-r.Done() or call r.Stop()
//	err = r.ReadFinal(ctx) // every key, once the cluster can answer
//	sum, err := history.Check(r.History(), outputDir, time.Minute)
//
// or Run, which does all of it without faults. A check that fails, or
// that porcupine cannot finish in time (Unknown is not a pass), writes
// history.json and porcupine's history.html under the directory given and
// names them in its error.
package history
