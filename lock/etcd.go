//go:build prwlock_etcd

package lock

// The etcd backend: the same reader-writer lock, shared by the processes of
// many machines through an etcd cluster.
//
// Keys of the lock NAME, under P = "prwlock/" + PathEscape(NAME) + "/":
//
//	P/q/<lease>-<owner>-<seq>  one per hold or wait, bound to the holder's
//	                           session lease; value: etcdEntry (mode, host,
//	                           pid, tid, since). Its create revision is the
//	                           entry's place in the queue and the hold's
//	                           fencing token.
//	P/s/<lease>                one per process session (lease-bound): who
//	                           is attached.
//	P/w                        no lease: the queue key of the writer that
//	                           holds the lock (etcdMark). Deleted by its
//	                           release in the same transaction as the queue
//	                           key, so a P/w whose queue key is gone means
//	                           the writer's lease expired while it held.
//	P/dead                     no lease: present while the lock is owner-dead.
//	P/stats                    no lease: owner deaths, ever.
//
// Grant rule (FIFO by create revision, as etcd's recipe): a read entry is
// granted when no write entry was queued before it; a write entry when no
// entry at all was. So a queued writer stops every reader queued after it,
// and readers queued before it go first: nobody starves. Downgrade rewrites
// the writer's entry as a read entry, keeping its place.
//
// Owner death: the first grant that finds P/w naming a queue key that is
// not its own turns it into P/dead (one transaction, compare-and-swap on
// P/w). Every grant then reports ErrOwnerDead until a writer that was told
// releases or downgrades, which deletes P/dead.
//
// Holder death: the lease. A process keeps its session lease alive while it
// runs; when it dies or is cut off, the lease expires after its TTL and
// etcd deletes its entries, which admits the next waiters.
//
// Lost holds: a process knows the latest time until which its lease is
// surely alive (the send time of the last successful keep-alive plus the
// TTL the server granted). Past it, or when etcd says the lease is gone,
// every hold of the session is lost: Lost's channel closes and the next
// call on the hold returns ErrLost. A partitioned holder can therefore
// believe it holds the lock for at most the TTL, less the difference in
// clock rates between it and the etcd leader: fence.
//
// Every grant is decided from linearizable reads, so a member without
// quorum cannot grant anything: requests fail with ErrUnavailable instead.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func init() {
	openRemote = openEtcd
	unlinkRemote = unlinkEtcd
}

// etcdPoll bounds each wait on a watch, so a waiter re-checks its place and
// its session that often even if a watch event is lost.
const etcdPoll = 500 * time.Millisecond

// etcdEntry is the value of a queue key.
type etcdEntry struct {
	Mode  string `json:"mode"` // "read" or "write"
	Host  string `json:"host"`
	PID   uint32 `json:"pid"`
	TID   uint32 `json:"tid,omitempty"`
	Since int64  `json:"since"` // wall clock, Unix ns
}

// etcdMark is the value of P/w and P/dead.
type etcdMark struct {
	Key  string `json:"key"`
	Host string `json:"host"`
	PID  uint32 `json:"pid"`
	TID  uint32 `json:"tid,omitempty"`
}

// etcdSession is a lease and its keep-alive loop.
type etcdSession struct {
	lease      clientv3.LeaseID
	ttl        time.Duration
	validUntil atomic.Int64 // CLOCK_MONOTONIC ns: the lease is alive at least until then
	done       chan struct{}
	doneOnce   sync.Once
	stop       context.CancelFunc

	mu      sync.Mutex
	pending []string // queue keys to delete when etcd answers again
}

func (s *etcdSession) valid() bool {
	select {
	case <-s.done:
		return false
	default:
	}
	if MonotonicNow() < s.validUntil.Load() {
		return true
	}
	// Past the surely-alive time: the holds are lost now, whether or not
	// the keep-alive loop has run since (a stopped process wakes up here
	// first). Close Lost's channel too, so both say the same.
	s.end()
	return false
}

func (s *etcdSession) end() { s.doneOnce.Do(func() { close(s.done) }) }

// etcdRec is one owner's hold or queued wait.
type etcdRec struct {
	key   string
	rev   int64 // create revision of key: place and fencing token
	sess  *etcdSession
	mode  Mode // held
	wait  Mode // queued by a slice
	count uint32
	told  bool   // the grant reported ErrOwnerDead to a writer that can pass it on
	dead  bool   // the grant saw the lock owner-dead
	wval  string // our P/w value while we hold write
	entry etcdEntry
}

