// Package benchkube gives the measurement programs under hack/bench a
// client to the cluster KUBECONFIG names, with the project's types, and
// the member endpoints they dial by pod IP.
package benchkube
