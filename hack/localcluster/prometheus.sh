#!/usr/bin/env bash
# Runs a real Prometheus for the local cluster, on the node address: it
# scrapes the operator and every etcd member pod by pod IP and evaluates
# config/prometheus/rules.yaml, so the e2e monitoring specs can ask its HTTP
# API which alerts fire. 'make test-e2e' starts it (not cluster-up: building
# Prometheus takes minutes that 'make demo' does without); running it again
# rewrites the configuration and reloads it (SIGHUP), so an edited rules
# file takes effect without a restart. down.sh stops it by its PID.
#
# Scraping the operator: its metrics endpoint is HTTPS on :8443 and lets in
# only callers the API server authorizes for GET /metrics. Prometheus
# presents the token of its own ServiceAccount, bound to the operator's
# quorum-metrics-reader ClusterRole, as a user's Prometheus would; the
# binding may exist before the role does (the operator is deployed after
# the cluster is up). The endpoint's certificate is self-signed by the
# operator, so it is not verified here.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PROMETHEUS=${PROMETHEUS:?PROMETHEUS is set by the Makefile}
PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
PROM_DIR=$STATE_DIR/prometheus
RULES=$REPO_ROOT/config/prometheus/rules.yaml

[ "$(id -u)" -eq 0 ] || die "the local cluster's Prometheus needs root (it reads the cluster's state dir)"
mkdir -p "$PROM_DIR/data"

# A long-lived token (a service-account-token Secret) rather than a
# TokenRequest: Prometheus re-reads the file on every scrape and the token
# never expires while the cluster lives.
$KUBECTL apply --server-side -f - >/dev/null <<'EOF'
apiVersion: v1
kind: ServiceAccount
metadata: {name: prometheus, namespace: kube-system}
---
apiVersion: v1
kind: Secret
type: kubernetes.io/service-account-token
metadata:
  name: prometheus-token
  namespace: kube-system
  annotations: {kubernetes.io/service-account.name: prometheus}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: local-prometheus-metrics-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: quorum-metrics-reader}
subjects:
- {kind: ServiceAccount, name: prometheus, namespace: kube-system}
EOF
token_written() {
  local token
  token=$($KUBECTL -n kube-system get secret prometheus-token -o jsonpath='{.data.token}')
  [ -n "$token" ] || return 1
  (umask 077; echo "$token" | base64 -d > "$PROM_DIR/token")
}
wait_for "Prometheus's ServiceAccount token" 60 token_written

# Pods are discovered through the API server with the admin credentials.
# Member series get the labels the PodMonitor of spec.monitoring.podMonitor
# gives them (job <namespace>/<cluster>, namespace, pod, container,
# endpoint), which the rules select and group by. The operator's own
# series carry namespace and name of the object they describe, so its
# target gets no namespace label that would clash with them.
cat > "$PROM_DIR/prometheus.yml" <<EOF
global:
  scrape_interval: 5s
  scrape_timeout: 4s
  evaluation_interval: 5s
rule_files:
- $RULES
scrape_configs:
- job_name: etcd-members
  kubernetes_sd_configs:
  - role: pod
    kubeconfig_file: $ADMIN_KUBECONFIG
  relabel_configs:
  - {source_labels: [__meta_kubernetes_pod_label_etcd_quorum_dev_cluster], regex: .+, action: keep}
  - {source_labels: [__meta_kubernetes_pod_container_port_name], regex: metrics, action: keep}
  - {source_labels: [__meta_kubernetes_namespace, __meta_kubernetes_pod_label_etcd_quorum_dev_cluster], separator: /, target_label: job}
  - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}
  - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
  - {source_labels: [__meta_kubernetes_pod_container_name], target_label: container}
  - {source_labels: [__meta_kubernetes_pod_container_port_name], target_label: endpoint}
- job_name: quorum-operator
  scheme: https
  tls_config: {insecure_skip_verify: true}
  authorization: {credentials_file: $PROM_DIR/token}
  kubernetes_sd_configs:
  - role: pod
    kubeconfig_file: $ADMIN_KUBECONFIG
    namespaces: {names: [quorum-system]}
  relabel_configs:
  - {source_labels: [__meta_kubernetes_pod_label_control_plane], regex: controller-manager, action: keep}
  - {source_labels: [__meta_kubernetes_pod_container_port_number], regex: "8443", action: keep}
  - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
EOF

if running prometheus; then
  kill -HUP "$(cat "$PIDS/prometheus.pid")"
  log "prometheus reloaded its configuration and rules"
else
  start prometheus "$PROMETHEUS" --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
    --storage.tsdb.retention.time=2d --web.listen-address="$NODE_IP:$PROMETHEUS_PORT"
fi
wait_for "Prometheus on http://$NODE_IP:$PROMETHEUS_PORT" 60 curl -fsS "http://$NODE_IP:$PROMETHEUS_PORT/-/ready"