// etcdLock is one process's view of one remote lock, shared by every
// handle that names it, so that holds are per owner whatever handle is used.
type etcdLock struct {
	cfg  *etcdConfig
	key  string // canonical URL
	cli  *clientv3.Client
	pfx  string
	host string
	pid  uint32
	refs int // under etcdRegistryMu

	closed atomic.Bool // the last handle closed: requests fail with ErrClosed

	mu   sync.Mutex
	sess *etcdSession
	recs map[Owner]*etcdRec
	seq  uint64
}

// etcdHandle is the remote of one Lock.
type etcdHandle struct {
	e      *etcdLock
	closed atomic.Bool
}

var (
	etcdRegistryMu sync.Mutex
	etcdRegistry   = map[string]*etcdLock{}
)

func openEtcd(s string, opt Options) (remote, string, error) {
	c, err := parseEtcdURL(s)
	if err != nil {
		return nil, "", err
	}
	if opt.Exclusive {
		return nil, "", detail(ErrInvalid, "Exclusive: a remote lock always exists")
	}
	key := c.String()
	etcdRegistryMu.Lock()
	defer etcdRegistryMu.Unlock()
	if e, ok := etcdRegistry[key]; ok {
		e.refs++
		return &etcdHandle{e: e}, c.format(false), nil
	}
	cli, err := etcdClient(c)
	if err != nil {
		return nil, "", err
	}
	host, _ := os.Hostname()
	e := &etcdLock{cfg: c, key: key, cli: cli, pfx: "prwlock/" + url.PathEscape(c.name) + "/",
		host: host, pid: uint32(os.Getpid()), recs: map[Owner]*etcdRec{}, refs: 1}
	// Open fails now, not at the first acquire, if etcd is out of reach.
	if _, err := e.session(context.Background()); err != nil {
		cli.Close()
		return nil, "", err
	}
	etcdRegistry[key] = e
	return &etcdHandle{e: e}, c.format(false), nil
}

func etcdClient(c *etcdConfig) (*clientv3.Client, error) {
	t, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   c.endpoints,
		DialTimeout: c.timeout,
		TLS:         t,
		Username:    c.user,
		Password:    c.password,
		Logger:      zap.NewNop(),
		// Keep-alive pings find a dead connection between requests.
		DialKeepAliveTime:    c.timeout,
		DialKeepAliveTimeout: c.timeout,
	})
	if err != nil {
		return nil, unavailable("connect to %v", err, c.endpoints)
	}
	return cli, nil
}

// unavailable wraps an etcd failure.
func unavailable(what string, err error, args ...any) error {
	if errors.Is(err, rpctypes.ErrPermissionDenied) || errors.Is(err, rpctypes.ErrAuthFailed) ||
		errors.Is(err, rpctypes.ErrUserEmpty) {
		return detail(ErrPermission, "etcd: "+what+": %v", append(args, err)...)
	}
	return detail(ErrUnavailable, "etcd: "+what+": %v", append(args, err)...)
}

// session returns the current session, starting a new one if there is
// none or the last one was lost.
func (e *etcdLock) session(ctx context.Context) (*etcdSession, error) {
	e.mu.Lock()
	s := e.sess
	e.mu.Unlock()
	if s != nil && s.valid() {
		return s, nil
	}
	if e.closed.Load() {
		return nil, ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.timeout)
	defer cancel()
	t0 := MonotonicNow()
	g, err := e.cli.Grant(ctx, int64(e.cfg.ttl))
	if err != nil {
		return nil, unavailable("grant a lease", err)
	}
	ns := &etcdSession{lease: g.ID, ttl: time.Duration(g.TTL) * time.Second, done: make(chan struct{})}
	ns.validUntil.Store(t0 + int64(ns.ttl))
	val, _ := json.Marshal(etcdMark{Host: e.host, PID: e.pid})
	if _, err := e.cli.Put(ctx, e.pfx+"s/"+leaseHex(g.ID), string(val), clientv3.WithLease(g.ID)); err != nil {
		e.cli.Revoke(context.Background(), g.ID)
		return nil, unavailable("register the session", err)
	}
	kctx, stop := context.WithCancel(context.Background())
	ns.stop = stop
	go e.keepAlive(kctx, ns)
	go ns.watchdog(kctx)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sess != nil && e.sess.valid() {
		// Another owner started one meanwhile: use it, drop ours.
		stop()
		go e.cli.Revoke(context.Background(), g.ID)
		return e.sess, nil
	}
	e.sess = ns
	return ns, nil
}

func leaseHex(id clientv3.LeaseID) string { return fmt.Sprintf("%016x", uint64(id)) }

