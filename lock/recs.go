package lock

import (
	"sync"
	"sync/atomic"
)

// recTable maps owners to their process-local records. Lookups are
// lock-free and cost a few loads: they sit on every acquire and release.
// Inserts and removals take mu. A removed owner (Abandon: an exited
// thread) leaves a tombstone; the table is rebuilt, sized for the live
// owners, when used positions reach half of it, so thread churn does not
// grow it without bound.
type recTable struct {
	mu  sync.Mutex
	cur atomic.Pointer[recTab]
}

// recTab is an open-addressed table. A key is published (stored) after
// its record, so a reader that sees the key sees the record.
type recTab struct {
	keys  []atomic.Uint32
	recs  []*ownerRec
	mask  uint32
	n     int // used positions, tombstones included
	tombs int
}

// tombstone marks a removed key; no valid owner has this value.
const tombstone = 0xffffffff

func ownerHash(o Owner) uint32 { return uint32(o) * 2654435761 }

func (t *recTab) find(o Owner) *ownerRec {
	for h := ownerHash(o) & t.mask; ; h = (h + 1) & t.mask {
		switch t.keys[h].Load() {
		case uint32(o):
			return t.recs[h]
		case 0:
			return nil
		}
	}
}

func (t *recTab) put(o Owner, r *ownerRec) {
	h := ownerHash(o) & t.mask
	for t.keys[h].Load() != 0 {
		h = (h + 1) & t.mask
	}
	t.recs[h] = r
	t.keys[h].Store(uint32(o))
	t.n++
}

func newRecTab(size int) *recTab {
	return &recTab{keys: make([]atomic.Uint32, size), recs: make([]*ownerRec, size), mask: uint32(size - 1)}
}

// load returns o's record, or nil.
func (rt *recTable) load(o Owner) *ownerRec {
	if t := rt.cur.Load(); t != nil {
		return t.find(o)
	}
	return nil
}

// get returns o's record, creating it if needed.
func (rt *recTable) get(o Owner) *ownerRec {
	if r := rt.load(o); r != nil {
		return r
	}
	return rt.insert(o)
}

// insert is get for an owner that had no record when it looked.
func (rt *recTable) insert(o Owner) *ownerRec {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	t := rt.cur.Load()
	if t != nil {
		if r := t.find(o); r != nil {
			return r
		}
	}
	r := &ownerRec{slot: -1, idle: -1}
	if t == nil || 2*(t.n+1) > len(t.keys) {
		// Rebuild into a new table sized for the live owners; readers
		// keep using the old one meanwhile.
		live := 1
		if t != nil {
			live += t.n - t.tombs
		}
		size := 16
		for size < 4*live {
			size *= 2
		}
		nt := newRecTab(size)
		if t != nil {
			for i := range t.keys {
				if k := t.keys[i].Load(); k != 0 && k != tombstone {
					nt.put(Owner(k), t.recs[i])
				}
			}
		}
		nt.put(o, r)
		rt.cur.Store(nt)
		return r
	}
	t.put(o, r)
	return r
}

// remove forgets o's record. Only o's own thread may use the record, so
// the caller must know that o is gone.
func (rt *recTable) remove(o Owner) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	t := rt.cur.Load()
	if t == nil {
		return
	}
	for h := ownerHash(o) & t.mask; ; h = (h + 1) & t.mask {
		switch t.keys[h].Load() {
		case uint32(o):
			t.keys[h].Store(tombstone)
			t.tombs++
			return
		case 0:
			return
		}
	}
}

// each calls f for every record.
func (rt *recTable) each(f func(*ownerRec)) {
	if t := rt.cur.Load(); t != nil {
		for i := range t.keys {
			if k := t.keys[i].Load(); k != 0 && k != tombstone {
				f(t.recs[i])
			}
		}
	}
}
