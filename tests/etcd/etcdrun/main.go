//go:build prwlock_etcd

// Command etcdrun runs a loopback etcd cluster for the cross-language tests,
// the chaos test and the benchmarks (internal/etcdtest). It prints
// "endpoints HOST:PORT,..." once the cluster serves, then obeys commands on
// stdin, one per line, answering "ok" or "error ...":
//
//	stop I / kill I    stop member I with SIGTERM / SIGKILL
//	restart I          start it again on its data directory
//	leader             prints "leader I"
//
// At end of input, or on SIGTERM or SIGINT, it stops every member and
// removes the data directory.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prwlock/prwlock/internal/etcdtest"
)

func main() {
	n := flag.Int("members", 1, "cluster size")
	flag.Parse()
	c, err := etcdtest.Start(*n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcdrun:", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; c.Close(); os.Exit(1) }()
	fmt.Println("endpoints", strings.Join(c.Endpoints(), ","))
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var i int
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) == 2 {
			fmt.Sscanf(f[1], "%d", &i)
		}
		if i < 0 || i >= len(c.Members) {
			fmt.Println("error no member", i)
			continue
		}
		switch f[0] {
		case "stop":
			c.Stop(i, syscall.SIGTERM)
			fmt.Println("ok")
		case "kill":
			c.Stop(i, syscall.SIGKILL)
			fmt.Println("ok")
		case "restart":
			err := c.Restart(i)
			if err == nil {
				err = c.WaitReady(20 * time.Second)
			}
			if err != nil {
				fmt.Println("error", err)
			} else {
				fmt.Println("ok")
			}
		case "leader":
			fmt.Println("leader", c.Leader())
		default:
			fmt.Println("error unknown command", f[0])
		}
	}
	c.Close()
}
