//go:build prwlock_etcd

// Command bench_etcd measures the etcd backend against etcd's own recipe
// RWMutex (client/v3/experimental/recipes), on one loopback 3-member
// cluster it starts itself (internal/etcdtest), in the same run:
//
//   - uncontended pair: acquire then release by one client, µs per pair;
//   - contended: W workers, each its own owner (ours) or session (recipe),
//     taking the lock back to back at R% reads, pairs per second.
//
// One JSON object per line on stdout; tests/bench/run.py (section etcd)
// drives it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prwlock/prwlock/internal/etcdtest"
	"github.com/prwlock/prwlock/lock"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	recipe "go.etcd.io/etcd/client/v3/experimental/recipes"
	"go.uber.org/zap"
)

type rw interface {
	rlock() error
	runlock() error
	lock() error
	unlock() error
}

type ours struct {
	l *lock.Lock
	o lock.Owner
}

func (x ours) rlock() error   { return x.l.Acquire(x.o, lock.ModeRead, -1) }
func (x ours) lock() error    { return x.l.Acquire(x.o, lock.ModeWrite, -1) }
func (x ours) runlock() error { return x.l.Release(x.o) }
func (x ours) unlock() error  { return x.l.Release(x.o) }

type rec struct{ m *recipe.RWMutex }

func (x rec) rlock() error   { return x.m.RLock() }
func (x rec) lock() error    { return x.m.Lock() }
func (x rec) runlock() error { return x.m.RUnlock() }
func (x rec) unlock() error  { return x.m.Unlock() }

func out(v map[string]any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func die(err error) {
	fmt.Fprintln(os.Stderr, "bench_etcd:", err)
	os.Exit(1)
}

func main() {
	reps := flag.Int("reps", 3, "repetitions")
	ms := flag.Int("ms", 1000, "milliseconds per measurement")
	workers := flag.Int("workers", 4, "contended workers")
	readPct := flag.Int("read-pct", 90, "contended read share, percent")
	flag.Parse()
	c, err := etcdtest.Start(3)
	if err != nil {
		die(err)
	}
	defer c.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		die(err)
	}
	defer cli.Close()
	var handles []*lock.Lock
	defer func() {
		for _, h := range handles {
			h.Close()
		}
	}()
	// make returns n instances of impl on one fresh lock.
	seq := 0
	makeRW := func(impl string, n int) []rw {
		seq++
		name := fmt.Sprintf("bench-%d-%s-%d", os.Getpid(), impl, seq)
		var xs []rw
		if impl == "ours" {
			l, err := lock.Open(c.URL(name), lock.Options{})
			if err != nil {
				die(err)
			}
			handles = append(handles, l)
			for i := 0; i < n; i++ {
				xs = append(xs, ours{l, lock.Owner(i + 1)})
			}
			return xs
		}
		for i := 0; i < n; i++ {
			s, err := concurrency.NewSession(cli, concurrency.WithTTL(10))
			if err != nil {
				die(err)
			}
			xs = append(xs, rec{recipe.NewRWMutex(s, name)})
		}
		return xs
	}
	d := time.Duration(*ms) * time.Millisecond
	for r := 0; r < *reps; r++ {
		for _, impl := range []string{"ours", "recipe"} {
			x := makeRW(impl, 1)[0]
			for _, mode := range []string{"read", "write"} {
				n := 0
				t0 := time.Now()
				for time.Since(t0) < d {
					if err := pair(x, mode == "read"); err != nil {
						die(err)
					}
					n++
				}
				out(map[string]any{"bench": "etcd-pair", "impl": impl, "mode": mode, "rep": r, "members": 3,
					"us": float64(time.Since(t0).Microseconds()) / float64(n), "n": n})
			}
		}
		for _, impl := range []string{"ours", "recipe"} {
			xs := makeRW(impl, *workers)
			var ops atomic.Int64
			var wg sync.WaitGroup
			ctx, cancel := context.WithTimeout(context.Background(), d)
			t0 := time.Now()
			for _, x := range xs {
				wg.Add(1)
				go func(x rw) {
					defer wg.Done()
					for ctx.Err() == nil {
						if err := pair(x, rand.IntN(100) < *readPct); err != nil {
							die(err)
						}
						ops.Add(1)
					}
				}(x)
			}
			wg.Wait()
			el := time.Since(t0)
			cancel()
			out(map[string]any{"bench": "etcd-contended", "impl": impl, "workers": *workers, "read_pct": *readPct,
				"rep": r, "members": 3, "ops_per_s": float64(ops.Load()) / el.Seconds()})
		}
	}
}

// pair takes and releases x once, for reading or for writing.
func pair(x rw, read bool) error {
	if read {
		if err := x.rlock(); err != nil {
			return err
		}
		return x.runlock()
	}
	if err := x.lock(); err != nil {
		return err
	}
	return x.unlock()
}
