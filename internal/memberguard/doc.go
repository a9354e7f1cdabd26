// Package memberguard decides whether an etcd member may start: the work of
// `manager member-guard`, the first init container of every member pod.
//
// etcd lets a member with an empty data directory join an existing cluster
// whenever the initial cluster it is given names it, and gives it the ID
// the cluster knows for its peer URL: a member that lost its data (an
// emptyDir pod deleted, a claim recreated) would rejoin under its old ID
// with an empty log and no memory of its votes, which raft forbids. The
// guard lets a member with an empty data directory start only when the
// bootstrap settings name it as one that may (an initial member of a new
// cluster, or the member being added); any other stops with ExitLostData
// and a termination message the operator reads, and the operator replaces
// the member under a new ID.
package memberguard
