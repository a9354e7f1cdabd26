// Package pki issues the certificates of a cluster whose TLS the operator
// manages: one self-signed CA per cluster and the leaf certificates it
// signs. It uses only Go's crypto; nothing is fetched or run.
package pki
