# Quorum: a Kubernetes operator for etcd.
#
# Every tool and test binary is built from Go modules pinned in hack/tools and
# cached under bin/, keyed by version: nothing is downloaded from anywhere but
# the Go module proxy, and a second run rebuilds nothing.

# Image of the operator that deploy and the local cluster use.
IMG ?= quorum-operator/manager:dev

LOCALBIN ?= $(CURDIR)/bin
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

# Versions are read from the tools modules, so each is pinned in one place.
tool_version = $(or $(shell awk '{for (i = 1; i < NF; i++) if ($$i == "$(2)" && $$(i+1) ~ /^v/) {print $$(i+1); exit}}' $(1)),$(error no version of $(2) in $(1)))
CONTROLLER_TOOLS_VERSION := $(call tool_version,hack/tools/go.mod,sigs.k8s.io/controller-tools)
KUBE_VERSION := $(call tool_version,hack/tools/kubernetes/go.mod,k8s.io/kubernetes)
ETCD_VERSION := $(call tool_version,hack/tools/etcd/go.mod,go.etcd.io/etcd/server/v3)

CONTROLLER_GEN := $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
KUBE_BIN := $(LOCALBIN)/kubernetes-$(KUBE_VERSION)
ETCD_BIN := $(LOCALBIN)/etcd-$(ETCD_VERSION)
ENVTEST_ASSETS := $(LOCALBIN)/envtest/kubernetes-$(KUBE_VERSION)-etcd-$(ETCD_VERSION)

# Kubernetes commands report the version they were built from.
KUBE_LDFLAGS = -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=$(word 1,$(subst ., ,$(KUBE_VERSION:v%=%))) \
	-X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION:v%=%))) \
	-X k8s.io/component-base/version.gitTreeState=clean

# Packages with unit and envtest suites; e2e runs against a real cluster.
UNIT_PACKAGES = $$(go list ./... | grep -v /test/e2e)

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show every target with what it does.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs and the RBAC role from the code's markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the DeepCopy methods of the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: tidy
tidy: ## Tidy the operator's and the tools' go.mod files.
	go mod tidy
	for d in hack/tools hack/tools/kubernetes hack/tools/etcd; do (cd $$d && go mod tidy); done

.PHONY: render
render: manifests $(KUBE_BIN)/kubectl ## Render the install manifest (CRDs, RBAC, manager) into dist/install.yaml.
	@mkdir -p dist
	$(KUBE_BIN)/kubectl kustomize config/default > dist/install.yaml

.PHONY: verify
verify: manifests generate tidy render ## Fail when generated files are stale, go.mod is untidy or code is unformatted.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "Unformatted Go files:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	@git diff --exit-code -- . || { echo "Generated files or go.mod/go.sum are stale: run 'make manifests generate tidy' and commit."; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- api config go.mod go.sum hack)" || { echo "Untracked generated files:"; git status --porcelain --untracked-files=all -- api config hack; exit 1; }

.PHONY: test
test: manifests generate fmt vet envtest-assets ## Run unit tests and the envtest suites (real kube-apiserver and etcd).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test $(UNIT_PACKAGES) -coverprofile cover.out

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager binary into bin/.
	go build -o $(LOCALBIN)/manager ./cmd

.PHONY: run
run: manifests generate ## Run the manager on this machine against the cluster KUBECONFIG names.
	go run ./cmd --metrics-bind-address=0

##@ Tools (built from Go modules, cached under bin/ by version)

.PHONY: tools
tools: $(CONTROLLER_GEN) envtest-assets ## Build every tool the tests need.

$(CONTROLLER_GEN):
	hack/build-tool.sh hack/tools sigs.k8s.io/controller-tools/cmd/controller-gen $@

$(KUBE_BIN)/%:
	hack/build-tool.sh hack/tools/kubernetes k8s.io/kubernetes/cmd/$* $@ "$(KUBE_LDFLAGS)"

$(ETCD_BIN)/etcd:
	hack/build-tool.sh hack/tools/etcd go.etcd.io/etcd/server/v3 $@

$(ETCD_BIN)/etcdctl:
	hack/build-tool.sh hack/tools/etcd go.etcd.io/etcd/etcdctl/v3 $@

.PHONY: envtest-assets
envtest-assets: $(KUBE_BIN)/kube-apiserver $(KUBE_BIN)/kubectl $(ETCD_BIN)/etcd ## Build kube-apiserver, kubectl and etcd for envtest.
	@mkdir -p $(ENVTEST_ASSETS)
	@ln -sf $(KUBE_BIN)/kube-apiserver $(KUBE_BIN)/kubectl $(ETCD_BIN)/etcd $(ENVTEST_ASSETS)/
	@echo "KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS)"

.PHONY: clean
clean: ## Remove built binaries of this repo (cached tools under bin/ stay).
	rm -f $(LOCALBIN)/manager cover.out
