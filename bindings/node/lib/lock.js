'use strict';
// RWLock and Guard: the public face of the package.
//
// Ownership. A hold belongs to an *owner*, a 64-bit number this package
// picks for each acquisition (the library's *_as calls), never to an OS
// thread: a promise may be settled on the main thread after a libuv pool
// thread did the wait, and a guard may be released from any callback. The
// owner numbers are unique within the process: the worker_thread's id in
// the high bits, a counter in the low ones.
//
// Waiting. The event loop never blocks: a wait is a sequence of bounded
// slices (prw_acquire_slice_as) run as koffi async calls on libuv's thread
// pool, re-issued until granted, timed out or aborted. Between slices the
// wait stays queued in the lock and keeps its place. Each lock has at most
// one wait in the pool per JS thread at a time; further acquisitions from
// the same thread queue here, in order, so a burst of waiters cannot take
// every pool thread from fs, dns and crypto (the pool has 4 by default).

const { threadId } = require('node:worker_threads');
const native = require('./native');
const { PrwlockError, errnoOf } = require('./errors');

const E = (name) => errnoOf(name);
const EOWNERDEAD = E('EOWNERDEAD');
const EBUSY = E('EBUSY');
const EINTR = E('EINTR');
const ERANGE = E('ERANGE');
const EBADF = E('EBADF');

// How long one pool call may wait before it returns to re-check for an
// abort (and lets other pool work in). Long enough that re-issuing costs
// nothing measurable, short enough that an abort is seen at once by a person.
const SLICE_NS = 50_000_000n;

const COUNTER_BITS = 40n;
let ownerCounter = 0n;
const ownerBase = BigInt(threadId) << COUNTER_BITS;

function newOwner() {
  ownerCounter = (ownerCounter + 1n) & ((1n << COUNTER_BITS) - 1n);
  if (ownerCounter === 0n) ownerCounter = 1n;
  return ownerBase | ownerCounter;
}

function abortError(signal) {
  const reason = signal.reason;
  if (reason instanceof Error) return reason;
  const e = new Error('the acquisition was aborted');
  e.name = 'AbortError';
  e.code = 'ABORT_ERR';
  e.cause = reason;
  return e;
}

// deadlineOf turns a timeout in milliseconds into the library's absolute
// CLOCK_MONOTONIC deadline: -1n waits forever, 0n tries once.
function deadlineOf(timeoutMs) {
  if (timeoutMs === undefined || timeoutMs === null || timeoutMs === Infinity) return -1n;
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs)) {
    throw new TypeError(`timeoutMs must be a number of milliseconds, got ${typeof timeoutMs}`);
  }
  if (timeoutMs < 0) throw new RangeError(`timeoutMs must be >= 0 (Infinity waits forever), got ${timeoutMs}`);
  if (timeoutMs === 0) return 0n;
  return native.monotonicNs() + BigInt(Math.ceil(timeoutMs * 1e6));
}

class Guard {
  #lock;
  #owner;
  #mode;
  #held = true;

  constructor(lock, owner, mode, ownerDead) {
    this.#lock = lock;
    this.#owner = owner;
    this.#mode = mode;
    /** True if a writer died holding the lock (EOWNERDEAD): the data it
     * protected may be half-written. Releasing a write guard vouches for the
     * data; call releaseUnrepaired() if you did not repair it. */
    this.ownerDead = ownerDead;
  }

  /** 'read' or 'write'. */
  get mode() {
    return this.#mode === native.MODE_READ ? 'read' : 'write';
  }

  /** The owner number the library records for this hold. */
  get owner() {
    return this.#owner;
  }

  /** False once released. */
  get held() {
    return this.#held;
  }