// keepAlive renews s's lease every third of its TTL, and retries quickly
// while etcd does not answer. It ends the session when etcd says the lease
// is gone or when the lease may have expired unrenewed.
func (e *etcdLock) keepAlive(ctx context.Context, s *etcdSession) {
	defer func() {
		s.end()
		// Given up on (not closed): if the lease still lives on the
		// server, end it now, so that the holds this process counts as
		// lost stop blocking others. Best effort.
		if ctx.Err() == nil {
			rctx, cancel := context.WithTimeout(context.Background(), e.cfg.timeout)
			e.cli.Revoke(rctx, s.lease)
			cancel()
		}
	}()
	interval := s.ttl / 3
	retry := min(interval, 100*time.Millisecond)
	next := interval
	for {
		left := time.Duration(s.validUntil.Load() - MonotonicNow())
		if left <= 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(next, left)):
		}
		if MonotonicNow() >= s.validUntil.Load() {
			return // stopped or starved past the lease: it may be gone
		}
		t0 := MonotonicNow()
		rctx, cancel := context.WithTimeout(ctx, min(e.cfg.timeout, time.Duration(s.validUntil.Load()-t0)))
		r, err := e.cli.KeepAliveOnce(rctx, s.lease)
		cancel()
		switch {
		case err == nil && r.TTL > 0:
			s.validUntil.Store(t0 + r.TTL*int64(time.Second))
			next = interval
			e.flushPending(ctx, s)
		case err == nil || errors.Is(err, rpctypes.ErrLeaseNotFound):
			return // expired on the server
		default:
			next = retry
		}
	}
}

// watchdog ends s the moment its lease may have expired unrenewed, even
// while keepAlive waits for an answer.
func (s *etcdSession) watchdog(ctx context.Context) {
	for {
		left := time.Duration(s.validUntil.Load() - MonotonicNow())
		if left <= 0 {
			s.end()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-time.After(left):
		}
	}
}

// flushPending deletes the queue keys a failed withdraw left behind.
func (e *etcdLock) flushPending(ctx context.Context, s *etcdSession) {
	s.mu.Lock()
	keys := s.pending
	s.pending = nil
	s.mu.Unlock()
	for i, k := range keys {
		// Never so long that the lease could expire unnoticed meanwhile.
		rctx, cancel := context.WithTimeout(ctx, min(e.cfg.timeout, s.ttl/3))
		_, err := e.cli.Delete(rctx, k)
		cancel()
		if err != nil {
			s.mu.Lock()
			s.pending = append(s.pending, keys[i:]...)
			s.mu.Unlock()
			return
		}
	}
}

