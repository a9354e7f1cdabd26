// Package metrics holds the operator's own Prometheus metrics: one set of
// gauges per EtcdCluster and per EtcdBackupSchedule, registered with
// controller-runtime's registry so the manager's /metrics endpoint serves
// them beside its own.
//
// The controllers hand over what they already computed (a cluster's status,
// a schedule's newest succeeded backup); this package turns it into series
// labelled only namespace and name, and deletes an object's series when the
// object goes. docs/monitoring.md lists every metric and what to do about
// it; the alert rules and the dashboard read these names.
package metrics