  #call(fn, op) {
    if (!this.#held) {
      const e = new PrwlockError(E('EPERM'), op, this.#lock.path);
      e.message = `${op}: this guard was already released`;
      throw e;
    }
    const rc = fn(this.#lock._handle(op), this.#owner);
    if (rc !== 0) throw new PrwlockError(rc, op, this.#lock.path);
  }

  /** Releases the hold. Throws if it was already released. */
  release() {
    this.#call(native.get().release_as, 'release');
    this.#held = false;
  }

  /** Releases a hold acquired with ownerDead set without vouching for the
   * data: the lock stays marked owner-dead for the next writer. */
  releaseUnrepaired() {
    this.#call(native.get().release_unrepaired_as, 'releaseUnrepaired');
    this.#held = false;
  }

  /** Turns a write hold into a read hold atomically. */
  downgrade() {
    this.#call(native.get().downgrade_as, 'downgrade');
    this.#mode = native.MODE_READ;
  }

  /** For `using` (and try/finally helpers): releases if still held. */
  [Symbol.dispose]() {
    if (this.#held) this.release();
  }
}

class RWLock {
  #handle;
  #path;
  #queue = []; // acquisitions waiting for their turn to wait in the pool
  #waiting = null; // the acquisition whose wait is in the pool, if any

  constructor(handle, path) {
    this.#handle = handle;
    this.#path = path;
  }

  /** Opens (or with create: true, creates) the named lock: a bare name is
   * /dev/shm/prwlock.NAME, a name with '/' a file path. */
  static open(name, { create = false, exclusive = false, mode = 0o600, multiuser = false, capacity = 0 } = {}) {
    if (typeof name !== 'string') throw new TypeError('name must be a string');
    const flags =
      (create ? native.PRW_CREATE : 0) | (exclusive ? native.PRW_EXCL : 0) | (multiuser ? native.PRW_MULTIUSER : 0);
    const out = [null];
    const rc = native.get().open_ex(name, flags, mode, capacity, out);
    if (rc !== 0) throw new PrwlockError(rc, 'open', name);
    return new RWLock(out[0], name);
  }

  /** Creates an anonymous lock; share it through its token. Its file is
   * removed when the last process using it closes it or exits. */
  static create({ capacity = 0 } = {}) {
    const out = [null];
    const rc = native.get().create_ex(capacity, out);
    if (rc !== 0) throw new PrwlockError(rc, 'create');
    return new RWLock(out[0], null);
  }

  /** Opens the lock a token (lock.token) names, in any process. */
  static fromToken(token) {
    if (typeof token !== 'string') throw new TypeError('token must be a string');
    const out = [null];
    const rc = native.get().deserialize(token, out);
    if (rc !== 0) throw new PrwlockError(rc, 'fromToken');
    return new RWLock(out[0], null);
  }

  /** Removes the named lock's file; processes that have it open keep it. */
  static unlink(name) {
    const rc = native.get().unlink(name);
    if (rc !== 0) throw new PrwlockError(rc, 'unlink', name);
  }

  /** The name it was opened with (null for an anonymous lock). */
  get path() {
    return this.#path;
  }

  get closed() {
    return this.#handle === null;
  }

  _handle(op) {
    if (this.#handle === null) throw new PrwlockError(EBADF, op, this.#path);
    return this.#handle;
  }

  #string(fn, op) {
    let buf = Buffer.alloc(256);
    for (;;) {
      const len = [buf.length];
      const rc = fn(this._handle(op), buf, len);
      if (rc === 0) return buf.toString('utf8', 0, Number(len[0]));
      if (rc !== ERANGE) throw new PrwlockError(rc, op, this.#path);
      buf = Buffer.alloc(Number(len[0]));
    }
  }

  /** A string any process of the machine can pass to RWLock.fromToken. */
  get token() {
    return this.#string(native.get().serialize, 'token');
  }

  /** The path of the lock's file. */
  get filename() {
    return this.#string(native.get().name, 'filename');
  }

  /** A snapshot of the lock's state (prw_info_t), numbers and booleans. */
  info() {
    const info = {};
    const rc = native.get().info(this._handle('info'), info);
    if (rc !== 0) throw new PrwlockError(rc, 'info', this.#path);
    info.writer_active = info.writer_active !== 0;
    info.owner_dead = info.owner_dead !== 0;
    return info;
  }

  #try(mode, op) {
    const lib = native.get();
    const owner = newOwner();
    const fn = mode === native.MODE_READ ? lib.try_acquire_read_as : lib.try_acquire_write_as;
    const rc = fn(this._handle(op), owner);
    if (rc === 0 || rc === EOWNERDEAD) return new Guard(this, owner, mode, rc === EOWNERDEAD);
    if (rc === EBUSY) return null;
    throw new PrwlockError(rc, op, this.#path);
  }

  /** Takes the lock for reading if it is free for readers now; returns a
   * Guard, or null if not. Never waits. */
  tryAcquireRead() {
    return this.#try(native.MODE_READ, 'tryAcquireRead');
  }

  /** Takes the lock for writing if it is free now; a Guard or null. */
  tryAcquireWrite() {
    return this.#try(native.MODE_WRITE, 'tryAcquireWrite');
  }

  /** Resolves to a read Guard. timeoutMs: undefined or Infinity waits
   * forever, 0 tries once (rejects with code 'EBUSY'), otherwise rejects
   * with code 'ETIMEDOUT' when it passes. options.signal (AbortSignal)
   * withdraws the wait. */
  acquireRead(timeoutMs, options) {
    return this.#acquire(native.MODE_READ, timeoutMs, options, 'acquireRead');
  }

  /** Resolves to a write Guard; as acquireRead. */
  acquireWrite(timeoutMs, options) {
    return this.#acquire(native.MODE_WRITE, timeoutMs, options, 'acquireWrite');
  }

  /** Runs fn(guard) under a read hold and releases it however fn ends. */
  async withRead(fn, { timeoutMs, signal } = {}) {
    const g = await this.acquireRead(timeoutMs, { signal });
    try {
      return await fn(g);
    } finally {
      if (g.held) g.release();
    }
  }

  /** Runs fn(guard) under a write hold and releases it however fn ends. */
  async withWrite(fn, { timeoutMs, signal } = {}) {
    const g = await this.acquireWrite(timeoutMs, { signal });
    try {
      return await fn(g);
    } finally {
      if (g.held) g.release();
    }
  }

  #acquire(mode, timeoutMs, { signal } = {}, op) {
    let req;
    const promise = new Promise((resolve, reject) => {
      req = { mode, op, owner: 0n, deadline: 0n, resolve, reject, signal, timer: null, done: false };
    });
    try {
      req.deadline = deadlineOf(timeoutMs);
      this._handle(op);
      if (signal?.aborted) throw abortError(signal);
    } catch (err) {
      req.reject(err);
      return promise;
    }
    // The fast path: nobody of this thread is waiting, so a try cannot
    // overtake anyone here; other processes' waiters are the lock's business.
    if (this.#waiting === null && this.#queue.length === 0) {
      let g;
      try {
        g = this.#try(mode, op);
      } catch (err) {
        req.reject(err);
        return promise;
      }
      if (g) {
        req.resolve(g);
        return promise;
      }
      if (req.deadline === 0n) {
        req.reject(new PrwlockError(EBUSY, op, this.#path));
        return promise;
      }
    }
    if (req.deadline > 0n) {
      const ms = Number((req.deadline - native.monotonicNs()) / 1_000_000n) + 1;
      req.timer = setTimeout(() => this.#expire(req), Math.max(ms, 0));
    }
    if (signal) {
      req.onAbort = () => this.#abortQueued(req);
      signal.addEventListener('abort', req.onAbort, { once: true });
    }
    this.#queue.push(req);
    this.#pump();
    return promise;
  }

  #settle(req, err, guard) {
    if (req.done) return;
    req.done = true;
    if (req.timer) clearTimeout(req.timer);
    if (req.signal && req.onAbort) req.signal.removeEventListener('abort', req.onAbort);
    if (err) req.reject(err);
    else req.resolve(guard);
  }

  // A queued acquisition whose deadline passed before its turn to wait.
  #expire(req) {
    const i = this.#queue.indexOf(req);
    if (i < 0) return; // it is waiting in the pool: the library ends it
    this.#queue.splice(i, 1);
    this.#settle(req, new PrwlockError(E('ETIMEDOUT'), req.op, this.#path));
  }

  #abortQueued(req) {
    const i = this.#queue.indexOf(req);
    if (i < 0) return; // in the pool: seen when its slice returns
    this.#queue.splice(i, 1);
    this.#settle(req, abortError(req.signal));
  }

  #pump() {
    if (this.#waiting !== null) return;
    const req = this.#queue.shift();
    if (!req) return;
    this.#waiting = req;
    req.owner = newOwner();
    this.#slice(req);
  }

  #next() {
    this.#waiting = null;
    this.#pump();
  }

  #slice(req) {
    let handle;
    try {
      handle = this._handle(req.op);
    } catch (err) {
      this.#settle(req, err);
      this.#next();
      return;
    }
    const sliceEnd = native.monotonicNs() + SLICE_NS;
    native.get().acquire_slice_as.async(handle, req.owner, req.mode, req.deadline, sliceEnd, (err, rc) => {
      if (err) {
        this.#settle(req, err);
        this.#next();
      } else {
        this.#sliceDone(req, handle, rc);
      }
    });
  }

  #sliceDone(req, handle, rc) {
    const lib = native.get();
    const aborted = req.signal?.aborted;
    if (rc === 0 || rc === EOWNERDEAD) {
      if (aborted) {
        // Granted as the abort came: give the hold back, report the abort.
        lib.release_as(handle, req.owner);
        this.#settle(req, abortError(req.signal));
      } else {
        this.#settle(req, null, new Guard(this, req.owner, req.mode, rc === EOWNERDEAD));
      }
    } else if (rc === EINTR) {
      if (!aborted) {
        this.#slice(req); // still queued in the lock: wait on
        return;
      }
      lib.cancel_as(handle, req.owner);
      this.#settle(req, abortError(req.signal));
    } else {
      this.#settle(req, new PrwlockError(rc, req.op, this.#path));
    }
    this.#next();
  }

  /** Closes the handle. Holds this process still has on the lock end (a
   * write hold marks the lock owner-dead), waits in progress reject with
   * code 'EBADF'. Closing twice is harmless. */
  close() {
    if (this.#handle === null) return;
    const h = this.#handle;
    this.#handle = null;
    for (const req of this.#queue.splice(0)) this.#settle(req, new PrwlockError(EBADF, req.op, this.#path));
    const rc = native.get().close(h);
    if (rc !== 0) throw new PrwlockError(rc, 'close', this.#path);
  }

  [Symbol.dispose]() {
    this.close();
  }
}

module.exports = { RWLock, Guard };
