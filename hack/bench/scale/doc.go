// Command scale is the scale bench of issue #14 (make bench-scale N=…). It
// starts a control plane without kubelets on this machine (etcd and
// kube-apiserver through envtest, kube-controller-manager, kube-scheduler,
// kwok for fake nodes and pod lifecycle) and one etcd simulator (package
// etcdsim) that answers for every member pod's IP, routes the pod range
// onto loopback for the run, and runs the operator built from the working
// tree, and from a baseline commit beside it, as a process against that
// API server through a proxy that counts its requests by verb and
// resource. It prints memory, idle traffic, the time for every cluster to
// be reconciled after a restart, and the time from a size change to the
// operator's first etcd step, alone and beside clusters whose members do
// not answer, each beside its goal. docs/scale.md explains it.
package main
