// Package prometheus holds no code of its own: its module pins the
// Prometheus release that hack/build-tool.sh builds promtool and prometheus
// from, and its test checks the queries Quorum ships (the alert rules in
// config/prometheus and the dashboard in config/grafana) with Prometheus's
// own PromQL parser, without adding Prometheus to the operator's go.mod.
package prometheus
