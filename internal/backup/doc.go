// Package backup takes one etcd snapshot and writes it to its destination:
// the work of the `manager backup` command that an EtcdBackup's Job runs.
// The snapshot is streamed from the member through a SHA-256 to the
// destination and never held whole in memory; a destination shows a
// complete object or file only once the whole snapshot was written.
package backup
