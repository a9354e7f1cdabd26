// Package v1alpha1 holds the etcd.quorum.dev/v1alpha1 API: EtcdCluster, the
// desired shape of one etcd cluster and what the operator observed of it.
//
// Validation that the API server can do on its own (ranges, formats, changes
// that cannot be applied) lives here as OpenAPI and CEL markers, so that bad
// input is refused at admission with a clear message and never reaches the
// operator.
//
// +kubebuilder:object:generate=true
// +groupName=etcd.quorum.dev
package v1alpha1
