// Package etcd is the operator's only door to etcd: a Client interface with
// just the calls the controllers make, a real implementation over
// go.etcd.io/etcd/client/v3, and a Fake for unit tests of decisions (Fakes
// holds one per namespace for envtest suites).
//
// Every call takes the caller's context; the controller bounds it with a
// timeout. Members are dialed by pod IP, so the operator works both
// in-cluster and from a workstation that cannot resolve cluster DNS.
package etcd
