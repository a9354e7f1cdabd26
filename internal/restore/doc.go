// Package restore prepares a member's data directory from a snapshot: the
// work of `manager restore`, an init container of member pods.
//
// Bootstrap (Run): every member of a cluster created from a backup. It
// restores only into an empty data directory of a cluster that is being
// created, and only a snapshot whose SHA-256 matches the backup's; anything
// else leaves the directory empty, so no member starts on wrong data.
//
// In place (RunInPlace, `--in-place=<restore ID>`): every member of an
// existing cluster an EtcdRestore restores. The member's data directory is
// moved aside on its own claim, never deleted, and only once the verified
// snapshot was restored beside it; a marker per restore ID makes a pod
// that restarts keep what it restored.
package restore
