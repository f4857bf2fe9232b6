//! Replays a fuzz target's checked-in inputs as an ordinary test: every file of `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` goes through the target's check, on stable Rust, and every failure is reported
//! with the file it came from. Compiled into each tested crate's tests with `#[path]`.

use std::path::{Path, PathBuf};

/// The `fuzz/` folder, from the manifest folder of a crate under `crates/`.
pub fn fuzz_dir(manifest_dir: &str) -> PathBuf {
    Path::new(manifest_dir).join("../../fuzz")
}

/// Runs `check` on every input of `target`; panics naming each input that failed. Returns how many ran.
pub fn replay(manifest_dir: &str, target: &str, check: fn(&[u8])) -> usize {
    let root = fuzz_dir(manifest_dir);
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = root.join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        files.extend(entries.filter_map(|e| Some(e.ok()?.path())).filter(|p| p.is_file()));
    }
    files.sort();
    assert!(!files.is_empty(), "no inputs for fuzz target {target} under {}", root.display());
    let mut failures = Vec::new();
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {message}", file.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} inputs failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    files.len()
}
