//go:build linux

package lock

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Tests of the ownership rule (checkTrust): a lock file that another user
// could have planted, or can write, is refused unless the caller opts in
// with MultiUser; tokens carry that opt-in, pinned to the file's owner.

// otherUID is the unprivileged user the as-user helpers run as.
const otherUID = 65534

func init() {
	helpers["owner-squat"] = helperSquat
}

// asUserBinary copies the test binary into a fresh 0755 directory, so that
// a helper running as otherUID can execute it whatever the permissions of
// the directories above the repository, and returns both. It skips the
// test when not run as root. The directory is removed when the test ends.
func asUserBinary(t *testing.T) (dir, bin string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a helper as another user")
	}
	dir, err := os.MkdirTemp("", "prwlock-asuser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "lock.test")
	if err := copyFile(os.Args[0], bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, bin
}

// asUserCmd prepares bin (from asUserBinary) to run helper name with args as
// otherUID, with no supplementary groups.
func asUserCmd(t *testing.T, bin, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := helperCmd(t, name, args...)
	cmd.Path, cmd.Args[0] = bin, bin
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: otherUID, Gid: otherUID}}
	return cmd
}

// helperSquat creates the named lock args[0] with mode args[1] (octal),
// with MultiUser if args[2] is "multi", and prints its token.
func helperSquat(args []string) {
	perm, _ := strconv.ParseUint(args[1], 8, 32)
	l, err := Open(args[0], Options{Create: true, Exclusive: true, Perm: uint32(perm), MultiUser: args[2] == "multi"})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	fmt.Println("token", l.Token())
	l.Close()
}

// squat has otherUID create the named lock name and returns its token.
func squat(t *testing.T, bin, name, mode, multi string) string {
	t.Helper()
	path, err := ResolvePath(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) }) // Unlink refuses another user's lock
	out, err := asUserCmd(t, bin, "owner-squat", name, mode, multi).Output()
	tok, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "token ")
	if err != nil || !ok {
		t.Fatalf("helper as uid %d: %v, said %q", otherUID, err, out)
	}
	return tok
}

// wantPermission checks that err is the documented refusal: ErrPermission,
// EACCES and fs.ErrPermission alike, with a message that names the file,
// and the way to allow it.
func wantPermission(t *testing.T, what string, err error, path string) {
	t.Helper()
	if !errors.Is(err, ErrPermission) || !errors.Is(err, syscall.EACCES) || !errors.Is(err, fs.ErrPermission) ||
		Errno(err) != syscall.EACCES {
		t.Errorf("%s = %v, want ErrPermission (EACCES)", what, err)
		return
	}
	if msg := err.Error(); !strings.Contains(msg, path) {
		t.Errorf("%s: message %q does not name %s", what, msg, path)
	}
}

