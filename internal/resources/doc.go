// Package resources builds the Kubernetes objects that run one etcd cluster:
// the StatefulSet of members, the headless peer Service, the client Service,
// the PodDisruptionBudget and the ConfigMap with the bootstrap settings.
// Builders are pure functions of the EtcdCluster; the controller creates or
// patches what they return.
package resources