// op runs one etcd request, retrying failures (a leader election, a member
// restart) for up to the configured timeout, never past the wait's
// deadline. ambiguous is set when a failed attempt may have been applied.
func (e *etcdLock) op(w *waitCtl, what string, f func(ctx context.Context) error) (ambiguous bool, err error) {
	base := context.Background()
	if w != nil && w.ctx != nil {
		base = w.ctx
	}
	giveUp := MonotonicNow() + int64(e.cfg.timeout)
	for {
		limit := giveUp
		if w != nil && w.deadline > 0 && w.deadline < limit && w.deadline > MonotonicNow() {
			limit = w.deadline
		}
		if e.closed.Load() {
			return ambiguous, ErrClosed
		}
		ctx, cancel := context.WithTimeout(base, time.Duration(limit-MonotonicNow()))
		err = f(ctx)
		cancel()
		if err == nil {
			return ambiguous, nil
		}
		if base.Err() != nil {
			return ambiguous, ctxErr(base.Err())
		}
		if errors.Is(err, rpctypes.ErrPermissionDenied) || errors.Is(err, rpctypes.ErrAuthFailed) {
			return ambiguous, unavailable(what, err)
		}
		ambiguous = true
		if MonotonicNow() >= limit {
			return ambiguous, unavailable(what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ctxErr(err error) error {
	if err == context.DeadlineExceeded {
		return ctxError(ErrTimeout, err)
	}
	return ctxError(ErrInterrupted, err)
}

func (h *etcdHandle) lockRec(o Owner) (*etcdLock, *etcdRec, error) {
	if h.closed.Load() {
		return nil, nil, ErrClosed
	}
	e := h.e
	e.mu.Lock()
	defer e.mu.Unlock()
	return e, e.recs[o], nil
}

func (e *etcdLock) forget(o Owner, r *etcdRec) {
	e.mu.Lock()
	if e.recs[o] == r {
		delete(e.recs, o)
	}
	e.mu.Unlock()
}

// lostRec drops r, whose session ended, and reports ErrLost.
func (e *etcdLock) lostRec(o Owner, r *etcdRec) error {
	e.forget(o, r)
	return detail(ErrLost, "the session lease of this hold expired or could not be renewed in time")
}

func (h *etcdHandle) acquire(o Owner, m Mode, w *waitCtl) error {
	e, r, err := h.lockRec(o)
	if err != nil {
		return err
	}
	if r != nil {
		if !r.sess.valid() {
			return e.lostRec(o, r)
		}
		switch {
		case r.wait == m:
			return e.wait(w, o, r) // resume the wait a slice left queued
		case r.wait != ModeNone:
			e.withdraw(o, r)
		case r.mode == ModeRead && m == ModeRead:
			e.mu.Lock()
			r.count++ // recursive read: no request
			e.mu.Unlock()
			return r.result()
		default:
			return ErrDeadlock
		}
	}
	s, err := e.session(ctxOf(w))
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.seq++
	seq := e.seq
	e.mu.Unlock()
	tid := uint32(o)
	if o&syntheticOwnerBit != 0 {
		tid = 0
	}
	r = &etcdRec{key: fmt.Sprintf("%sq/%s-%x-%x", e.pfx, leaseHex(s.lease), uint32(o), seq), sess: s, wait: m,
		entry: etcdEntry{Mode: m.String(), Host: e.host, PID: e.pid, TID: tid, Since: time.Now().UnixNano()}}
	val, _ := json.Marshal(r.entry)
	var st etcdState
	fast := false
	_, err = e.op(w, "queue", func(ctx context.Context) error {
		queue := clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(r.key), "=", 0)},
			append([]clientv3.Op{clientv3.OpPut(r.key, string(val), clientv3.WithLease(s.lease))}, e.stateOps(0)...),
			append([]clientv3.Op{clientv3.OpGet(r.key)}, e.stateOps(0)...))
		txn := e.cli.Txn(ctx)
		if m == ModeWrite {
			// Fast path of a writer: nobody queued and no writer mark (not
			// even a dead writer's): queue and take the lock in one request.
			mark, _ := json.Marshal(etcdMark{Key: r.key, Host: e.host, PID: e.pid, TID: tid})
			r.wval = string(mark)
			txn = txn.If(clientv3.Compare(clientv3.CreateRevision(e.pfx+"q/"), "=", 0).WithPrefix(),
				clientv3.Compare(clientv3.CreateRevision(e.pfx+"w"), "=", 0)).
				Then(clientv3.OpPut(r.key, string(val), clientv3.WithLease(s.lease)), clientv3.OpPut(e.pfx+"w", r.wval),
					clientv3.OpGet(e.pfx+"dead")).
				Else(queue)
		} else {
			txn = txn.Then(queue)
		}
		t, err := txn.Commit()
		if err != nil {
			return err
		}
		if m == ModeWrite && t.Succeeded {
			fast, r.rev = true, t.Header.Revision
			r.dead = len(t.Responses[2].GetResponseRange().Kvs) > 0
			return nil
		}
		q := t.Responses[0].GetResponseTxn()
		rs := q.Responses
		if q.Succeeded {
			r.rev = t.Header.Revision
		} else if kvs := rs[0].GetResponseRange().Kvs; len(kvs) == 1 {
			r.rev = kvs[0].CreateRevision // an earlier, ambiguous attempt queued us
		} else {
			return errors.New("queue key vanished")
		}
		st = e.parseState(rs[1:], t.Header.Revision)
		return nil
	})
	if err != nil {
		// Maybe queued after all: make sure nothing of ours stays.
		e.deleteKey(s, r.key)
		return err
	}
	if fast {
		r.mode, r.wait = ModeWrite, ModeNone
		r.told = r.dead && !w.silent
		e.mu.Lock()
		e.recs[o] = r
		e.mu.Unlock()
		return r.result()
	}
	e.mu.Lock()
	e.recs[o] = r
	e.mu.Unlock()
	return e.decide(w, o, r, st)
}

func ctxOf(w *waitCtl) context.Context {
	if w != nil && w.ctx != nil {
		return w.ctx
	}
	return context.Background()
}

func (r *etcdRec) result() error {
	if r.dead {
		return ErrOwnerDead
	}
	return nil
}

// etcdState is what a waiter reads to decide: the queue, P/w, P/dead.
type etcdState struct {
	queue  []*mvccpb.KeyValue // by create revision
	w      *mvccpb.KeyValue
	dead   *mvccpb.KeyValue
	deaths uint64
	rev    int64 // revision of the read
}

// stateOps reads the queue (entries created at or before maxRev when
// maxRev > 0), P/w, P/dead and P/stats.
func (e *etcdLock) stateOps(maxRev int64) []clientv3.Op {
	qopts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend)}
	if maxRev > 0 {
		qopts = append(qopts, clientv3.WithMaxCreateRev(maxRev))
	}
	return []clientv3.Op{clientv3.OpGet(e.pfx+"q/", qopts...), clientv3.OpGet(e.pfx + "w"),
		clientv3.OpGet(e.pfx + "dead"), clientv3.OpGet(e.pfx + "stats")}
}

