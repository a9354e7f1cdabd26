// Package policy holds sample ValidatingAdmissionPolicies a platform team
// sets over self-service etcd (limits.yaml, require-tls.yaml,
// production.yaml, applied with kubectl apply -k); the Go code here only
// tests them in a real kube-apiserver. See docs/policy.md.
package policy
