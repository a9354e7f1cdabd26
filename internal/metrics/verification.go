package metrics

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// Per EtcdCluster, from its newest verified backup (any schedule or by
// hand; see EtcdBackup spec.verify).
var (
	VerificationSuccess = gauge("quorum_cluster_backup_verification_success",
		"1 when the newest verification of a backup of the cluster passed, 0 when it failed; absent before the first.")
	VerificationTime = gauge("quorum_cluster_backup_verification_timestamp_seconds",
		"When the newest verification of a backup of the cluster ended, in Unix seconds; absent before the first.")
)

// newestVerification is the verification of the cluster's backups that
// ended last; nil when none did.
func newestVerification(backups []etcdv1alpha1.EtcdBackup, cluster string) *etcdv1alpha1.BackupVerification {
	var newest *etcdv1alpha1.BackupVerification
	for i := range backups {
		v := backups[i].Status.Verification
		if backups[i].Spec.ClusterName != cluster || !backups[i].DeletionTimestamp.IsZero() || v == nil || v.Time == nil {
			continue
		}
		if newest == nil || newest.Time.Before(v.Time) {
			newest = v
		}
	}
	return newest
}

// RecordVerification sets the cluster's verification series from its
// newest verification, or removes them when it has none.
func RecordVerification(namespace, cluster string, v *etcdv1alpha1.BackupVerification) {
	if v == nil {
		VerificationSuccess.DeleteLabelValues(namespace, cluster)
		VerificationTime.DeleteLabelValues(namespace, cluster)
		return
	}
	VerificationSuccess.WithLabelValues(namespace, cluster).Set(boolValue(v.Result == etcdv1alpha1.VerificationPassed))
	VerificationTime.WithLabelValues(namespace, cluster).Set(unixSeconds(v.Time.Time))
}

// recordClusterVerification refreshes the cluster's verification series
// from the backups in the cache.
func (e *Exporter) recordClusterVerification(ctx context.Context, namespace, cluster string) {
	var list etcdv1alpha1.EtcdBackupList
	if err := e.Cache.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		logf.FromContext(ctx).Error(err, "Listing backups for the verification metrics", "namespace", namespace)
		return
	}
	RecordVerification(namespace, cluster, newestVerification(list.Items, cluster))
}
