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
# Older etcd releases the upgrade tests start from: the last 3.5, and the
# 3.6 patch release before ETCD_VERSION.
ETCD_PREVIOUS_MINOR_VERSION := $(call tool_version,hack/tools/etcd-3.5/go.mod,go.etcd.io/etcd/server/v3)
ETCD_PREVIOUS_PATCH_VERSION := $(call tool_version,hack/tools/etcd-3.6-previous/go.mod,go.etcd.io/etcd/server/v3)

COREDNS_VERSION := $(call tool_version,hack/tools/coredns/go.mod,github.com/coredns/coredns)
LOCAL_PATH_PROVISIONER_VERSION := $(call tool_version,hack/tools/local-path-provisioner/go.mod,github.com/rancher/local-path-provisioner)
# A real S3-compatible server for the backup tests and the local cluster.
VERSITYGW_VERSION := $(call tool_version,hack/tools/versitygw/go.mod,github.com/versity/versitygw)
GOLANGCI_LINT_VERSION := $(call tool_version,hack/tools/golangci-lint/go.mod,github.com/golangci/golangci-lint/v2)
HELM_VERSION := $(call tool_version,hack/tools/helm/go.mod,helm.sh/helm/v4)
# The Ginkgo CLI runs the e2e specs on two processes.
GINKGO_VERSION := $(call tool_version,hack/tools/ginkgo/go.mod,github.com/onsi/ginkgo/v2)

CONTROLLER_GEN := $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
COREDNS := $(LOCALBIN)/coredns-$(COREDNS_VERSION)
LOCAL_PATH_PROVISIONER := $(LOCALBIN)/local-path-provisioner-$(LOCAL_PATH_PROVISIONER_VERSION)
VERSITYGW := $(LOCALBIN)/versitygw-$(VERSITYGW_VERSION)/versitygw
GOLANGCI_LINT := $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
HELM := $(LOCALBIN)/helm-$(HELM_VERSION)/helm
GINKGO := $(LOCALBIN)/ginkgo-$(GINKGO_VERSION)/ginkgo
# Fake nodes and pod lifecycle for the scale bench.
KWOK_VERSION := $(call tool_version,hack/tools/kwok/go.mod,sigs.k8s.io/kwok)
KWOK := $(LOCALBIN)/kwok-$(KWOK_VERSION)/kwok
# Programs of hack/localcluster; rebuilt when their source changes.
LOCALCLUSTER_BIN := $(LOCALBIN)/localcluster
LOCALCLUSTER_SRC := $(shell find hack/localcluster -name '*.go' -o -name go.mod -o -name go.sum)
IMAGES_DIR := $(LOCALBIN)/images
KUBE_BIN := $(LOCALBIN)/kubernetes-$(KUBE_VERSION)
ETCD_BIN := $(LOCALBIN)/etcd-$(ETCD_VERSION)
ENVTEST_ASSETS := $(LOCALBIN)/envtest/kubernetes-$(KUBE_VERSION)-etcd-$(ETCD_VERSION)
# Prometheus and promtool: the alert rules' tests and the local cluster's
# Prometheus.
PROMETHEUS_VERSION := $(call tool_version,hack/tools/prometheus/go.mod,github.com/prometheus/prometheus)
PROMTOOL := $(LOCALBIN)/prometheus-$(PROMETHEUS_VERSION)/promtool
PROMETHEUS := $(LOCALBIN)/prometheus-$(PROMETHEUS_VERSION)/prometheus

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

# Debian packages: every target a user may type first depends on the install
# step as its first prerequisite, so nothing is built or run before what it
# needs is there (hack/check-prereqs.sh proves it for README's commands).
.PHONY: prereqs
prereqs: ## Install the Debian packages the build and 'make test' need (idempotent, quick when all are there).
	hack/install-prereqs.sh

