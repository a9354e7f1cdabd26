package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// The local cluster's Prometheus (hack/localcluster/prometheus.sh): it
// scrapes every 5s and evaluates config/prometheus/rules.yaml every 5s.
// The Makefile passes its URL.
var prometheusURL = os.Getenv("PROMETHEUS_URL")

const (
	scrapeInterval = 5 * time.Second
	evalInterval   = 5 * time.Second
	// slack covers the API calls of the check itself and clock rounding.
	slack = 5 * time.Second
)

var _ = Describe("Alerts in a real Prometheus", Label("monitoring"), Ordered, Serial, func() {
	var prom *prometheus

	BeforeAll(func() {
		Expect(prometheusURL).NotTo(BeEmpty(), "PROMETHEUS_URL must name the local cluster's Prometheus ('make test-e2e' sets it)")
		prom = &prometheus{base: prometheusURL}
		By("waiting for Prometheus to have the rules loaded and to scrape the operator")
		Eventually(func(g Gomega) {
			g.Expect(prom.ruleNames()).To(ContainElements("QuorumClusterQuorumLost", "QuorumBackupTooOld"))
			g.Expect(prom.query(`up{job="quorum-operator"} == 1`)).NotTo(BeEmpty(), "the operator is not scraped")
		}, 2*time.Minute, time.Second).Should(Succeed())
	})

	It("fires QuorumClusterQuorumLost within its for + a scrape + an evaluation when two of three members stop, and resolves when they return", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "alerts", 3)
		sel := fmt.Sprintf(`namespace=%q, name=%q`, ns, cluster.Name)

		By("waiting until Prometheus has the cluster's quorum and its members' metrics")
		Eventually(func(g Gomega) {
			g.Expect(prom.query(`quorum_cluster_has_quorum{` + sel + `} == 1`)).NotTo(BeEmpty())
			g.Expect(prom.query(fmt.Sprintf(`up{container="etcd", job="%s/%s"} == 1`, ns, cluster.Name))).To(HaveLen(3))
		}, 2*time.Minute, time.Second).Should(Succeed())

		By("keeping two members down: the node is cordoned, then their pods are deleted")
		setUnschedulable(true)
		DeferCleanup(setUnschedulable, false)
		stopped := time.Now()
		for _, name := range []string{"alerts-1", "alerts-2"} {
			Expect(k8sClient.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})).To(Succeed())
		}

		By("waiting for the alert to fire")
		var firingSeen time.Time
		Eventually(func(g Gomega) {
			g.Expect(prom.alertState("QuorumClusterQuorumLost", ns, cluster.Name)).To(Equal("firing"))
			firingSeen = time.Now()
		}, 4*time.Minute, time.Second).Should(Succeed())

		// When the operator's series turned 0 (the first scrape that saw it;
		// the operator recorded it at most one scrape interval earlier), when
		// the alert went pending and when it fired, as Prometheus recorded
		// them.
		lostScraped := prom.firstSampleAfter(`quorum_cluster_has_quorum{`+sel+`}`, stopped, 0)
		firing := prom.firstSampleAfter(`ALERTS{alertname="QuorumClusterQuorumLost", alertstate="firing", `+sel+`}`, stopped, 1)
		pending := prom.firstSampleAfter(`ALERTS{alertname="QuorumClusterQuorumLost", alertstate="pending", `+sel+`}`, stopped, 1)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
		var statusLost time.Time
		if c := meta.FindStatusCondition(cluster.Status.Conditions, etcdv1alpha1.ConditionAvailable); c != nil && c.Status == metav1.ConditionFalse {
			statusLost = c.LastTransitionTime.Time
		}
		const forDuration = time.Minute
		GinkgoWriter.Printf("QuorumClusterQuorumLost timeline (UTC):\n"+
			"  %s two members' pods deleted\n"+
			"  %s Available=False in the cluster's status (second precision)\n"+
			"  %s first scrape with quorum_cluster_has_quorum 0 (+%s)\n"+
			"  %s alert pending (+%s after that scrape)\n"+
			"  %s alert firing (+%s after that scrape; bound for %s + evaluation %s + slack %s)\n"+
			"  %s firing seen through /api/v1/alerts\n",
			stamp(stopped), stamp(statusLost), stamp(lostScraped), lostScraped.Sub(stopped).Round(time.Millisecond),
			stamp(pending), pending.Sub(lostScraped).Round(time.Millisecond),
			stamp(firing), firing.Sub(lostScraped).Round(time.Millisecond), forDuration, evalInterval, slack,
			stamp(firingSeen))
		// The operator changed the series at most one scrape before
		// lostScraped, so from that change the alert fired within its for +
		// one scrape + one evaluation.
		Expect(firing.Sub(lostScraped)).To(BeNumerically("<=", forDuration+evalInterval+slack))
		Expect(firing.Sub(lostScraped)).To(BeNumerically(">=", forDuration), "fired before its for had passed")

		By("letting the members come back: the alert resolves")
		setUnschedulable(false)
		back := time.Now()
		Eventually(func(g Gomega) {
			g.Expect(prom.alertState("QuorumClusterQuorumLost", ns, cluster.Name)).To(BeEmpty())
		}, 4*time.Minute, time.Second).Should(Succeed())
		resolvedSeen := time.Now()
		quorumScraped := prom.firstSampleAfter(`quorum_cluster_has_quorum{`+sel+`}`, back, 1)
		GinkgoWriter.Printf("QuorumClusterQuorumLost resolution (UTC):\n"+
			"  %s node uncordoned\n"+
			"  %s first scrape with quorum_cluster_has_quorum 1 (+%s)\n"+
			"  %s alert gone from /api/v1/alerts (+%s after that scrape)\n",
			stamp(back), stamp(quorumScraped), quorumScraped.Sub(back).Round(time.Millisecond),
			stamp(resolvedSeen), resolvedSeen.Sub(quorumScraped).Round(time.Millisecond))
		Expect(resolvedSeen.Sub(quorumScraped)).To(BeNumerically("<=", evalInterval+slack))
		waitMembers(cluster, 3)
	})

	It("fires QuorumBackupTooOld when a schedule is suspended past its window, and resolves when it runs again", func() {
		ns := newNamespace()
		// TLS, so the certificate expiry series exists for the dashboard
		// check below.
		cluster := createClusterSpec(ns, "backed", etcdv1alpha1.EtcdClusterSpec{Size: 1, Version: etcdVersion, TLS: &etcdv1alpha1.TLSSpec{}})
		schedule := &etcdv1alpha1.EtcdBackupSchedule{
			ObjectMeta: metav1.ObjectMeta{Name: "every-30s", Namespace: ns},
			Spec: etcdv1alpha1.EtcdBackupScheduleSpec{
				Schedule:       "@every 30s",
				BackupTemplate: etcdv1alpha1.EtcdBackupSpec{ClusterName: cluster.Name, Destination: newS3Destination(ns)},
			},
		}
		Expect(k8sClient.Create(ctx, schedule)).To(Succeed())
		sel := fmt.Sprintf(`namespace=%q, name=%q`, ns, schedule.Name)

		By("waiting for a first successful backup, then suspending the schedule")
		Eventually(func(g Gomega) {
			g.Expect(prom.query(`quorum_backup_last_success_timestamp_seconds{` + sel + `}`)).NotTo(BeEmpty())
		}, 3*time.Minute, time.Second).Should(Succeed())
		editSchedule(schedule, func(s *etcdv1alpha1.EtcdBackupScheduleSpec) { s.Suspend = true })
		suspended := time.Now()

		By("waiting for the alert to fire")
		Eventually(func(g Gomega) {
			g.Expect(prom.alertState("QuorumBackupTooOld", ns, schedule.Name)).To(Equal("firing"))
		}, 5*time.Minute, time.Second).Should(Succeed())
		firing := prom.firstSampleAfter(`ALERTS{alertname="QuorumBackupTooOld", alertstate="firing", `+sel+`}`, suspended, 1)
		lastSuccess := unix(prom.value(`quorum_backup_last_success_timestamp_seconds{` + sel + `}`))
		nextRun := unix(prom.value(`quorum_backup_schedule_next_run_timestamp_seconds{` + sel + `}`))
		// The rule: late once now - nextRun exceeds the grace,
		// clamp(nextRun - lastSuccess, 60s, 900s), then its for of 1m.
		grace := min(max(nextRun.Sub(lastSuccess), time.Minute), 15*time.Minute)
		due := nextRun.Add(grace).Add(time.Minute)
		GinkgoWriter.Printf("QuorumBackupTooOld timeline (UTC):\n"+
			"  %s newest successful backup\n"+
			"  %s schedule suspended\n"+
			"  %s next backup was due\n"+
			"  %s due + grace %s + for 1m\n"+
			"  %s alert firing (+%s)\n",
			stamp(lastSuccess), stamp(suspended), stamp(nextRun), stamp(due), grace, stamp(firing), firing.Sub(due).Round(time.Millisecond))
		Expect(firing).To(BeTemporally(">=", due), "fired before the schedule's window and the alert's for had passed")
		Expect(firing).To(BeTemporally("<=", due.Add(scrapeInterval+evalInterval+slack)))

		By("resuming the schedule: the next backup succeeds and the alert resolves")
		editSchedule(schedule, func(s *etcdv1alpha1.EtcdBackupScheduleSpec) { s.Suspend = false })
		resumed := time.Now()
		Eventually(func(g Gomega) {
			g.Expect(prom.alertState("QuorumBackupTooOld", ns, schedule.Name)).To(BeEmpty())
		}, 3*time.Minute, time.Second).Should(Succeed())
		GinkgoWriter.Printf("QuorumBackupTooOld resolved at %s, %s after the schedule was resumed\n", stamp(time.Now()), time.Since(resumed).Round(time.Second))
	})

	It("answers every query of the dashboard, and has every metric it names", func() {
		raw, err := os.ReadFile(filepath.Join("..", "..", "config", "grafana", "quorum-dashboard.json"))
		Expect(err).NotTo(HaveOccurred())
		var d struct {
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		Expect(json.Unmarshal(raw, &d)).To(Succeed())
		vars := strings.NewReplacer(`$__rate_interval`, "1m", `$namespace`, ".*", `$cluster`, ".*")
		names := map[string]bool{}
		queries := 0
		for _, p := range d.Panels {
			for _, t := range p.Targets {
				q := vars.Replace(t.Expr)
				result := prom.query(q)
				queries++
				GinkgoWriter.Printf("%-40s %3d series  %s\n", p.Title, len(result), q)
				for _, n := range metricName.FindAllString(t.Expr, -1) {
					names[n] = true
				}
			}
		}
		Expect(queries).To(BeNumerically(">=", 30))
		known := prom.metricNames()
		var missing []string
		for n := range names {
			if !slices.Contains(known, n) {
				missing = append(missing, n)
			}
		}
		slices.Sort(missing)
		Expect(missing).To(BeEmpty(), "metrics the dashboard names that Prometheus never scraped")
	})
})

