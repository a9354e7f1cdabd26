// Command dnsquery prints the first IPv4 address a DNS server gives for a
// name. The local cluster uses it to wait until cluster DNS answers, without
// depending on dig or nslookup being installed.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	server := flag.String("server", "127.0.0.1:53", "DNS server host:port")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: dnsquery -server HOST:PORT NAME")
		os.Exit(2)
	}
	resolver := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, *server)
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ips, err := resolver.LookupIP(ctx, "ip4", flag.Arg(0))
	if err != nil || len(ips) == 0 {
		fmt.Fprintln(os.Stderr, "dnsquery:", err)
		os.Exit(1)
	}
	fmt.Println(ips[0])
}
