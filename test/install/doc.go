// Package install tests the two ways Quorum is installed on a cluster,
// without one: the Helm chart (charts/quorum), rendered by the real helm
// binary, checked against config/ (its CRDs and RBAC rules are the same),
// and installed, upgraded and uninstalled on envtest's API server; and the
// kustomize manifest that 'make render' and 'make release' write to
// dist/install.yaml, applied with kubectl to the same API server.
//
// Both need binaries the Makefile builds and names: HELM (bin/helm-*) and
// KUBEBUILDER_ASSETS (kube-apiserver, etcd and kubectl). Run through 'make
// test'.
package install
