//! The declarations of this crate against include/prwlock.h: the same
//! function names, and structs of the C sizes.
use std::collections::BTreeSet;
use std::ffi::CStr;
use std::path::Path;

/// Names of the functions declared in `text`: `prw_name(` after a return
/// type at the start of a line (header), or after `pub fn ` (this crate).
fn names(text: &str, rust: bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim_start();
        let rest = if rust {
            match line.strip_prefix("pub fn ") {
                Some(r) => r,
                None => continue,
            }
        } else {
            if !(line.starts_with("int ") || line.starts_with("const char *")) {
                continue;
            }
            match line.find("prw_") {
                Some(i) => &line[i..],
                None => continue,
            }
        };
        if let Some(end) = rest.find('(') {
            let name = &rest[..end];
            if name.starts_with("prw_") && name.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric()) {
                out.insert(name.to_string());
            }
        }
    }
    out
}

#[test]
fn declares_what_the_header_declares() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = std::fs::read_to_string(root.join("../../../include/prwlock.h")).unwrap();
    let ours = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let (h, r) = (names(&header, false), names(&ours, true));
    assert!(h.len() >= 30, "found only {} functions in prwlock.h", h.len());
    assert_eq!(h, r, "prwlock-sys and include/prwlock.h disagree");
}

#[test]
fn struct_sizes_match_c() {
    // Ten uint32_t, then two uint64_t; six 32-bit fields, then an int64_t.
    assert_eq!(std::mem::size_of::<prwlock_sys::prw_info_t>(), 56);
    assert_eq!(std::mem::size_of::<prwlock_sys::prw_holder_t>(), 32);
    // prw_holder_t, two uint64_t, char[256].
    assert_eq!(std::mem::size_of::<prwlock_sys::prw_holder_ex_t>(), 304);
}

#[test]
fn links_and_answers() {
    let v = unsafe { CStr::from_ptr(prwlock_sys::prw_version()) }.to_str().unwrap();
    assert!(v.starts_with(&format!("{}.", prwlock_sys::PRW_VERSION_MAJOR)), "{v}");
    let mut l = std::ptr::null_mut();
    assert_eq!(unsafe { prwlock_sys::prw_create(&mut l) }, 0);
    assert_eq!(unsafe { prwlock_sys::prw_acquire_write_as(l, 0, -1) }, libc_einval());
    assert_eq!(unsafe { prwlock_sys::prw_acquire_write_as(l, 7, -1) }, 0);
    assert_eq!(unsafe { prwlock_sys::prw_release_as(l, 7) }, 0);
    assert_eq!(unsafe { prwlock_sys::prw_close(l) }, 0);
}

fn libc_einval() -> i32 {
    22 // EINVAL on Linux
}
