'use strict';
// A helper process for the tests: test/helpers.js child(args).
//   hold MODE PATH [MS]   acquire MODE, print {"held":true}, hold MS ms
//                         (forever without MS: the test kills it), release,
//                         print {"released":true}
//   wait PATH             print {"waiting":true}, wait for write; on SIGINT
//                         print {"sigint":true,...} and exit 0
//   hammer PATH DATA N TASKS   run exclusion rounds (see hammer.js)
const { RWLock } = require('..');
const hammer = require('./hammer');

const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === 'hold') {
    const [mode, file, ms] = args;
    const lock = RWLock.open(file);
    const g = mode === 'write' ? await lock.acquireWrite() : await lock.acquireRead();
    say({ held: true, ownerDead: g.ownerDead });
    if (ms === undefined) {
      setInterval(() => {}, 1 << 30); // until killed
      return;
    }
    await new Promise((r) => setTimeout(r, Number(ms)));
    g.release();
    lock.close();
    say({ released: true });
  } else if (cmd === 'wait') {
    // A SIGINT handler must run while the acquisition waits.
    const lock = RWLock.open(args[0]);
    process.on('SIGINT', () => {
      say({ sigint: true, pendingWait: true });
      process.exit(0);
    });
    const p = lock.acquireWrite();
    say({ waiting: true });
    await p;
    say({ acquired: true });
  } else if (cmd === 'hammer') {
    const [file, data, n, tasks] = args;
    say(await hammer.run(file, data, Number(n), Number(tasks)));
  } else {
    throw new Error(`unknown command ${cmd}`);
  }
}

main().catch((err) => {
  say({ error: String(err && err.stack ? err.stack : err) });
  process.exitCode = 1;
});