func (e *etcdLock) parseState(rs []*etcdserverpb.ResponseOp, rev int64) etcdState {
	st := etcdState{queue: rs[0].GetResponseRange().Kvs, rev: rev}
	if kvs := rs[1].GetResponseRange().Kvs; len(kvs) == 1 {
		st.w = kvs[0]
	}
	if kvs := rs[2].GetResponseRange().Kvs; len(kvs) == 1 {
		st.dead = kvs[0]
	}
	if kvs := rs[3].GetResponseRange().Kvs; len(kvs) == 1 {
		st.deaths, _ = strconv.ParseUint(string(kvs[0].Value), 10, 64)
	}
	return st
}

func entryMode(kv *mvccpb.KeyValue) Mode {
	var en etcdEntry
	if json.Unmarshal(kv.Value, &en) == nil && en.Mode == "read" {
		return ModeRead
	}
	return ModeWrite // unreadable entries block like writers: never a wrong grant
}

// blocker returns the entry r waits for, or nil if r is granted.
func blocker(st *etcdState, r *etcdRec, m Mode) *mvccpb.KeyValue {
	var b *mvccpb.KeyValue
	for _, kv := range st.queue {
		if kv.CreateRevision >= r.rev {
			break
		}
		if m == ModeWrite || entryMode(kv) == ModeWrite {
			b = kv // the latest one before us
		}
	}
	return b
}

// check re-reads the state for queued r; ok is false if r's entry is gone.
func (e *etcdLock) check(w *waitCtl, r *etcdRec) (st etcdState, ok bool, err error) {
	_, err = e.op(w, "read the queue", func(ctx context.Context) error {
		t, err := e.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(r.key), "=", r.rev)).
			Then(e.stateOps(r.rev - 1)...).Commit()
		if err != nil {
			return err
		}
		ok = t.Succeeded
		if ok {
			st = e.parseState(t.Responses, t.Header.Revision)
		}
		return nil
	})
	return st, ok, err
}

// decide grants r or waits, starting from state st.
func (e *etcdLock) decide(w *waitCtl, o Owner, r *etcdRec, st etcdState) error {
	for {
		m := r.wait
		b := blocker(&st, r, m)
		if b == nil {
			done, err := e.grant(w, o, r, &st)
			if done || err != nil {
				return err
			}
		} else {
			if w.deadline == 0 {
				e.withdraw(o, r)
				return ErrBusy
			}
			if err := e.watch(w, r, b.Key, st.rev); err != nil {
				if err == ErrSliceEnded {
					return err // still queued
				}
				e.withdraw(o, r)
				return err
			}
		}
		var ok bool
		var err error
		if st, ok, err = e.check(w, r); err != nil {
			e.withdraw(o, r)
			return err
		} else if !ok {
			return e.lostRec(o, r)
		}
	}
}

// wait resumes a queued wait.
func (e *etcdLock) wait(w *waitCtl, o Owner, r *etcdRec) error {
	st, ok, err := e.check(w, r)
	if err != nil {
		e.withdraw(o, r)
		return err
	}
	if !ok {
		return e.lostRec(o, r)
	}
	return e.decide(w, o, r, st)
}

