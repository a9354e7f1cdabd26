// Package writer puts a key at a fixed interval into an etcd cluster while
// an operation runs, remembers which puts etcd acknowledged, and checks at
// the end that every acknowledged key is readable. The e2e suite and the
// upgrade benchmark both use it.
package writer
