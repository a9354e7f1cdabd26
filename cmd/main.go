// Command manager runs the Quorum operator: the controllers for EtcdCluster
// and its companions, with metrics, health probes and optional leader
// election.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/backup"
	"github.com/quorum-operator/quorum/internal/controller"
	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/failpoint"
	"github.com/quorum-operator/quorum/internal/memberguard"
	"github.com/quorum-operator/quorum/internal/metrics"
	"github.com/quorum-operator/quorum/internal/restore"
	"github.com/quorum-operator/quorum/internal/verify"
)

// options are the manager's command-line flags.
type options struct {
	metricsAddr    string
	secureMetrics  bool
	probeAddr      string
	leaderElection bool
	enableHTTP2    bool
	jobImage       string
	// watchNamespaces limits the operator to these namespaces; empty is
	// every namespace.
	watchNamespaces []string
	workers         int
	apiQPS          float64
	apiBurst        int
}

func main() {
	// The same binary runs in the Jobs that take backups and in the init
	// containers that restore them, and in the Jobs that verify backups.
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "backup":
			os.Exit(backup.Command(os.Args[2:]))
		case "restore":
			os.Exit(restore.Command(os.Args[2:]))
		case "verify":
			os.Exit(verify.Command(os.Args[2:]))
		case "member-guard":
			os.Exit(memberguard.Command(os.Args[2:]))
		}
	}

	var opts options
	flag.StringVar(&opts.metricsAddr, "metrics-bind-address", ":8443",
		"Address the metrics endpoint binds to (:8443 for HTTPS, :8080 for HTTP), or 0 to disable it.")
	flag.BoolVar(&opts.secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS, allowing only callers the API server authorizes.")
	flag.StringVar(&opts.probeAddr, "health-probe-bind-address", ":8081",
		"Address the liveness and readiness probes bind to.")
	flag.BoolVar(&opts.leaderElection, "leader-elect", false,
		"Elect a leader so that only one of several manager replicas acts at a time.")
	flag.StringVar(&opts.jobImage, "job-image", "",
		"Image of the backup Jobs: this binary's image. Found through the operator's own pod (POD_NAME, POD_NAMESPACE) when empty.")
	flag.BoolVar(&opts.enableHTTP2, "enable-http2", false,
		"Allow HTTP/2 on the metrics server (off by default: HTTP/2 Rapid Reset, CVE-2023-44487).")
	flag.Func("watch-namespaces",
		"Comma-separated namespaces whose EtcdClusters, backups and schedules the operator manages (every namespace when unset); its role then needs to cover only these.",
		func(v string) error { opts.watchNamespaces = splitList(v); return nil })
	flag.IntVar(&opts.workers, "max-concurrent-reconciles", 16,
		"Clusters reconciled at the same time: a cluster whose members do not answer holds one worker for a few seconds, never the others.")
	flag.Float64Var(&opts.apiQPS, "kube-api-qps", 50, "Requests per second the operator may send to the Kubernetes API server.")
	flag.IntVar(&opts.apiBurst, "kube-api-burst", 100, "Requests the operator may send to the Kubernetes API server in a burst.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := run(opts); err != nil {
		ctrl.Log.Error(err, "Manager stopped")
		os.Exit(1)
	}
}

func run(opts options) error {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(etcdv1alpha1.AddToScheme(scheme))
	utilruntime.Must(monitoringv1.AddToScheme(scheme))

	config := ctrl.GetConfigOrDie()
	config.QPS, config.Burst = float32(opts.apiQPS), opts.apiBurst
	mgr, err := ctrl.NewManager(config, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  controller.CacheOptions(opts.watchNamespaces),
		Metrics:                metricsOptions(opts),
		HealthProbeBindAddress: opts.probeAddr,
		LeaderElection:         opts.leaderElection,
		LeaderElectionID:       "quorum.etcd.quorum.dev",
		// The manager does nothing after it loses the lease, so it may give
		// it up at once and let a successor start sooner.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return err
	}

	jobImage, err := resolveJobImage(opts.jobImage, mgr.GetAPIReader())
	if err != nil {
		return err
	}
	failpoints := failpoint.FromEnv(func(point string) {
		ctrl.Log.Info("Exiting at a failpoint", "failpoint", point, "env", failpoint.EnvVar)
		os.Exit(failpoint.ExitCode)
	})
	if armed := failpoints.Armed(); len(armed) > 0 {
		ctrl.Log.Info("Failpoints armed: the operator exits after these steps (tests only)", "failpoints", armed)
	}
	if err := (&controller.EtcdClusterReconciler{
		Client:      mgr.GetClient(),
		Scheme:      mgr.GetScheme(),
		Recorder:    mgr.GetEventRecorder("quorum"),
		EtcdClients: etcd.NewClient,
		APIReader:   mgr.GetAPIReader(),
		ToolImage:   jobImage,
		Failpoints:  failpoints,
		Workers:     opts.workers,
	}).SetupWithManager(mgr); err != nil {
		return err
	}

	if err := (&controller.EtcdBackupReconciler{
		Client:   mgr.GetClient(),
		Scheme:   mgr.GetScheme(),
		Recorder: mgr.GetEventRecorder("quorum"),
		JobImage: jobImage,
		Pods:     mgr.GetAPIReader(),
	}).SetupWithManager(mgr); err != nil {
		return err
	}

	if err := (&controller.EtcdRestoreReconciler{
		Client:    mgr.GetClient(),
		Scheme:    mgr.GetScheme(),
		Recorder:  mgr.GetEventRecorder("quorum"),
		APIReader: mgr.GetAPIReader(),
		ToolImage: jobImage,
		// A snapshot that failed its verification is not restored.
		VerificationFailed: controller.BackupVerificationFailed,
	}).SetupWithManager(mgr); err != nil {
		return err
	}

	if err := (&controller.EtcdBackupScheduleReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("quorum"),
	}).SetupWithManager(mgr); err != nil {
		return err
	}

	if err := (&controller.PodMonitorReconciler{
		Client:    mgr.GetClient(),
		Scheme:    mgr.GetScheme(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("quorum"),
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	// The quorum_* series on /metrics, from what the reconcilers write.
	if err := mgr.Add(&metrics.Exporter{Cache: mgr.GetCache(), ScheduleLabel: controller.LabelSchedule}); err != nil {
		return err
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}

	ctrl.Log.Info("Starting manager")
	return mgr.Start(ctrl.SetupSignalHandler())
}

func metricsOptions(opts options) metricsserver.Options {
	m := metricsserver.Options{
		BindAddress:   opts.metricsAddr,
		SecureServing: opts.secureMetrics,
	}
	if !opts.enableHTTP2 {
		m.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	}
	if opts.secureMetrics {
		// Only callers allowed to GET /metrics by the API server may read it.
		m.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return m
}

// resolveJobImage is the image backup Jobs run: the flag, or the image of
// the operator's own container.
func resolveJobImage(flagValue string, reader client.Reader) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	name, namespace := os.Getenv("POD_NAME"), os.Getenv("POD_NAMESPACE")
	if name == "" || namespace == "" {
		return "", fmt.Errorf("--job-image is required outside a pod (POD_NAME and POD_NAMESPACE are not set)")
	}
	var pod corev1.Pod
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &pod); err != nil {
		return "", fmt.Errorf("read the operator's own pod to find its image: %w", err)
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == "manager" {
			return c.Image, nil
		}
	}
	return "", fmt.Errorf("pod %s/%s has no manager container", namespace, name)
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