// metricName finds the names of the metrics the operator, controller-runtime
// and etcd export in a query.
var metricName = regexp.MustCompile(`\b(quorum|etcd|grpc_server|controller_runtime|workqueue)_[a-z0-9_]+\b`)

func stamp(t time.Time) string {
	if t.IsZero() {
		return "(unknown)           "
	}
	return t.UTC().Format("15:04:05.000")
}

func unix(seconds float64) time.Time {
	return time.Unix(0, int64(seconds*1e9))
}

// prometheus is a client of Prometheus's HTTP API, enough for the specs.
type prometheus struct{ base string }

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
	Values [][2]any          `json:"values"`
}

func (p *prometheus) get(path string, params url.Values, out any) {
	GinkgoHelper()
	resp, err := http.Get(p.base + path + "?" + params.Encode())
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	var envelope struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	Expect(json.Unmarshal(body, &envelope)).To(Succeed(), "%s: %s", path, body)
	Expect(envelope.Status).To(Equal("success"), "%s %v: %s", path, params, envelope.Error)
	Expect(json.Unmarshal(envelope.Data, out)).To(Succeed())
}

// query runs an instant query.
func (p *prometheus) query(q string) []promSample {
	GinkgoHelper()
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	p.get("/api/v1/query", url.Values{"query": {q}}, &data)
	Expect(data.ResultType).To(BeElementOf("vector", "matrix"), q)
	var out []promSample
	Expect(json.Unmarshal(data.Result, &out)).To(Succeed())
	return out
}

