//! A lock shared by threads and processes, held by the calling thread and
//! by an explicit owner whose hold moves to another thread.
//! Run: cargo run --example basic
use std::thread;

use prwlock::{ErrorKind, Lock, Owner};

fn main() -> Result<(), prwlock::Error> {
    let name = format!("rust-example-{}", std::process::id());
    let lock = Lock::open_or_create(&name)?; // /dev/shm/prwlock.<name>

    // The calling thread's holds: released when the guard drops.
    {
        let mut w = lock.write()?;
        if w.owner_died() {
            // A writer died holding the lock: repair the data here, then:
            w.mark_consistent();
        }
        match lock.try_read() {
            Err(e) if e.kind() == ErrorKind::Deadlock => println!("this thread already writes: {e}"),
            other => panic!("unexpected: {other:?}"),
        }
    }
    let r = lock.read()?;
    println!("readers: {}", lock.info()?.readers);
    drop(r);

    // An explicit owner's hold, taken here and released on another thread.
    let job = Owner::unique();
    let g = lock.write_as(job)?;
    thread::scope(|s| {
        s.spawn(move || {
            println!("releasing {:?} on another thread", g.owner());
            g.unlock()
        })
        .join()
        .unwrap()
    })?;

    drop(lock);
    Lock::unlink(&name)
}