.PHONY: prereqs-cluster
prereqs-cluster: ## Install the Debian packages the local cluster needs as well.
	hack/install-prereqs.sh cluster

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
	for d in hack/tools hack/tools/kubernetes hack/tools/etcd hack/tools/etcd-3.5 hack/tools/etcd-3.6-previous hack/tools/coredns hack/tools/local-path-provisioner hack/tools/versitygw hack/tools/golangci-lint hack/tools/helm hack/tools/prometheus hack/tools/kwok hack/tools/ginkgo hack/localcluster; do (cd $$d && go mod tidy); done

.PHONY: render
render: manifests $(KUBE_BIN)/kubectl ## Render the install manifest (CRDs, RBAC, manager) into dist/install.yaml.
	@mkdir -p dist
	$(KUBE_BIN)/kubectl kustomize config/default > dist/install.yaml

# The release version of the operator and of its chart, read from one place:
# the chart's version. 'make release VERSION=x.y.z' sets both.
CHART_DIR := charts/quorum
VERSION ?= $(shell awk '$$1 == "version:" {print $$2; exit}' $(CHART_DIR)/Chart.yaml)
# The image a release pins: IMG when given, else the version's tag (not :dev).
RELEASE_IMG = $(if $(filter command line environment,$(origin IMG)),$(IMG),quorum-operator/manager:$(VERSION))