// value is the value of a query that has exactly one series.
func (p *prometheus) value(q string) float64 {
	GinkgoHelper()
	r := p.query(q)
	Expect(r).To(HaveLen(1), q)
	v, err := strconv.ParseFloat(r[0].Value[1].(string), 64)
	Expect(err).NotTo(HaveOccurred())
	return v
}

// firstSampleAfter is the time of the first sample of a one-series query
// at or after since whose value is want.
func (p *prometheus) firstSampleAfter(series string, since time.Time, want float64) time.Time {
	GinkgoHelper()
	window := time.Since(since).Round(time.Second) + time.Second
	r := p.query(fmt.Sprintf("%s[%ds]", series, int(window.Seconds())))
	Expect(r).To(HaveLen(1), series)
	for _, s := range r[0].Values {
		v, err := strconv.ParseFloat(s[1].(string), 64)
		Expect(err).NotTo(HaveOccurred())
		at := unix(s[0].(float64))
		if v == want && !at.Before(since) {
			return at
		}
	}
	Fail(fmt.Sprintf("%s: no sample %v since %s", series, want, stamp(since)))
	return time.Time{}
}

// alertState is the state (pending, firing) of the alert for an object, or
// "" when it is not active.
func (p *prometheus) alertState(alert, namespace, name string) string {
	GinkgoHelper()
	var data struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	p.get("/api/v1/alerts", nil, &data)
	for _, a := range data.Alerts {
		if a.Labels["alertname"] == alert && a.Labels["namespace"] == namespace && a.Labels["name"] == name {
			return a.State
		}
	}
	return ""
}

// ruleNames are the names of the alerting rules Prometheus loaded.
func (p *prometheus) ruleNames() []string {
	GinkgoHelper()
	var data struct {
		Groups []struct {
			Rules []struct {
				Name string `json:"name"`
			} `json:"rules"`
		} `json:"groups"`
	}
	p.get("/api/v1/rules", url.Values{"type": {"alert"}}, &data)
	var names []string
	for _, g := range data.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Name)
		}
	}
	return names
}

// metricNames are the names of every metric Prometheus holds.
func (p *prometheus) metricNames() []string {
	GinkgoHelper()
	var names []string
	p.get("/api/v1/label/__name__/values", nil, &names)
	return names
}
