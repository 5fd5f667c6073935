// Command bench is the Go side of the prwlock benchmark suite
// (tests/bench/run.py): the uncontended cost of the lock/ API, next to
// sync.RWMutex measured in the same run as the in-process baseline.
//
// It prints one JSON object per measurement on stdout and progress on
// stderr. Every lock it makes is named bench-$BENCH_TAG-..., and it unlinks
// them before it returns.
//
//	go run ./tests/bench/go -reps 5 -ms 100
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/prwlock/prwlock/lock"
)

type result struct {
	Bench string  `json:"bench"`
	Lang  string  `json:"lang"`
	Impl  string  `json:"impl"`
	Mode  string  `json:"mode"`
	Rep   int     `json:"rep"`
	NS    float64 `json:"ns"`
}

// timeIt returns the ns per iteration of f(n) over about d.
func timeIt(f func(n int), d time.Duration) float64 {
	n := 1000
	f(n) // warm up
	for {
		start := time.Now()
		f(n)
		el := time.Since(start)
		if el >= d/4 || n > 1<<34 {
			want := int(float64(n) * float64(d) / float64(max(el, 1)))
			want = max(want, n)
			start = time.Now()
			f(want)
			return float64(time.Since(start).Nanoseconds()) / float64(want)
		}
		n *= 4
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
}

func main() {
	reps := flag.Int("reps", 5, "repetitions")
	ms := flag.Int("ms", 100, "milliseconds per measurement")
	flag.Parse()
	tag := os.Getenv("BENCH_TAG")
	if tag == "" {
		tag = fmt.Sprintf("g%d", os.Getpid())
	}
	name := fmt.Sprintf("bench-%s-go-%d", tag, os.Getpid())
	l, err := lock.Open(name, lock.Options{Create: true})
	must(err)
	defer func() {
		l.Close()
		lock.Unlink(name)
	}()
	const o = lock.Owner(1)
	var mu sync.RWMutex
	d := time.Duration(*ms) * time.Millisecond
	cases := []struct {
		impl, mode string
		f          func(n int)
	}{
		{"sync.RWMutex", "read", func(n int) {
			for i := 0; i < n; i++ {
				mu.RLock()
				mu.RUnlock()
			}
		}},
		{"sync.RWMutex", "write", func(n int) {
			for i := 0; i < n; i++ {
				mu.Lock()
				mu.Unlock()
			}
		}},
		{"ours", "read", func(n int) {
			for i := 0; i < n; i++ {
				must(l.Acquire(o, lock.ModeRead, -1))
				must(l.Release(o))
			}
		}},
		{"ours", "write", func(n int) {
			for i := 0; i < n; i++ {
				must(l.Acquire(o, lock.ModeWrite, -1))
				must(l.Release(o))
			}
		}},
		{"ours-rwmutex-api", "read", func(n int) {
			for i := 0; i < n; i++ {
				l.RLock()
				l.RUnlock()
			}
		}},
		{"ours-rwmutex-api", "write", func(n int) {
			for i := 0; i < n; i++ {
				l.Lock()
				l.Unlock()
			}
		}},
	}
	enc := json.NewEncoder(os.Stdout)
	for r := 0; r < *reps; r++ {
		for _, c := range cases {
			must(enc.Encode(result{"pair", "go", c.impl, c.mode, r, timeIt(c.f, d)}))
		}
		fmt.Fprintf(os.Stderr, "  go pairs: rep %d/%d done\n", r+1, *reps)
	}
}
