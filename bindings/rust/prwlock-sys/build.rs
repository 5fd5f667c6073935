//! Finds libprwlock.so: PRWLOCK_LIB_DIR if set, else the repository's
//! build/ directory (`make build`), else the system's library path (an
//! installed libprwlock). Dependents get the directory as
//! DEP_PRWLOCK_LIB_DIR, to put it in the rpath of their tests; this crate's
//! own test gets it here.
use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=PRWLOCK_LIB_DIR");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let repo_build = manifest.join("../../../build");
    let dir = match env::var_os("PRWLOCK_LIB_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if !d.join("libprwlock.so").exists() {
                panic!(
                    "PRWLOCK_LIB_DIR={} has no libprwlock.so (run `make build` in the repository)",
                    d.display()
                );
            }
            Some(d)
        }
        None if repo_build.join("libprwlock.so").exists() => Some(repo_build),
        None => None, // an installed library, found by the linker's own search
    };
    if let Some(d) = dir {
        let d = d.canonicalize().unwrap_or(d);
        println!("cargo:rerun-if-changed={}", d.join("libprwlock.so").display());
        println!("cargo:rustc-link-search=native={}", d.display());
        println!("cargo:lib_dir={}", d.display());
        // For this crate's own test (dependents do the same with lib_dir).
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", d.display());
    }
    println!("cargo:rustc-link-lib=dylib=prwlock");
}
