//! `cargo xtask fuzz [--seconds N] [--update-corpus] [TARGET...]`: runs the cargo-fuzz targets of `fuzz/`
//! (docs/testing.md, "Fuzzing") one after another, each for N seconds (60 by default), and reports executions,
//! coverage and any crash with its minimised input, which is also copied to `fuzz/regressions/<target>/` so that
//! `cargo test` replays it from then on. `--update-corpus` merges what the run found into the checked-in corpus
//! `fuzz/corpus/<target>/`, keeping the smallest set of inputs that covers as much.
//!
//! Fuzzing needs the nightly toolchain and cargo-fuzz (`rustup toolchain install nightly --profile minimal`,
//! `cargo install cargo-fuzz`); the build and the tests do not. The fuzzers run at the lowest priority
//! (`nice -n 19`), one at a time.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::say;

/// One fuzz target: its name, the largest input it is given, the cargo features it needs, and folders of seed
/// inputs beside its corpus (relative to the workspace root).
struct Target {
    name: &'static str,
    max_len: usize,
    features: Option<&'static str>,
    seeds: &'static [&'static str],
}

const MANIFESTS: &[&str] =
    &["crates/karpenter-api/tests/manifests", "crates/karpenter-snapshot/tests/fixtures"];

const TARGETS: [Target; 8] = [
    Target { name: "quantity", max_len: 64, features: None, seeds: &[] },
    Target { name: "selectors", max_len: 4096, features: None, seeds: &[] },
    Target { name: "solver_json", max_len: 16384, features: None, seeds: &[] },
    Target { name: "solver_structured", max_len: 4096, features: None, seeds: &[] },
    Target { name: "manifests", max_len: 16384, features: None, seeds: MANIFESTS },
    Target { name: "yaml", max_len: 16384, features: None, seeds: MANIFESTS },
    Target { name: "budgets", max_len: 1024, features: None, seeds: &[] },
    Target { name: "interruption", max_len: 4096, features: Some("aws"), seeds: &[] },
];

/// Seconds one input may take before libFuzzer calls it a hang.
const TIMEOUT_SECONDS: u32 = 10;

/// What one run of a target came to.
#[derive(Debug, Default, PartialEq)]
struct Outcome {
    executions: Option<u64>,
    coverage: Option<u64>,
    features: Option<u64>,
    corpus: Option<u64>,
    crash: Option<Crash>,
}

/// A crash or hang libFuzzer found.
#[derive(Debug, PartialEq)]
struct Crash {
    /// `crash`, `timeout`, `oom` or `leak`.
    kind: String,
    artifact: PathBuf,
    /// The panic message or libFuzzer's summary line.
    message: String,
}

/// Runs the command with its arguments (everything after `fuzz`).
pub(crate) fn run(root: &Path, args: &[String]) -> Result<()> {
    let mut seconds = 60u64;
    let mut update_corpus = false;
    let mut names = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().context("--seconds needs a number")?;
                seconds = value.parse().with_context(|| format!("--seconds {value:?} is not a number"))?;
            }
            "--update-corpus" => update_corpus = true,
            name if TARGETS.iter().any(|t| t.name == name) => names.push(name.to_string()),
            other => bail!(
                "unknown fuzz target or option {other:?}; targets: {}",
                TARGETS.iter().map(|t| t.name).collect::<Vec<_>>().join(" ")
            ),
        }
    }
    check_tools()?;
    let fuzz = root.join("fuzz");
    let mut report = String::new();
    let mut crashes = 0;
    for target in TARGETS.iter().filter(|t| names.is_empty() || names.iter().any(|n| n == t.name)) {
        let started = Instant::now();
        let outcome = run_target(root, &fuzz, target, seconds)?;
        let elapsed = started.elapsed().as_secs();
        let line = match &outcome.crash {
            None => format!(
                "{}: clean for {elapsed} s, {} executions, coverage {} edges / {} features, corpus {}",
                target.name,
                shown(outcome.executions),
                shown(outcome.coverage),
                shown(outcome.features),
                shown(outcome.corpus),
            ),
            Some(crash) => {
                crashes += 1;
                let minimised = minimise(&fuzz, target, &crash.artifact)?;
                let kept = keep_regression(&fuzz, target, &minimised)?;
                format!(
                    "{}: {} after {elapsed} s: {}\n  minimised input ({} bytes): {}\n  kept as {}",
                    target.name,
                    crash.kind,
                    crash.message,
                    std::fs::metadata(&minimised).map(|m| m.len()).unwrap_or(0),
                    escaped(&std::fs::read(&minimised).unwrap_or_default()),
                    kept.display()
                )
            }
        };
        say(&line);
        let _ = writeln!(report, "{line}");
        if update_corpus && outcome.crash.is_none() {
            let kept = merge_corpus(&fuzz, target)?;
            say(&format!("{}: fuzz/corpus/{} now holds {kept} inputs", target.name, target.name));
        }
    }
    say(&format!("\nfuzzing summary:\n{report}"));
    if crashes > 0 {
        bail!("{crashes} target(s) crashed; the minimised inputs are in fuzz/regressions/");
    }
    Ok(())
}

