#!/usr/bin/env bash
# Measures whether clusters whose members do not answer slow a healthy one
# down, on the cluster KUBECONFIG names (the operator deployed there, on the
# local cluster: the etcd processes of its pods must be on this machine).
#
#   alone    size 3 -> 5 of a healthy cluster, nothing else there
#   beside   the same, beside SICK 5-member clusters whose every etcd
#            process is stopped (SIGSTOP): they accept connections and never
#            answer, the worst case for a loop that waits on them
#
# Each 3 -> 5 is timed from the patch until the cluster is Running with 5
# healthy voters and 5 pods. Prints every run, the medians and the ratio
# (goal: beside <= 1.2 x alone). Stopped processes are continued on exit.
#
#   KUBECTL=bin/kubernetes-v1.37.1/kubectl hack/bench/sick.sh
set -euo pipefail

KUBECTL=${KUBECTL:-kubectl}
RUNS=${RUNS:-3}
SICK=${SICK:-2}
VERSION=${ETCD_VERSION:-3.6.16}
NS=quorum-bench-sick-$$
k() { $KUBECTL -n "$NS" "$@"; }
now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

stopped=()
cleanup() {
  [ ${#stopped[@]} -eq 0 ] || kill -CONT "${stopped[@]}" 2>/dev/null || true
  $KUBECTL delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
}
trap cleanup EXIT
$KUBECTL create namespace "$NS" >/dev/null

create() { # NAME SIZE
  k apply -f - >/dev/null <<EOF
apiVersion: etcd.quorum.dev/v1alpha1
kind: EtcdCluster
metadata: {name: $1}
spec: {size: $2, version: "$VERSION", storage: {emptyDir: {}}, podTemplate: {memberSpread: None}} # one node
EOF
}

wait_running() { # NAME SIZE
  k wait "etcdcluster/$1" --for=jsonpath='{.status.readyMembers}'="$2" --timeout=600s >/dev/null
  k wait "etcdcluster/$1" --for=jsonpath='{.status.phase}'=Running --timeout=600s >/dev/null
  until [ "$(k get pods -l "etcd.quorum.dev/cluster=$1" --no-headers 2>/dev/null | wc -l)" -eq "$2" ]; do sleep 0.2; done
}

# etcd_pids NAME: host PIDs of the etcd processes of a cluster's pods, found
# by the pod UID in each process's cgroup.
etcd_pids() {
  local uid pid
  for uid in $(k get pods -l "etcd.quorum.dev/cluster=$1" -o jsonpath='{range .items[*]}{.metadata.uid}{" "}{end}'); do
    for pid in $(pgrep -x etcd); do
      if grep -qE "pod(${uid}|${uid//-/_})" "/proc/$pid/cgroup" 2>/dev/null; then echo "$pid"; fi
    done
  done
}

scale_run() { # NAME
  create "$1" 3
  wait_running "$1" 3
  local t
  t=$(now); k patch "etcdcluster/$1" --type=merge -p '{"spec":{"size":5}}' >/dev/null; wait_running "$1" 5
  elapsed "$t"
  k delete "etcdcluster/$1" --wait=true >/dev/null
}

results=$(mktemp)
for run in $(seq 1 "$RUNS"); do
  echo "alone $(scale_run alone-"$run")" | tee -a "$results"
done

for i in $(seq 1 "$SICK"); do create "sick-$i" 5; done
for i in $(seq 1 "$SICK"); do wait_running "sick-$i" 5; done
for i in $(seq 1 "$SICK"); do
  pids=$(etcd_pids "sick-$i")
  [ "$(echo "$pids" | wc -w)" -eq 5 ] || { echo "found $(echo "$pids" | wc -w) etcd processes of sick-$i, want 5" >&2; exit 1; }
  # shellcheck disable=SC2206
  stopped+=($pids)
done
kill -STOP "${stopped[@]}"
for i in $(seq 1 "$SICK"); do
  until [ "$(k get etcdcluster "sick-$i" -o jsonpath='{.status.phase}')" != Running ]; do sleep 0.5; done
done
echo "stopped every etcd process of $SICK clusters: ${stopped[*]}"

for run in $(seq 1 "$RUNS"); do
  echo "beside $(scale_run beside-"$run")" | tee -a "$results"
done

alone=$(awk '$1=="alone"{print $2}' "$results" | median)
beside=$(awk '$1=="beside"{print $2}' "$results" | median)
echo
printf 'median 3->5 alone:                     %6.1f s\n' "$alone"
printf 'median 3->5 beside %d silent clusters:  %6.1f s\n' "$SICK" "$beside"
printf 'ratio:                                 %6.2f (goal <= 1.20)\n' "$(echo "$beside / $alone" | bc -l)"
