package lock

import (
	"sync"
	"sync/atomic"
)

// recTable maps owners to their process-local records. Lookups are
// lock-free and cost a few loads: they sit on every acquire and release.
// Records are never removed (an owner is a thread id, or a synthetic owner
// that the handle recycles), so the table only grows, by doubling, under mu.
type recTable struct {
	mu  sync.Mutex
	cur atomic.Pointer[recTab]
}

// recTab is an open-addressed table. A key is published (stored) after
// its record, so a reader that sees the key sees the record.
type recTab struct {
	keys []atomic.Uint32
	recs []*ownerRec
	mask uint32
	n    int
}

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
	rt.mu.Lock()
	defer rt.mu.Unlock()
	t := rt.cur.Load()
	if t != nil {
		if r := t.find(o); r != nil {
			return r
		}
	}
	r := &ownerRec{slot: -1}
	if t == nil || 2*(t.n+1) > len(t.keys) {
		// Grow into a new table; readers keep using the old one meanwhile.
		size := 16
		if t != nil {
			size = 2 * len(t.keys)
		}
		nt := newRecTab(size)
		if t != nil {
			for i := range t.keys {
				if k := t.keys[i].Load(); k != 0 {
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

// each calls f for every record.
func (rt *recTable) each(f func(*ownerRec)) {
	if t := rt.cur.Load(); t != nil {
		for i := range t.keys {
			if t.keys[i].Load() != 0 {
				f(t.recs[i])
			}
		}
	}
}
