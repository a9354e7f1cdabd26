// Package testservers runs real servers on loopback for tests: an etcd
// member (the envtest etcd binary, KUBEBUILDER_ASSETS) and an S3 server
// (versitygw, VERSITYGW). 'make test' builds both and sets the variables.
package testservers
