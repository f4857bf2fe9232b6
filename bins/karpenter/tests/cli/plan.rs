//! `karpenter plan` over the manifest directories of `tests/plans/`: the seed's NodePool with `inflate` scaled to
//! five, a cluster whose nodes disruption would remove or keep, underutilised nodes, and bad input beside good. Each
//! runs the binary at a fixed `--now` from `tests/plans/`, so that the sources it names are short and stable.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use expect_test::{Expect, expect};
use serde_json::Value;

const NOW: &str = "2026-11-24T10:30:00Z";

/// What one run printed and how it ended.
struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `karpenter plan --now NOW <args>` in `tests/plans/`, with `stdin` on standard input.
fn plan_with_input(args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_karpenter"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plans"))
        .arg("plan")
        .args(["--now", NOW])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let text = stdin.to_string();
    // A large input is written while the plan reads it.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(text.as_bytes());
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Run {
        status: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn plan(args: &[&str]) -> Run {
    plan_with_input(args, "")
}

/// The table of a run that read everything.
fn check_table(args: &[&str], expected: Expect) {
    let run = plan(args);
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    assert_eq!(run.stderr, "");
    expected.assert_eq(&run.stdout);
}

/// The JSON of a run that read everything, with each list of launch options cut to its first three (the seed's
/// NodePool allows 186 instance types) and the number left out.
fn check_json(args: &[&str], expected: Expect) {
    let mut argv = args.to_vec();
    argv.extend(["-o", "json"]);
    let run = plan(&argv);
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    let mut json: Value = serde_json::from_str(&run.stdout).unwrap();
    shorten_options(&mut json);
    expected.assert_eq(&serde_json::to_string_pretty(&json).unwrap());
}

fn shorten_options(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(options)) = map.get_mut("instanceTypeOptions")
                && options.len() > 3
            {
                let more = options.len() - 3;
                options.truncate(3);
                options.push(Value::String(format!("... and {more} more")));
            }
            map.values_mut().for_each(shorten_options);
        }
        Value::Array(items) => items.iter_mut().for_each(shorten_options),
        _ => {}
    }
}