// grant takes the lock for r, whose turn it is. done is false if the state
// changed under it and decide must look again.
func (e *etcdLock) grant(w *waitCtl, o Owner, r *etcdRec, st *etcdState) (done bool, err error) {
	m := r.wait
	stale := st.w != nil && markKey(st.w) != r.key
	var ops []clientv3.Op
	if stale {
		ops = append(ops, clientv3.OpPut(e.pfx+"dead", string(st.w.Value)),
			clientv3.OpPut(e.pfx+"stats", strconv.FormatUint(st.deaths+1, 10)))
	}
	wModRev := int64(0)
	if st.w != nil {
		wModRev = st.w.ModRevision
	}
	if m == ModeWrite {
		if st.w != nil && !stale {
			r.wval = string(st.w.Value) // an ambiguous earlier attempt marked us
		} else {
			v, _ := json.Marshal(etcdMark{Key: r.key, Host: e.host, PID: e.pid, TID: r.entry.TID})
			r.wval = string(v)
			ops = append(ops, clientv3.OpPut(e.pfx+"w", r.wval))
		}
	} else if stale {
		ops = append(ops, clientv3.OpDelete(e.pfx+"w"))
	}
	if len(ops) > 0 {
		var ok bool
		_, err := e.op(w, "grant", func(ctx context.Context) error {
			t, err := e.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(r.key), "=", r.rev),
				clientv3.Compare(clientv3.ModRevision(e.pfx+"w"), "=", wModRev)).Then(ops...).Commit()
			if err == nil {
				ok = t.Succeeded
			}
			return err
		})
		if err != nil {
			e.withdraw(o, r)
			return true, err
		}
		if !ok {
			return false, nil
		}
	}
	r.mode, r.wait = m, ModeNone
	r.dead = stale || st.dead != nil
	r.told = r.dead && m == ModeWrite && !w.silent
	return true, r.result()
}

func markKey(kv *mvccpb.KeyValue) string {
	var mk etcdMark
	json.Unmarshal(kv.Value, &mk)
	return mk.Key
}

// watch waits until the entry key changes after revision rev, the poll
// interval passes, or the wait must end (ErrTimeout, ErrSliceEnded, a
// context error, ErrClosed, a lost session).
func (e *etcdLock) watch(w *waitCtl, r *etcdRec, key []byte, rev int64) error {
	now := MonotonicNow()
	if w.deadline > 0 && now >= w.deadline {
		return ErrTimeout
	}
	if w.sliceEnd > 0 && now >= w.sliceEnd {
		return ErrSliceEnded
	}
	until := now + int64(etcdPoll)
	if w.deadline > 0 && w.deadline < until {
		until = w.deadline
	}
	if w.sliceEnd > 0 && w.sliceEnd < until {
		until = w.sliceEnd
	}
	ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctxOf(w)), time.Duration(until-now))
	defer cancel()
	wch := e.cli.Watch(ctx, string(key), clientv3.WithRev(rev+1))
	select {
	case <-wch:
	case <-ctx.Done():
	case <-r.sess.done:
	}
	if w.ctx != nil && w.ctx.Err() != nil {
		return ctxErr(w.ctx.Err())
	}
	now = MonotonicNow()
	if w.deadline > 0 && now >= w.deadline {
		return ErrTimeout
	}
	if w.sliceEnd > 0 && now >= w.sliceEnd {
		return ErrSliceEnded
	}
	return nil
}

// withdraw removes r's entry and record. If etcd does not answer, the
// session deletes the entry later (its lease stays alive until then).
func (e *etcdLock) withdraw(o Owner, r *etcdRec) {
	e.forget(o, r)
	e.deleteKey(r.sess, r.key)
}

func (e *etcdLock) deleteKey(s *etcdSession, key string) {
	if e.closed.Load() {
		return // the session's lease is revoked: its keys are gone
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.timeout)
	defer cancel()
	if _, err := e.cli.Delete(ctx, key); err != nil {
		s.mu.Lock()
		s.pending = append(s.pending, key)
		s.mu.Unlock()
	}
}

func (h *etcdHandle) release(o Owner, keepMark bool) error {
	e, r, err := h.lockRec(o)
	if err != nil {
		return err
	}
	if r == nil {
		return ErrNotHeld
	}
	if !r.sess.valid() {
		return e.lostRec(o, r)
	}
	if r.wait != ModeNone {
		e.withdraw(o, r)
		return ErrNotHeld
	}
	e.mu.Lock()
	recursive := r.mode == ModeRead && r.count > 0
	if recursive {
		r.count--
	}
	e.mu.Unlock()
	if recursive {
		return nil
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(r.key), "=", r.rev)}
	ops := []clientv3.Op{clientv3.OpDelete(r.key)}
	if r.mode == ModeWrite {
		cmps = append(cmps, clientv3.Compare(clientv3.Value(e.pfx+"w"), "=", r.wval))
		ops = append(ops, clientv3.OpDelete(e.pfx+"w"))
		if r.told && !keepMark {
			ops = append(ops, clientv3.OpDelete(e.pfx+"dead"))
		}
	}
	ok, err := e.commit("release", cmps, ops)
	if err != nil {
		return err // still held: retry, or close the handle
	}
	if !ok {
		return e.lostRec(o, r)
	}
	e.forget(o, r)
	return nil
}