.PHONY: chart
chart: prereqs manifests ## Copy the CRDs, RBAC roles and alert rules from config/ into the Helm chart (charts/quorum/files), which renders them.
	rm -rf $(CHART_DIR)/files && mkdir -p $(CHART_DIR)/files/crds $(CHART_DIR)/files/rbac $(CHART_DIR)/files/prometheus
	cp config/crd/bases/*.yaml $(CHART_DIR)/files/crds/
	cp config/prometheus/rules.yaml $(CHART_DIR)/files/prometheus/
	cp $(addprefix config/rbac/,role.yaml leader_election_role.yaml metrics_auth_role.yaml metrics_reader_role.yaml \
		etcd_editor_role.yaml etcd_viewer_role.yaml) $(CHART_DIR)/files/rbac/

.PHONY: release
release: prereqs manifests chart $(KUBE_BIN)/kubectl $(HELM) ## Write dist/install.yaml and dist/quorum-$(VERSION).tgz for VERSION=x.y.z, image pinned to the version (or IMG).
	@case "$(RELEASE_IMG)" in *:*) ;; *) echo "IMG must name a tag: $(RELEASE_IMG)"; exit 1 ;; esac
	rm -rf dist/.release && mkdir -p dist/.release/overlay dist/.release/chart
	img=$(RELEASE_IMG); printf 'resources:\n- ../../../config/default\nimages:\n- name: quorum-operator/manager\n  newName: %s\n  newTag: "%s"\n' \
		"$${img%:*}" "$${img##*:}" > dist/.release/overlay/kustomization.yaml
	$(KUBE_BIN)/kubectl kustomize dist/.release/overlay > dist/install.yaml
	cp -R $(CHART_DIR) dist/.release/chart/
	img=$(RELEASE_IMG); sed -i -e "s|^  repository: .*|  repository: $${img%:*}|" -e "s|^  tag: .*|  tag: \"$${img##*:}\"|" \
		dist/.release/chart/quorum/values.yaml
	$(HELM) lint --strict dist/.release/chart/quorum
	$(HELM) package dist/.release/chart/quorum --version $(VERSION) --app-version $(VERSION) --destination dist
	rm -rf dist/.release
	@echo "Released $(VERSION) ($(RELEASE_IMG)): dist/install.yaml, dist/quorum-$(VERSION).tgz"

.PHONY: verify
verify: prereqs manifests generate tidy render chart ## Fail when generated files are stale, go.mod is untidy or code is unformatted.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "Unformatted Go files:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	@git diff --exit-code -- . || { echo "Generated files or go.mod/go.sum are stale: run 'make manifests generate tidy' and commit."; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- api config charts go.mod go.sum hack)" || { echo "Untracked generated files:"; git status --porcelain --untracked-files=all -- api config charts hack; exit 1; }
	hack/check-prereqs.sh

.PHONY: lint
lint: prereqs $(GOLANGCI_LINT) ## Run golangci-lint (.golangci.yml) on the operator, the tests and the benches.
	$(GOLANGCI_LINT) run ./...
	cd hack/localcluster && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...

.PHONY: test
test: prereqs manifests generate fmt vet chart envtest-assets $(VERSITYGW) $(HELM) ## Run unit tests and the envtest suites (real kube-apiserver and etcd, a real S3 server), and lint the Helm chart.
	$(HELM) lint --strict $(CHART_DIR)
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" VERSITYGW="$(VERSITYGW)" HELM="$(HELM)" go test $(UNIT_PACKAGES) -coverprofile cover.out

##@ Build

.PHONY: build
build: prereqs manifests generate fmt vet ## Build the manager binary into bin/.
	go build -o $(LOCALBIN)/manager ./cmd

.PHONY: run
run: manifests generate ## Run the manager on this machine against the cluster KUBECONFIG names.
	go run ./cmd --metrics-bind-address=0 --job-image=$(IMG)

##@ Tools (built from Go modules, cached under bin/ by version)

.PHONY: tools
tools: $(CONTROLLER_GEN) envtest-assets ## Build every tool the tests need.

$(GOLANGCI_LINT):
	hack/build-tool.sh hack/tools/golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint $@

# Helm reports the release it was built from, as its own Makefile sets it.
$(HELM):
	hack/build-tool.sh hack/tools/helm helm.sh/helm/v4/cmd/helm $@ "-X helm.sh/helm/v4/internal/version.version=$(HELM_VERSION)"

$(GINKGO):
	hack/build-tool.sh hack/tools/ginkgo github.com/onsi/ginkgo/v2/ginkgo $@

$(CONTROLLER_GEN):
	hack/build-tool.sh hack/tools sigs.k8s.io/controller-tools/cmd/controller-gen $@

$(KUBE_BIN)/%:
	hack/build-tool.sh hack/tools/kubernetes k8s.io/kubernetes/cmd/$* $@ "$(KUBE_LDFLAGS)"

$(ETCD_BIN)/etcd:
	hack/build-tool.sh hack/tools/etcd go.etcd.io/etcd/server/v3 $@

$(ETCD_BIN)/etcdctl:
	hack/build-tool.sh hack/tools/etcd go.etcd.io/etcd/etcdctl/v3 $@

$(ETCD_BIN)/etcdutl:
	hack/build-tool.sh hack/tools/etcd go.etcd.io/etcd/etcdutl/v3 $@

$(LOCALBIN)/etcd-$(ETCD_PREVIOUS_MINOR_VERSION)/etcd:
	hack/build-tool.sh hack/tools/etcd-3.5 go.etcd.io/etcd/server/v3 $@

$(LOCALBIN)/etcd-$(ETCD_PREVIOUS_PATCH_VERSION)/etcd:
	hack/build-tool.sh hack/tools/etcd-3.6-previous go.etcd.io/etcd/server/v3 $@

$(COREDNS):
	hack/build-tool.sh hack/tools/coredns github.com/coredns/coredns $@

$(LOCAL_PATH_PROVISIONER):
	hack/build-tool.sh hack/tools/local-path-provisioner github.com/rancher/local-path-provisioner $@

$(VERSITYGW):
	hack/build-tool.sh hack/tools/versitygw github.com/versity/versitygw/cmd/versitygw $@

$(KWOK):
	hack/build-tool.sh hack/tools/kwok sigs.k8s.io/kwok/cmd/kwok $@

$(LOCALCLUSTER_BIN)/%: $(LOCALCLUSTER_SRC)
	hack/build-tool.sh hack/localcluster ./cmd/$* $@

.PHONY: envtest-assets
envtest-assets: $(KUBE_BIN)/kube-apiserver $(KUBE_BIN)/kubectl $(ETCD_BIN)/etcd ## Build kube-apiserver, kubectl and etcd for envtest.
	@mkdir -p $(ENVTEST_ASSETS)
	@ln -sf $(KUBE_BIN)/kube-apiserver $(KUBE_BIN)/kubectl $(ETCD_BIN)/etcd $(ENVTEST_ASSETS)/
	@echo "KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS)"

##@ Monitoring (alert rules and dashboard)

$(PROMTOOL):
	hack/build-tool.sh hack/tools/prometheus github.com/prometheus/prometheus/cmd/promtool $@

$(PROMETHEUS):
	hack/build-tool.sh hack/tools/prometheus github.com/prometheus/prometheus/cmd/prometheus $@

# The rules as a prometheus-operator PrometheusRule, for kustomize and the
# chart: the groups of rules.yaml under spec, so there is one copy to edit.
PROMETHEUSRULE = { printf '%s\n' '\# Generated from rules.yaml by make prometheusrule: edit that file.' \
	'apiVersion: monitoring.coreos.com/v1' 'kind: PrometheusRule' 'metadata:' '  name: etcd-rules' '  namespace: system' \
	'  labels:' '    app.kubernetes.io/name: quorum' 'spec:'; sed -n '/^groups:/,$$p' config/prometheus/rules.yaml | sed 's/^./  &/'; }

.PHONY: prometheusrule
prometheusrule: ## Write config/prometheus/prometheusrule.yaml from config/prometheus/rules.yaml.
	$(PROMETHEUSRULE) > config/prometheus/prometheusrule.yaml

.PHONY: test-rules
test-rules: $(PROMTOOL) $(ETCD_BIN)/etcd ## Check and unit-test the alert rules (promtool); parse every rule and dashboard query with Prometheus's parser.
	$(PROMTOOL) check rules config/prometheus/rules.yaml
	$(PROMTOOL) test rules config/prometheus/rules_test.yaml
	cd hack/tools/prometheus && ETCD=$(ETCD_BIN)/etcd go test ./... -count=1
	@$(PROMETHEUSRULE) | diff -u config/prometheus/prometheusrule.yaml - || \
		{ echo "config/prometheus/prometheusrule.yaml is stale: run 'make prometheusrule'"; exit 1; }

# 'make test' runs the rule tests as well.
test: test-rules

##@ Local cluster (a real single-node Kubernetes on this machine; needs root)

CLUSTER_DIR ?= /var/lib/quorum-local-cluster
# The local cluster's S3 server (backups), on the node address.
LOCAL_S3 = S3_PORT=9000 S3_ACCESS_KEY=quorum-local S3_SECRET_KEY=quorum-local-secret
# Its Prometheus (hack/localcluster/prometheus.sh), on the node address of
# hack/localcluster/lib.sh; the e2e monitoring specs query it.
test-e2e: export PROMETHEUS_URL = http://10.250.0.1:9090
CLUSTER_ENV = QUORUM_CLUSTER_DIR=$(CLUSTER_DIR) KUBE_BIN=$(KUBE_BIN) ETCD_BIN=$(ETCD_BIN) COREDNS=$(COREDNS) \
	LOCAL_PATH_PROVISIONER=$(LOCAL_PATH_PROVISIONER) LOCALCLUSTER_BIN=$(LOCALCLUSTER_BIN) IMAGES_DIR=$(IMAGES_DIR) \
	VERSITYGW=$(VERSITYGW) PROMETHEUS=$(PROMETHEUS) $(LOCAL_S3)
KUBECONFIG_LOCAL := $(LOCALBIN)/kubeconfig
KUBECTL_LOCAL = $(KUBE_BIN)/kubectl --kubeconfig $(KUBECONFIG_LOCAL)
CLUSTER_BINARIES = $(addprefix $(KUBE_BIN)/,kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl) \
	$(ETCD_BIN)/etcd $(COREDNS) $(LOCAL_PATH_PROVISIONER) $(VERSITYGW) $(LOCALCLUSTER_BIN)/dnsquery

# Images made from binaries built here (hack/localcluster/cmd/image), under
# the names the operator and the cluster use, so nothing is ever pulled.
$(IMAGES_DIR)/pause.tar: $(LOCALCLUSTER_BIN)/image $(LOCALCLUSTER_BIN)/pause
	@mkdir -p $(@D)
	$(LOCALCLUSTER_BIN)/image --name registry.k8s.io/pause:3.10 --out $@ --add /pause=$(LOCALCLUSTER_BIN)/pause --cmd /pause

$(IMAGES_DIR)/etcd-$(ETCD_VERSION).tar: $(LOCALCLUSTER_BIN)/image $(ETCD_BIN)/etcd $(ETCD_BIN)/etcdctl $(ETCD_BIN)/etcdutl
	@mkdir -p $(@D)
	$(LOCALCLUSTER_BIN)/image --name gcr.io/etcd-development/etcd:$(ETCD_VERSION) --out $@ --cmd /usr/local/bin/etcd \
		--add /usr/local/bin/etcd=$(ETCD_BIN)/etcd --add /usr/local/bin/etcdctl=$(ETCD_BIN)/etcdctl \
		--add /usr/local/bin/etcdutl=$(ETCD_BIN)/etcdutl --dir /var/lib/etcd --dir /tmp

# The older releases carry only the etcd server: they exist for the upgrade
# tests, which talk to members through the Go client.
$(IMAGES_DIR)/etcd-%-server-only.tar: $(LOCALCLUSTER_BIN)/image $(LOCALBIN)/etcd-%/etcd
	@mkdir -p $(@D)
	$(LOCALCLUSTER_BIN)/image --name gcr.io/etcd-development/etcd:$* --out $@ --cmd /usr/local/bin/etcd \
		--add /usr/local/bin/etcd=$(LOCALBIN)/etcd-$*/etcd --dir /var/lib/etcd --dir /tmp

