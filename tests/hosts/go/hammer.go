package main

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// config of a hammer run.
type config struct {
	perThread  bool          // use prw_acquire_*/prw_release instead of the _as calls
	goroutines int           // unpinned goroutines, each its own owner
	rounds     int           // holds per goroutine
	timeout    time.Duration // per acquire; a timeout stops the run
}

// result of a hammer run.
type result struct {
	holds      int64 // acquired and released
	violations int64 // the invariant failed inside a hold
	moved      int64 // holds released on another OS thread than they were taken on
	gcs        uint32
	errs       map[string]int64 // "acquire: EPERM" -> count
}

func (r result) failures() int64 {
	n := r.violations
	for _, c := range r.errs {
		n += c
	}
	return n
}

func (r result) String() string {
	var keys []string
	for k := range r.errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var e []string
	for _, k := range keys {
		e = append(e, fmt.Sprintf("%s x%d", k, r.errs[k]))
	}
	if len(e) == 0 {
		e = []string{"none"}
	}
	return fmt.Sprintf("holds %d, released on another thread %d, invariant violations %d, GCs %d, errors: %s",
		r.holds, r.moved, r.violations, r.gcs, strings.Join(e, ", "))
}

// activity: readers add 1, a writer 1000. Inside a write hold it is
// exactly 1000, inside a read hold 1..999.
func legal(v int64, write bool) bool {
	if write {
		return v == 1000
	}
	return v >= 1 && v < 1000
}

// hammer runs goroutines that take the lock in both modes, check the
// invariant, allocate, yield and sleep inside the hold (so that the
// runtime moves them between OS threads), and release; while another
// goroutine forces garbage collections.
func hammer(l *lockC, c config) result {
	var (
		activity, holds, violations, moved atomic.Int64
		stop                               atomic.Bool
		mu                                 sync.Mutex
		errs                               = map[string]int64{}
		wg                                 sync.WaitGroup
	)
	fail := func(what string, err error) {
		mu.Lock()
		errs[what+": "+errName(err)]++
		mu.Unlock()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	gcDone := make(chan struct{})
	go func() { // GC pressure
		defer close(gcDone)
		var keep [][]byte
		for !stop.Load() {
			keep = append(keep, make([]byte, 256<<10))
			if len(keep) > 8 {
				keep = keep[1:]
			}
			runtime.GC()
			time.Sleep(time.Millisecond)
		}
	}()
	for g := 0; g < c.goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			owner := uint64(g+1) | 0xabc<<48
			var garbage [][]byte
			for i := 0; i < c.rounds && !stop.Load(); i++ {
				write := (i+g)%5 == 0
				tid := syscall.Gettid()
				var err error
				if c.perThread {
					err = l.acquire(write, c.timeout)
				} else {
					err = l.acquireAs(owner, write, c.timeout)
				}
				if err != nil {
					fail("acquire", err)
					if isErrno(err, syscall.ETIMEDOUT) {
						stop.Store(true) // a hold was lost to a thread: nobody gets in any more
					}
					continue
				}
				w := int64(1)
				if write {
					w = 1000
				}
				if !legal(activity.Add(w), write) {
					violations.Add(1)
				}
				garbage = append(garbage, make([]byte, 4096))
				if len(garbage) > 16 {
					garbage = garbage[1:]
				}
				if i%3 == 0 {
					time.Sleep(50 * time.Microsecond)
				} else {
					runtime.Gosched()
				}
				if !legal(activity.Load(), write) {
					violations.Add(1)
				}
				activity.Add(-w)
				if syscall.Gettid() != tid {
					moved.Add(1)
				}
				if c.perThread {
					err = l.release()
				} else {
					err = l.releaseAs(owner)
				}
				if err != nil {
					fail("release", err)
				} else {
					holds.Add(1)
				}
			}
		}(g)
	}
	wg.Wait()
	stop.Store(true)
	<-gcDone
	runtime.ReadMemStats(&after)
	return result{holds: holds.Load(), violations: violations.Load(), moved: moved.Load(),
		gcs: after.NumGC - before.NumGC, errs: errs}
}

// handOff takes write on one OS thread and releases it on another: each
// side pins its goroutine (LockOSThread) so that the two threads are
// certainly different. It returns the release's error; with the
// per-thread API that is EPERM (the releasing thread holds nothing) and
// the acquiring thread still holds, so it releases afterwards.
func handOff(l *lockC, perThread bool) (relErr error, err error) {
	const owner = 0xfeedface
	acquired, cleanup, done := make(chan int), make(chan struct{}), make(chan error)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var err error
		if perThread {
			err = l.acquire(true, time.Second)
		} else {
			err = l.acquireAs(owner, true, time.Second)
		}
		if err != nil {
			done <- err
			return
		}
		acquired <- syscall.Gettid()
		<-cleanup
		if perThread {
			err = l.release()
			if isErrno(err, syscall.EPERM) {
				err = nil // the other thread did release it after all
			}
		}
		done <- err
	}()
	var aTid int
	select {
	case aTid = <-acquired:
	case err := <-done:
		return nil, err
	}
	relCh := make(chan error)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if syscall.Gettid() == aTid {
			relCh <- fmt.Errorf("the releasing goroutine runs on the acquiring thread")
			return
		}
		if perThread {
			relCh <- l.release()
		} else {
			relCh <- l.releaseAs(owner)
		}
	}()
	relErr = <-relCh
	close(cleanup)
	return relErr, <-done
}

func errName(err error) string {
	if e, ok := err.(syscall.Errno); ok {
		switch e {
		case syscall.EPERM:
			return "EPERM (this thread holds nothing)"
		case syscall.EDEADLK:
			return "EDEADLK (this thread already holds)"
		case syscall.ETIMEDOUT:
			return "ETIMEDOUT"
		}
	}
	return err.Error()
}