// commit runs one transaction of a holder. A compare that fails after an
// attempt that may have been applied counts as applied: only our own
// requests change our entry.
func (e *etcdLock) commit(what string, cmps []clientv3.Cmp, ops []clientv3.Op) (bool, error) {
	var ok bool
	amb, err := e.op(nil, what, func(ctx context.Context) error {
		t, err := e.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err == nil {
			ok = t.Succeeded
		}
		return err
	})
	return ok || amb && err == nil, err
}

func (h *etcdHandle) cancel(o Owner) error {
	e, r, err := h.lockRec(o)
	if err != nil {
		return err
	}
	if r == nil || r.wait == ModeNone {
		return ErrNotHeld
	}
	e.withdraw(o, r)
	return nil
}

// abandon ends o as if its process had died: a write hold leaves P/w
// behind, so the next grant reports the owner's death.
func (h *etcdHandle) abandon(o Owner) error {
	e, r, err := h.lockRec(o)
	if err != nil {
		return err
	}
	if r == nil {
		return ErrNotHeld
	}
	e.withdraw(o, r)
	return nil
}

func (h *etcdHandle) downgrade(o Owner) error {
	e, r, err := h.lockRec(o)
	if err != nil {
		return err
	}
	if r == nil || r.mode != ModeWrite || r.wait != ModeNone {
		return ErrNotHeld
	}
	if !r.sess.valid() {
		return e.lostRec(o, r)
	}
	en := r.entry
	en.Mode = ModeRead.String()
	val, _ := json.Marshal(en)
	ops := []clientv3.Op{clientv3.OpPut(r.key, string(val), clientv3.WithLease(r.sess.lease)), clientv3.OpDelete(e.pfx + "w")}
	if r.told {
		ops = append(ops, clientv3.OpDelete(e.pfx+"dead"))
	}
	ok, err := e.commit("downgrade", []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(r.key), "=", r.rev),
		clientv3.Compare(clientv3.Value(e.pfx+"w"), "=", r.wval)}, ops)
	if err != nil {
		return err
	}
	if !ok {
		return e.lostRec(o, r)
	}
	r.entry, r.mode, r.told, r.wval = en, ModeRead, false, ""
	return nil
}

func (h *etcdHandle) held(o Owner) Mode {
	_, r, err := h.lockRec(o)
	if err != nil || r == nil || r.wait != ModeNone || !r.sess.valid() {
		return ModeNone
	}
	return r.mode
}

func (h *etcdHandle) fence(o Owner) (uint64, error) {
	e, r, err := h.lockRec(o)
	if err != nil {
		return 0, err
	}
	if r == nil || r.wait != ModeNone {
		return 0, ErrNotHeld
	}
	if !r.sess.valid() {
		return 0, e.lostRec(o, r)
	}
	return uint64(r.rev), nil
}

func (h *etcdHandle) lost(o Owner) <-chan struct{} {
	_, r, err := h.lockRec(o)
	if err != nil || r == nil || r.wait != ModeNone {
		return nil
	}
	return r.sess.done
}

func (h *etcdHandle) token() string { return h.e.key }

// snapshot reads everything under the lock's prefix.
func (e *etcdLock) snapshot() (etcdState, []*mvccpb.KeyValue, error) {
	var st etcdState
	var sessions []*mvccpb.KeyValue
	_, err := e.op(nil, "read the lock", func(ctx context.Context) error {
		t, err := e.cli.Txn(ctx).Then(append(e.stateOps(0), clientv3.OpGet(e.pfx+"s/", clientv3.WithPrefix()))...).Commit()
		if err != nil {
			return err
		}
		st = e.parseState(t.Responses, t.Header.Revision)
		sessions = t.Responses[4].GetResponseRange().Kvs
		return nil
	})
	return st, sessions, err
}

// ownerDead reports whether st says a writer died holding the lock.
func (e *etcdLock) ownerDead(st *etcdState) bool {
	if st.dead != nil {
		return true
	}
	if st.w == nil {
		return false
	}
	k := markKey(st.w)
	for _, kv := range st.queue {
		if string(kv.Key) == k {
			return false
		}
	}
	return true
}

func (h *etcdHandle) ownerDied() bool {
	if h.closed.Load() {
		return false
	}
	st, _, err := h.e.snapshot()
	return err == nil && h.e.ownerDead(&st)
}

