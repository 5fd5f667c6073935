'use strict';
// The koffi table for libprwlock.so and its loader.
//
// The library is loaded once per process (dlopen shares it between the main
// thread and every worker_thread), on first use rather than at require(), so
// that a program that only imports the package starts no runtime threads.

const fs = require('node:fs');
const path = require('node:path');
const koffi = require('koffi');

const LIBRARY_ENV = 'PRWLOCK_LIBRARY';
const SONAME = 'libprwlock.so.1';

// prw_open flags and modes (include/prwlock.h).
const PRW_CREATE = 1;
const PRW_EXCL = 2;
const PRW_MULTIUSER = 4;
const MODE_READ = 1;
const MODE_WRITE = 2;
const PRW_EFORKED = 1024;

// The prototypes, written as in include/prwlock.h. Holds taken through this
// package always name their owner (the *_as calls): a JS task is not an OS
// thread, and koffi runs async calls on libuv's pool threads.
const PROTOTYPES = [
  'int prw_create_ex(unsigned int capacity, _Out_ prw_lock **out)',
  'int prw_open_ex(const char *name, int flags, unsigned int mode, unsigned int capacity, _Out_ prw_lock **out)',
  'int prw_deserialize(const char *token, _Out_ prw_lock **out)',
  'int prw_close(prw_lock *lock)',
  'int prw_unlink(const char *name)',
  'int prw_serialize(prw_lock *lock, uint8_t *buf, _Inout_ size_t *len)',
  'int prw_name(prw_lock *lock, uint8_t *buf, _Inout_ size_t *len)',
  'int prw_is_anonymous(prw_lock *lock)',
  'int prw_info(prw_lock *lock, _Out_ prw_info_t *info)',
  'int prw_try_acquire_read_as(prw_lock *lock, uint64_t owner)',
  'int prw_try_acquire_write_as(prw_lock *lock, uint64_t owner)',
  'int prw_acquire_slice_as(prw_lock *lock, uint64_t owner, int mode, int64_t deadline_ns, int64_t slice_end_ns)',
  'int prw_cancel_as(prw_lock *lock, uint64_t owner)',
  'int prw_release_as(prw_lock *lock, uint64_t owner)',
  'int prw_release_unrepaired_as(prw_lock *lock, uint64_t owner)',
  'int prw_downgrade_as(prw_lock *lock, uint64_t owner)',
  'const char *prw_strerror(int err)',
  'const char *prw_version()',
];

let lib = null;

// candidatePaths: $PRWLOCK_LIBRARY, the repository's build/ (this package
// lives in bindings/node of a checkout), then the installed SONAME, which
// the dynamic loader looks up on its own path.
function candidatePaths() {
  const paths = [];
  if (process.env[LIBRARY_ENV]) paths.push(process.env[LIBRARY_ENV]);
  paths.push(path.resolve(__dirname, '..', '..', '..', 'build', 'libprwlock.so'));
  paths.push(SONAME);
  return paths;
}

function loadFrom(file) {
  const handle = koffi.load(file);
  koffi.opaque('prw_lock');
  koffi.struct('prw_info_t', {
    readers: 'uint32_t',
    writer_pid: 'uint32_t',
    writer_tid: 'uint32_t',
    writer_active: 'uint32_t',
    waiting_readers: 'uint32_t',
    waiting_writers: 'uint32_t',
    capacity: 'uint32_t',
    used_slots: 'uint32_t',
    attached: 'uint32_t',
    owner_dead: 'uint32_t',
    recoveries: 'uint64_t',
    owner_deaths: 'uint64_t',
  });
  const fns = { path: file };
  for (const proto of PROTOTYPES) {
    const fn = handle.func(proto);
    fns[/(prw_\w+)\(/.exec(proto)[1].slice(4)] = fn;
  }
  return fns;
}

// get returns the function table, loading the library on first use. The
// error names every path tried and why each failed.
function get() {
  if (lib) return lib;
  const tried = [];
  for (const file of candidatePaths()) {
    if (file.includes('/') && !fs.existsSync(file)) {
      tried.push(`  ${file}: no such file`);
      continue;
    }
    try {
      lib = loadFrom(file);
      return lib;
    } catch (err) {
      tried.push(`  ${file}: ${err.message}`);
    }
  }
  const e = new Error(
    `cannot load libprwlock; tried, in order:\n${tried.join('\n')}\n` +
      `(set ${LIBRARY_ENV} to the library's path, or run 'make build' in a checkout)`,
  );
  e.code = 'ELIBACC';
  throw e;
}

// monotonicNs: CLOCK_MONOTONIC in nanoseconds, the clock of every deadline
// the library takes (libuv's hrtime reads CLOCK_MONOTONIC on Linux).
function monotonicNs() {
  return process.hrtime.bigint();
}

module.exports = {
  get,
  candidatePaths,
  monotonicNs,
  LIBRARY_ENV,
  PRW_CREATE,
  PRW_EXCL,
  PRW_MULTIUSER,
  PRW_EFORKED,
  MODE_READ,
  MODE_WRITE,
};
