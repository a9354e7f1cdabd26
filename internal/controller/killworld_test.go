package controller

import (
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/failpoint"
	"github.com/quorum-operator/quorum/internal/memberguard"
	"github.com/quorum-operator/quorum/internal/resources"
)

// killNamespace holds the clusters of the kill tests. The suite's manager
// does not watch it (withoutKillNamespace), so only the reconcilers those
// tests create, kill and create again act on them.
const killNamespace = "killsteps"

// withoutKillNamespace scopes a cache to every namespace but killNamespace.
func withoutKillNamespace(opts cache.Options) cache.Options {
	opts.DefaultNamespaces = map[string]cache.Config{cache.AllNamespaces: {
		FieldSelector: fields.OneTermNotEqualSelector("metadata.namespace", killNamespace)}}
	return opts
}

// killed is what an armed failpoint panics with: the operator died right
// after the step's action, before anything else in the pass.
type killed struct{ step string }

// killWorld drives one cluster pass by pass with an operator killed after
// every step it takes and started again with nothing in memory, and stands
// in, between passes, for the StatefulSet controller, the kubelet, the
// member guard and etcd (its own etcd.Fake).
type killWorld struct {
	cluster *etcdv1alpha1.EtcdCluster
	fake    *etcd.Fake
	r       *EtcdClusterReconciler
	// kills counts the kills by step kind, taken the steps taken.
	kills, taken map[string]int
	// hasData: the member's claim holds its data.
	hasData map[string]bool
	// running: the member's etcd runs (its status answers).
	running map[string]bool
	// hold names pods the kubelet does not start for now.
	hold map[string]bool
	// formed: every initial member has started once; from then on a quorum
	// of voters must always run.
	formed bool
	subnet int
	// served: ordinals whose member certificate is served on their pod IP.
	served map[int]bool
}

var killWorlds int

func newKillWorld(name string, spec etcdv1alpha1.EtcdClusterSpec) *killWorld {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: killNamespace}}
	if err := k8sClient.Create(ctx, ns); !apierrors.IsAlreadyExists(err) {
		Expect(err).NotTo(HaveOccurred())
	}
	killWorlds++
	w := &killWorld{
		cluster: createTestCluster(killNamespace, name, spec),
		fake:    &etcd.Fake{Statuses: map[string]*etcd.MemberStatus{}},
		kills:   map[string]int{}, taken: map[string]int{}, hasData: map[string]bool{}, running: map[string]bool{}, hold: map[string]bool{},
		subnet: killWorlds, served: map[int]bool{},
	}
	w.r = w.newOperator()
	return w
}

// maxKillsPerKind bounds the kills at one step kind in a world; past it
// the step goes through. A step whose progress is recorded only in the
// cluster's status (written at the end of the pass) would otherwise be
// taken again by every new operator and never get further.
const maxKillsPerKind = 3

// newOperator is a freshly started operator: no pooled clients, no cached
// Secrets, no status pacing; every step kind armed to kill it.
func (w *killWorld) newOperator() *EtcdClusterReconciler {
	return &EtcdClusterReconciler{
		Client:      k8sClient,
		Scheme:      k8sClient.Scheme(),
		Recorder:    &events.FakeRecorder{},
		EtcdClients: w.fake.Factory(),
		APIReader:   k8sClient,
		ToolImage:   "quorum:envtest",
		Failpoints: failpoint.Parse(strings.Join(allStepKinds, ","), func(p string) {
			w.taken[p]++
			if w.kills[p] < maxKillsPerKind {
				panic(killed{p})
			}
		}),
	}
}

// pass is one reconcile; a kill is recovered, counted, and the operator
// replaced by a new one. A pass that fails (a write conflict) is retried
// by the next, as the manager would.
func (w *killWorld) pass() (killedAt string) {
	defer func() {
		if p := recover(); p != nil {
			k, ok := p.(killed)
			if !ok {
				panic(p)
			}
			killedAt = k.step
			w.kills[k.step]++
			w.r = w.newOperator()
		}
	}()
	if _, err := w.r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(w.cluster)}); err != nil {
		GinkgoWriter.Printf("pass failed: %v\n", err)
	}
	return ""
}

