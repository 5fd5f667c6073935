//! One lock shared by several processes: this test binary re-runs itself as
//! the helper processes (the `helper` test, which does nothing unless the
//! PRWLOCK_RS_HELPER variable names a role).
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prwlock::{Lock, Owner};

const ROLE: &str = "PRWLOCK_RS_HELPER";

fn spawn(role: &str, token: &str, file: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["helper", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env("PRWLOCK_RS_TOKEN", token)
        .env("PRWLOCK_RS_FILE", file)
        .stdin(Stdio::piped()) // "hold" waits for it to close (or for SIGKILL)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// A file of the test's own under TMPDIR.
fn scratch(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("prwlock-rs-{tag}-{}", std::process::id()))
}

/// bump reads the counter in `file`, pauses, and writes it back plus one:
/// two processes inside at once lose an update.
fn bump(file: &Path) {
    let v: u64 = fs::read_to_string(file).unwrap().trim().parse().unwrap();
    std::thread::yield_now();
    fs::write(file, format!("{}\n", v + 1)).unwrap();
}

const WRITES: u64 = 300;

#[test]
fn helper() {
    let role = match std::env::var(ROLE) {
        Ok(r) => r,
        Err(_) => return, // not a helper: nothing to do
    };
    let lock = Lock::from_token(&std::env::var("PRWLOCK_RS_TOKEN").unwrap()).unwrap();
    let file = PathBuf::from(std::env::var("PRWLOCK_RS_FILE").unwrap());
    match role.as_str() {
        // Writers as threads and as owners handed between threads, and
        // readers that check the counter is never half written.
        "hammer" => std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..WRITES / 2 {
                    let g = lock.write().unwrap();
                    bump(&file);
                    drop(g);
                }
            });
            s.spawn(|| {
                for _ in 0..WRITES / 2 {
                    let g = lock.write_as(Owner::unique()).unwrap();
                    bump(&file);
                    // Released on another thread.
                    std::thread::scope(|s2| {
                        s2.spawn(move || drop(g));
                    });
                }
            });
            s.spawn(|| {
                for _ in 0..WRITES {
                    let g = lock.read().unwrap();
                    let t = fs::read_to_string(&file).unwrap();
                    assert!(t.ends_with('\n') && t.trim().parse::<u64>().is_ok(), "torn: {t:?}");
                    drop(g);
                }
            });
        }),
        // Take write for an owner on a thread that then exits, say so,
        // and wait to be killed.
        "hold" => {
            let o = Owner::unique();
            std::thread::scope(|s| {
                s.spawn(|| std::mem::forget(lock.write_as(o).unwrap()));
            });
            fs::write(&file, "held").unwrap();
            let mut buf = [0u8; 1];
            let _ = std::io::stdin().read(&mut buf); // until killed
        }
        r => panic!("unknown role {r}"),
    }
}

#[test]
fn processes_exclude_each_other() {
    let lock = Lock::create().unwrap();
    let file = scratch("counter");
    fs::write(&file, "0\n").unwrap();
    let token = lock.token().unwrap();
    let kids: Vec<Child> = (0..3).map(|_| spawn("hammer", &token, &file)).collect();
    // This process writes too.
    for _ in 0..WRITES {
        let g = lock.write().unwrap();
        bump(&file);
        drop(g);
    }
    for mut k in kids {
        assert!(k.wait().unwrap().success(), "a helper failed");
    }
    let total: u64 = fs::read_to_string(&file).unwrap().trim().parse().unwrap();
    fs::remove_file(&file).unwrap();
    assert_eq!(total, WRITES * 4, "updates were lost: two writers were inside at once");
}

#[test]
fn killed_owner_is_recovered() {
    let lock = Lock::create().unwrap();
    let mark = scratch("held");
    let mut kid = spawn("hold", &lock.token().unwrap(), &mark);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !mark.exists() {
        if kid.try_wait().unwrap().is_some() || Instant::now() > deadline {
            let _ = kid.kill();
            panic!("the helper ended, or did not hold in time");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    fs::remove_file(&mark).unwrap();
    // The thread that acquired is gone; the owner still holds.
    assert_eq!(lock.try_read().unwrap_err().kind(), prwlock::ErrorKind::Busy);
    kid.kill().unwrap(); // SIGKILL
    kid.wait().unwrap();
    let t0 = Instant::now();
    let g = lock.write_for(Duration::from_secs(30)).unwrap();
    assert!(g.owner_died(), "the dead owner's write hold was not reported");
    drop(g); // not marked consistent: the mark stays
    let g = lock.write().unwrap();
    assert!(g.owner_died());
    assert!(lock.info().unwrap().recoveries >= 1);
    let mut g = g;
    g.mark_consistent();
    drop(g);
    assert!(!lock.info().unwrap().owner_dead);
    assert!(t0.elapsed() < Duration::from_secs(30));
}