// The scenario: another user creates a 0666 lock under a bare name
// in /dev/shm; our default open, with create-if-missing, must refuse it
// rather than attach, and leave it untouched; the opt-in attaches.
func TestSquatByOtherUser(t *testing.T) {
	_, bin := asUserBinary(t)
	name := uniqueName(t)
	path, _ := ResolvePath(name)
	tok := squat(t, bin, name, "666", "multi")
	before := snapshot(t, path)

	for _, opt := range []Options{{}, {Create: true}, {Create: true, Perm: 0o600}} {
		l, err := Open(name, opt)
		if err == nil {
			l.Close()
			t.Fatalf("Open(%+v) of a lock planted by uid %d succeeded", opt, otherUID)
		}
		wantPermission(t, fmt.Sprintf("Open(%+v)", opt), err, path)
		for _, want := range []string{"uid 65534", "MultiUser", "PRW_MULTIUSER", "multiuser=True"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message %q does not say %q", err, want)
			}
		}
	}
	before.check(t, path)
	if err := Unlink(name); err == nil {
		t.Fatal("Unlink removed another user's lock")
	} else {
		wantPermission(t, "Unlink", err, path)
	}
	before.check(t, path)

	// Through a token: the squatter's token carries its opt-in, pinned to
	// its uid, so we accept it; without the opt-in, or pinned to another
	// uid, the same file is refused.
	if !strings.Contains(tok, ":multiuser=65534:/") {
		t.Fatalf("token %q does not carry the opt-in", tok)
	}
	byTok, err := OpenToken(tok)
	if err != nil {
		t.Fatalf("OpenToken(multi-user token) = %v", err)
	}
	defer byTok.Close()
	for _, bad := range []string{strings.Replace(tok, "multiuser=65534:", "", 1),
		strings.Replace(tok, "multiuser=65534:", "multiuser=0:", 1)} {
		if l, err := OpenToken(bad); err == nil {
			l.Close()
			t.Errorf("OpenToken(%q) succeeded", bad)
		} else {
			wantPermission(t, "OpenToken("+bad+")", err, path)
		}
	}

	// With the opt-in, Open attaches to the same lock as the token.
	l, err := Open(name, Options{Create: true, MultiUser: true})
	if err != nil {
		t.Fatalf("Open(MultiUser) = %v", err)
	}
	defer l.Close()
	if err := l.Acquire(1, ModeWrite, 0); err != nil {
		t.Fatal(err)
	}
	if err := byTok.Acquire(2, ModeRead, 0); !errors.Is(err, ErrBusy) {
		t.Errorf("token handle's read while write is held = %v, want ErrBusy", err)
	}
	l.Release(1)
	if got := l.Token(); got != tok {
		t.Errorf("our multi-user token %q, the squatter's %q", got, tok)
	}
}

// A token of a default lock of another user carries no opt-in: refused.
func TestTokenOfOtherUsersDefaultLock(t *testing.T) {
	_, bin := asUserBinary(t)
	name := uniqueName(t)
	path, _ := ResolvePath(name)
	tok := squat(t, bin, name, "600", "default")
	if strings.Contains(tok, "multiuser") {
		t.Fatalf("default token %q carries an opt-in", tok)
	}
	if l, err := OpenToken(tok); err == nil {
		l.Close()
		t.Fatal("OpenToken of another user's default lock succeeded")
	} else {
		wantPermission(t, "OpenToken", err, path)
	}
}

// refuseDefault checks that the lock file at path is refused by default
// (with and without Create, the file untouched; see refuse) and by a token
// without the opt-in, that the message says why, and that MultiUser and
// its token accept it.
func refuseDefault(t *testing.T, path, why string) {
	t.Helper()
	refuse(t, path, ErrPermission)
	_, err := Open(path, Options{})
	wantPermission(t, "Open", err, path)
	if !strings.Contains(fmt.Sprint(err), why) {
		t.Errorf("message %q does not say %q", err, why)
	}
	l, err := Open(path, Options{MultiUser: true})
	if err != nil {
		t.Fatalf("Open(MultiUser) = %v", err)
	}
	defer l.Close()
	tok := l.Token()
	m, err := OpenToken(tok)
	if err != nil {
		t.Fatalf("OpenToken(%q) = %v", tok, err)
	}
	m.Close()
	plain := tok[:strings.Index(tok, tokenMultiUser)] + path
	if m, err := OpenToken(plain); err == nil {
		m.Close()
		t.Errorf("OpenToken(%q) without the opt-in succeeded", plain)
	} else {
		wantPermission(t, "OpenToken without the opt-in", err, path)
	}
	// A handle opened with MultiUser is mapped in this process: a default
	// open of the same file is still refused.
	if m, err := Open(path, Options{}); err == nil {
		m.Close()
		t.Error("default Open succeeded while a MultiUser handle is open")
	}
}

