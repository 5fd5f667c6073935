//go:build linux

package lock

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks. Each prwlock figure is paired with sync.RWMutex doing the
// same, an in-process baseline: the uncontended ones report the ratio as
// the metric "x-sync" (prwlock ns/op divided by sync.RWMutex ns/op).
//
//	go test ./lock -run '^$' -bench . -benchtime 1s

func init() {
	helpers["bench-pingpong"] = helperPingPong
}

// reportVsSync times n iterations of the sync.RWMutex baseline and reports
// its ns/op and the ratio of the benchmark's own ns/op to it. Call it after
// b.StopTimer.
func reportVsSync(b *testing.B, baseline func(n int)) {
	own := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	start := time.Now()
	baseline(b.N)
	base := float64(time.Since(start).Nanoseconds()) / float64(b.N)
	b.ReportMetric(base, "sync-ns/op")
	if base > 0 {
		b.ReportMetric(own/base, "x-sync")
	}
}

// syncPairs is the sync.RWMutex baseline of a pair benchmark: n
// Lock/Unlock pairs (write) or RLock/RUnlock pairs.
// (Two loops, not one with a branch inside: the baseline stays as lean as
// a program's own.)
func syncPairs(write bool) func(n int) {
	if write {
		return func(n int) {
			var mu sync.RWMutex
			for i := 0; i < n; i++ {
				mu.Lock()
				mu.Unlock()
			}
		}
	}
	return func(n int) {
		var mu sync.RWMutex
		for i := 0; i < n; i++ {
			mu.RLock()
			mu.RUnlock()
		}
	}
}

// ownerPairs times b.N acquire/release pairs of owner o in mode m.
func ownerPairs(b *testing.B, l *Lock, o Owner, m Mode, timeout time.Duration) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := l.Acquire(o, m, timeout); err != nil {
			b.Fatal(err)
		}
		if err := l.Release(o); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

func BenchmarkUncontendedReadPair(b *testing.B) {
	l, _ := openTest(b, Options{})
	ownerPairs(b, l, 1, ModeRead, -1)
	reportVsSync(b, syncPairs(false))
}

func BenchmarkUncontendedWritePair(b *testing.B) {
	l, _ := openTest(b, Options{})
	ownerPairs(b, l, 1, ModeWrite, -1)
	reportVsSync(b, syncPairs(true))
}

// BenchmarkUncontendedWritePairOthersKept is the write pair while other
// owners keep idle slots between their holds, as a process's threads do:
// the writer's scans meet them.
func BenchmarkUncontendedWritePairOthersKept(b *testing.B) {
	l, _ := openTest(b, Options{})
	for o := Owner(2); o < 5; o++ {
		mustAcquire(b, l, o, ModeRead)
		mustRelease(b, l, o)
	}
	ownerPairs(b, l, 1, ModeWrite, -1)
	reportVsSync(b, syncPairs(true))
}

// BenchmarkUncontendedTryWritePair is the try form (timeout 0).
func BenchmarkUncontendedTryWritePair(b *testing.B) {
	l, _ := openTest(b, Options{})
	ownerPairs(b, l, 1, ModeWrite, 0)
}

func BenchmarkRLockPair(b *testing.B) {
	l, _ := openTest(b, Options{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.RLock()
		l.RUnlock()
	}
	b.StopTimer()
	reportVsSync(b, syncPairs(false))
}

func BenchmarkLockPair(b *testing.B) {
	l, _ := openTest(b, Options{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.Lock()
		l.Unlock()
	}
	b.StopTimer()
	reportVsSync(b, syncPairs(true))
}

// BenchmarkContendedMix runs goroutines (4 per CPU), each with its own
// owner, that read or write at the given ratio, against prwlock and
// against sync.RWMutex. ns/op is per acquire/release pair, all goroutines
// together.
func BenchmarkContendedMix(b *testing.B) {
	for _, readPct := range []int{90, 50, 10} {
		name := fmt.Sprintf("read%d-write%d", readPct, 100-readPct)
		b.Run(name+"/prwlock", func(b *testing.B) {
			l, _ := openTest(b, Options{Capacity: 256})
			var next atomic.Uint32
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				o := Owner(next.Add(1))
				rng := uint32(o) * 2654435761
				for pb.Next() {
					rng = rng*1664525 + 1013904223
					m := ModeWrite
					if int(rng>>16)%100 < readPct {
						m = ModeRead
					}
					if err := l.Acquire(o, m, -1); err != nil {
						b.Error(err)
						return
					}
					l.Release(o)
				}
			})
		})
		b.Run(name+"/sync.RWMutex", func(b *testing.B) {
			var mu sync.RWMutex
			var next atomic.Uint32
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				rng := next.Add(1) * 2654435761
				for pb.Next() {
					rng = rng*1664525 + 1013904223
					if int(rng>>16)%100 < readPct {
						mu.RLock()
						mu.RUnlock()
					} else {
						mu.Lock()
						mu.Unlock()
					}
				}
			})
		})
	}
}

// Shared-memory words of the ping-pong.
const (
	wPingReady  = 20
	wPingCount  = 21
	wPingTarget = 22
)

// pingPong takes turns with another process through the lock: under write
// it advances the shared counter when the count's parity is its own. It
// returns when the counter reaches the target.
func pingPong(l *Lock, m *sharedMem, parity int64) error {
	o := gettid()
	target := atomic.LoadInt64(m.word(wPingTarget))
	for {
		if err := l.Acquire(o, ModeWrite, 10*time.Second); err != nil {
			return err
		}
		c := atomic.LoadInt64(m.word(wPingCount))
		if c%2 == parity && c < target {
			atomic.StoreInt64(m.word(wPingCount), c+1)
		}
		l.Release(o)
		if c >= target {
			return nil
		}
	}
}

// helperPingPong: args name shared-path.
func helperPingPong(args []string) {
	l, err := Open(args[0], Options{})
	if err != nil {
		fmt.Println("err", err)
		os.Exit(1)
	}
	defer l.Close()
	m := mapShared(args[1])
	atomic.StoreInt64(m.word(wPingReady), 1)
	if err := pingPong(l, m, 1); err != nil {
		fmt.Println("err", err)
		os.Exit(1)
	}
	fmt.Println("done")
}

// BenchmarkCrossProcessHandoff measures one hand-off of a write lock
// between two processes that take turns: ns/op is the time from one
// process's turn to the other's, through release, wake-up and acquire.
func BenchmarkCrossProcessHandoff(b *testing.B) {
	l, name := openTest(b, Options{})
	m := newSharedMem(b)
	atomic.StoreInt64(m.word(wPingTarget), 2*int64(b.N))
	cmd, _, out := startIO(b, "bench-pingpong", name, m.path)
	waitFor(b, 20*time.Second, "ping-pong helper", func() bool { return atomic.LoadInt64(m.word(wPingReady)) == 1 })
	b.ResetTimer()
	if err := pingPong(l, m, 0); err != nil {
		b.Fatal(err)
	}
	out.expect(b, "done", 20*time.Second)
	b.StopTimer()
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
	// Two hand-offs per b.N: there and back.
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/handoff")
	if c := atomic.LoadInt64(m.word(wPingCount)); c != 2*int64(b.N) {
		b.Fatalf("count %d, want %d", c, 2*b.N)
	}
}
