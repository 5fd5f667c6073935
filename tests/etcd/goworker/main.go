//go:build prwlock_etcd

// Command goworker is the Go worker of the cross-language etcd tests:
//
//	goworker URL SHM SLOT SECONDS
//
// It takes the lock at random (a third of the time for writing) until
// SECONDS pass, checking inside each critical section, through the shared
// file SHM, that no other worker's section conflicts with it (see
// tests/etcd/pyworker.py for the slot layout), and prints its counts.
package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/prwlock/prwlock/lock"
)

const (
	slotWords = 8
	nSlots    = 64
	wState    = 0 // 0 none, 1 reading, 2 writing
	wOps      = 1
	wViol     = 2
	wErrors   = 3
	wLost     = 4
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: goworker URL SHM SLOT SECONDS")
		os.Exit(2)
	}
	runtime.LockOSThread()
	slot, _ := strconv.Atoi(os.Args[3])
	secs, _ := strconv.ParseFloat(os.Args[4], 64)
	fd, err := syscall.Open(os.Args[2], syscall.O_RDWR, 0)
	if err != nil {
		panic(err)
	}
	mem, err := syscall.Mmap(fd, 0, 8*slotWords*nSlots, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	word := func(s, w int) *int64 { return (*int64)(unsafe.Pointer(&mem[8*(s*slotWords+w)])) }
	l, err := lock.Open(os.Args[1], lock.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "goworker:", err)
		os.Exit(1)
	}
	o := lock.Owner(syscall.Gettid())
	conflict := func(write bool) bool {
		for s := 0; s < nSlots; s++ {
			if s == slot {
				continue
			}
			st := atomic.LoadInt64(word(s, wState))
			if st == 2 || write && st != 0 {
				return true
			}
		}
		return false
	}
	end := time.Now().Add(time.Duration(secs * float64(time.Second)))
	for time.Now().Before(end) {
		write := rand.IntN(3) == 0
		m := lock.ModeRead
		if write {
			m = lock.ModeWrite
		}
		if err := l.Acquire(o, m, 10*time.Second); err != nil && err != lock.ErrOwnerDead {
			atomic.AddInt64(word(slot, wErrors), 1)
			continue
		}
		atomic.StoreInt64(word(slot, wState), int64(m))
		bad := conflict(write)
		time.Sleep(time.Millisecond)
		bad = bad || conflict(write)
		atomic.StoreInt64(word(slot, wState), 0)
		if _, err := l.Fence(o); err != nil {
			atomic.AddInt64(word(slot, wLost), 1) // a lost hold proves nothing either way
		} else if bad {
			atomic.AddInt64(word(slot, wViol), 1)
		}
		l.Release(o)
		atomic.AddInt64(word(slot, wOps), 1)
	}
	l.Close()
}
