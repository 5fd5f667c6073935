'use strict';
// prwlock for Node: a reader-writer lock shared by the processes (and
// worker_threads) of one machine, over libprwlock.so through koffi.

const { RWLock, Guard } = require('./lock');
const { PrwlockError } = require('./errors');
const native = require('./native');

/** The library's version string ("MAJOR.MINOR.PATCH"). */
function libraryVersion() {
  return native.get().version();
}

module.exports = { RWLock, Guard, PrwlockError, libraryVersion };
