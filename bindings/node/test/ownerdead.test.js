'use strict';
// A holder process killed with SIGKILL: a dead reader leaves nothing
// behind; a dead writer is reported through guard.ownerDead until a writer
// that saw it releases (repairs) it.

const test = require('node:test');
const assert = require('node:assert/strict');
const { openScratch, child } = require('./helpers');

async function killHolder(mode, lockPath) {
  const h = child(['hold', mode, lockPath]);
  assert.deepEqual(await h.next(), { held: true, ownerDead: false });
  h.proc.kill('SIGKILL');
  assert.equal((await h.exited).signal, 'SIGKILL');
}

test('a SIGKILLed reader leaves nothing; the writer gets in without ownerDead', { timeout: 60_000 }, async (t) => {
  const { lock, lockPath } = openScratch(t);
  await killHolder('read', lockPath);
  const g = await lock.acquireWrite(10_000);
  assert.equal(g.ownerDead, false);
  g.release();
});

test('a SIGKILLed writer: ownerDead until a writer releases it repaired', { timeout: 60_000 }, async (t) => {
  const { lock, lockPath } = openScratch(t);
  await killHolder('write', lockPath);
  const r = await lock.acquireRead(10_000);
  assert.equal(r.ownerDead, true, 'a reader is told too');
  r.release();
  const w1 = await lock.acquireWrite(10_000);
  assert.equal(w1.ownerDead, true);
  assert.equal(lock.info().owner_dead, true);
  w1.releaseUnrepaired();
  const w2 = lock.tryAcquireWrite();
  assert.equal(w2.ownerDead, true, 'releaseUnrepaired keeps the mark');
  w2.release();
  const w3 = lock.tryAcquireWrite();
  assert.equal(w3.ownerDead, false, 'release after ownerDead repairs');
  w3.release();
  assert.equal(lock.info().owner_deaths, 1);
});

test('another process sees ownerDead too', { timeout: 60_000 }, async (t) => {
  const { lockPath } = openScratch(t);
  await killHolder('write', lockPath);
  const c = child(['hold', 'write', lockPath, '0']);
  assert.deepEqual(await c.next(), { held: true, ownerDead: true });
  assert.deepEqual(await c.next(), { released: true });
});
