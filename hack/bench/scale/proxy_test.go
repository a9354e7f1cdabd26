package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestRequestKind names requests as the API server's request info does.
func TestRequestKind(t *testing.T) {
	for _, tc := range []struct{ method, url, want string }{
		{http.MethodGet, "/api/v1/namespaces/a/pods", "list pods"},
		{http.MethodGet, "/api/v1/pods?watch=true&resourceVersion=1", "watch pods"},
		{http.MethodGet, "/api/v1/namespaces/a/secrets/s", "get secrets"},
		{http.MethodGet, "/api/v1/namespaces/a", "get namespaces"},
		{http.MethodPatch, "/apis/etcd.quorum.dev/v1alpha1/namespaces/a/etcdclusters/c/status", "patch etcdclusters/status"},
		{http.MethodPost, "/apis/apps/v1/namespaces/a/statefulsets", "create statefulsets"},
		{http.MethodPut, "/api/v1/namespaces/a/configmaps/c", "update configmaps"},
		{http.MethodDelete, "/api/v1/namespaces/a/pods/p", "delete pods"},
		{http.MethodGet, "/apis/apps/v1", "GET /apis/apps/v1"},
		{http.MethodGet, "/version", "GET /version"},
	} {
		if got := requestKind(httptest.NewRequest(tc.method, tc.url, nil)); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.url, got, tc.want)
		}
	}
}