// runUntil alternates passes and the world's moves until done says ""
// (or why not yet), checking after every pass that a quorum of voters
// runs. done is asked only after a pass that was not killed, before the
// world moves: the status it reads is that pass's, about what it saw.
func (w *killWorld) runUntil(what string, done func() string) {
	GinkgoHelper()
	why := ""
	for range 400 {
		killedAt := w.pass()
		w.expectQuorum()
		if killedAt != "" {
			why = "the last pass was killed at " + killedAt
		} else if why = done(); why == "" {
			return
		}
		w.advance()
	}
	Fail(fmt.Sprintf("%s: not converged after 400 passes: %s (kills %v)", what, why, w.kills))
}

func (w *killWorld) key(name string) client.ObjectKey {
	return client.ObjectKey{Namespace: w.cluster.Namespace, Name: name}
}

// endpoint is where the operator reaches the member of that ordinal.
func (w *killWorld) endpoint(ordinal int) string {
	return fmt.Sprintf("%s://%s:%d", resources.Scheme(w.cluster), w.ip(ordinal), resources.ClientPort)
}

// ip is the pod IP of the member of that ordinal: for a TLS cluster a
// loopback address, where the member's certificate is served
// (serveCertificate).
func (w *killWorld) ip(ordinal int) string {
	if w.cluster.Spec.TLS != nil {
		return fmt.Sprintf("127.86.%d.%d", w.subnet, ordinal+1)
	}
	return fmt.Sprintf("10.86.%d.%d", w.subnet, ordinal+1)
}

// pods are the cluster's member pods not being deleted, by name.
func (w *killWorld) pods() map[string]corev1.Pod {
	GinkgoHelper()
	var list corev1.PodList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(w.cluster.Namespace), client.MatchingLabels(resources.SelectorLabels(w.cluster)))).To(Succeed())
	out := map[string]corev1.Pod{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out[p.Name] = p
		}
	}
	return out
}

// expectQuorum: once the cluster formed, a quorum of the voters etcd lists
// runs, on a pod that is not going away.
func (w *killWorld) expectQuorum() {
	GinkgoHelper()
	if !w.formed {
		return
	}
	pods := w.pods()
	w.fake.Lock()
	defer w.fake.Unlock()
	voters, up := 0, 0
	for _, m := range w.fake.Members {
		if m.IsLearner {
			continue
		}
		voters++
		if _, ok := pods[memberName(m)]; ok && w.running[memberName(m)] {
			up++
		}
	}
	Expect(up).To(BeNumerically(">=", voters/2+1), "below quorum after a pass: %d of %d voters run (kills so far %v)", up, voters, w.kills)
}

// advance is what Kubernetes and etcd do between two passes: the
// StatefulSet controller sees its spec, scales, and makes one missing pod;
// etcd of a deleted pod stops; deleted claims go.
func (w *killWorld) advance() {
	GinkgoHelper()
	var sts appsv1.StatefulSet
	if err := k8sClient.Get(ctx, w.key(resources.StatefulSetName(w.cluster)), &sts); apierrors.IsNotFound(err) {
		return
	} else {
		Expect(err).NotTo(HaveOccurred())
	}
	revision := sts.Spec.Template.Annotations[resources.AnnotationTemplateHash]
	if sts.Status.ObservedGeneration != sts.Generation || sts.Status.UpdateRevision != revision {
		sts.Status.ObservedGeneration, sts.Status.UpdateRevision, sts.Status.CurrentRevision = sts.Generation, revision, revision
		sts.Status.Replicas = *sts.Spec.Replicas
		Expect(k8sClient.Status().Update(ctx, &sts)).To(Succeed())
	}
	w.dropDeletedClaims()
	w.resizeClaims()
	pods := w.pods()
	for name := range w.running {
		if _, ok := pods[name]; !ok {
			w.stop(name)
		}
	}
	replicas := int(*sts.Spec.Replicas)
	for name := range pods {
		if podOrdinal(name) >= replicas {
			w.deletePod(name)
		}
	}
	for o := range replicas {
		name := resources.MemberName(w.cluster, o)
		if _, ok := pods[name]; ok || w.hold[name] {
			continue
		}
		w.ensureClaim(&sts, name)
		w.startPod(&sts, o)
		break // one pod per move
	}
	w.electLeader()
}