$(IMAGES_DIR)/busybox.tar: $(LOCALCLUSTER_BIN)/image | prereqs-cluster
	@mkdir -p $(@D)
	$(LOCALCLUSTER_BIN)/image --name quorum.local/busybox:1 --out $@ --cmd /bin/sh --add /bin/busybox=/bin/busybox \
		$(foreach a,sh mkdir rm ls cat,--link /bin/$(a)=busybox)

.PHONY: image
image: $(LOCALCLUSTER_BIN)/image ## Build the operator image ($(IMG)) into bin/images without a container daemon.
	@mkdir -p $(IMAGES_DIR)
	CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o $(LOCALBIN)/manager-linux ./cmd
	$(LOCALCLUSTER_BIN)/image --name $(IMG) --out $(IMAGES_DIR)/manager.tar --add /manager=$(LOCALBIN)/manager-linux \
		--cmd /manager --user 65532:65532

# The demo needs only the current etcd; the upgrade tests also start from the
# older releases, which test-e2e builds and imports itself.
CLUSTER_IMAGES = $(IMAGES_DIR)/pause.tar $(IMAGES_DIR)/etcd-$(ETCD_VERSION).tar $(IMAGES_DIR)/busybox.tar
E2E_IMAGES = $(IMAGES_DIR)/etcd-$(ETCD_PREVIOUS_MINOR_VERSION)-server-only.tar $(IMAGES_DIR)/etcd-$(ETCD_PREVIOUS_PATCH_VERSION)-server-only.tar

