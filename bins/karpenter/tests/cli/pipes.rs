//! `karpenter <command> | head` ends quietly: a reader that closes the pipe is a normal end for a filter, so the
//! command stops with status 0 and prints no panic or error.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Runs the command, reads its first line, closes the pipe, and returns its status and standard error. Each
/// command here writes far more than a pipe buffer holds, so the rest of its writes meet the closed pipe.
fn first_line_then_close(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_karpenter"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let output = child.wait_with_output().unwrap();
    (output.status, first, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn every_command_ends_quietly_when_its_reader_goes_away() {
    let plan =
        ["plan", "-f", "tests/plans/seed", "-f", "tests/plans/many-pods", "--now", "2026-11-24T10:30:00Z"];
    let plan_json = ["plan", "-f", "tests/plans/seed", "-f", "tests/plans/many-pods", "-o", "json"];
    for args in
        [&["catalog"][..], &["catalog", "-o", "json", "--all-offerings"], &["crds"], &plan, &plan_json]
    {
        let (status, first, stderr) = first_line_then_close(args);
        assert!(!first.is_empty(), "{args:?} wrote its first line");
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} printed to standard error: {stderr}");
    }
}
