// Package verify checks that a backup can be restored and holds what the
// member it was read from held: the work of `manager verify`, which an
// EtcdBackup's verification Job runs. It downloads the snapshot and checks
// its SHA-256, checks the file with etcdutl's snapshot status, restores it
// into a temporary data directory, starts a throwaway one-member etcd on
// loopback on it, and compares that etcd's HashKV and key count at the
// backup's revision with those the member gave right after the snapshot.
package verify
