package lock

import (
	"errors"
	"fmt"
	"strings"
)

// A lock whose name is a URL lives on a server instead of in a file: today
// etcd (etcd.go, built with -tags prwlock_etcd). The handle keeps the same
// API; each public method of Lock hands such a lock to its remote backend
// first. Local names and paths never reach this file's code.

// remote is the backend of a Lock opened by URL. Owners, modes and errors
// mean what they mean for a local lock.
type remote interface {
	acquire(o Owner, m Mode, w *waitCtl) error
	release(o Owner, keepMark bool) error
	cancel(o Owner) error
	abandon(o Owner) error
	downgrade(o Owner) error
	held(o Owner) Mode
	ownerDied() bool
	stats() (Stats, error)
	holders() ([]Holder, error)
	fence(o Owner) (uint64, error)
	lost(o Owner) <-chan struct{}
	token() string
	close() error
}

// URL schemes that name a remote lock.
var remoteSchemes = []string{"etcd://", "etcds://"}

// IsRemoteName reports whether name is the URL of a lock on a server
// (etcd:// or etcds://) rather than a local name or path.
func IsRemoteName(name string) bool {
	for _, s := range remoteSchemes {
		if strings.HasPrefix(name, s) {
			return true
		}
	}
	return false
}

// The backend registers these when it is compiled in.
var (
	openRemote   func(url string, opt Options) (remote, string, error)
	unlinkRemote func(url string) error
)

var errNoRemote = fmt.Errorf("prwlock: this build has no etcd backend (build with -tags prwlock_etcd): %w", errors.ErrUnsupported)

// openURL opens the remote lock url names.
func openURL(url string, opt Options) (*Lock, error) {
	if openRemote == nil {
		return nil, errNoRemote
	}
	r, display, err := openRemote(url, opt)
	if err != nil {
		return nil, err
	}
	return &Lock{remote: r, name: display}, nil
}

func unlinkURL(url string) error {
	if unlinkRemote == nil {
		return errNoRemote
	}
	return unlinkRemote(url)
}

// Remote reports whether the lock lives on a server (opened by URL).
func (l *Lock) Remote() bool { return l != nil && l.remote != nil }

// Fence returns the fencing token of owner o's hold on a remote lock: a
// number that grows with every hold granted after it in a conflicting mode
// (etcd: the revision at which the hold was queued). Pass it to the
// storage the lock protects, and let the storage refuse a token smaller
// than the largest it has seen: a holder that lost its lease without
// knowing it yet is then refused. It returns ErrNotHeld without a hold,
// ErrLost when the hold's lease is gone or may be, and ErrNoFence for a
// local lock.
func (l *Lock) Fence(o Owner) (uint64, error) {
	if l == nil || l.closed.Load() {
		return 0, ErrClosed
	}
	if l.remote == nil {
		return 0, ErrNoFence
	}
	return l.remote.fence(o)
}

// Lost returns a channel that is closed when owner o's hold on a remote
// lock is lost (its lease expired, or could not be renewed before it would
// have), or nil if o holds nothing or the lock is local. After it closes,
// the next call on the hold returns ErrLost.
func (l *Lock) Lost(o Owner) <-chan struct{} {
	if l == nil || l.remote == nil || l.closed.Load() {
		return nil
	}
	return l.remote.lost(o)
}

// LockFence is Fence for the write lock taken by Lock, TryLock,
// LockTimeout or LockContext (whose owner the handle made up). It returns
// ErrNotHeld if this handle holds no such lock.
func (l *Lock) LockFence() (uint64, error) {
	if l == nil {
		return 0, ErrClosed
	}
	l.rwmu.Lock()
	o := l.wOwner
	l.rwmu.Unlock()
	if o == 0 {
		return 0, ErrNotHeld
	}
	return l.Fence(o)
}

// LockLost is Lost for the write lock taken by Lock and its variants.
func (l *Lock) LockLost() <-chan struct{} {
	if l == nil {
		return nil
	}
	l.rwmu.Lock()
	o := l.wOwner
	l.rwmu.Unlock()
	if o == 0 {
		return nil
	}
	return l.Lost(o)
}
