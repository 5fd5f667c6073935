'use strict';
// The exclusion workload the concurrency tests run in the main thread,
// child processes and worker_threads at once. A data file holds two
// counters that a writer bumps one after the other with a yield to the
// event loop in between (so other tasks, threads and processes get every
// chance to look); readers check that they are equal and stay so while
// they hold. At the end the counters equal the number of writes made by
// everyone, which a lost update would break.

const fs = require('node:fs');
const { RWLock } = require('..');

const tick = () => new Promise((r) => setImmediate(r));

function read(fd) {
  const b = Buffer.alloc(16);
  fs.readSync(fd, b, 0, 16, 0);
  return [b.readBigUInt64LE(0), b.readBigUInt64LE(8)];
}

function write(fd, slot, v) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  fs.writeSync(fd, b, 0, 8, slot * 8);
}

function initData(file) {
  fs.writeFileSync(file, Buffer.alloc(16));
}

function total(file) {
  const fd = fs.openSync(file, 'r');
  try {
    return read(fd);
  } finally {
    fs.closeSync(fd);
  }
}

async function run(lockPath, dataPath, rounds, tasks) {
  const lock = RWLock.open(lockPath);
  const fd = fs.openSync(dataPath, 'r+');
  const res = { writes: 0, reads: 0, violations: [] };
  const task = async (id) => {
    for (let i = 0; i < rounds; i++) {
      const writer = (i + id) % 3 === 0;
      const g = writer ? await lock.acquireWrite(60_000) : await lock.acquireRead(60_000);
      try {
        const [a, b] = read(fd);
        if (a !== b) res.violations.push(`${writer ? 'writer' : 'reader'} entered with ${a} != ${b}`);
        if (writer) {
          write(fd, 0, a + 1n);
          await tick();
          const [a2, b2] = read(fd);
          if (a2 !== a + 1n || b2 !== b) res.violations.push(`writer saw ${a2},${b2} under its hold`);
          write(fd, 1, a + 1n);
          res.writes++;
        } else {
          await tick();
          const [a2, b2] = read(fd);
          if (a2 !== a || b2 !== b) res.violations.push(`reader saw ${a},${b} then ${a2},${b2}`);
          res.reads++;
        }
      } finally {
        g.release();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: tasks }, (_, id) => task(id)));
  } finally {
    fs.closeSync(fd);
    lock.close();
  }
  return res;
}

module.exports = { run, initData, total };
