'use strict';
// Shared by the tests: scratch locks that never outlive the test, and child
// processes that speak one line of JSON at a time.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fork } = require('node:child_process');
const readline = require('node:readline');
const { RWLock } = require('..');

// scratch makes a directory under TMPDIR (make test gives each run its own)
// and returns { dir, lockPath, cleanup }; cleanup removes the lock's file
// and the directory, so a test leaves nothing behind even when it fails.
function scratch(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prwlock-node-'));
  const lockPath = path.join(dir, 'lock');
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  if (t) t.after(cleanup);
  return { dir, lockPath, cleanup };
}

function openScratch(t, opts = {}) {
  const s = scratch(t);
  const lock = RWLock.open(s.lockPath, { create: true, ...opts });
  t.after(() => lock.close());
  return { ...s, lock };
}

// child forks test/child.js with args and returns { proc, next() }: next()
// resolves to the next JSON line the child prints.
function child(args, opts = {}) {
  const proc = fork(path.join(__dirname, 'child.js'), args, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], ...opts });
  const lines = readline.createInterface({ input: proc.stdout });
  const pending = [];
  const queued = [];
  lines.on('line', (l) => {
    const msg = JSON.parse(l);
    if (pending.length) pending.shift()(msg);
    else queued.push(msg);
  });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    proc,
    exited,
    next() {
      if (queued.length) return Promise.resolve(queued.shift());
      return new Promise((resolve, reject) => {
        pending.push(resolve);
        exited.then((r) => reject(new Error(`child exited (${JSON.stringify(r)}) before answering`)));
      });
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

module.exports = { scratch, openScratch, child, sleep };
