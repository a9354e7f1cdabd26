#!/usr/bin/env bash
# Measures, on the cluster KUBECONFIG names (the operator deployed there),
# the median of RUNS runs of:
#   create  apply of a 3-member EtcdCluster to Available with 3 ready members
#   3to5    size 3 -> 5 until etcd lists 5 healthy voters (phase Running)
#   5to3    size 5 -> 3 until phase Running with 3 members and 3 pods
# and, as the floor, a plain 3-pod etcd StatefulSet (static bootstrap, no
# operator) from apply to 'etcdctl endpoint health' succeeding against all
# three pod IPs from this machine (so the pods' IPs must be reachable, as on
# the local cluster).
# Prints one line per run and figure, then the medians.
#
#   KUBECTL=bin/kubernetes-v1.37.1/kubectl ETCDCTL=bin/etcd-v3.6.16/etcdctl hack/bench/lifecycle.sh
set -euo pipefail

KUBECTL=${KUBECTL:-kubectl}
ETCDCTL=${ETCDCTL:-etcdctl}
RUNS=${RUNS:-3}
VERSION=${ETCD_VERSION:-3.6.16}
NS=quorum-bench-$$
k() { $KUBECTL -n "$NS" "$@"; }
now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

$KUBECTL create namespace "$NS" >/dev/null
trap '$KUBECTL delete namespace "$NS" --wait=false >/dev/null 2>&1' EXIT

wait_running() { # NAME SIZE
  k wait "etcdcluster/$1" --for=jsonpath='{.status.readyMembers}'="$2" --timeout=600s >/dev/null
  k wait "etcdcluster/$1" --for=jsonpath='{.status.phase}'=Running --timeout=600s >/dev/null
  until [ "$(k get pods -l "etcd.quorum.dev/cluster=$1" --no-headers 2>/dev/null | wc -l)" -eq "$2" ]; do sleep 0.2; done
}

operator_run() { # RUN
  local name=bench-$1 t
  t=$(now)
  k apply -f - >/dev/null <<EOF
apiVersion: etcd.quorum.dev/v1alpha1
kind: EtcdCluster
metadata: {name: $name}
spec: {size: 3, version: "$VERSION"}
EOF
  k wait "etcdcluster/$name" --for=condition=Available --timeout=600s >/dev/null
  wait_running "$name" 3
  echo "create $(elapsed "$t")"
  t=$(now); k patch "etcdcluster/$name" --type=merge -p '{"spec":{"size":5}}' >/dev/null; wait_running "$name" 5
  echo "3to5 $(elapsed "$t")"
  t=$(now); k patch "etcdcluster/$name" --type=merge -p '{"spec":{"size":3}}' >/dev/null; wait_running "$name" 3
  echo "5to3 $(elapsed "$t")"
  k delete "etcdcluster/$name" --wait=true >/dev/null
  quiesce "etcd.quorum.dev/cluster=$name"
}

# quiesce SELECTOR: waits until the pods and claims of a finished run are
# gone, so the next measurement does not share the node and the storage
# provisioner with their teardown.
quiesce() {
  k delete pvc -l "$1" --wait=false >/dev/null 2>&1 || true
  until [ -z "$(k get pods,pvc -l "$1" --no-headers 2>/dev/null)" ]; do sleep 0.5; done
}

floor_run() { # RUN: the same etcd, bootstrapped by hand, no operator
  local name=plain-$1 t members=""
  for i in 0 1 2; do members+="${members:+,}$name-$i=http://$name-$i.$name.$NS.svc:2380"; done
  t=$(now)
  k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: $name}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {bench: $name}
  ports: [{name: peer, port: 2380}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: $name}
spec:
  replicas: 3
  serviceName: $name
  podManagementPolicy: Parallel
  selector: {matchLabels: {bench: $name}}
  template:
    metadata: {labels: {bench: $name}}
    spec:
      containers:
      - name: etcd
        image: gcr.io/etcd-development/etcd:v$VERSION
        command: [/usr/local/bin/etcd]
        env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: ETCD_NAME, value: \$(POD_NAME)}
        - {name: ETCD_DATA_DIR, value: /var/lib/etcd/data}
        - {name: ETCD_LISTEN_PEER_URLS, value: "http://0.0.0.0:2380"}
        - {name: ETCD_LISTEN_CLIENT_URLS, value: "http://0.0.0.0:2379"}
        - {name: ETCD_LISTEN_METRICS_URLS, value: "http://0.0.0.0:2381"}
        - {name: ETCD_INITIAL_ADVERTISE_PEER_URLS, value: "http://\$(POD_NAME).$name.$NS.svc:2380"}
        - {name: ETCD_ADVERTISE_CLIENT_URLS, value: "http://\$(POD_NAME).$name.$NS.svc:2379"}
        - {name: ETCD_INITIAL_CLUSTER, value: "$members"}
        - {name: ETCD_INITIAL_CLUSTER_TOKEN, value: $name-$$}
        readinessProbe: {httpGet: {path: /readyz, port: 2381}, periodSeconds: 5}
        volumeMounts: [{name: data, mountPath: /var/lib/etcd}]
  volumeClaimTemplates:
  - metadata: {name: data, labels: {bench: $name}}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
EOF
  # Healthy as etcd itself says, asked from here by pod IP as the operator
  # does: all three members answer a quorum read.
  until floor_healthy "$name"; do sleep 0.2; done
  echo "floor $(elapsed "$t")"
  k delete sts,svc "$name" --wait=true >/dev/null
  quiesce "bench=$name"
}

floor_healthy() { # NAME
  local ips
  ips=$(k get pods -l "bench=$1" -o jsonpath='{range .items[*]}{.status.podIP}{" "}{end}')
  set -- $ips
  [ $# -eq 3 ] || return 1
  "$ETCDCTL" --command-timeout=1s --endpoints="$1:2379,$2:2379,$3:2379" endpoint health >/dev/null 2>&1
}

results=$(mktemp)
for run in $(seq 1 "$RUNS"); do
  operator_run "$run" | tee -a "$results" >&2
  floor_run "$run" | tee -a "$results" >&2
done
echo "median of $RUNS runs (seconds), etcd $VERSION:"
for figure in create 3to5 5to3 floor; do
  printf '  %-7s %6.1f\n' "$figure" "$(awk -v f=$figure '$1 == f {print $2}' "$results" | median)"
done
rm -f "$results"