// Each reason for refusing, as its own case.
func TestOwnershipRule(t *testing.T) {
	t.Run("owner mismatch", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give a file to another user")
		}
		path := filepath.Join(t.TempDir(), "lock")
		l, err := Open(path, Options{Create: true, Exclusive: true}) // 0600
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		if err := os.Chown(path, otherUID, otherUID); err != nil {
			t.Fatal(err)
		}
		refuseDefault(t, path, "uid 65534")
		if err := Unlink(path); err == nil {
			t.Error("Unlink removed another user's lock")
		} else {
			wantPermission(t, "Unlink", err, path)
		}
		// A token pins the owner it was made for.
		m, err := Open(path, Options{MultiUser: true})
		if err != nil {
			t.Fatal(err)
		}
		tok := m.Token()
		m.Close()
		if err := os.Chown(path, 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o666); err != nil {
			t.Fatal(err)
		}
		if m, err := OpenToken(tok); err == nil {
			m.Close()
			t.Error("OpenToken accepted a file whose owner changed")
		} else {
			wantPermission(t, "OpenToken after chown", err, path)
		}
	})
	for _, c := range []struct {
		name string
		perm uint32
	}{
		{"group-writable", 0o620},
		{"world-writable", 0o602},
		{"both", 0o666},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lock")
			// Creating such a mode needs the opt-in; nothing is created
			// without it.
			if l, err := Open(path, Options{Create: true, Perm: c.perm}); !errors.Is(err, ErrInvalid) {
				if err == nil {
					l.Close()
				}
				t.Fatalf("Open(Create, Perm %#o) = %v, want ErrInvalid", c.perm, err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("a refused create left a file (%v)", err)
			}
			l, err := Open(path, Options{Create: true, Exclusive: true, Perm: c.perm, MultiUser: true})
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			refuseDefault(t, path, fmt.Sprintf("mode %#o", c.perm))
			// Our own lock: Unlink does not care about the mode.
			if err := Unlink(path); err != nil {
				t.Errorf("Unlink(own %#o lock) = %v", c.perm, err)
			}
		})
	}
	t.Run("made writable later", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "lock")
		l, err := Open(path, Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		if err := os.Chmod(path, 0o646); err != nil {
			t.Fatal(err)
		}
		refuseDefault(t, path, "mode 0646")
	})
	t.Run("own and root's locks pass", func(t *testing.T) {
		l, name := openTest(t, Options{})
		m, err := Open(name, Options{})
		if err != nil {
			t.Fatalf("reopening our own 0600 lock: %v", err)
		}
		m.Close()
		if strings.Contains(l.Token(), "multiuser") {
			t.Errorf("default token %q carries an opt-in", l.Token())
		}
	})
	t.Run("malformed opt-in", func(t *testing.T) {
		l, _ := openTest(t, Options{})
		tok := l.Token()
		i := strings.LastIndex(tok, ":/")
		for _, bad := range []string{"multiuser=:", "multiuser=x:", "multiuser=-1:", "multiuser=4294967296:", "multiuser=0"} {
			tk := tok[:i+1] + bad + tok[i+1:]
			if m, err := OpenToken(tk); !errors.Is(err, ErrInvalid) {
				if err == nil {
					m.Close()
				}
				t.Errorf("OpenToken(%q) = %v, want ErrInvalid", tk, err)
			}
		}
	})
}

// The sweeper of anonymous locks touches only the caller's own files: an
// orphaned (or planted) anonymous file of another user is neither attached
// to nor removed, and is left byte for byte.
func TestSweepLeavesOtherUsersFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another user")
	}
	var paths []string
	for _, state := range []uint32{segReady, segRemoved} {
		b := segmentBytes(t, 64, false, nil) // ready, nobody attached
		put32(b, offFlags, flagAnonymous)
		put32(b, offSegState, state)
		put32(b, offCloserPID, 4000001) // cannot exist
		path := fmt.Sprintf("%s/%s4000001.%016x", ShmDir, anonPrefix, rand.Uint64())
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(path) })
		if err := os.Chown(path, otherUID, otherUID); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	before := []fileState{snapshot(t, paths[0]), snapshot(t, paths[1])}
	SweepAnonymous()
	for i, p := range paths {
		before[i].check(t, p)
	}
	// Once they are ours, the same sweep removes both.
	for _, p := range paths {
		if err := os.Chown(p, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	SweepAnonymous()
	for _, p := range paths {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: our own orphaned anonymous file survived the sweep (%v)", p, err)
		}
	}
}