.PHONY: images
images: prereqs-cluster image $(CLUSTER_IMAGES) $(E2E_IMAGES) ## Build every image the local cluster and the tests use.

.PHONY: cluster-up
cluster-up: prereqs-cluster $(CLUSTER_BINARIES) image $(CLUSTER_IMAGES) ## Start the local single-node Kubernetes (idempotent); KUBECONFIG is bin/kubeconfig.
	$(CLUSTER_ENV) hack/localcluster/up.sh

.PHONY: cluster-down
cluster-down: prereqs-cluster ## Stop the local cluster and remove everything it added; fails if anything remains.
	$(CLUSTER_ENV) hack/localcluster/down.sh

.PHONY: load-image
load-image: prereqs-cluster image ## Import the operator image into the local cluster's containerd.
	ctr --address $(CLUSTER_DIR)/containerd/containerd.sock -n k8s.io images import $(IMAGES_DIR)/manager.tar >/dev/null

# A second name for the same image: the e2e spec that upgrades the operator
# installed from dist/install.yaml in place moves it to this one.
NEXT_IMG = $(IMG)-next

.PHONY: deploy
deploy: prereqs-cluster manifests load-image ## Deploy the operator from config/default with the locally built image, and restart it.
	$(KUBE_BIN)/kubectl kustomize config/default | $(KUBECTL_LOCAL) apply --server-side --force-conflicts -f -
	$(KUBECTL_LOCAL) -n quorum-system rollout restart deployment/quorum-controller-manager
	$(KUBECTL_LOCAL) -n quorum-system rollout status deployment/quorum-controller-manager --timeout=180s

