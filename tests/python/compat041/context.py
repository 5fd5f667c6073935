# prwlock 0.4.1 usage: both sides of the lock as context managers.
from prwlock import RWLock

lock = RWLock()

with lock.reader_lock():
    print("inside the reader lock")

with lock.writer_lock():
    print("inside the writer lock")
