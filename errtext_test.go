package main

import (
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/prwlock/prwlock/lock"
)

// The words for each error code have one source: prw_strerror in shim.c.
// The Go engine's sentinels (lock/errors.go) say the same; the Python
// package asks the library (tests/python/test_api.py holds it to that).
// Where a language adds its own advice (how to raise the capacity, which
// option shares a lock between users), the head of the message, before
// the first ": " or " (", still agrees.

var strerrorCase = regexp.MustCompile(`case (\w+):\s*return ((?:"(?:[^"\\]|\\.)*"\s*(?:PRW_STR\(\w+\)\s*)?)+);`)
var cString = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)

// cMessages returns prw_strerror's message for each errno name of shim.c.
func cMessages(t *testing.T) map[string]string {
	t.Helper()
	src, err := os.ReadFile("shim.c")
	if err != nil {
		t.Fatal(err)
	}
	body := string(src)
	start := strings.Index(body, "const char *prw_strerror(int err) {")
	if start < 0 {
		t.Fatal("prw_strerror not found in shim.c")
	}
	body = body[start:]
	body = body[:strings.Index(body, "\n}\n")]
	msgs := map[string]string{}
	for _, m := range strerrorCase.FindAllStringSubmatch(body, -1) {
		var b strings.Builder
		for _, lit := range cString.FindAllStringSubmatch(m[2], -1) {
			s, err := strconv.Unquote(`"` + lit[1] + `"`)
			if err != nil {
				t.Fatalf("%s: %v", m[1], err)
			}
			b.WriteString(s)
		}
		msgs[m[1]] = b.String()
	}
	if len(msgs) < 15 {
		t.Fatalf("parsed only %d cases of prw_strerror", len(msgs))
	}
	return msgs
}

func messageHead(s string) string {
	for _, sep := range []string{": ", " ("} {
		if i := strings.Index(s, sep); i >= 0 {
			s = s[:i]
		}
	}
	return s
}

func TestErrorTextAgreesWithC(t *testing.T) {
	c := cMessages(t)
	for _, tc := range []struct {
		err   error
		errno string
		exact bool // false: the language adds its own advice
	}{
		{lock.ErrBusy, "EBUSY", true},
		{lock.ErrTimeout, "ETIMEDOUT", true},
		{lock.ErrDeadlock, "EDEADLK", true},
		{lock.ErrNotHeld, "EPERM", true},
		{lock.ErrOwnerDead, "EOWNERDEAD", true},
		{lock.ErrProtocol, "EPROTO", true},
		{lock.ErrClosed, "EBADF", true},
		{lock.ErrInvalid, "EINVAL", true},
		{lock.ErrSliceEnded, "EINTR", true},
		{lock.ErrLost, "ENOTRECOVERABLE", true},
		{lock.ErrUnavailable, "ENOTCONN", true},
		{lock.ErrFull, "EAGAIN", false},
		{lock.ErrPermission, "EACCES", false},
		{lock.ErrNoFence, "ENOTSUP", false},
	} {
		want, ok := c[tc.errno]
		if !ok {
			t.Errorf("prw_strerror has no case for %s", tc.errno)
			continue
		}
		en := tc.err.(interface{ Errno() syscall.Errno }).Errno()
		if !errors.Is(tc.err, en) || errnoName(en) != tc.errno {
			t.Errorf("%v carries %v, not %s", tc.err, en, tc.errno)
		}
		got := strings.TrimPrefix(tc.err.Error(), "prwlock: ")
		if tc.exact && got != want {
			t.Errorf("%s: Go says %q, C says %q", tc.errno, got, want)
		}
		if !tc.exact && messageHead(got) != messageHead(want) {
			t.Errorf("%s: Go's head %q, C's %q", tc.errno, messageHead(got), messageHead(want))
		}
	}
}

// errnoName is the symbolic name of the errnos the sentinels carry.
func errnoName(e syscall.Errno) string {
	for name, v := range map[string]syscall.Errno{
		"EBUSY": syscall.EBUSY, "ETIMEDOUT": syscall.ETIMEDOUT, "EDEADLK": syscall.EDEADLK,
		"EPERM": syscall.EPERM, "EOWNERDEAD": syscall.EOWNERDEAD, "EPROTO": syscall.EPROTO,
		"EBADF": syscall.EBADF, "EINVAL": syscall.EINVAL, "EINTR": syscall.EINTR,
		"ENOTRECOVERABLE": syscall.ENOTRECOVERABLE, "ENOTCONN": syscall.ENOTCONN,
		"EAGAIN": syscall.EAGAIN, "EACCES": syscall.EACCES, "ENOTSUP": syscall.ENOTSUP,
	} {
		if v == e {
			return name
		}
	}
	return e.Error()
}
