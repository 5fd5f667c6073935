# prwlock 0.4.1 usage: the constructor is all the setup a lock needs.
from prwlock import RWLock

lock = RWLock()
print(type(lock).__name__)