// dropDeletedClaims stands in for the claim protection controller, which
// envtest does not run: a claim the operator deleted goes, and its data.
func (w *killWorld) dropDeletedClaims() {
	GinkgoHelper()
	var claims corev1.PersistentVolumeClaimList
	Expect(k8sClient.List(ctx, &claims, client.InNamespace(w.cluster.Namespace))).To(Succeed())
	for i := range claims.Items {
		pvc := &claims.Items[i]
		if pvc.DeletionTimestamp == nil {
			continue
		}
		pvc.Finalizers = nil
		Expect(client.IgnoreNotFound(k8sClient.Update(ctx, pvc))).To(Succeed())
		delete(w.hasData, strings.TrimPrefix(pvc.Name, resources.DataVolumeName+"-"))
	}
}

// ensureClaim stands in for the StatefulSet controller and a provisioner:
// the member's claim from the StatefulSet's template, bound at once. A new
// claim has no data.
func (w *killWorld) ensureClaim(sts *appsv1.StatefulSet, member string) {
	GinkgoHelper()
	name := resources.DataVolumeName + "-" + member
	var pvc corev1.PersistentVolumeClaim
	if err := k8sClient.Get(ctx, w.key(name), &pvc); !apierrors.IsNotFound(err) {
		Expect(err).NotTo(HaveOccurred())
		return
	}
	pvc = corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.cluster.Namespace, Labels: resources.SelectorLabels(w.cluster)},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:  corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			VolumeName: "pv-" + name},
	}
	if len(sts.Spec.VolumeClaimTemplates) > 0 {
		template := sts.Spec.VolumeClaimTemplates[0].Spec
		pvc.Spec.StorageClassName, pvc.Spec.Resources = template.StorageClassName, template.Resources
	}
	Expect(k8sClient.Create(ctx, &pvc)).To(Succeed())
	pvc.Status.Phase = corev1.ClaimBound
	pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]}
	Expect(k8sClient.Status().Update(ctx, &pvc)).To(Succeed())
	delete(w.hasData, member)
}

// resizeClaims stands in for the volume resizer: a claim whose request
// grew gets that capacity.
func (w *killWorld) resizeClaims() {
	GinkgoHelper()
	var claims corev1.PersistentVolumeClaimList
	Expect(k8sClient.List(ctx, &claims, client.InNamespace(w.cluster.Namespace))).To(Succeed())
	for i := range claims.Items {
		pvc := &claims.Items[i]
		want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		if capacity, ok := pvc.Status.Capacity[corev1.ResourceStorage]; pvc.DeletionTimestamp == nil && ok && capacity.Cmp(want) < 0 {
			pvc.Status.Capacity[corev1.ResourceStorage] = want
			Expect(k8sClient.Status().Update(ctx, pvc)).To(Succeed())
		}
	}
}

// deletePod deletes a member pod; an unscheduled pod goes at once.
func (w *killWorld) deletePod(name string) {
	GinkgoHelper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: w.cluster.Namespace, Name: name}}
	Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, pod))).To(Succeed())
	w.stop(name)
}

// stop: the member's etcd no longer answers.
func (w *killWorld) stop(name string) {
	w.fake.Lock()
	defer w.fake.Unlock()
	delete(w.fake.Statuses, w.endpoint(podOrdinal(name)))
	delete(w.running, name)
}

// loseData: the member's pod and claim are gone, as when its node and
// local volume were lost; the StatefulSet makes them again, empty.
func (w *killWorld) loseData(ordinal int) {
	GinkgoHelper()
	name := resources.MemberName(w.cluster, ordinal)
	w.deletePod(name)
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: w.cluster.Namespace, Name: resources.DataVolumeName + "-" + name}}
	Expect(k8sClient.Delete(ctx, pvc)).To(Succeed())
	w.dropDeletedClaims()
}

