'use strict';
// Exclusion under concurrency: many async acquisitions in one thread,
// worker_threads and child processes on one lock at once; the event loop
// keeps running while a wait is pending; a hold taken by a wait on a pool
// thread is released on the main thread.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { RWLock } = require('..');
const hammer = require('./hammer');
const { openScratch, child, sleep } = require('./helpers');

function setup(t) {
  const s = openScratch(t);
  s.dataPath = path.join(s.dir, 'data');
  hammer.initData(s.dataPath);
  return s;
}

function assertClean(results, dataPath) {
  let writes = 0;
  for (const r of results) {
    assert.equal(r.error, undefined, r.error);
    assert.deepEqual(r.violations, []);
    writes += r.writes;
  }
  const [a, b] = hammer.total(dataPath);
  assert.equal(a, BigInt(writes), 'a lost update: two writers were inside at once');
  assert.equal(b, BigInt(writes));
  return writes;
}

test('many concurrent async acquisitions in one thread exclude each other', { timeout: 120_000 }, async (t) => {
  const { lockPath, dataPath, lock } = setup(t);
  const r = await hammer.run(lockPath, dataPath, 30, 40);
  assert.ok(assertClean([r], dataPath) > 0);
  assert.equal(r.reads + r.writes, 30 * 40);
  const info = lock.info();
  assert.equal(info.used_slots, 0, 'every hold and wait was released');
});

test('worker_threads and child processes exclude each other and the main thread', { timeout: 180_000 }, async (t) => {
  const { lockPath, dataPath } = setup(t);
  const rounds = 20;
  const workers = [0, 1].map(
    () =>
      new Promise((resolve, reject) => {
        const w = new Worker(path.join(__dirname, 'worker.js'), {
          workerData: { lockPath, dataPath, rounds, tasks: 6 },
        });
        w.once('message', resolve);
        w.once('error', reject);
      }),
  );
  const kids = [0, 1, 2].map(async () => {
    const c = child(['hammer', lockPath, dataPath, String(rounds), '6']);
    const r = await c.next();
    assert.equal((await c.exited).code, 0);
    return r;
  });
  const mine = hammer.run(lockPath, dataPath, rounds, 6);
  const results = await Promise.all([...workers, ...kids, mine]);
  const writes = assertClean(results, dataPath);
  assert.ok(writes >= 6 * 6, `only ${writes} writes`);
});

test('the event loop keeps ticking while a wait is pending', { timeout: 60_000 }, async (t) => {
  const { lock, lockPath } = openScratch(t);
  const holder = child(['hold', 'write', lockPath, '600']);
  assert.deepEqual(await holder.next(), { held: true, ownerDead: false });
  let ticks = 0;
  const iv = setInterval(() => ticks++, 5);
  const start = Date.now();
  const g = await lock.acquireWrite(30_000);
  const waited = Date.now() - start;
  clearInterval(iv);
  // The wait lasted until the holder let go; a blocked loop would count 0.
  assert.ok(waited >= 300, `granted after ${waited} ms, while the holder still held`);
  assert.ok(ticks >= 10, `only ${ticks} interval ticks in ${waited} ms of waiting`);
  // The wait ran on a pool thread; the main thread releases the hold.
  g.release();
  assert.deepEqual(await holder.next(), { released: true });
  await holder.exited;
  assert.equal(lock.info().used_slots, 0);
});

test('a reader queued behind a write wait waits; readers share once it is done', { timeout: 60_000 }, async (t) => {
  const { lock } = openScratch(t);
  const r0 = lock.tryAcquireRead();
  const w = lock.acquireWrite();
  await sleep(50);
  let readerIn = false;
  const r1 = lock.acquireRead().then((g) => {
    readerIn = true;
    return g;
  });
  await sleep(100);
  assert.equal(readerIn, false, 'a new reader overtook a waiting writer');
  r0.release();
  const wg = await w;
  await sleep(50);
  assert.equal(readerIn, false, 'a reader entered during the write hold');
  wg.release();
  (await r1).release();
});

test('owners: guards of one thread release in any order, from any callback', async (t) => {
  const { lock } = openScratch(t);
  const gs = await Promise.all(Array.from({ length: 20 }, () => lock.acquireRead(5000)));
  await new Promise((r) => setImmediate(r));
  for (const g of gs.reverse()) await new Promise((r) => setTimeout(() => r(g.release()), 0));
  assert.equal(lock.info().readers, 0);
  const other = RWLock.open(lock.path);
  t.after(() => other.close());
  const w = other.tryAcquireWrite();
  assert.ok(w);
  w.release();
});

test('a SIGINT handler runs while an acquisition waits', { timeout: 60_000 }, async (t) => {
  const { lock, lockPath } = openScratch(t);
  const w = lock.tryAcquireWrite();
  const c = child(['wait', lockPath]);
  assert.deepEqual(await c.next(), { waiting: true });
  await sleep(100); // the wait is in the pool now
  const start = Date.now();
  c.proc.kill('SIGINT');
  assert.deepEqual(await c.next(), { sigint: true, pendingWait: true });
  assert.equal((await c.exited).code, 0);
  assert.ok(Date.now() - start < 5000, 'the handler ran late');
  w.release();
});
