//go:build linux

package lock_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/prwlock/prwlock/lock"
)

// Open a named lock, take it for writing, and release it. The owner is
// normally the calling thread's id; any nonzero value works in Go.
func ExampleOpen() {
	name := fmt.Sprintf("example-open-%d", os.Getpid())
	l, err := lock.Open(name, lock.Options{Create: true})
	if err != nil {
		log.Fatal(err)
	}
	defer lock.Unlink(name) // runs after Close
	defer l.Close()

	const me = lock.Owner(1)
	if err := l.Acquire(me, lock.ModeWrite, time.Second); err != nil {
		log.Fatal(err)
	}
	fmt.Println("holding:", l.Held(me))

	// Nobody else gets in meanwhile: a try (timeout 0) fails at once.
	err = l.Acquire(2, lock.ModeRead, 0)
	fmt.Println("reader busy:", errors.Is(err, lock.ErrBusy))

	if err := l.Release(me); err != nil {
		log.Fatal(err)
	}
	fmt.Println("holding:", l.Held(me))
	// Output:
	// holding: write
	// reader busy: true
	// holding: none
}

// The sync.RWMutex-shaped methods need no owner: each hold gets its own.
func ExampleLock_RLock() {
	l, err := lock.CreateAnonymous(lock.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close() // the last Close removes an anonymous lock

	l.RLock()
	l.RLock() // readers share
	st, _ := l.Stats()
	fmt.Println("readers:", st.Readers)
	fmt.Println("writer gets in:", l.TryLock())
	l.RUnlock()
	l.RUnlock()
	fmt.Println("writer gets in:", l.TryLock())
	l.Unlock()
	// Output:
	// readers: 2
	// writer gets in: false
	// writer gets in: true
}

// Downgrade turns a write hold into a read hold with no gap in which a
// writer could slip in; other readers may join at once.
func ExampleLock_Downgrade() {
	l, err := lock.CreateAnonymous(lock.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	const writer, reader, other = lock.Owner(1), lock.Owner(2), lock.Owner(3)
	if err := l.Acquire(writer, lock.ModeWrite, time.Second); err != nil {
		log.Fatal(err)
	}
	// ... update the shared data ...
	if err := l.Downgrade(writer); err != nil {
		log.Fatal(err)
	}
	fmt.Println("now:", l.Held(writer))
	fmt.Println("reader joins:", l.Acquire(reader, lock.ModeRead, 0) == nil)
	fmt.Println("writer busy:", errors.Is(l.Acquire(other, lock.ModeWrite, 0), lock.ErrBusy))
	l.Release(reader)
	l.Release(writer)
	// Output:
	// now: read
	// reader joins: true
	// writer busy: true
}

// When a writer dies holding the lock, the next acquirers are granted the
// lock but told ErrOwnerDead: the data may be half written. The first
// writer told so repairs it; its release marks the data consistent again.
//
// Here the "death" is a handle closed while it still held write, which
// the lock treats exactly like a writer that was killed.
func ExampleErrOwnerDead() {
	name := fmt.Sprintf("example-ownerdead-%d", os.Getpid())
	l, err := lock.Open(name, lock.Options{Create: true})
	if err != nil {
		log.Fatal(err)
	}
	defer lock.Unlink(name)
	if err := l.Acquire(1, lock.ModeWrite, time.Second); err != nil {
		log.Fatal(err)
	}
	l.Close() // gone while holding write

	l, err = lock.Open(name, lock.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	const me = lock.Owner(2)
	err = l.Acquire(me, lock.ModeWrite, time.Second)
	switch {
	case errors.Is(err, lock.ErrOwnerDead):
		fmt.Println("granted, but the previous writer died: repairing")
		// ... check and repair the shared data ...
	case err != nil:
		log.Fatal(err)
	}
	l.Release(me) // a told writer's release marks the data consistent

	err = l.Acquire(me, lock.ModeRead, time.Second)
	fmt.Println("after repair:", err, l.OwnerDied())
	l.Release(me)
	// Output:
	// granted, but the previous writer died: repairing
	// after repair: <nil> false
}

// An anonymous lock has no name to agree on: hand its token to the other
// processes (an environment variable, a command-line argument, a pipe).
func ExampleCreateAnonymous() {
	l, err := lock.CreateAnonymous(lock.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	token := l.Token() // pass this to the child process
	child, err := lock.OpenToken(token)
	if err != nil {
		log.Fatal(err)
	}
	defer child.Close()
	child.Lock()
	fmt.Println("parent gets in:", l.TryRLock())
	child.Unlock()
	fmt.Println("parent gets in:", l.TryRLock())
	l.RUnlock()
	// Output:
	// parent gets in: false
	// parent gets in: true
}
