# prwlock 0.4.1 usage: a lock handed to Pool workers as an apply_async
# argument (so it is pickled), each worker taking the read side twice.
# 0.4.1 only worked when the workers were forked; this runs under the start
# method named on the command line (default: the platform's).
import multiprocessing
import os
import sys
import time

from prwlock import RWLock


def reader(lock, rounds):
    for _ in range(rounds):
        lock.acquire_read()
        print(os.getpid(), "got the read lock", flush=True)
        time.sleep(0.2)
        print(os.getpid(), "giving it back", flush=True)
        lock.release()
    return rounds


if __name__ == "__main__":
    if len(sys.argv) > 1:
        multiprocessing.set_start_method(sys.argv[1])
    lock = RWLock()
    workers = 10
    pool = multiprocessing.Pool(processes=workers)
    results = [pool.apply_async(reader, [lock, 2]) for _ in range(workers)]
    done = sum(r.get(timeout=60) for r in results)
    pool.close()
    pool.join()
    print("rounds", done)
