'use strict';
// Errors as Node reports system errors: an Error whose `code` is the errno
// name ('ETIMEDOUT', 'EDEADLK', ...) and `errno` the number. The text comes
// from the library (prw_strerror), the project's one table of error text.

const os = require('node:os');
const native = require('./native');

const NAMES = new Map();
for (const [name, num] of Object.entries(os.constants.errno)) {
  // Aliases (EWOULDBLOCK, EOPNOTSUPP): keep the name the header uses.
  if (!NAMES.has(num)) NAMES.set(num, name);
}
// Node's table lacks the robust-mutex codes; their Linux values.
if (!NAMES.has(130)) NAMES.set(130, 'EOWNERDEAD');
if (!NAMES.has(131)) NAMES.set(131, 'ENOTRECOVERABLE');
NAMES.set(native.PRW_EFORKED, 'EFORKED');

const NUMBERS = new Map([...NAMES].map(([num, name]) => [name, num]));

// codeName returns the errno name of rc ('E...'), or 'E<rc>' if unknown.
function codeName(rc) {
  return NAMES.get(rc) || `E${rc}`;
}

// errnoOf returns the number of an errno name, for tests and callers that
// compare with numbers.
function errnoOf(name) {
  return NUMBERS.get(name);
}

class PrwlockError extends Error {
  constructor(rc, op, lockName) {
    let text;
    try {
      text = native.get().strerror(rc);
    } catch {
      text = `error ${rc}`;
    }
    super(`${op}: ${text}${lockName ? ` (${lockName})` : ''}`);
    this.name = 'PrwlockError';
    this.code = codeName(rc);
    this.errno = rc;
    this.syscall = op;
    if (lockName) this.path = lockName;
  }
}

module.exports = { PrwlockError, codeName, errnoOf };
