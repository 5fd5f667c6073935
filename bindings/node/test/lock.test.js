'use strict';
// The API one call at a time: tries, guards, errors and their codes, tokens,
// timeouts, aborts, close.

const test = require('node:test');
const assert = require('node:assert/strict');
const { RWLock, Guard, PrwlockError, libraryVersion } = require('..');
const { scratch, openScratch, sleep } = require('./helpers');

test('the library loads and reports its version', () => {
  assert.match(libraryVersion(), /^\d+\.\d+\.\d+$/);
});

test('try: readers share, a writer excludes', (t) => {
  const { lock } = openScratch(t);
  const r1 = lock.tryAcquireRead();
  const r2 = lock.tryAcquireRead();
  assert.ok(r1 instanceof Guard && r2 instanceof Guard);
  assert.equal(r1.mode, 'read');
  assert.notEqual(r1.owner, r2.owner);
  assert.equal(lock.tryAcquireWrite(), null);
  assert.equal(lock.info().readers, 2);
  r1.release();
  r2.release();
  const w = lock.tryAcquireWrite();
  assert.equal(w.mode, 'write');
  assert.equal(w.ownerDead, false);
  assert.equal(lock.tryAcquireRead(), null);
  assert.equal(lock.tryAcquireWrite(), null);
  w.release();
  assert.equal(w.held, false);
  assert.equal(lock.info().readers, 0);
});

test('a second release throws EPERM; downgrade keeps the hold for reading', (t) => {
  const { lock } = openScratch(t);
  const w = lock.tryAcquireWrite();
  w.downgrade();
  assert.equal(w.mode, 'read');
  const r = lock.tryAcquireRead();
  assert.ok(r, 'readers are admitted after a downgrade');
  assert.equal(lock.tryAcquireWrite(), null);
  assert.throws(() => w.downgrade(), (e) => e instanceof PrwlockError && e.code === 'EPERM');
  w.release();
  r.release();
  assert.throws(() => w.release(), (e) => e instanceof PrwlockError && e.code === 'EPERM' && e.errno > 0);
});

test('Symbol.dispose releases a guard once; withWrite releases when fn throws', async (t) => {
  const { lock } = openScratch(t);
  const g = lock.tryAcquireWrite();
  g[Symbol.dispose]();
  g[Symbol.dispose]();
  assert.equal(g.held, false);
  await assert.rejects(
    lock.withWrite(async (guard) => {
      assert.equal(guard.mode, 'write');
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(await lock.withRead(async () => 42), 42);
  const w = lock.tryAcquireWrite();
  assert.ok(w, 'nothing left held');
  w.release();
});

test('acquire: a wait that expires rejects ETIMEDOUT, and a try EBUSY', async (t) => {
  const { lock } = openScratch(t);
  const w = lock.tryAcquireWrite();
  const start = process.hrtime.bigint();
  await assert.rejects(lock.acquireRead(150), (e) => e instanceof PrwlockError && e.code === 'ETIMEDOUT');
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  assert.ok(ms >= 140, `returned after ${ms} ms, before the deadline`);
  await assert.rejects(lock.acquireWrite(0), (e) => e.code === 'EBUSY');
  // Several queued behind one another time out too, each at its deadline.
  const rs = await Promise.allSettled([lock.acquireWrite(100), lock.acquireRead(120), lock.acquireWrite(140)]);
  assert.deepEqual(rs.map((r) => r.reason && r.reason.code), ['ETIMEDOUT', 'ETIMEDOUT', 'ETIMEDOUT']);
  w.release();
  (await lock.acquireWrite(1000)).release();
});

test('bad timeouts are refused before anything is queued', async (t) => {
  const { lock } = openScratch(t);
  await assert.rejects(lock.acquireRead(-1), RangeError);
  await assert.rejects(lock.acquireRead('10'), TypeError);
  await assert.rejects(lock.acquireWrite(NaN), TypeError);
  assert.equal(lock.info().used_slots, 0);
});

test('an AbortSignal withdraws a wait, in the pool or queued behind it', async (t) => {
  const { lock } = openScratch(t);
  const w = lock.tryAcquireWrite();
  const ac = new AbortController();
  const p1 = assert.rejects(lock.acquireWrite(undefined, { signal: ac.signal }), { name: 'AbortError' }); // in the pool
  const p2 = assert.rejects(lock.acquireRead(undefined, { signal: ac.signal }), { name: 'AbortError' }); // queued
  await sleep(100);
  assert.equal(lock.info().waiting_writers, 1);
  ac.abort();
  await p1;
  await p2;
  assert.equal(lock.info().waiting_writers, 0, 'the withdrawn wait left nothing queued');
  w.release();
  await assert.rejects(lock.acquireRead(10, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  const r = lock.tryAcquireWrite();
  assert.ok(r, 'no hold left behind');
  r.release();
});

test('open errors carry the errno name; tokens reopen the lock', (t) => {
  const { dir, lockPath } = scratch(t);
  assert.throws(
    () => RWLock.open(`${dir}/missing`),
    (e) => e instanceof PrwlockError && e.code === 'ENOENT' && e.errno === 2 && /no such lock/.test(e.message),
  );
  assert.throws(() => RWLock.open(''), (e) => e.code === 'EINVAL');
  assert.throws(() => RWLock.fromToken('garbage'), (e) => e.code === 'EINVAL');
  const a = RWLock.open(lockPath, { create: true });
  assert.throws(() => RWLock.open(lockPath, { create: true, exclusive: true }), (e) => e.code === 'EEXIST');
  const b = RWLock.fromToken(a.token);
  const g = a.tryAcquireWrite();
  assert.equal(b.tryAcquireRead(), null, 'two handles, one lock');
  g.release();
  assert.equal(b.filename, a.filename);
  b.close();
  a.close();
  RWLock.unlink(lockPath);
  assert.throws(() => RWLock.unlink(lockPath), (e) => e.code === 'ENOENT');
});

test('an anonymous lock: token, capacity, and EAGAIN when full', (t) => {
  const lock = RWLock.create({ capacity: 64 });
  t.after(() => lock.close());
  assert.equal(lock.path, null);
  assert.equal(lock.info().capacity, 64);
  const other = RWLock.fromToken(lock.token);
  const gs = [];
  for (let i = 0; i < 64; i++) gs.push(other.tryAcquireRead());
  assert.throws(() => lock.tryAcquireRead(), (e) => e.code === 'EAGAIN');
  for (const g of gs) g.release();
  other.close();
});

test('a closed lock: every call is EBADF, waits in progress end with EBADF', async (t) => {
  const { lock, lockPath } = openScratch(t);
  const other = RWLock.open(lockPath);
  const w = other.tryAcquireWrite();
  const waiting = assert.rejects(lock.acquireRead(), (e) => e.code === 'EBADF');
  const queued = assert.rejects(lock.acquireWrite(), (e) => e.code === 'EBADF');
  await sleep(100);
  lock.close();
  lock.close();
  await waiting;
  await queued;
  assert.throws(() => lock.tryAcquireRead(), (e) => e.code === 'EBADF');
  await assert.rejects(lock.acquireWrite(), (e) => e.code === 'EBADF');
  assert.throws(() => lock.token, (e) => e.code === 'EBADF');
  w.release();
  other.close();
});
