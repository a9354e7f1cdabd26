// Package etcdsim answers the etcd v3 gRPC API the operator uses (member
// list, status, learner add, promote, remove, move leader, alarms,
// downgrade, hash) for every member pod of every EtcdCluster, from one
// process, so the scale bench (hack/bench/scale) can run hundreds of
// clusters without an etcd each.
//
// It watches member pods through the API server and listens on each
// running pod's IP at the client port; the pod range is routed onto
// loopback by the bench, so a dial of a pod IP reaches this process, and
// the address dialled tells members apart. Each cluster's membership is
// kept in memory: the initial members come from the bootstrap ConfigMap
// when the first pod runs, a member starts when its pod runs, a learner
// catches up at once, and the leader is the first started voter. It
// counts RPCs by method and new connections, records the time of every
// membership change, and can make a cluster's members stop answering
// (accept and never reply, or refuse connections) to reproduce
// unreachable members.
//
// It does not model raft (no elections, no log, no data), storage, peer
// traffic, TLS client authentication, or anything the operator does not
// call.
package etcdsim
