// Command gohelper is the Go side of the cross-language test (see
// tests/c/crosslang.c): it takes the named lock through package lock
// directly, not through libprwlock.so, and checks the shared invariant
// inside each critical section.
//
// Usage: gohelper NAME SHMFILE ITERATIONS
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/prwlock/prwlock/lock"
)

// shared mirrors struct shared in crosslang.c.
type shared struct {
	writer  int32 // pid of the writer inside, 0 if none
	readers int32 // readers inside
	counter int64 // incremented by every write, without atomics
	// lastLang is the language of the last writer (1 C, 2 Go); switches
	// counts writes that followed the other language's.
	lastLang, switches int32
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: gohelper NAME SHMFILE ITERATIONS")
		os.Exit(2)
	}
	iters, _ := strconv.Atoi(os.Args[3])
	runtime.LockOSThread() // the owner is this thread's id
	owner := lock.Owner(unix.Gettid())
	l, err := lock.Open(os.Args[1], lock.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
	defer l.Close()
	f, err := os.OpenFile(os.Args[2], os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mmap:", err)
		os.Exit(1)
	}
	sh := (*shared)(unsafe.Pointer(&mem[0]))
	fmt.Println("ready") // the driver releases its write hold once all are ready
	me := int32(os.Getpid())
	bad := 0
	for i := 0; i < iters; i++ {
		write := i%3 == 0
		m := lock.ModeRead
		if write {
			m = lock.ModeWrite
		}
		if err := l.Acquire(owner, m, 20*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "acquire:", err)
			bad++
			continue
		}
		if write {
			if !atomic.CompareAndSwapInt32(&sh.writer, 0, me) || atomic.LoadInt32(&sh.readers) != 0 {
				bad++
			}
			c := atomic.LoadInt64(&sh.counter)
			if i%32 == 0 {
				runtime.Gosched()
				time.Sleep(time.Microsecond)
			}
			atomic.StoreInt64(&sh.counter, c+1)
			if sh.lastLang == 1 {
				sh.switches++
			}
			sh.lastLang = 2
			if !atomic.CompareAndSwapInt32(&sh.writer, me, 0) {
				bad++
			}
		} else {
			atomic.AddInt32(&sh.readers, 1)
			if atomic.LoadInt32(&sh.writer) != 0 {
				bad++
			}
			if i%32 == 1 {
				time.Sleep(time.Microsecond)
			}
			atomic.AddInt32(&sh.readers, -1)
		}
		if err := l.Release(owner); err != nil {
			fmt.Fprintln(os.Stderr, "release:", err)
			bad++
		}
	}
	if bad != 0 {
		fmt.Fprintf(os.Stderr, "gohelper %d: %d invariant violations\n", me, bad)
		os.Exit(1)
	}
}
