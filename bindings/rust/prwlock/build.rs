//! Puts the directory where prwlock-sys found libprwlock.so (if it found it
//! outside the system's library path) in the rpath of this crate's tests and
//! examples, so that `cargo test` and `cargo run --example` run as they are.
//! A program of your own needs the same (or LD_LIBRARY_PATH, or an installed
//! library): see README.md.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_PRWLOCK_LIB_DIR");
    if let Some(dir) = std::env::var_os("DEP_PRWLOCK_LIB_DIR") {
        let dir = dir.to_string_lossy();
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