.PHONY: demo
demo: prereqs-cluster cluster-up deploy ## On a fresh machine: the local cluster, the operator, and a sample 3-member EtcdCluster.
	$(KUBECTL_LOCAL) apply -f config/samples/etcd_v1alpha1_etcdcluster.yaml
	$(KUBECTL_LOCAL) wait etcdcluster/example --for=condition=Available --timeout=300s
	$(KUBECTL_LOCAL) get etcdcluster,statefulset,pods,pvc -o wide
	@echo
	@echo "Reach it:  export KUBECONFIG=$(KUBECONFIG_LOCAL)"
	@echo "           kubectl exec example-0 -- etcdctl endpoint status --cluster -w table"
	@echo "Stop all:  make cluster-down"

.PHONY: load-e2e-images
load-e2e-images: prereqs-cluster $(E2E_IMAGES) ## Import the older etcd releases the upgrade tests start from.
	for tar in $(E2E_IMAGES); do ctr --address $(CLUSTER_DIR)/containerd/containerd.sock -n k8s.io images import $$tar >/dev/null; done

# A failed history check leaves its files here.
E2E_ARTIFACTS ?= $(CURDIR)/bin/e2e-artifacts
E2E_TIMEOUT ?= 75m
# Specs run on this many processes; those marked Serial (they stop the
# operator, cordon the node or restart the control plane) run alone at the
# end.
E2E_PROCS ?= 2
# The soak's length in minutes and its seed (empty: one from the clock,
# printed); test-e2e runs it for 3m unless told.
DURATION ?= 60m
SEED ?=
.PHONY: test-e2e
test-e2e: prereqs-cluster manifests chart render load-image load-e2e-images $(KUBE_BIN)/kubectl $(HELM) $(PROMETHEUS) $(GINKGO) $(KWOK) ## Run the e2e suite on the local cluster ('make cluster-up' first); LABELS=basic runs a slice.
	$(CLUSTER_ENV) hack/localcluster/prometheus.sh
	src=$$(ctr --address $(CLUSTER_DIR)/containerd/containerd.sock -n k8s.io images ls -q | grep -E '(^|/)$(IMG)$$' | head -1); \
		ctr --address $(CLUSTER_DIR)/containerd/containerd.sock -n k8s.io images tag --force "$$src" "$$src-next" >/dev/null
	KUBECONFIG=$(KUBECONFIG_LOCAL) KUBECTL=$(KUBE_BIN)/kubectl HELM=$(HELM) E2E_ETCD_VERSION=$(ETCD_VERSION:v%=%) $(LOCAL_S3) \
		$(CLUSTER_ENV) E2E_CLUSTER_RESTART=$(CURDIR)/hack/localcluster/restart.sh E2E_ARTIFACTS=$(E2E_ARTIFACTS) \
		SOAK_DURATION=$(SOAK_DURATION) SOAK_SEED=$(SOAK_SEED) \
		E2E_INSTALL_MANIFEST=$(CURDIR)/dist/install.yaml E2E_OPERATOR_NEXT_IMAGE=$(NEXT_IMG) KWOK=$(KWOK) \
		E2E_ETCD_PREVIOUS_MINOR=$(ETCD_PREVIOUS_MINOR_VERSION:v%=%) E2E_ETCD_PREVIOUS_PATCH=$(ETCD_PREVIOUS_PATCH_VERSION:v%=%) \
		$(GINKGO) -p --procs=$(E2E_PROCS) -v --timeout=$(E2E_TIMEOUT) $(if $(LABELS),--label-filter="$(LABELS)") ./test/e2e

