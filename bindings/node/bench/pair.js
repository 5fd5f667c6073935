'use strict';
// The cost of an uncontended sync try + release pair from the main thread:
// node bench/pair.js (median and best of five runs).
const { RWLock } = require('..');
const os = require('os'), path = require('path'), fs = require('fs');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prwlock-pair-'));
const lock = RWLock.open(path.join(dir, 'l'), { create: true });
for (const mode of ['Read', 'Write']) {
  const N = 200000;
  for (let i = 0; i < 20000; i++) lock[`tryAcquire${mode}`]().release();
  const best = [];
  for (let r = 0; r < 5; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) lock[`tryAcquire${mode}`]().release();
    best.push(Number(process.hrtime.bigint() - t) / N);
  }
  best.sort((a, b) => a - b);
  console.log(`${mode.toLowerCase()} try/release pair: median ${best[2].toFixed(0)} ns, min ${best[0].toFixed(0)} ns`);
}
lock.close(); fs.rmSync(dir, { recursive: true });
