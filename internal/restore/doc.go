// Package restore prepares a new member's data directory from a snapshot:
// the work of `manager restore`, the init container of every member of a
// cluster bootstrapped from a backup. It restores only into an empty data
// directory of a cluster that is being created, and only a snapshot whose
// SHA-256 matches the backup's; anything else leaves the directory empty,
// so no member starts on wrong data.
package restore
