//go:build linux

package lock_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/prwlock/prwlock/lock"
)

// A lock shared between the users of a group lives in a directory only the
// group can write, with mode 0660, and every user opens it with MultiUser.
// Without it, a lock that users other than its owner can write is refused:
// another user could have planted it.
func ExampleOptions_multiUser() {
	dir, err := os.MkdirTemp("", "example-multiuser-") // in real life: root:group, mode 3770
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "jobs.lock")

	l, err := lock.Open(path, lock.Options{Create: true, Perm: 0o660, MultiUser: true})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	_, err = lock.Open(path, lock.Options{})
	fmt.Println("default open refused:", errors.Is(err, lock.ErrPermission))
	// Output: default open refused: true
}
