package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	_ "embed"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// podCIDR is the range kwok gives pods and the bench routes onto loopback,
// where the simulator listens. Nothing else on the machine may use it.
const podCIDR = "10.254.0.0/16"

// serviceCIDR is where the API server allocates Service IPs.
const serviceCIDR = "10.253.0.0/16"

//go:embed kwok.yaml
var kwokConfig string

// The pod lifecycle delays, as measured on the local cluster (docs/scale.md,
// Calibration, 2026-12-02: one 3-member emptyDir cluster on an idle
// cluster): a member pod had its IP about 3 s after it was created, and
// was ready 3 to 6 s after that (its etcd answering, the probe passing).
const (
	defaultPodStart = 3 * time.Second
	defaultPodReady = 4 * time.Second
)

// kwokStages is kwok's configuration with the pod lifecycle delays filled
// in: each drawn by kwok from half to one and a half times the mean.
func kwokStages(start, ready time.Duration) string {
	ms := func(d time.Duration) string { return fmt.Sprint(d.Milliseconds()) }
	return strings.NewReplacer(
		"__POD_START_MS__", ms(start/2), "__POD_START_JITTER_MS__", ms(start*3/2),
		"__POD_READY_MS__", ms(ready/2), "__POD_READY_JITTER_MS__", ms(ready*3/2),
	).Replace(kwokConfig)
}

// plane is a Kubernetes control plane without kubelets: etcd and
// kube-apiserver (envtest), kube-controller-manager, kube-scheduler, kwok
// for nodes and pod lifecycle, and the etcd simulator.
type plane struct {
	dir   string
	env   *envtest.Environment
	admin *rest.Config
	kube  client.Client
	procs []*proc
	sim   string // control API base URL of the simulator
	// operatorConfig is the operator's own user, for the counting proxy.
	operatorConfig *rest.Config
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs a program with its output in dir/<name>.log; it is killed if
// the bench dies.
func start(dir, name, path string, env []string, args ...string) (*proc, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

// stop ends the process by its PID: SIGTERM, then SIGKILL after 15 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// routeUp sends the pod range to loopback, so the simulator can listen on
// every pod IP; routeDown removes it.
func routeUp() error {
	out, _ := exec.Command("ip", "route", "show", "table", "local", podCIDR).CombinedOutput()
	if strings.TrimSpace(string(out)) != "" {
		return fmt.Errorf("a route for %s exists already (%s): another bench running, or one that died; remove it with: ip route del local %s dev lo table local", podCIDR, strings.TrimSpace(string(out)), podCIDR)
	}
	if out, err := exec.Command("ip", "route", "add", "local", podCIDR, "dev", "lo", "table", "local").CombinedOutput(); err != nil {
		return fmt.Errorf("ip route add local %s dev lo (needs root): %w: %s", podCIDR, err, out)
	}
	return nil
}

func routeDown() {
	if out, err := exec.Command("ip", "route", "del", "local", podCIDR, "dev", "lo", "table", "local").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "remove route %s: %v: %s\n", podCIDR, err, out)
	}
}

