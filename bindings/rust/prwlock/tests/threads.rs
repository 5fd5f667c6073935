//! One lock shared by the threads of this process: exclusion with an
//! invariant checked inside the critical section, holds of explicit owners
//! handed between threads, the per-holder rules, and errors.
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use prwlock::{ErrorKind, Lock, Mode, Owner};

/// Readers add 1, a writer 1000: inside a write hold it is exactly 1000,
/// inside a read hold between 1 and 999.
struct Activity(AtomicI64);

impl Activity {
    fn enter(&self, m: Mode) -> i64 {
        self.0.fetch_add(weight(m), SeqCst) + weight(m)
    }
    fn leave(&self, m: Mode) {
        self.0.fetch_sub(weight(m), SeqCst);
    }
    fn now(&self) -> i64 {
        self.0.load(SeqCst)
    }
}

fn weight(m: Mode) -> i64 {
    match m {
        Mode::Read => 1,
        Mode::Write => 1000,
    }
}

fn legal(v: i64, m: Mode) -> bool {
    match m {
        Mode::Read => (1..1000).contains(&v),
        Mode::Write => v == 1000,
    }
}

/// A guard of either mode, dropped as a whole.
#[allow(dead_code)]
enum Held<'a> {
    R(prwlock::ReadGuard<'a>),
    W(prwlock::WriteGuard<'a>),
}

#[test]
fn threads_exclude_each_other() {
    let lock = Lock::create().unwrap();
    let act = Activity(AtomicI64::new(0));
    let bad = AtomicUsize::new(0);
    thread::scope(|s| {
        for t in 0..6u64 {
            let (lock, act, bad) = (&lock, &act, &bad);
            s.spawn(move || {
                for i in 0..1500u64 {
                    let m = if (i + t) % 5 == 0 { Mode::Write } else { Mode::Read };
                    let g = match m {
                        Mode::Write => Held::W(lock.write().unwrap()),
                        Mode::Read => Held::R(lock.read().unwrap()),
                    };
                    if !legal(act.enter(m), m) {
                        bad.fetch_add(1, SeqCst);
                    }
                    if i % 64 == 0 {
                        thread::yield_now();
                    }
                    if !legal(act.now(), m) {
                        bad.fetch_add(1, SeqCst);
                    }
                    act.leave(m);
                    drop(g);
                }
            });
        }
    });
    assert_eq!(bad.load(SeqCst), 0, "exclusion violated");
    let i = lock.info().unwrap();
    assert_eq!((i.readers, i.used_slots, i.owner_dead), (0, 0, false));
}

/// Acquirer threads take the lock for an owner and send the guard to
/// releaser threads, which check the invariant (the hold is in force on
/// their thread too) and drop it there.
#[test]
fn owner_guards_move_between_threads() {
    let lock = Lock::create().unwrap();
    let act = Activity(AtomicI64::new(0));
    let bad = AtomicUsize::new(0);
    let crossed = AtomicUsize::new(0);
    const ROUNDS: usize = 4000;
    let (tx, rx) = mpsc::sync_channel::<(Box<dyn Send + '_>, Mode, thread::ThreadId)>(8);
    let rx = Mutex::new(rx);
    let started = AtomicUsize::new(0);
    thread::scope(|s| {
        for a in 0..3 {
            let tx = tx.clone();
            let (lock, act, bad, started) = (&lock, &act, &bad, &started);
            s.spawn(move || {
                while started.fetch_add(1, SeqCst) < ROUNDS {
                    let o = Owner::unique();
                    let m = if o.get() % 4 == a { Mode::Write } else { Mode::Read };
                    let g: Box<dyn Send> = match m {
                        Mode::Write => Box::new(lock.write_as(o).unwrap()),
                        Mode::Read => Box::new(lock.read_as(o).unwrap()),
                    };
                    if !legal(act.enter(m), m) {
                        bad.fetch_add(1, SeqCst);
                    }
                    tx.send((g, m, thread::current().id())).unwrap();
                }
            });
        }
        drop(tx);
        for _ in 0..3 {
            let (rx, act, bad, crossed) = (&rx, &act, &bad, &crossed);
            s.spawn(move || loop {
                let msg = rx.lock().unwrap().recv();
                let (g, m, from) = match msg {
                    Ok(x) => x,
                    Err(_) => return,
                };
                if !legal(act.now(), m) {
                    bad.fetch_add(1, SeqCst);
                }
                if from != thread::current().id() {
                    crossed.fetch_add(1, SeqCst);
                }
                act.leave(m);
                drop(g); // released on this thread
            });
        }
    });
    assert_eq!(bad.load(SeqCst), 0, "exclusion violated");
    assert_eq!(crossed.load(SeqCst), ROUNDS);
    let i = lock.info().unwrap();
    assert_eq!((i.readers, i.used_slots), (0, 0));
}

#[test]
fn per_holder_rules() {
    let lock = Lock::create().unwrap();
    let w = lock.write().unwrap();
    assert_eq!(lock.write().unwrap_err().kind(), ErrorKind::Deadlock);
    assert_eq!(lock.read().unwrap_err().kind(), ErrorKind::Deadlock);
    // An owner is another holder than this thread: it contends.
    let a = Owner::new(1).unwrap();
    assert_eq!(lock.try_read_as(a).unwrap_err().kind(), ErrorKind::Busy);
    let t0 = Instant::now();
    let e = lock.write_as_for(a, Duration::from_millis(30)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert_eq!(e.code(), 110);
    assert!(t0.elapsed() >= Duration::from_millis(30));
    let r = w.downgrade().unwrap();
    let r2 = lock.read().unwrap(); // recursive
    let ra = lock.read_as(a).unwrap();
    assert_eq!(lock.try_write_as(a).unwrap_err().kind(), ErrorKind::Deadlock);
    assert_eq!(lock.info().unwrap().readers, 2);
    let hs = lock.holders().unwrap();
    assert_eq!(hs.len(), 2);
    assert!(hs.iter().any(|h| h.owner == 1 && h.mode == Mode::Read && !h.waiting));
    assert!(hs.iter().all(|h| h.pid == std::process::id() && h.host.is_empty()));
    drop((r, r2));
    let b = Owner::new(u64::MAX).unwrap();
    let wide = lock.read_as(b).unwrap(); // all 64 bits show
    assert!(lock.holders().unwrap().iter().any(|h| h.owner == u64::MAX && h.tid == u32::MAX));
    drop(wide);
    let wb = lock.try_write_as(b);
    assert_eq!(wb.unwrap_err().kind(), ErrorKind::Busy);
    ra.unlock().unwrap();
    let mut wb = lock.try_write_as(b).unwrap();
    assert!(!wb.owner_died());
    wb.mark_consistent(); // harmless without an owner death
    let rb = wb.downgrade().unwrap();
    assert_eq!(rb.owner(), b);
    rb.unlock().unwrap();
    assert!(Owner::new(0).is_none());
    assert_ne!(Owner::unique(), Owner::unique());
}

/// One owner used from two threads at once: the second call gets Busy and
/// changes nothing.
#[test]
fn one_owner_two_threads() {
    let lock = Lock::create().unwrap();
    let o = Owner::unique();
    let w = lock.write().unwrap();
    thread::scope(|s| {
        let h = s.spawn(|| lock.write_as(o).map(|g| g.unlock()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while lock.info().unwrap().waiting_writers == 0 {
            assert!(Instant::now() < deadline, "the owner never queued");
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(lock.try_read_as(o).unwrap_err().kind(), ErrorKind::Busy);
        drop(w);
        h.join().unwrap().unwrap().unwrap();
    });
    assert_eq!(lock.info().unwrap().used_slots, 0);
}

#[test]
fn owner_holds_outlive_their_thread_and_end_at_close() {
    let name = format!("rust-test-close-{}", std::process::id());
    let lock = Arc::new(Lock::options().create(true).exclusive(true).open(&name).unwrap());
    let token = lock.token().unwrap();
    let other = Lock::from_token(&token).unwrap();
    let o = Owner::unique();
    // A thread takes write for the owner and exits; the guard is forgotten
    // (the owner keeps holding: no thread exit ends it).
    let l2 = Arc::clone(&lock);
    thread::spawn(move || std::mem::forget(l2.write_as(o).unwrap()))
        .join()
        .unwrap();
    assert_eq!(other.try_read().unwrap_err().kind(), ErrorKind::Busy);
    // Closing one of two handles ends nothing; closing the last ends the
    // owner's write hold as if its writer died.
    Arc::try_unwrap(lock).unwrap().close().unwrap();
    assert_eq!(other.try_read().unwrap_err().kind(), ErrorKind::Busy);
    other.close().unwrap();
    let again = Lock::open(&name).unwrap();
    Lock::unlink(&name).unwrap();
    let mut g = again.try_write().unwrap();
    assert!(g.owner_died());
    g.mark_consistent();
    drop(g);
    assert!(!again.info().unwrap().owner_dead);
}

#[test]
fn errors_carry_code_and_text() {
    let e = Lock::open("rust-test-no-such-lock-\u{1}").unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidArgument), "{e:?}");
    let e = Lock::open("nul\0byte").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(e.code(), 22);
    assert!(!e.to_string().is_empty());
    let io: std::io::Error = e.into();
    assert_eq!(io.raw_os_error(), Some(22));
    assert!(prwlock::version().starts_with("1."));
}
