//go:build linux

package lock_test

import (
	"fmt"
	"log"

	"github.com/prwlock/prwlock/lock"
)

// An owner is a value, not a goroutine or a thread: a hold taken by one
// goroutine can be released by another, as long as they pass the owner
// along. This is what the C library's prw_*_as calls offer other runtimes
// (their owner is 64 bits wide; a Go Owner is any nonzero value below
// 1<<31).
func ExampleLock_Acquire_handOff() {
	l, err := lock.CreateAnonymous(lock.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	const job = lock.Owner(42)
	held := make(chan lock.Owner)
	go func() {
		if err := l.Acquire(job, lock.ModeWrite, -1); err != nil {
			log.Fatal(err)
		}
		held <- job // this goroutine ends; the hold stays with the owner
	}()
	o := <-held
	fmt.Println("held by", o, "in mode", l.Held(o))
	fmt.Println("released here:", l.Release(o) == nil)
	fmt.Println("now:", l.Held(o))
	// Output:
	// held by 42 in mode write
	// released here: true
	// now: none
}
