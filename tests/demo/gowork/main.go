// Command gowork is the Go participant of `make demo`: it imports the
// engine (package lock) directly, with no C in between.
//
//	gowork NAME ROUNDS HOLD_MS        alternate write and read holds
//	gowork NAME crash                 take write and wait to be killed
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/prwlock/prwlock/lock"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: gowork NAME ROUNDS HOLD_MS | gowork NAME crash")
		os.Exit(2)
	}
	l, err := lock.Open(os.Args[1], lock.Options{Create: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
	defer l.Close()
	tag := fmt.Sprintf("[Go  pid %d]", os.Getpid())
	if os.Args[2] == "crash" {
		l.Lock()
		fmt.Println(tag, "write lock taken; half-way through an update, about to be SIGKILLed")
		for {
			time.Sleep(time.Hour)
		}
	}
	rounds, _ := strconv.Atoi(os.Args[2])
	hold, _ := strconv.Atoi(os.Args[3])
	for i := 0; i < rounds; i++ {
		t0 := time.Now()
		write := i%2 == 0
		if write {
			l.Lock()
		} else {
			l.RLock()
		}
		note := ""
		if l.OwnerDied() {
			note = " (a previous writer died: data may need repair)"
		}
		mode := "read "
		if write {
			mode = "write"
		}
		fmt.Printf("%s %s lock after %.1f ms%s\n", tag, mode, float64(time.Since(t0).Microseconds())/1000, note)
		time.Sleep(time.Duration(hold) * time.Millisecond)
		if write {
			l.Unlock() // a writer's release marks the data repaired
		} else {
			l.RUnlock()
		}
		time.Sleep(time.Duration(hold/4) * time.Millisecond)
	}
}