func (h *etcdHandle) stats() (Stats, error) {
	if h.closed.Load() {
		return Stats{}, ErrClosed
	}
	e := h.e
	st, sessions, err := e.snapshot()
	if err != nil {
		return Stats{}, err
	}
	out := Stats{UsedSlots: len(st.queue), Attached: len(sessions), OwnerDeaths: st.deaths, OwnerDead: e.ownerDead(&st)}
	if st.dead == nil && out.OwnerDead {
		out.OwnerDeaths++ // not yet recorded by a grant
	}
	writerSeen := false
	for i, kv := range st.queue {
		var en etcdEntry
		json.Unmarshal(kv.Value, &en)
		if en.Mode == "read" {
			if writerSeen {
				out.WaitingReaders++
			} else {
				out.Readers++
			}
			continue
		}
		out.WaitingWriters++
		if !writerSeen {
			// The first writer in the queue stops the readers after it, as
			// a local writer that owns the writer field does.
			out.WriterPID, out.WriterTID, out.WriterActive = en.PID, en.TID, i == 0
			if i == 0 {
				out.WaitingWriters--
			}
		}
		writerSeen = true
	}
	return out, nil
}

func (h *etcdHandle) holders() ([]Holder, error) {
	if h.closed.Load() {
		return nil, ErrClosed
	}
	e := h.e
	st, _, err := e.snapshot()
	if err != nil {
		return nil, err
	}
	counts := map[string]uint32{}
	e.mu.Lock()
	for _, r := range e.recs {
		counts[r.key] = r.count
	}
	e.mu.Unlock()
	nowMono, nowWall := MonotonicNow(), time.Now().UnixNano()
	var out []Holder
	anyBefore, writerBefore := false, false
	for _, kv := range st.queue {
		var en etcdEntry
		json.Unmarshal(kv.Value, &en)
		m := ModeWrite
		if en.Mode == "read" {
			m = ModeRead
		}
		hd := Holder{PID: en.PID, TID: en.TID, Mode: m, Host: en.Host, Fence: uint64(kv.CreateRevision)}
		if m == ModeRead {
			hd.Waiting = writerBefore
			hd.Count = counts[string(kv.Key)] + 1
		} else {
			hd.Waiting = anyBefore
		}
		if en.Since > 0 {
			// Since is on this machine's monotonic clock; the entry has
			// the holder's wall clock.
			hd.Since = max(1, nowMono-(nowWall-en.Since))
		}
		anyBefore, writerBefore = true, writerBefore || m == ModeWrite
		out = append(out, hd)
	}
	return out, nil
}

// close drops the handle; the process's last handle ends the session: its
// lease is revoked, which deletes its entries. A write hold leaves P/w
// behind, so the next grant reports the owner's death, as for a local lock.
func (h *etcdHandle) close() error {
	if !h.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	e := h.e
	etcdRegistryMu.Lock()
	e.refs--
	last := e.refs == 0
	if last {
		delete(etcdRegistry, e.key)
	}
	etcdRegistryMu.Unlock()
	if !last {
		return nil
	}
	e.closed.Store(true)
	e.mu.Lock()
	s := e.sess
	e.sess = nil
	e.recs = map[Owner]*etcdRec{}
	e.mu.Unlock()
	var err error
	if s != nil {
		s.stop()
		ctx, cancel := context.WithTimeout(context.Background(), e.cfg.timeout)
		if _, rerr := e.cli.Revoke(ctx, s.lease); rerr != nil && !errors.Is(rerr, rpctypes.ErrLeaseNotFound) {
			err = unavailable("revoke the session lease (it expires by itself)", rerr)
		}
		cancel()
		s.end()
	}
	e.cli.Close()
	return err
}

// unlinkEtcd removes the lock's persistent keys (the owner-dead mark and
// the counters), like removing a local lock's file. It refuses with
// ErrBusy while anyone holds or waits, and returns an error matching
// fs.ErrNotExist if there was nothing to remove.
func unlinkEtcd(s string) error {
	c, err := parseEtcdURL(s)
	if err != nil {
		return err
	}
	cli, err := etcdClient(c)
	if err != nil {
		return err
	}
	defer cli.Close()
	pfx := "prwlock/" + url.PathEscape(c.name) + "/"
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	// An empty range compares as one absent key: create revision 0.
	t, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(pfx+"q/"), "=", 0).WithPrefix()).
		Then(clientv3.OpDelete(pfx+"w"), clientv3.OpDelete(pfx+"dead"), clientv3.OpDelete(pfx+"stats")).Commit()
	if err != nil {
		return unavailable("unlink", err)
	}
	if !t.Succeeded {
		return detail(ErrBusy, "%s is held or waited for", c.format(false))
	}
	n := int64(0)
	for _, r := range t.Responses {
		n += r.GetResponseDeleteRange().Deleted
	}
	if n == 0 {
		return &os.PathError{Op: "unlink", Path: c.format(false), Err: os.ErrNotExist}
	}
	return nil
}
