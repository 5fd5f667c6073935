'use strict';
// A worker_thread for the tests: runs hammer.run(workerData...) and posts
// the result.
const { parentPort, workerData } = require('node:worker_threads');
const hammer = require('./hammer');

hammer
  .run(workerData.lockPath, workerData.dataPath, workerData.rounds, workerData.tasks)
  .then((r) => parentPort.postMessage(r), (err) => parentPort.postMessage({ error: String(err.stack || err) }));