.PHONY: soak
soak: ## Run the soak on the local cluster: random actions and faults, each step's history checked (DURATION=60m SEED=n reproduces a run).
	$(MAKE) test-e2e LABELS=soak E2E_TIMEOUT=$$(( $(patsubst %m,%,$(DURATION)) + 30 ))m SOAK_DURATION=$(DURATION) SOAK_SEED=$(SEED)

.PHONY: bench
bench: prereqs-cluster ## Print create and scale times with a per-member breakdown (median of 3) on the local cluster, beside the same pods without membership as the floor.
	KUBECONFIG=$(KUBECONFIG_LOCAL) go run ./hack/bench/membership -version $(ETCD_VERSION:v%=%)

.PHONY: bench-sick
bench-sick: prereqs-cluster $(KUBE_BIN)/kubectl ## Print a 3->5 alone and beside 2 clusters whose members never answer (median of 3) on the local cluster.
	KUBECONFIG=$(KUBECONFIG_LOCAL) KUBECTL=$(KUBE_BIN)/kubectl ETCD_VERSION=$(ETCD_VERSION:v%=%) hack/bench/sick.sh

.PHONY: bench-upgrade
bench-upgrade: prereqs-cluster ## Print rolling-upgrade time for 3 members and the longest write gap (median of 3) on the local cluster.
	KUBECONFIG=$(KUBECONFIG_LOCAL) go run ./hack/bench/rollout -from $(ETCD_PREVIOUS_PATCH_VERSION:v%=%) -to $(ETCD_VERSION:v%=%)
	KUBECONFIG=$(KUBECONFIG_LOCAL) go run ./hack/bench/rollout -from $(ETCD_PREVIOUS_MINOR_VERSION:v%=%) -to $(ETCD_VERSION:v%=%)

.PHONY: bench-backup
bench-backup: prereqs-cluster $(ETCD_BIN)/etcdctl ## Print backup time against etcdctl snapshot save (ratio) and restore time, on a 100 MiB DB on the local cluster.
	KUBECONFIG=$(KUBECONFIG_LOCAL) $(LOCAL_S3) go run ./hack/bench/backup -etcdctl $(ETCD_BIN)/etcdctl -version $(ETCD_VERSION:v%=%)

# The scale bench runs its own control plane (no local cluster) and needs
# root for a route of its pod range onto loopback (docs/scale.md).
N ?= 10
BENCH_SCALE = go run ./hack/bench/scale -assets $(ENVTEST_ASSETS) -kube-bin $(KUBE_BIN) -kwok $(KWOK)
BENCH_SCALE_TOOLS = envtest-assets $(KUBE_BIN)/kube-controller-manager $(KUBE_BIN)/kube-scheduler $(KWOK)

.PHONY: bench-scale
bench-scale: prereqs-cluster $(BENCH_SCALE_TOOLS) ## Print memory, idle traffic, restart and step times of the operator at N clusters (N=10|100|500), beside the baseline commit (needs root).
	$(BENCH_SCALE) -n $(N) $(BENCH_SCALE_ARGS)

.PHONY: bench-scale-short
bench-scale-short: prereqs-cluster $(BENCH_SCALE_TOOLS) ## The scale bench in CI size (N=10, 3 with TLS, 2,000 unrelated objects, no baseline), under 3 minutes; fails on a missed goal (needs root).
	$(BENCH_SCALE) -n 10 -tls 3 -noise 2000 -idle 35s -trials 3 -baseline= -fail-on-miss $(BENCH_SCALE_ARGS)

.PHONY: bench-scale-calibrate
bench-scale-calibrate: prereqs-cluster $(BENCH_SCALE_TOOLS) ## Compare the operator's API requests per cluster on the local cluster (20 real clusters) with the simulator's (needs root and 'make cluster-up').
	$(BENCH_SCALE) -calibrate -local-kubeconfig $(KUBECONFIG_LOCAL) -etcd-version $(ETCD_VERSION:v%=%) -n 20 -baseline= $(BENCH_SCALE_ARGS)

.PHONY: clean
clean: ## Remove built binaries of this repo (cached tools under bin/ stay).
	rm -f $(LOCALBIN)/manager cover.out
