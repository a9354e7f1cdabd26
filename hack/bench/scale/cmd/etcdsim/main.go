// Command etcdsim runs the etcd simulator of the scale bench (see package
// etcdsim) against the API server KUBECONFIG names, with its control API on
// -control.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/quorum-operator/quorum/hack/bench/scale/etcdsim"
)

func main() {
	control := flag.String("control", "127.0.0.1:0", "address of the control API")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	s := etcdsim.New()
	l, err := net.Listen("tcp", *control)
	if err != nil {
		log.Fatal(err)
	}
	// The bench reads the control address from the first line.
	log.Printf("control http://%s", l.Addr())
	go func() { _ = http.Serve(l, s.Handler()) }()
	if err := s.Run(ctx, cfg); err != nil {
		log.Fatal(err)
	}
}