fn check_tools() -> Result<()> {
    let nightly = Command::new("cargo").args(["+nightly", "fuzz", "--version"]).output();
    if !nightly.is_ok_and(|o| o.status.success()) {
        bail!(
            "fuzzing needs nightly Rust and cargo-fuzz: `rustup toolchain install nightly --profile minimal` and \
             `cargo install cargo-fuzz`"
        );
    }
    Ok(())
}

/// `cargo +nightly fuzz ...` at the lowest priority, in `fuzz/`.
fn cargo_fuzz(fuzz: &Path, target: &Target, subcommand: &str) -> Command {
    let mut command = Command::new("nice");
    command.args(["-n", "19", "cargo", "+nightly", "fuzz", subcommand, target.name]);
    if let Some(features) = target.features {
        command.args(["--features", features]);
    }
    command.current_dir(fuzz);
    command
}

fn run_target(root: &Path, fuzz: &Path, target: &Target, seconds: u64) -> Result<Outcome> {
    let work = fuzz.join("target/corpus").join(target.name);
    let corpus = fuzz.join("corpus").join(target.name);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    std::fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
    let mut command = cargo_fuzz(fuzz, target, "run");
    command.arg(&work).arg(&corpus);
    for seed in target.seeds {
        command.arg(root.join(seed));
    }
    command.args([
        "--".to_string(),
        format!("-max_total_time={seconds}"),
        format!("-max_len={}", target.max_len),
        format!("-timeout={TIMEOUT_SECONDS}"),
        "-rss_limit_mb=2048".to_string(),
        "-print_final_stats=1".to_string(),
    ]);
    say(&format!("$ cargo +nightly fuzz run {} ({seconds} s)", target.name));
    let output = command.output().context("could not start cargo fuzz")?;
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    let log_path = fuzz.join("target/logs").join(format!("{}.log", target.name));
    if let Some(dir) = log_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&log_path, &log).with_context(|| format!("writing {}", log_path.display()))?;
    let outcome = parse_log(&log, fuzz);
    if !output.status.success() && outcome.crash.is_none() {
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        bail!(
            "cargo fuzz run {} failed without a crash (a build error?); the end of {}:\n{}",
            target.name,
            log_path.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(outcome)
}

/// Reads libFuzzer's output: the final statistics, and the artifact of a crash if there was one.
fn parse_log(log: &str, fuzz: &Path) -> Outcome {
    let mut outcome = Outcome::default();
    for line in log.lines() {
        if let Some(value) = line.strip_prefix("stat::number_of_executed_units:") {
            outcome.executions = value.trim().parse().ok();
        }
        // Progress lines: "#123 NEW cov: 456 ft: 789 corp: 12/345b ...".
        if line.starts_with('#') {
            let words: Vec<&str> = line.split_whitespace().collect();
            let after = |key: &str| words.iter().position(|w| *w == key).and_then(|i| words.get(i + 1));
            if let Some(cov) = after("cov:").and_then(|v| v.parse().ok()) {
                outcome.coverage = Some(cov);
            }
            if let Some(ft) = after("ft:").and_then(|v| v.parse().ok()) {
                outcome.features = Some(ft);
            }
            if let Some(corp) = after("corp:").and_then(|v| v.split('/').next()?.parse().ok()) {
                outcome.corpus = Some(corp);
            }
        }
        if let Some(rest) = line.split("Test unit written to ").nth(1) {
            let artifact = PathBuf::from(rest.trim());
            let name = artifact.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let kind = name.split('-').next().unwrap_or("crash").to_string();
            let artifact = if artifact.is_absolute() { artifact } else { fuzz.join(artifact) };
            outcome.crash = Some(Crash { kind, artifact, message: failure_message(log) });
        }
    }
    outcome
}

/// The panic message of a crash, or libFuzzer's summary line.
fn failure_message(log: &str) -> String {
    let panic = log.lines().skip_while(|l| !l.contains("panicked at")).take(3).collect::<Vec<_>>();
    if !panic.is_empty() {
        return panic.join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
    }
    log.lines()
        .find(|l| l.starts_with("SUMMARY:") || l.contains("ERROR: libFuzzer"))
        .unwrap_or("")
        .to_string()
}

/// Minimises a crashing input with `cargo fuzz tmin`; the smallest input that still fails, or the original.
fn minimise(fuzz: &Path, target: &Target, artifact: &Path) -> Result<PathBuf> {
    say(&format!("$ cargo +nightly fuzz tmin {} {}", target.name, artifact.display()));
    let mut command = cargo_fuzz(fuzz, target, "tmin");
    command.arg(artifact).args(["-r", "2000"]);
    let output = command.output().context("could not start cargo fuzz tmin")?;
    let log = String::from_utf8_lossy(&output.stderr);
    let minimised = log
        .lines()
        .filter_map(|l| l.split("Test unit written to ").nth(1))
        .chain(
            log.lines()
                .filter_map(|l| l.strip_prefix("CRASH_MIN: failed to minimize beyond ")?.split(' ').next()),
        )
        .last()
        .map(|p| fuzz.join(p.trim()))
        .filter(|p| p.is_file());
    Ok(minimised.unwrap_or_else(|| artifact.to_path_buf()))
}

/// Copies a minimised crash into `fuzz/regressions/<target>/` under its content's name.
fn keep_regression(fuzz: &Path, target: &Target, input: &Path) -> Result<PathBuf> {
    let dir = fuzz.join("regressions").join(target.name);
    std::fs::create_dir_all(&dir)?;
    let data = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let name = input.file_name().and_then(|n| n.to_str()).unwrap_or("crash");
    let name = name.trim_start_matches("minimized-from-");
    let kept = dir.join(name);
    std::fs::write(&kept, data).with_context(|| format!("writing {}", kept.display()))?;
    Ok(kept)
}

/// Merges the working corpus into the checked-in one with libFuzzer's `-merge=1`, which keeps the smallest set
/// of inputs that covers every feature of both; returns how many inputs it kept.
fn merge_corpus(fuzz: &Path, target: &Target) -> Result<usize> {
    let corpus = fuzz.join("corpus").join(target.name);
    let merged = fuzz.join("target/merged").join(target.name);
    let _ = std::fs::remove_dir_all(&merged);
    std::fs::create_dir_all(&merged)?;
    let mut command = cargo_fuzz(fuzz, target, "run");
    command.arg(&merged).arg(&corpus).arg(fuzz.join("target/corpus").join(target.name)).args([
        "--".to_string(),
        "-merge=1".to_string(),
        format!("-max_len={}", target.max_len),
        format!("-timeout={TIMEOUT_SECONDS}"),
    ]);
    let output = command.output().context("could not start cargo fuzz run -merge=1")?;
    if !output.status.success() {
        bail!("merging the corpus of {} failed:\n{}", target.name, String::from_utf8_lossy(&output.stderr));
    }
    for entry in std::fs::read_dir(&corpus)? {
        std::fs::remove_file(entry?.path())?;
    }
    let mut kept = 0;
    for entry in std::fs::read_dir(&merged)? {
        let path = entry?.path();
        std::fs::copy(&path, corpus.join(path.file_name().context("a corpus file has a name")?))?;
        kept += 1;
    }
    Ok(kept)
}

fn shown(value: Option<u64>) -> String {
    value.map_or_else(|| "?".to_string(), |v| v.to_string())
}

/// An input for the terminal: printable ASCII as it is, everything else escaped, at most 300 characters.
fn escaped(data: &[u8]) -> String {
    let text: String = data.iter().flat_map(|b| std::ascii::escape_default(*b)).map(char::from).collect();
    if text.len() > 300 { format!("\"{}...\" (cut)", &text[..300]) } else { format!("\"{text}\"") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_statistics_and_crashes_from_libfuzzer_output() {
        let clean = "#2 INITED cov: 10 ft: 11 corp: 1/1b exec/s: 0 rss: 30Mb\n\
                     #4096 pulse cov: 120 ft: 300 corp: 40/2Kb lim: 43 exec/s: 2048 rss: 40Mb\n\
                     Done 5000 runs in 2 second(s)\n\
                     stat::number_of_executed_units: 5000\n";
        let outcome = parse_log(clean, Path::new("/f"));
        assert_eq!(
            outcome,
            Outcome {
                executions: Some(5000),
                coverage: Some(120),
                features: Some(300),
                corpus: Some(40),
                crash: None
            }
        );
        let crash = "#10 NEW cov: 5 ft: 5 corp: 2/3b\n\
                     thread '<unnamed>' panicked at src/checks/quantity.rs:12:5:\n\
                     attempt to negate with overflow\n\
                     ==1== ERROR: libFuzzer: deadly signal\n\
                     artifact_prefix='/f/artifacts/quantity/'; Test unit written to /f/artifacts/quantity/crash-abc\n";
        let crash = parse_log(crash, Path::new("/f")).crash.unwrap();
        assert_eq!(crash.kind, "crash");
        assert_eq!(crash.artifact, PathBuf::from("/f/artifacts/quantity/crash-abc"));
        assert!(crash.message.contains("attempt to negate with overflow"), "{}", crash.message);
    }

    #[test]
    fn escapes_inputs_for_the_terminal() {
        assert_eq!(escaped(b"1e-2147483648"), "\"1e-2147483648\"");
        assert_eq!(escaped(b"a\n\xff"), "\"a\\n\\xff\"");
    }
}
