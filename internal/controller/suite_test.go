package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/failpoint"
	"github.com/quorum-operator/quorum/internal/metrics"
	"github.com/quorum-operator/quorum/internal/testenv"
)

// The suite runs the reconcilers in a manager against a real kube-apiserver
// and etcd (envtest). No kubelet runs there, so member pods never start:
// tests create pods themselves where they need them, and etcd's answers
// come from the fake.
var (
	ctx       context.Context
	k8sClient client.Client
	// fakeEtcds answers as etcd, one fake per namespace, so specs never
	// share members, calls or injected errors.
	fakeEtcds *etcd.Fakes
	// apiCalls records what the EtcdCluster reconciler asks of the API
	// server, so tests can count its writes.
	apiCalls = &callRecorder{}
	// stepsTaken records the steps the reconciler took, in order, through
	// its failpoints.
	stepsTaken = &stepRecorder{}
	// secretReads counts the reconciler's reads of Secrets, which go
	// straight to the API server.
	secretReads *countingReader
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controllers (envtest)")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(etcdv1alpha1.AddToScheme(scheme)).To(Succeed())
	Expect(monitoringv1.AddToScheme(scheme)).To(Succeed())
	env, err := testenv.Start(scheme)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(env.Stop)
	k8sClient = env.Client
	secretReads = &countingReader{Reader: k8sClient}
	// Cleanups run last-in first-out: the manager stops before the API server.
	var cancel context.CancelFunc
	ctx, cancel = context.WithCancel(context.Background())
	DeferCleanup(cancel)

	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		// The operator's own cache scoping, so a read it cannot see fails here.
		Cache: withoutKillNamespace(CacheOptions(nil))})
	Expect(err).NotTo(HaveOccurred())
	fakeEtcds = etcd.NewFakes()
	Expect((&EtcdClusterReconciler{
		Client:      apiCalls.wrap(mgr.GetClient()),
		Scheme:      scheme,
		Recorder:    mgr.GetEventRecorder("quorum"),
		EtcdClients: fakeEtcds.Factory(),
		APIReader:   secretReads,
		// The member guard's init container runs the operator's image.
		ToolImage: "quorum:envtest",
		// Every step is armed, and recorded instead of exiting.
		Failpoints: failpoint.Parse(strings.Join(allStepKinds, ","), stepsTaken.add),
	}).SetupWithManager(mgr)).To(Succeed())
	Expect((&EtcdBackupReconciler{
		Client:   mgr.GetClient(),
		Scheme:   scheme,
		Recorder: mgr.GetEventRecorder("quorum"),
		JobImage: "quorum:envtest",
		Pods:     mgr.GetAPIReader(),
	}).SetupWithManager(mgr)).To(Succeed())
	Expect((&PodMonitorReconciler{
		Client:    mgr.GetClient(),
		Scheme:    scheme,
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("quorum"),
		Recheck:   2 * time.Second,
	}).SetupWithManager(mgr)).To(Succeed())
	Expect(mgr.Add(&metrics.Exporter{Cache: mgr.GetCache(), ScheduleLabel: LabelSchedule})).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

// fakeEtcdOf is the fake etcd that answers for c's namespace.
func fakeEtcdOf(c *etcdv1alpha1.EtcdCluster) *etcd.Fake {
	return fakeEtcds.For(c.Namespace)
}
