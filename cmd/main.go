// Command manager runs the Quorum operator: the controllers for EtcdCluster
// and its companions, with metrics, health probes and optional leader
// election.
package main

import (
	"crypto/tls"
	"flag"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/controller"
	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/failpoint"
)

// options are the manager's command-line flags.
type options struct {
	metricsAddr    string
	secureMetrics  bool
	probeAddr      string
	leaderElection bool
	enableHTTP2    bool
}

func main() {
	var opts options
	flag.StringVar(&opts.metricsAddr, "metrics-bind-address", ":8443",
		"Address the metrics endpoint binds to (:8443 for HTTPS, :8080 for HTTP), or 0 to disable it.")
	flag.BoolVar(&opts.secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS, allowing only callers the API server authorizes.")
	flag.StringVar(&opts.probeAddr, "health-probe-bind-address", ":8081",
		"Address the liveness and readiness probes bind to.")
	flag.BoolVar(&opts.leaderElection, "leader-elect", false,
		"Elect a leader so that only one of several manager replicas acts at a time.")
	flag.BoolVar(&opts.enableHTTP2, "enable-http2", false,
		"Allow HTTP/2 on the metrics server (off by default: HTTP/2 Rapid Reset, CVE-2023-44487).")
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

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                 scheme,
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
		Failpoints:  failpoints,
	}).SetupWithManager(mgr); err != nil {
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
