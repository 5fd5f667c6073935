//go:build linux

package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prwlock/prwlock/lock"
	"golang.org/x/sys/unix"
)

// execSleeper replaces the whole process, holds and all, by this binary in
// sleep mode: a new Go runtime that knows nothing of the lock.
func execSleeper(ms int) {
	self, err := os.Executable()
	if err == nil {
		err = syscall.Exec(self, []string{self, "sleep", strconv.Itoa(ms) + "ms"}, os.Environ())
	}
	fmt.Fprintln(os.Stderr, "chaos: Go worker: exec:", err)
	os.Exit(3)
}

// sleepMode is what a Go worker execs while it holds: `chaos sleep DURATION`.
func sleepMode(args []string) int {
	if len(args) != 1 {
		return 2
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		return 2
	}
	time.Sleep(d)
	return 0
}

// goWorker is the Go worker: `chaos worker MEMFILE SLOTBASE NTHREADS SEED
// LOCKNAME...`. Each thread is a goroutine locked to its OS thread, whose
// kernel thread id is its owner, as the C library does.
func goWorker(args []string) int {
	if len(args) < 5 {
		fmt.Fprintln(os.Stderr, "usage: chaos worker MEMFILE SLOTBASE NTHREADS SEED LOCKNAME...")
		return 2
	}
	m, err := mapMem(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos worker:", err)
		return 2
	}
	base, _ := strconv.Atoi(args[1])
	n, _ := strconv.Atoi(args[2])
	seed, _ := strconv.ParseUint(args[3], 10, 64)
	var locks []*lock.Lock
	for _, name := range args[4:] {
		l, err := lock.Open(name, lock.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "chaos worker:", err)
			return 2
		}
		locks = append(locks, l)
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(slot int, rng *rand.Rand) {
			defer wg.Done()
			runtime.LockOSThread()
			goThread(m, slot, rng, locks)
		}(base+i, rand.New(rand.NewPCG(seed, uint64(i))))
	}
	wg.Wait()
	for _, l := range locks {
		l.Close()
	}
	return 0
}

func goThread(m *chaosMem, slot int, rng *rand.Rand, locks []*lock.Lock) {
	o := lock.Owner(unix.Gettid())
	atomic64Store(m.slot(slot, sPID), uint64(os.Getpid()))
	// Self-test of the checks (chaos run -cheat): misbehave on purpose.
	cheat := os.Getenv("CHAOS_CHEAT")
	for !m.stop() {
		k := rng.IntN(len(locks))
		op := rng.IntN(100)
		write, down := op >= 45, op >= 85
		var timeout time.Duration
		switch rng.IntN(4) {
		case 0:
			timeout = -1
		case 1:
			timeout = 0
		default:
			timeout = time.Duration(1+rng.IntN(50)) * time.Millisecond
		}
		n := rng.IntN(200)
		mode := lock.ModeRead
		if write {
			mode = lock.ModeWrite
		}
		if cheat == "nolock" && write && rng.IntN(100) == 0 {
			m.write(slot, k, false, rng.Uint64()|1, 20000)
			m.leave(slot)
			continue
		}
		start := m.waitBegin(slot, k, write)
		err := locks[k].Acquire(o, mode, timeout)
		outcome := 0
		switch {
		case err == nil:
		case errors.Is(err, lock.ErrOwnerDead):
			outcome = 1
		case errors.Is(err, lock.ErrBusy), errors.Is(err, lock.ErrTimeout):
			outcome = 2
		default:
			outcome = 3
		}
		m.waitEnd(slot, start, outcome, uint64(lock.Errno(err)))
		if outcome == 3 {
			fmt.Fprintf(os.Stderr, "chaos: Go worker %d: acquire: %v\n", os.Getpid(), err)
			continue
		}
		if outcome == 2 {
			continue
		}
		told := outcome == 1
		if cheat == "fakedead" && write && rng.IntN(500) == 0 {
			told = true
		}
		if write {
			m.write(slot, k, told, rng.Uint64()|1, n)
			if down {
				m.downgrading(slot, k)
				if err := locks[k].Downgrade(o); err != nil {
					fmt.Fprintf(os.Stderr, "chaos: Go worker: downgrade: %v\n", err)
				} else {
					m.downgraded(slot)
					m.read(slot, k, false, n)
				}
			}
		} else {
			m.read(slot, k, told, n)
		}
		if ms := m.execDue(slot); ms != 0 {
			execSleeper(ms)
		}
		if rng.IntN(200) == 0 {
			time.Sleep(time.Millisecond)
		}
		m.leave(slot)
		m.released(slot, locks[k].Release(o))
	}
}