#[test]
fn the_seed_pool_launches_one_graviton_node_for_inflate_scaled_to_five() {
    check_table(
        &["-f", "seed"],
        expect![[r#"
            Launch 1 NodeClaim(s), +$0.0168/h:
              NODEPOOL  INSTANCE TYPE  ZONE        CAPACITY TYPE  PRICE/H  OPTIONS  PODS
              default   t4g.small      us-east-1a  on-demand      0.0168   186      5
              [1] options: t4g.small $0.0168, t4g.medium $0.0336, c6g.medium $0.034, c7g.medium $0.0363, c6gd.medium $0.0384 and 181 more
              [1] pods: default/inflate-755dcd498b-26stl default/inflate-755dcd498b-5nfgb default/inflate-755dcd498b-8wdnr default/inflate-755dcd498b-fnbvl default/inflate-755dcd498b-lgtnr

            Disrupt: nothing

            Kept nodes (1):
              ip-192-168-10-11.ec2.internal: not managed by Karpenter

            Cost per hour: $0.0336 now, +$0.0168 launched, -$0 disrupted, $0.0504 after
        "#]],
    );
    check_json(
        &["-f", "seed"],
        expect![[r#"
            {
              "settings": {
                "source": "files",
                "region": "us-east-1",
                "now": "2026-11-24T10:30:00Z",
                "preferencePolicy": "Respect",
                "minValuesPolicy": "Strict",
                "featureGates": {
                  "CapacityBuffer": false,
                  "NodeOverlay": false,
                  "NodeRepair": false,
                  "PodDeletionCostManagement": false,
                  "ReservedCapacity": true,
                  "SpotToSpotConsolidation": false,
                  "StaticCapacity": false,
                  "TerminateFirstDrift": false,
                  "TerminateFirstRepair": false
                }
              },
              "launch": [
                {
                  "nodePool": "default",
                  "instanceType": "t4g.small",
                  "zone": "us-east-1a",
                  "capacityType": "on-demand",
                  "price": 0.0168,
                  "instanceTypeOptions": [
                    {
                      "name": "t4g.small",
                      "price": 0.0168
                    },
                    {
                      "name": "t4g.medium",
                      "price": 0.0336
                    },
                    {
                      "name": "c6g.medium",
                      "price": 0.034
                    },
                    "... and 183 more"
                  ],
                  "pods": [
                    "default/inflate-755dcd498b-26stl",
                    "default/inflate-755dcd498b-5nfgb",
                    "default/inflate-755dcd498b-8wdnr",
                    "default/inflate-755dcd498b-fnbvl",
                    "default/inflate-755dcd498b-lgtnr"
                  ],
                  "requests": {
                    "cpu": "125m",
                    "pods": "7"
                  },
                  "minValuesRelaxed": false
                }
              ],
              "nominate": [],
              "disrupt": [],
              "expire": [],
              "unschedulable": [],
              "kept": [
                {
                  "node": "ip-192-168-10-11.ec2.internal",
                  "nodePool": null,
                  "reasons": [
                    "not managed by Karpenter"
                  ]
                }
              ],
              "cost": {
                "before": 0.0336,
                "launch": 0.0168,
                "disruptionSavings": 0.0,
                "after": 0.0504,
                "unpricedNodes": []
              },
              "lowerBound": null,
              "gap": null,
              "warnings": [],
              "refused": []
            }"#]],
    );
}

#[test]
fn a_cluster_with_an_empty_node_a_busy_one_and_pending_pods() {
    check_table(
        &["-f", "consolidation"],
        expect![[r#"
        Launch 1 NodeClaim(s), +$0.1632/h:
          NODEPOOL  INSTANCE TYPE  ZONE        CAPACITY TYPE  PRICE/H  OPTIONS  PODS
          general   m7g.xlarge     us-east-1a  on-demand      0.1632   7        1
          [1] options: m7g.xlarge $0.1632, m7g.2xlarge $0.3264, m7g.4xlarge $0.6528, m7g.8xlarge $1.3056, m7g.12xlarge $1.9584 and 2 more
          [1] pods: shop/api-5dcdc7f6f-wfxcb
        Place on ip-10-0-2-20.ec2.internal: shop/api-5dcdc7f6f-57h6g

        Disrupt (emptiness, Empty): delete ip-10-0-3-30.ec2.internal, saves $0.0816/h
          NODE                       NODEPOOL  INSTANCE TYPE  ZONE        CAPACITY TYPE  PRICE/H  PODS
          ip-10-0-3-30.ec2.internal  general   m7g.large      us-east-1c  on-demand      0.0816   0

        Unschedulable pods (1):
          shop/render-farm: nodepool general [resources]: no instance type has enough resources, requirements=karpenter.k8s.aws/ec2nodeclass In [default], karpenter.k8s.aws/instance-family In [m7g], karpenter.sh/capacity-type In [on-demand], karpenter.sh/initialized In [true], karpenter.sh/nodepool In [general], karpenter.sh/registered In [true], kubernetes.io/arch In [arm64], resources=cpu=100050m memory=64Mi pods=2

        Kept nodes (3):
          ip-10-0-1-10.ec2.internal (general): pod shop/checkout-0 blocks eviction: PodDisruptionBudget shop/checkout allows no disruption
          ip-10-0-1-40.ec2.internal (general): pod shop/ledger-0 blocks eviction: karpenter.sh/do-not-disrupt=true
          ip-10-0-2-20.ec2.internal (general): node is nominated for a pending pod

        Cost per hour: $0.4896 now, +$0.1632 launched, -$0.0816 disrupted, $0.5712 after
    "#]],
    );
    check_json(
        &["-f", "consolidation"],
        expect![[r#"
            {
              "settings": {
                "source": "files",
                "region": "us-east-1",
                "now": "2026-11-24T10:30:00Z",
                "preferencePolicy": "Respect",
                "minValuesPolicy": "Strict",
                "featureGates": {
                  "CapacityBuffer": false,
                  "NodeOverlay": false,
                  "NodeRepair": false,
                  "PodDeletionCostManagement": false,
                  "ReservedCapacity": true,
                  "SpotToSpotConsolidation": false,
                  "StaticCapacity": false,
                  "TerminateFirstDrift": false,
                  "TerminateFirstRepair": false
                }
              },
              "launch": [
                {
                  "nodePool": "general",
                  "instanceType": "m7g.xlarge",
                  "zone": "us-east-1a",
                  "capacityType": "on-demand",
                  "price": 0.1632,
                  "instanceTypeOptions": [
                    {
                      "name": "m7g.xlarge",
                      "price": 0.1632
                    },
                    {
                      "name": "m7g.2xlarge",
                      "price": 0.3264
                    },
                    {
                      "name": "m7g.4xlarge",
                      "price": 0.6528
                    },
                    "... and 4 more"
                  ],
                  "pods": [
                    "shop/api-5dcdc7f6f-wfxcb"
                  ],
                  "requests": {
                    "cpu": "3050m",
                    "memory": "1088Mi",
                    "pods": "2"
                  },
                  "minValuesRelaxed": false
                }
              ],
              "nominate": [
                {
                  "node": "ip-10-0-2-20.ec2.internal",
                  "pods": [
                    "shop/api-5dcdc7f6f-57h6g"
                  ]
                }
              ],
              "disrupt": [
                {
                  "method": "emptiness",
                  "reason": "Empty",
                  "action": "delete",
                  "nodes": [
                    {
                      "node": "ip-10-0-3-30.ec2.internal",
                      "nodeClaim": "general-empty",
                      "nodePool": "general",
                      "instanceType": "m7g.large",
                      "zone": "us-east-1c",
                      "capacityType": "on-demand",
                      "price": 0.0816,
                      "pods": []
                    }
                  ],
                  "replacements": [],
                  "savingsPerHour": 0.0816
                }
              ],
              "expire": [],
              "unschedulable": [
                {
                  "pod": "shop/render-farm",
                  "reason": "nodepool general [resources]: no instance type has enough resources, requirements=karpenter.k8s.aws/ec2nodeclass In [default], karpenter.k8s.aws/instance-family In [m7g], karpenter.sh/capacity-type In [on-demand], karpenter.sh/initialized In [true], karpenter.sh/nodepool In [general], karpenter.sh/registered In [true], kubernetes.io/arch In [arm64], resources=cpu=100050m memory=64Mi pods=2"
                }
              ],
              "kept": [
                {
                  "node": "ip-10-0-1-10.ec2.internal",
                  "nodePool": "general",
                  "reasons": [
                    "pod shop/checkout-0 blocks eviction: PodDisruptionBudget shop/checkout allows no disruption"
                  ]
                },
                {
                  "node": "ip-10-0-1-40.ec2.internal",
                  "nodePool": "general",
                  "reasons": [
                    "pod shop/ledger-0 blocks eviction: karpenter.sh/do-not-disrupt=true"
                  ]
                },
                {
                  "node": "ip-10-0-2-20.ec2.internal",
                  "nodePool": "general",
                  "reasons": [
                    "node is nominated for a pending pod"
                  ]
                }
              ],
              "cost": {
                "before": 0.4896,
                "launch": 0.1632,
                "disruptionSavings": 0.0816,
                "after": 0.5712,
                "unpricedNodes": []
              },
              "lowerBound": null,
              "gap": null,
              "warnings": [],
              "refused": []
            }"#]],
    );
}

#[test]
fn underutilised_nodes_are_consolidated_with_their_savings() {
    check_table(
        &["-f", "underutilized"],
        expect![[r#"
        Launch: nothing

        Disrupt (single-node consolidation, Underutilized): delete ip-10-0-1-50.ec2.internal, saves $0.3264/h
          NODE                       NODEPOOL  INSTANCE TYPE  ZONE        CAPACITY TYPE  PRICE/H  PODS
          ip-10-0-1-50.ec2.internal  general   m7g.2xlarge    us-east-1a  on-demand      0.3264   2

        Kept nodes (1):
          ip-10-0-2-60.ec2.internal (general): single-node consolidation: not evaluated: an earlier candidate was chosen this pass

        Cost per hour: $0.4896 now, +$0 launched, -$0.3264 disrupted, $0.1632 after
    "#]],
    );
}

#[test]
fn the_solver_settings_are_flags() {
    // With preferences ignored and a gate set, the settings echo them; a misspelt gate is an error (status 1).
    let run = plan(&[
        "-f",
        "seed",
        "-o",
        "json",
        "--preference-policy",
        "Ignore",
        "--feature-gates",
        "SpotToSpotConsolidation=true",
    ]);
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["settings"]["preferencePolicy"], "Ignore");
    assert_eq!(json["settings"]["featureGates"]["SpotToSpotConsolidation"], true);
    let run = plan(&["-f", "seed", "--feature-gates", "Drift=true"]);
    assert_eq!(run.status, Some(1));
    expect![[r#"
        Error: --feature-gates: feature gates: unknown gate "Drift"; the gates are NodeRepair, ReservedCapacity, SpotToSpotConsolidation, NodeOverlay, StaticCapacity, CapacityBuffer, TerminateFirstDrift, TerminateFirstRepair, PodDeletionCostManagement
    "#]].assert_eq(&run.stderr);
}

#[test]
fn yaml_output_is_the_json_document() {
    let json: Value = serde_json::from_str(&plan(&["-f", "consolidation", "-o", "json"]).stdout).unwrap();
    let yaml: Value = serde_norway::from_str(&plan(&["-f", "consolidation", "-o", "yaml"]).stdout).unwrap();
    assert_eq!(json, yaml);
}

#[test]
fn bad_input_is_reported_with_file_line_object_and_field_and_the_rest_is_planned() {
    // A document nested 100,000 levels deep, on standard input: the YAML parser alone needs tens of seconds for it.
    let nested =
        format!("apiVersion: v1\nkind: ConfigMap\ndata: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let started = std::time::Instant::now();
    let run = plan_with_input(&["-f", "bad", "-f", "-"], &nested);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
    assert_eq!(run.status, Some(2), "exit status 2: something was refused");
    expect![[r#"
        warning: bad/manifests.yaml:11: Widget/default/sprocket: left out: widgets.example.com/v1 Widget is not read by provisioning
        warning: bad/manifests.yaml:17: ConfigMap/default/settings: left out: v1 ConfigMap is not read by provisioning
        error: -:3: collections nest deeper than 64 levels
        error: bad/broken.json:2: trailing comma
        error: bad/manifests.yaml:23: Pod/default/malformed: spec.containers[0].resources.requests: invalid type: sequence, expected a map
        error: bad/manifests.yaml:33: NodePool/classless: spec.template.spec: missing field `nodeClassRef`
        error: bad/manifests.yaml:42: Deployment/default/orphans: spec.selector: does not select the template's labels (the API server refuses such a workload)
        error: bad/manifests.yaml:59: did not find expected ',' or '}' at line 59 column 1, while parsing a flow mapping at line 58 column 11
        error: bad/manifests.yaml:59: not a Kubernetes object: apiVersion and kind are required
        Error: 7 object(s) or document(s) refused (listed above); the plan covers the rest
    "#]].assert_eq(&run.stderr);
    expect![[r#"
        Launch 1 NodeClaim(s), +$0.0042/h:
          NODEPOOL  INSTANCE TYPE  ZONE        CAPACITY TYPE  PRICE/H  OPTIONS  PODS
          default   t4g.nano       us-east-1a  on-demand      0.0042   188      1
          [1] options: t4g.nano $0.0042, t4g.micro $0.0084, t4g.small $0.0168, t4g.medium $0.0336, c6g.medium $0.034 and 183 more
          [1] pods: default/good

        Disrupt: nothing

        Cost per hour: $0 now, +$0.0042 launched, -$0 disrupted, $0.0042 after

        7 refused, 2 skipped with a warning (listed on standard error)
    "#]].assert_eq(&run.stdout);
    let run = plan_with_input(&["-f", "bad", "-f", "-", "-o", "json"], &nested);
    assert_eq!(run.status, Some(2));
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    expect![[r#"
        [
          {
            "source": "-:3",
            "object": null,
            "field": null,
            "message": "collections nest deeper than 64 levels"
          },
          {
            "source": "bad/broken.json:2",
            "object": null,
            "field": null,
            "message": "trailing comma"
          },
          {
            "source": "bad/manifests.yaml:23",
            "object": "Pod/default/malformed",
            "field": "spec.containers[0].resources.requests",
            "message": "invalid type: sequence, expected a map"
          },
          {
            "source": "bad/manifests.yaml:33",
            "object": "NodePool/classless",
            "field": "spec.template.spec",
            "message": "missing field `nodeClassRef`"
          },
          {
            "source": "bad/manifests.yaml:42",
            "object": "Deployment/default/orphans",
            "field": "spec.selector",
            "message": "does not select the template's labels (the API server refuses such a workload)"
          },
          {
            "source": "bad/manifests.yaml:59",
            "object": null,
            "field": null,
            "message": "did not find expected ',' or '}' at line 59 column 1, while parsing a flow mapping at line 58 column 11"
          },
          {
            "source": "bad/manifests.yaml:59",
            "object": null,
            "field": null,
            "message": "not a Kubernetes object: apiVersion and kind are required"
          }
        ]"#]].assert_eq(&serde_json::to_string_pretty(&json["refused"]).unwrap());
}

#[test]
fn a_missing_path_or_no_input_is_an_error() {
    let run = plan(&["-f", "no-such-dir"]);
    assert_eq!(run.status, Some(1));
    assert!(run.stderr.contains("-f no-such-dir"), "{}", run.stderr);
    let run = plan(&[]);
    assert_eq!(run.status, Some(1));
    assert!(run.stderr.contains("nothing to plan"), "{}", run.stderr);
}
