// Command hosts-go hammers one lock of libprwlock.so from many unpinned
// goroutines under GC pressure, checking exclusion inside every hold, with
// explicit owners (prw_*_as, the default) or with the per-thread calls
// (-api thread), which cannot work here: the Go runtime moves a goroutine
// between OS threads whenever it blocks or is preempted, so a hold taken
// on one thread is released from another. It exits 1 on any failure; with
// -api thread it always does, and says why.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	api := flag.String("api", "owner", "owner (prw_*_as) or thread (prw_acquire_*/prw_release)")
	goroutines := flag.Int("goroutines", 32, "goroutines, each its own owner")
	rounds := flag.Int("rounds", 300, "holds per goroutine")
	flag.Parse()
	perThread := *api == "thread"
	if !perThread && *api != "owner" {
		fmt.Fprintln(os.Stderr, "-api must be owner or thread")
		os.Exit(2)
	}
	l, err := create()
	if err != nil {
		fmt.Fprintln(os.Stderr, "prw_create:", err)
		os.Exit(1)
	}
	failed := false
	relErr, err := handOff(l, perThread)
	switch {
	case err != nil:
		fmt.Println("hand-off: setup failed:", err)
		failed = true
	case relErr != nil:
		fmt.Printf("hand-off: release on another thread: %s\n", errName(relErr))
		failed = true
	default:
		fmt.Println("hand-off: released on another thread: ok")
	}
	timeout := 30 * time.Second // generous: a timeout means a lost hold
	if perThread {
		timeout = 300 * time.Millisecond
	}
	r := hammer(l, config{perThread: perThread, goroutines: *goroutines, rounds: *rounds, timeout: timeout})
	fmt.Println("hammer:", r)
	if r.failures() > 0 {
		failed = true
	}
	if err := l.close(); err != nil {
		fmt.Println("prw_close:", err)
		failed = true
	}
	if failed {
		if perThread {
			fmt.Println("FAIL, as expected of the per-thread API: holds belong to OS threads, and goroutines move between them; use the prw_*_as calls")
		} else {
			fmt.Println("FAIL")
		}
		os.Exit(1)
	}
	fmt.Println("ok")
}
