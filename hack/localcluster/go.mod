// Module localcluster holds the small programs the local Kubernetes cluster
// needs: an image builder that needs no container daemon, and the pod
// sandbox (pause) program. It is separate from the operator's module so its
// dependencies stay out of the operator.
module github.com/quorum-operator/quorum/hack/localcluster

go 1.26.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