// startPlane brings up everything but the operator.
func startPlane(ctx context.Context, cfg config, dir string) (*plane, error) {
	p := &plane{dir: dir}
	p.env = &envtest.Environment{
		BinaryAssetsDirectory: cfg.assets,
		CRDDirectoryPaths:     []string{filepath.Join(cfg.repo, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	api := p.env.ControlPlane.GetAPIServer()
	// Enough concurrency that the bench's own load is not throttled.
	api.Configure().Set("max-requests-inflight", "2000").Set("max-mutating-requests-inflight", "1000").
		// A client Service per cluster: envtest's /24 holds 254. The range
		// is only allocated from, never routed.
		Set("service-cluster-ip-range", serviceCIDR)
	p.env.ControlPlane.Etcd = &envtest.Etcd{}
	p.env.ControlPlane.Etcd.Configure().Set("quota-backend-bytes", "8589934592")
	admin, err := p.env.Start()
	if err != nil {
		return nil, fmt.Errorf("start etcd and kube-apiserver: %w", err)
	}
	admin.QPS, admin.Burst = 2000, 4000
	p.admin = admin
	if p.kube, err = newClient(admin); err != nil {
		return p, err
	}
	write := func(name string, user string) (string, error) {
		u, err := p.env.AddUser(envtest.User{Name: user, Groups: []string{"system:masters"}}, nil)
		if err != nil {
			return "", err
		}
		kc, err := u.KubeConfig()
		if err != nil {
			return "", err
		}
		path := filepath.Join(dir, name+".kubeconfig")
		if user == operatorUser {
			p.operatorConfig = u.Config()
		}
		return path, os.WriteFile(path, kc, 0o600)
	}
	components, err := write("components", "bench-components")
	if err != nil {
		return p, err
	}
	if _, err := write("operator-direct", operatorUser); err != nil {
		return p, err
	}

	kcm, err := start(dir, "kube-controller-manager", filepath.Join(cfg.kubeBin, "kube-controller-manager"), nil,
		"--kubeconfig="+components, "--leader-elect=false", "--use-service-account-credentials=false",
		"--controllers=statefulset-controller,endpointslice-controller,endpoints-controller,garbage-collector-controller,disruption-controller",
		"--kube-api-qps=1000", "--kube-api-burst=2000", "--concurrent-statefulset-syncs=20",
		fmt.Sprintf("--secure-port=%d", freePort()), "--bind-address=127.0.0.1")
	if err != nil {
		return p, err
	}
	p.procs = append(p.procs, kcm)
	sched, err := start(dir, "kube-scheduler", filepath.Join(cfg.kubeBin, "kube-scheduler"), nil,
		"--kubeconfig="+components, "--leader-elect=false", "--kube-api-qps=1000", "--kube-api-burst=2000",
		fmt.Sprintf("--secure-port=%d", freePort()), "--bind-address=127.0.0.1")
	if err != nil {
		return p, err
	}
	p.procs = append(p.procs, sched)
	kwokCfg := filepath.Join(dir, "kwok.yaml")
	if err := os.WriteFile(kwokCfg, []byte(kwokStages(cfg.podStart, cfg.podReady)), 0o600); err != nil {
		return p, err
	}
	kwok, err := start(dir, "kwok", cfg.kwok, nil, "--kubeconfig="+components, "--config="+kwokCfg,
		"--manage-all-nodes=true", "--cidr="+podCIDR, "--node-ip=10.254.255.254",
		fmt.Sprintf("--server-address=127.0.0.1:%d", freePort()))
	if err != nil {
		return p, err
	}
	p.procs = append(p.procs, kwok)
	sim, err := start(dir, "etcdsim", cfg.etcdsim, []string{"KUBECONFIG=" + components})
	if err != nil {
		return p, err
	}
	p.procs = append(p.procs, sim)
	if p.sim, err = waitForLine(ctx, filepath.Join(dir, "etcdsim.log"), regexp.MustCompile(`control (http://\S+)`), 30*time.Second); err != nil {
		return p, fmt.Errorf("etcdsim: %w", err)
	}
	return p, nil
}

// waitForLine polls a log file until a line matches re, and returns the
// first group.
func waitForLine(ctx context.Context, path string, re *regexp.Regexp, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if f, err := os.Open(path); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if m := re.FindStringSubmatch(sc.Text()); m != nil {
					f.Close()
					return m[1], nil
				}
			}
			f.Close()
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return "", errors.New("timed out waiting for " + re.String() + " in " + path)
}

func (p *plane) stop() {
	for i := len(p.procs) - 1; i >= 0; i-- {
		p.procs[i].stop()
	}
	if p.env != nil {
		if err := p.env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest:", err)
		}
	}
}
