//! `karpenter simulate`: the built-in scenario's summary, a scenario file with a capacity error and a spot
//! interruption played through the controller, the same output for the same seed, and errors that name the file,
//! the field and the reason. Scenario files are in `tests/simulate/`.

use std::path::Path;
use std::process::Command;

use expect_test::{Expect, expect};

/// What one run printed and how it ended.
struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `karpenter simulate <args>` in `tests/simulate/`.
fn simulate(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_karpenter"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/simulate"))
        .arg("simulate")
        .args(args)
        .output()
        .unwrap();
    Run {
        status: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn check(args: &[&str], expected: Expect) {
    let run = simulate(args);
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    expected.assert_eq(&run.stdout);
}

/// The summary of the built-in scenario. It moves when the controller's decisions move (the disruption controller
/// removing empty nodes, a cheaper packing): update it with `UPDATE_EXPECT=1` and say why in the commit.
#[test]
fn the_default_scenario_summary() {
    check(
        &["--summary-only"],
        expect![[r#"
            Summary of scenario seed (seed 1), 25:00:00 simulated
              NodeClaims launched:        27
              NodeClaims removed:         27 (disrupted: Empty)
              launches failed:            0
              peak nodes:                 14
              node-hours:                 184.67
              total cost:                 $34.5390
              peak cost:                  $1.5416/h
              pods created:               224
              pods bound:                 224
              pending-to-bound latency:   p50 0s, p99 43s, max 43s
              pods never scheduled:       0 (0 still pending at the end)
        "#]],
    );
}

#[test]
fn a_capacity_error_and_a_spot_interruption_play_through_the_controller() {
    check(
        &["-f", "spot.yaml"],
        expect![[r#"
            TIME      PENDING  NODES   $/HOUR  EVENT
            00:00:00        0      0   0.0000  capacity of m6g.large us-east-1a spot runs out
            00:00:00        0      0   0.0000
            00:01:00        0      0   0.0000  default/app scaled to 2
            00:01:02        2      1   0.0816  + spot-hwvt9 m7g.large spot us-east-1a $0.0816/h (NodePool spot)
            00:01:02        2      2   0.1632  + spot-vll49 m7g.large spot us-east-1a $0.0816/h (NodePool spot)
            00:10:00        0      2   0.1632  spot interruption warning for spot-vll49 (m7g.large us-east-1a)
            00:10:00        0      2   0.1632
            00:10:01        1      1   0.0816  - spot-vll49 (TerminatingOnInterruption: Interruption triggered termination for the Node)
            00:13:02        1      2   0.1632  + spot-487m9 m7g.large spot us-east-1a $0.0816/h (NodePool spot)
            00:20:00        0      2   0.1632
            00:30:00        0      2   0.1632

            Summary of scenario spot (seed 1), 00:30:00 simulated
              NodeClaims launched:        3
              NodeClaims removed:         1 (TerminatingOnInterruption: Interruption triggered termination for the Node)
              launches failed:            0
              peak nodes:                 2
              node-hours:                 0.92
              total cost:                 $0.0747
              peak cost:                  $0.1632/h
              pods created:               3
              pods bound:                 3
              pending-to-bound latency:   p50 33s, p99 212s, max 212s
              pods never scheduled:       0 (0 still pending at the end)
        "#]],
    );
}

#[test]
fn the_same_seed_gives_the_same_output() {
    let first = simulate(&["-f", "spot.yaml", "-o", "json", "--seed", "3"]);
    let second = simulate(&["-f", "spot.yaml", "-o", "json", "--seed", "3"]);
    assert_eq!(first.status, Some(0), "{}", first.stderr);
    assert_eq!(first.stdout, second.stdout);
    let json: serde_json::Value = serde_json::from_str(&first.stdout).unwrap();
    assert_eq!(json["summary"]["seed"], 3);
    assert!(json["timeline"].as_array().is_some_and(|rows| !rows.is_empty()));
}

#[test]
fn bad_scenarios_are_refused_with_the_file_the_field_and_the_reason() {
    let run = simulate(&["-f", "bad-duration.yaml"]);
    assert_eq!(run.status, Some(1));
    assert_eq!(run.stdout, "");
    expect![[r#"
        Error: bad-duration.yaml: workloads[0].replicas[1].at: "ten minutes" is not a duration such as 90s, 5m or 1h30m
    "#]]
    .assert_eq(&run.stderr);
    let run = simulate(&["-f", "bad-capacity.yaml"]);
    assert_eq!(run.status, Some(1));
    expect![[r#"
        Error: bad-capacity.yaml: capacityErrors[1]: the catalog of us-east-1 has no offering m6g.huge us-east-1a spot
    "#]]
    .assert_eq(&run.stderr);
    let run = simulate(&["-f", "missing.yaml"]);
    assert_eq!(run.status, Some(1));
    assert!(run.stderr.starts_with("Error: missing.yaml: cannot be opened"), "{}", run.stderr);
}

#[test]
fn the_built_in_scenario_prints_as_its_file() {
    let run = simulate(&["--print-scenario"]);
    assert_eq!(run.status, Some(0));
    assert_eq!(run.stdout, include_str!("../../src/simulate/default.yaml"));
}

#[test]
fn a_chart_is_drawn_as_svg_and_png() {
    let dir = std::env::temp_dir().join(format!("karpenter-simulate-chart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["chart.svg", "chart.png"] {
        let path = dir.join(name);
        let run = simulate(&["-f", "spot.yaml", "--summary-only", "--chart", path.to_str().unwrap()]);
        if run.stderr.contains("a chart needs a TrueType font") {
            // A machine without any of the usual fonts: the error says what to do, and nothing is written.
            assert_eq!(run.status, Some(1));
            assert!(!path.exists());
            continue;
        }
        assert_eq!(run.status, Some(0), "{}", run.stderr);
        let bytes = std::fs::read(&path).unwrap();
        if name.ends_with(".svg") {
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.starts_with("<svg"), "{}", &text[..80.min(text.len())]);
            for caption in
                ["NodeClaims", "pending pods", "cost ($/hour)", "karpenter simulate: spot (seed 1)"]
            {
                assert!(text.contains(caption), "{caption}");
            }
        } else {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        }
    }
    let run =
        simulate(&["-f", "spot.yaml", "--summary-only", "--chart", dir.join("chart.gif").to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(run.status, Some(1));
    assert!(run.stderr.contains("chart.gif: the file name must end in .svg or .png"), "{}", run.stderr);
}