// startPod makes the member pod of the StatefulSet's current template and
// runs what the kubelet would: the member guard, then etcd.
func (w *killWorld) startPod(sts *appsv1.StatefulSet, ordinal int) {
	GinkgoHelper()
	name := resources.MemberName(w.cluster, ordinal)
	labels := map[string]string{appsv1.ControllerRevisionHashLabelKey: sts.Spec.Template.Annotations[resources.AnnotationTemplateHash]}
	for k, v := range sts.Spec.Template.Labels {
		labels[k] = v
	}
	image := sts.Spec.Template.Spec.Containers[0].Image
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.cluster.Namespace, Labels: labels, Annotations: sts.Spec.Template.Annotations},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "etcd", Image: image}}},
	}
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	pod.Status.PodIP = w.ip(ordinal)
	var cm corev1.ConfigMap
	Expect(k8sClient.Get(ctx, w.key(resources.ConfigMapName(w.cluster)), &cm)).To(Succeed())
	switch {
	case !w.hasData[name] && !slices.Contains(resources.MayStartEmpty(&cm), name):
		pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: resources.GuardContainerName,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: memberguard.ExitLostData, Message: "data directory is empty"}}}}
	case w.startEtcd(name, ordinal, image, &cm):
		if w.cluster.Spec.TLS != nil {
			w.serveCertificate(ordinal)
		}
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	default:
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "etcd",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
	}
	Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
}

// serveCertificate serves, on the member's pod IP and client port, the
// certificate in the member Secret as it is at each handshake, as etcd
// does once the kubelet refreshed the mounted Secret: the operator reads
// what members serve before it drops an old CA.
func (w *killWorld) serveCertificate(ordinal int) {
	GinkgoHelper()
	if w.served[ordinal] {
		return
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		var s corev1.Secret
		if err := k8sClient.Get(ctx, w.key(resources.MemberSecretName(w.cluster)), &s); err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(s.Data[resources.TLSCertKey], s.Data[resources.TLSKeyKey])
		return &cert, err
	}}
	ln, err := tls.Listen("tcp", net.JoinHostPort(w.ip(ordinal), strconv.Itoa(resources.ClientPort)), cfg)
	Expect(err).NotTo(HaveOccurred(), "serving the member certificate on a loopback address")
	DeferCleanup(ln.Close)
	w.served[ordinal] = true
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = conn.Close() }()
				_ = conn.(*tls.Conn).Handshake()
			}()
		}
	}()
}

// startEtcd starts the member's etcd: a member etcd lists, or one of a new
// cluster's initial members (the first to start forms the member list).
// etcd of a member it does not list exits.
func (w *killWorld) startEtcd(name string, ordinal int, image string, cm *corev1.ConfigMap) bool {
	w.fake.Lock()
	defer w.fake.Unlock()
	url := resources.PeerURL(w.cluster, name)
	if len(w.fake.Members) == 0 && cm.Data["ETCD_INITIAL_CLUSTER_STATE"] == resources.InitialClusterStateNew {
		for entry := range strings.SplitSeq(cm.Data["ETCD_INITIAL_CLUSTER"], ",") {
			member, peer, _ := strings.Cut(entry, "=")
			w.fake.Members = append(w.fake.Members, etcd.Member{ID: uint64(100 + podOrdinal(member)), PeerURLs: []string{peer}})
		}
	}
	i := slices.IndexFunc(w.fake.Members, func(m etcd.Member) bool { return slices.Contains(m.PeerURLs, url) })
	if i < 0 {
		return false
	}
	w.fake.Members[i].Name = name
	st := &etcd.MemberStatus{MemberID: w.fake.Members[i].ID, ClusterID: 0xfeed, Version: image[strings.LastIndex(image, ":v")+2:],
		RaftIndex: 5000, Applied: 5000}
	for _, other := range w.fake.Statuses {
		// What the cluster shares: its leader, a downgrade, its alarms.
		st.Leader, st.DowngradeTarget, st.Alarms, st.DBSize = other.Leader, other.DowngradeTarget, slices.Clone(other.Alarms), other.DBSize
		break
	}
	w.fake.Statuses[w.endpoint(ordinal)] = st
	w.hasData[name], w.running[name] = true, true
	if !w.formed {
		w.formed = len(w.running) == int(w.cluster.Spec.Size)
	}
	return true
}

