'use strict';
// The README's example runs as written (with the package's path in place of
// its name) and cleans up after itself.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { scratch } = require('./helpers');

test('the README example runs', (t) => {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  const code = /```js\n([\s\S]*?)```/.exec(readme)[1];
  const { dir } = scratch(t);
  const file = path.join(dir, 'example.js');
  fs.writeFileSync(file, code.replace("require('prwlock')", `require(${JSON.stringify(path.join(__dirname, '..'))})`));
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'two readers at once: true\nETIMEDOUT\n');
  assert.equal(fs.existsSync(`/dev/shm/prwlock.example-${r.pid}`), false, 'the example unlinks its lock');
});
