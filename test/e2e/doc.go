// Package e2e is the end-to-end suite: real etcd members on a real
// Kubernetes. It talks to whatever KUBECONFIG names, deploys the operator
// there from config/default (the image must already be on the node: 'make
// test-e2e' loads it into the local cluster), and checks the clusters it
// creates through the etcd client, dialing members by pod IP, so the
// machine running the suite must reach pod IPs (true of the local cluster of
// hack/localcluster).
//
// Specs carry labels (basic, ...) so a slice can be run:
// make test-e2e LABELS=basic.
package e2e