// electLeader: when the leader is gone, the running voter of the highest
// ordinal wins the election.
func (w *killWorld) electLeader() {
	w.fake.Lock()
	defer w.fake.Unlock()
	var leader, candidate uint64
	for _, st := range w.fake.Statuses {
		leader = st.Leader
	}
	for _, m := range w.fake.Members {
		if m.IsLearner || !w.running[m.Name] {
			continue
		}
		if m.ID == leader {
			return
		}
		candidate = max(candidate, m.ID)
	}
	for _, st := range w.fake.Statuses {
		st.Leader = candidate
	}
}

// setLeader makes the member of that ordinal the leader.
func (w *killWorld) setLeader(ordinal int) {
	w.fake.Lock()
	defer w.fake.Unlock()
	name := resources.MemberName(w.cluster, ordinal)
	for _, m := range w.fake.Members {
		if m.Name == name {
			for _, st := range w.fake.Statuses {
				st.Leader = m.ID
			}
		}
	}
}

// converged says "" when the cluster is as its spec asks and the operator
// says so, or what is not yet.
func (w *killWorld) converged() string {
	if why := w.membersAsSpec(); why != "" {
		return why
	}
	var c etcdv1alpha1.EtcdCluster
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(w.cluster), &c); err != nil {
		return err.Error()
	}
	progressing := meta.FindStatusCondition(c.Status.Conditions, etcdv1alpha1.ConditionProgressing)
	if c.Status.Phase != etcdv1alpha1.PhaseRunning || progressing == nil || progressing.Reason != etcdv1alpha1.ReasonReconciled ||
		c.Status.ObservedGeneration != c.Generation {
		return fmt.Sprintf("phase %s, progressing %v", c.Status.Phase, progressing)
	}
	return ""
}

// membersAsSpec: etcd lists spec.size started voters and no learner, each
// running the spec's version on the current template; the StatefulSet has
// that many replicas and the bootstrap settings are sealed.
func (w *killWorld) membersAsSpec() string {
	var c etcdv1alpha1.EtcdCluster
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(w.cluster), &c); err != nil {
		return err.Error()
	}
	var sts appsv1.StatefulSet
	if err := k8sClient.Get(ctx, w.key(resources.StatefulSetName(&c)), &sts); err != nil {
		return err.Error()
	}
	if *sts.Spec.Replicas != c.Spec.Size || sts.Annotations[resources.AnnotationRollingTo] != "" {
		return fmt.Sprintf("statefulset replicas %d, rolling to %q", *sts.Spec.Replicas, sts.Annotations[resources.AnnotationRollingTo])
	}
	var cm corev1.ConfigMap
	if err := k8sClient.Get(ctx, w.key(resources.ConfigMapName(&c)), &cm); err != nil || !resources.IsSealed(&cm) {
		return "bootstrap settings not sealed"
	}
	pods := w.pods()
	w.fake.Lock()
	defer w.fake.Unlock()
	if len(w.fake.Members) != int(c.Spec.Size) {
		return fmt.Sprintf("etcd lists %d members", len(w.fake.Members))
	}
	for _, m := range w.fake.Members {
		pod, ok := pods[m.Name]
		st := w.fake.Statuses[w.endpoint(podOrdinal(m.Name))]
		switch {
		case m.IsLearner:
			return fmt.Sprintf("%s is a learner", memberName(m))
		case !ok || st == nil:
			return fmt.Sprintf("%s does not run", memberName(m))
		case st.Version != c.Spec.Version:
			return fmt.Sprintf("%s runs %s", m.Name, st.Version)
		case pod.Annotations[resources.AnnotationTemplateHash] != sts.Annotations[resources.AnnotationTemplateHash]:
			return fmt.Sprintf("%s runs an older template", m.Name)
		}
	}
	return ""
}

// update changes the cluster's spec or annotations.
func (w *killWorld) update(change func(*etcdv1alpha1.EtcdCluster)) {
	GinkgoHelper()
	Eventually(func() error {
		var c etcdv1alpha1.EtcdCluster
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(w.cluster), &c); err != nil {
			return err
		}
		change(&c)
		return k8sClient.Update(ctx, &c)
	}, timeout).Should(Succeed())
}
