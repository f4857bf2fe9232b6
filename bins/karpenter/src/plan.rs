//! `karpenter plan`: a dry run of one provisioning round and one disruption pass over manifests (`-f`) or the
//! cluster of the current kubeconfig (`--live`), priced with the embedded AWS catalog. It answers what Karpenter
//! would launch for the pending pods (`kubernetes-sigs/karpenter: pkg/controllers/provisioning/provisioner.go`
//! `Schedule`), what its disruption controller would remove or replace (`pkg/controllers/disruption/controller.go`),
//! the hourly cost before and after, and why every pod left pending and every node kept stays so. The schema of
//! `-o json|yaml` and the rules for files are in `docs/plan.md`.
//!
//! Reading objects is the snapshot's ([`karpenter_snapshot::Snapshot::add`]); files also carry workloads, which
//! [`karpenter_snapshot::Workloads`] turns into the pods their controllers would make. A bad object is reported
//! with its file, line, object and field and the rest is planned; the command then fails with [`Refused`], which
//! `main` turns into exit status 2.

pub(crate) mod input;
mod live;
mod output;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use k8s_openapi::jiff::Timestamp;
use karpenter_catalog::{Catalog, NodeClassSettings, well_known_labels};
use karpenter_disruption::view;
use karpenter_disruption::{Decision, Options, decide};
use karpenter_snapshot::{
    Error as ObjectError, ProviderFlags, Report, RoundOptions, Snapshot, ViewOptions, Workloads, cluster_view,
};
use karpenter_solver::model::{InstanceType, Labels};
use karpenter_solver::plan::{NewNodeClaim, Unschedulable as Why};
use karpenter_solver::{MinValuesPolicy, PreferencePolicy, SolverConfig, compatible_offerings, solve};
use serde_json::Value;

use input::{Located, Problem, Source};
use output::{
    Candidate, Cost, Diagnostic, Disrupt, Expire, Kept, Launch, LaunchOption, Nomination, PlanOutput,
    Settings, Unschedulable,
};

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// A manifest file or directory (YAML or JSON, several documents, `kind: List`), or `-` for standard input;
    /// repeatable.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    files: Vec<PathBuf>,
    /// Also read the subdirectories of directories given with `-f`.
    #[arg(short = 'R', long)]
    recursive: bool,
    /// Read the objects from the cluster of the kubeconfig instead of files.
    #[arg(long, conflicts_with_all = ["files", "recursive"])]
    live: bool,
    /// The kubeconfig for `--live`; by default KUBECONFIG, then ~/.kube/config.
    #[arg(long, requires = "live")]
    kubeconfig: Option<PathBuf>,
    /// AWS region of the embedded catalog (instance types, zones, on-demand and spot prices).
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// How pod preferences are treated (upstream `PREFERENCE_POLICY`).
    #[arg(long, value_enum, default_value = "Respect")]
    preference_policy: Preferences,
    /// How NodePool minValues are treated (upstream `MIN_VALUES_POLICY`).
    #[arg(long, value_enum, default_value = "Strict")]
    min_values_policy: MinValues,
    /// Feature gates, `Name=true|false,...`, over upstream's defaults (upstream `FEATURE_GATES`).
    #[arg(long, default_value = "")]
    feature_gates: String,
    /// ENIs kept back from pods (the controller's `--reserved-enis`).
    #[arg(long, default_value_t = 0)]
    reserved_enis: u32,
    /// Memory the hypervisor keeps, as a fraction (the controller's `--vm-memory-overhead-percent`).
    #[arg(long, default_value_t = 0.075)]
    vm_memory_overhead_percent: f64,
    /// The time to plan at (RFC 3339, such as `2026-01-01T00:00:00Z`), for consolidateAfter, expireAfter,
    /// do-not-disrupt durations and budget schedules; the current time by default.
    #[arg(long)]
    now: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
    Yaml,
}

/// Upstream's preference policy names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Preferences {
    /// Honour preferences, relaxing them one at a time.
    #[value(name = "Respect")]
    Respect,
    /// Ignore preferences.
    #[value(name = "Ignore")]
    Ignore,
}

/// Upstream's minValues policy names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MinValues {
    /// A NodeClaim that cannot meet minValues is not made.
    #[value(name = "Strict")]
    Strict,
    /// minValues is lowered to what the instance types reach.
    #[value(name = "BestEffort")]
    BestEffort,
}

/// Some objects or documents could not be read: the plan was made without them and printed. `main` ends with
/// exit status 2 for this error, 1 for any other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    /// How many objects or documents were refused.
    pub(crate) count: usize,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} object(s) or document(s) refused (listed above); the plan covers the rest", self.count)
    }
}

impl std::error::Error for Refused {}

/// Everything the plan is made with, beside the objects.
struct PlanSettings {
    live: bool,
    region: String,
    now: Timestamp,
    solver: SolverConfig,
    gates: karpenter_api::FeatureGates,
    flags: ProviderFlags,
}

fn settings(args: &PlanArgs) -> Result<PlanSettings> {
    let now = match &args.now {
        Some(text) => text.parse().with_context(|| format!("--now {text:?}: expected RFC 3339"))?,
        None => Timestamp::now(),
    };
    let gates = karpenter_api::FeatureGates::parse(&args.feature_gates).context("--feature-gates")?;
    Ok(PlanSettings {
        live: args.live,
        region: args.region.clone(),
        now,
        solver: SolverConfig {
            preference_policy: match args.preference_policy {
                Preferences::Respect => PreferencePolicy::Respect,
                Preferences::Ignore => PreferencePolicy::Ignore,
            },
            min_values_policy: match args.min_values_policy {
                MinValues::Strict => MinValuesPolicy::Strict,
                MinValues::BestEffort => MinValuesPolicy::BestEffort,
            },
            well_known_labels: well_known_labels(),
            ..SolverConfig::default()
        },
        gates,
        flags: ProviderFlags {
            reserved_enis: args.reserved_enis,
            vm_memory_overhead_percent: args.vm_memory_overhead_percent,
        },
    })
}

/// Plans what `args` asks for: the answer to `out`, one line per warning and refusal to `diagnostics`. Fails
/// with [`Refused`] after printing when some object could not be read.
pub(crate) fn write(args: &PlanArgs, out: &mut impl Write, diagnostics: &mut impl Write) -> Result<()> {
    let settings = settings(args)?;
    let catalog = Catalog::embedded(&args.region)?;
    let (objects, problems) = if args.live {
        live::read(args.kubeconfig.as_deref())?
    } else {
        if args.files.is_empty() {
            bail!("nothing to plan: give manifests with -f (files, directories or -), or use --live");
        }
        let read = input::read_paths(&args.files, args.recursive)?;
        (read.objects, read.problems)
    };
    if objects.is_empty() && problems.is_empty() {
        bail!("nothing to plan: no objects were found");
    }
    let plan = make_plan(objects, problems, &settings, &catalog);
    for warning in &plan.warnings {
        writeln!(diagnostics, "warning: {}", warning.line()).context("writing warnings")?;
    }
    for refused in &plan.refused {
        writeln!(diagnostics, "error: {}", refused.line()).context("writing refusals")?;
    }
    match args.output {
        Output::Table => out.write_all(output::render_table(&plan).as_bytes()),
        Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&plan)?),
        Output::Yaml => out.write_all(serde_norway::to_string(&plan)?.as_bytes()),
    }
    .context("writing the plan")?;
    out.flush().context("writing the plan")?;
    if !plan.refused.is_empty() {
        return Err(Refused { count: plan.refused.len() }.into());
    }
    Ok(())
}

/// The AWS provider's repair policies (`aws/karpenter-provider-aws: pkg/cloudprovider/cloudprovider.go`
/// `RepairPolicies`), read when the `NodeRepair` gate is on: a node condition held this long makes the node one
/// to replace, whatever its reason.
fn aws_repair_policies() -> Vec<view::RepairPolicy> {
    let policy = |condition: &str, status: &str, toleration: &str| view::RepairPolicy {
        condition_type: condition.to_string(),
        condition_status: status.to_string(),
        reason_regex: ".*".to_string(),
        toleration_duration: toleration.to_string(),
        ..view::RepairPolicy::default()
    };
    vec![
        policy("Ready", "False", "30m"),
        policy("Ready", "Unknown", "30m"),
        policy("AcceleratedHardwareReady", "False", "10m"),
        policy("StorageReady", "False", "30m"),
        policy("NetworkingReady", "False", "30m"),
        policy("KernelReady", "False", "30m"),
        policy("ContainerRuntimeReady", "False", "30m"),
    ]
}

/// What happens to one report.
enum Class {
    Warning,
    Refused,
    /// A pending pod the snapshot could not provision for (its volumes, a feature not modelled): it stays pending.
    Unschedulable,
}

fn classify(report: &Report) -> Class {
    match &report.error {
        ObjectError::Skipped { .. } => Class::Warning,
        ObjectError::Volume { .. } | ObjectError::Unsupported { .. } if report.object.kind == "Pod" => {
            Class::Unschedulable
        }
        _ => Class::Refused,
    }
}

/// The plan's diagnostics and pending-pod reasons, gathered as the objects are read and mapped.
#[derive(Default)]
struct Findings {
    warnings: Vec<Diagnostic>,
    refused: Vec<Diagnostic>,
    unschedulable: Vec<Unschedulable>,
    /// Where each object came from, by `Kind/name` and `Kind/namespace/name`.
    sources: BTreeMap<String, Source>,
    /// Reports already taken, so that a problem met by several stages is listed once.
    seen: BTreeSet<String>,
}

impl Findings {
    fn source_of(&self, object: &str) -> Option<Source> {
        self.sources.get(object).cloned()
    }

    fn report(&mut self, report: Report, source: Option<&Source>) {
        if !self.seen.insert(report.to_string()) {
            return;
        }
        let object = report.object.to_string();
        let source = source.cloned().or_else(|| self.source_of(&object));
        match classify(&report) {
            Class::Unschedulable => {
                let pod = format!(
                    "{}/{}",
                    report.object.namespace.as_deref().unwrap_or("default"),
                    report.object.name
                );
                self.unschedulable.push(Unschedulable { pod, reason: report.error.to_string() });
            }
            class => {
                let (field, message) = match &report.error {
                    ObjectError::MissingField { field } => (Some(field.clone()), "missing".to_string()),
                    ObjectError::InvalidField { field, reason } | ObjectError::Volume { field, reason } => {
                        (Some(field.clone()), reason.clone())
                    }
                    ObjectError::Unsupported { field, reason } => {
                        (Some(field.clone()), format!("not supported yet: {reason}"))
                    }
                    ObjectError::Malformed { reason } => {
                        (None, format!("does not read as its kind: {reason}"))
                    }
                    ObjectError::Skipped { reason } => (None, format!("left out: {reason}")),
                };
                let diagnostic = Diagnostic { source, object: Some(object), field, message };
                match class {
                    Class::Warning => self.warnings.push(diagnostic),
                    _ => self.refused.push(diagnostic),
                }
            }
        }
    }

    /// A solver or disruption input error: an object the solve set aside.
    fn input_error(&mut self, error: &karpenter_solver::plan::InputError) {
        if !self.seen.insert(error.to_string()) {
            return;
        }
        // The solver names DaemonSet pods after their DaemonSet.
        let object = error.object.replacen("DaemonSetPod/", "DaemonSet/", 1);
        self.refused.push(Diagnostic {
            source: self.source_of(&object),
            object: Some(error.object.clone()),
            field: error.field.clone(),
            message: error.message.clone(),
        });
    }

    fn problem(&mut self, problem: Problem, live: bool) {
        let diagnostic =
            Diagnostic { source: Some(problem.source), object: None, field: None, message: problem.message };
        if live { self.warnings.push(diagnostic) } else { self.refused.push(diagnostic) }
    }
}

/// The objects read, the snapshot they fill and the workloads of files.
struct Loaded {
    snapshot: Snapshot,
    workloads: Workloads,
}

/// Adds one object (or each item of a list) to the snapshot or, from files, to the workloads.
fn add_object(value: Value, source: &Source, live: bool, loaded: &mut Loaded, findings: &mut Findings) {
    let refuse = |findings: &mut Findings, message: &str| {
        findings.refused.push(Diagnostic {
            source: Some(source.clone()),
            object: None,
            field: None,
            message: message.to_string(),
        });
    };
    let Value::Object(map) = &value else {
        refuse(findings, "not an object: a manifest is a map with apiVersion and kind");
        return;
    };
    let text = |key: &str| map.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    if api_version.is_empty() || kind.is_empty() {
        refuse(findings, "not a Kubernetes object: apiVersion and kind are required");
        return;
    }
    if let Some(items) = map.get("items").and_then(Value::as_array).filter(|_| kind.ends_with("List")) {
        // `kubectl get -o yaml` writes `kind: List`; the API's own lists are `PodList` and so on.
        for item in items.clone() {
            add_object(item, source, live, loaded, findings);
        }
        return;
    }
    let metadata = map.get("metadata");
    let field = |key: &str| metadata.and_then(|m| m.get(key)).and_then(Value::as_str);
    let name = field("name").unwrap_or_default();
    let namespace = field("namespace").unwrap_or("default");
    findings.sources.entry(format!("{kind}/{name}")).or_insert_with(|| source.clone());
    findings.sources.entry(format!("{kind}/{namespace}/{name}")).or_insert_with(|| source.clone());
    let reports = if !live && Workloads::reads(&api_version, &kind) {
        loaded.workloads.add(value)
    } else {
        // A malformed object is read again with its path tracked, to name the field at fault.
        loaded
            .snapshot
            .add(value.clone())
            .into_iter()
            .map(|mut report| {
                if matches!(report.error, ObjectError::Malformed { .. })
                    && let Some(located) = karpenter_snapshot::malformed_field(&value)
                {
                    report.error = located;
                }
                report
            })
            .collect()
    };
    for report in reports {
        findings.report(report, Some(source));
    }
}

/// The price of a node: its instance type's offering in its zone and capacity type (`karpenter.sh/capacity-type`,
/// else EKS's `eks.amazonaws.com/capacityType`, else on-demand), as the catalog lists it.
fn node_price(labels: &Labels, catalog_types: &BTreeMap<String, InstanceType>) -> Option<f64> {
    let instance_type = catalog_types.get(labels.get(karpenter_solver::labels::INSTANCE_TYPE)?)?;
    let zone = labels.get(karpenter_solver::labels::ZONE)?;
    let capacity_type = match labels.get(karpenter_solver::labels::CAPACITY_TYPE) {
        Some(ct) => ct.clone(),
        None => match labels.get("eks.amazonaws.com/capacityType").map(String::as_str) {
            Some("SPOT") => "spot".to_string(),
            _ => "on-demand".to_string(),
        },
    };
    instance_type
        .offerings
        .iter()
        .find(|o| &o.zone == zone && o.capacity_type == capacity_type)
        .map(|o| o.price)
}

/// A NodeClaim to launch, with the zone and capacity type of its cheapest option's cheapest offering.
fn launch(
    claim: &NewNodeClaim,
    pool_types: &BTreeMap<String, Vec<Arc<InstanceType>>>,
    config: &SolverConfig,
) -> Launch {
    let cheapest = claim.instance_type_options.first();
    let offering = cheapest.and_then(|option| {
        let it = pool_types.get(&claim.node_pool)?.iter().find(|t| *t.name == *option.name)?;
        let positions = compatible_offerings(it, &claim.requirements, config).ok()?;
        positions
            .into_iter()
            .map(|p| &it.offerings[p])
            .min_by(|a, b| a.price.total_cmp(&b.price))
            .map(|o| (o.zone.clone(), o.capacity_type.clone()))
    });
    Launch {
        node_pool: claim.node_pool.clone(),
        instance_type: cheapest.map(|o| o.name.to_string()),
        zone: offering.as_ref().map(|(zone, _)| zone.clone()),
        capacity_type: offering.map(|(_, ct)| ct),
        price: claim.cheapest_price(),
        instance_type_options: claim
            .instance_type_options
            .iter()
            .map(|o| LaunchOption { name: o.name.to_string(), price: o.price })
            .collect(),
        pods: claim.pods.iter().map(ToString::to_string).collect(),
        requests: claim.requests.clone().into_iter().collect(),
        min_values_relaxed: claim.min_values_relaxed,
    }
}

/// Every feature gate with its state, by upstream's name.
fn gate_states(gates: &karpenter_api::FeatureGates) -> BTreeMap<String, bool> {
    karpenter_api::FEATURE_GATES
        .iter()
        .filter_map(|gate| gates.get(gate.name).map(|on| (gate.name.to_string(), on)))
        .collect()
}

/// A sum of prices to a millionth, so that float noise (`0.48960000000000004`, `-0`) does not show.
fn money(value: f64) -> f64 {
    (value * 1e6).round() / 1e6 + 0.0
}

fn rfc3339(seconds: i64) -> String {
    Timestamp::from_second(seconds).map_or_else(|_| seconds.to_string(), |t| t.to_string())
}

/// The whole plan over the objects read.
fn make_plan(
    objects: Vec<Located>,
    problems: Vec<Problem>,
    settings: &PlanSettings,
    catalog: &Catalog,
) -> PlanOutput {
    let live = settings.live;
    let mut findings = Findings::default();
    for problem in problems {
        findings.problem(problem, live);
    }
    let mut loaded = Loaded { snapshot: Snapshot::new(), workloads: Workloads::new() };
    for located in objects {
        add_object(located.value, &located.source, live, &mut loaded, &mut findings);
    }
    let Loaded { mut snapshot, workloads } = loaded;
    if !live {
        for report in workloads.expand_into(&mut snapshot) {
            findings.report(report, None);
        }
        karpenter_snapshot::mark_file_pods_unschedulable(&mut snapshot);
        karpenter_snapshot::add_ephemeral_claims(&mut snapshot);
        karpenter_snapshot::add_daemon_set_node_pods(&mut snapshot);
    } else {
        for pool in &snapshot.node_pools {
            let conditions = pool.status.as_ref().and_then(|s| s.conditions.as_ref());
            let ready = conditions.into_iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
            if !ready {
                let name = pool.metadata.name.clone().unwrap_or_default();
                findings.warnings.push(Diagnostic {
                    source: findings.source_of(&format!("NodePool/{name}")),
                    object: Some(format!("NodePool/{name}")),
                    field: Some("status.conditions".into()),
                    message: "not Ready in the cluster; planned as if it were".into(),
                });
            }
        }
    }

    // Provisioning: one round over the pending pods.
    let (pool_types, type_reports) = snapshot.catalog_instance_types(catalog, &settings.flags);
    for report in type_reports {
        findings.report(report, None);
    }
    let options = RoundOptions { now: settings.now, require_ready_node_pools: false };
    let round = snapshot.provisioning_round(pool_types.clone(), &options);
    for report in round.reports {
        findings.report(report, None);
    }
    let solved = solve(&round.problem, &settings.solver);
    for error in &solved.input_errors {
        findings.input_error(error);
    }
    for pod in &solved.unschedulable {
        if let Why::InvalidPod { field, message } = &pod.reason {
            let object = format!("Pod/{}", pod.pod);
            findings.refused.push(Diagnostic {
                source: findings.source_of(&object),
                object: Some(object),
                field: Some(field.clone()),
                message: message.clone(),
            });
        }
        findings
            .unschedulable
            .push(Unschedulable { pod: pod.pod.to_string(), reason: pod.reason.to_string() });
    }

    // Disruption: one pass over the cluster as it is, the pending pods included in every simulation.
    let gates = &settings.gates;
    let view_options = ViewOptions {
        now: settings.now,
        feature_gates: view::FeatureGates {
            spot_to_spot_consolidation: gates.spot_to_spot_consolidation,
            node_repair: gates.node_repair,
            static_capacity: gates.static_capacity,
            pod_deletion_cost_management: gates.pod_deletion_cost_management,
        },
        repair_policies: aws_repair_policies(),
        solver: settings.solver.clone(),
        require_ready_node_pools: false,
    };
    let (mut cluster, view_reports) = cluster_view(&snapshot, pool_types.clone(), &view_options);
    for report in view_reports {
        findings.report(report, None);
    }
    let nominated: BTreeSet<&str> = solved.existing_nodes.iter().map(|n| n.node.as_str()).collect();
    for node in &mut cluster.nodes {
        // A node the round placed pods on is nominated: the disruption controller leaves it alone.
        node.nominated = nominated.contains(node.name.as_str());
    }
    let decision: Decision = decide(&cluster, &Options { explain_all: true, ..Options::default() });
    for error in &decision.input_errors {
        findings.input_error(error);
    }

    // Cost.
    let catalog_types: BTreeMap<String, InstanceType> = catalog
        .instance_types(&NodeClassSettings::default())
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect();
    let mut before = 0.0;
    let mut unpriced_nodes = Vec::new();
    for node in &cluster.nodes {
        match node_price(&node.labels, &catalog_types) {
            Some(price) => before += price,
            None => unpriced_nodes.push(node.name.clone()),
        }
    }
    let launch_cost = solved.new_capacity_price();
    // Diagnostics in file order; those without a place (the cluster's, the solver's) last.
    for list in [&mut findings.warnings, &mut findings.refused] {
        list.sort_by(|a, b| (a.source.is_none(), &a.source).cmp(&(b.source.is_none(), &b.source)));
    }
    let disruption_savings = decision.savings_per_hour();

    PlanOutput {
        settings: Settings {
            source: if live { "live".into() } else { "files".into() },
            region: settings.region.clone(),
            now: settings.now.to_string(),
            preference_policy: format!("{:?}", settings.solver.preference_policy),
            min_values_policy: format!("{:?}", settings.solver.min_values_policy),
            feature_gates: gate_states(gates),
        },
        launch: solved.new_node_claims.iter().map(|c| launch(c, &pool_types, &settings.solver)).collect(),
        nominate: solved
            .existing_nodes
            .iter()
            .map(|n| Nomination {
                node: n.node.clone(),
                pods: n.pods.iter().map(ToString::to_string).collect(),
            })
            .collect(),
        disrupt: decision
            .commands
            .iter()
            .map(|command| Disrupt {
                method: command.method.to_string(),
                reason: command.reason.to_string(),
                action: command.action.to_string(),
                nodes: command
                    .candidates
                    .iter()
                    .map(|c| Candidate {
                        node: c.node.clone(),
                        node_claim: c.node_claim.clone(),
                        node_pool: c.node_pool.clone(),
                        instance_type: c.instance_type.clone(),
                        zone: c.zone.clone(),
                        capacity_type: c.capacity_type.clone(),
                        price: c.price,
                        pods: c.pods.iter().map(ToString::to_string).collect(),
                    })
                    .collect(),
                replacements: command
                    .replacements
                    .iter()
                    .map(|c| launch(c, &pool_types, &settings.solver))
                    .collect(),
                savings_per_hour: command.savings_per_hour,
            })
            .collect(),
        expire: decision
            .expirations
            .iter()
            .map(|e| Expire {
                node: e.node.clone(),
                node_claim: e.node_claim.clone(),
                expired_at: rfc3339(e.expired_at),
            })
            .collect(),
        unschedulable: findings.unschedulable,
        kept: decision
            .kept
            .iter()
            .map(|k| Kept {
                node: k.node.clone(),
                node_pool: k.node_pool.clone(),
                reasons: k
                    .why
                    .iter()
                    .map(|w| match w.method {
                        Some(method) => format!("{method}: {}", w.reason),
                        None => w.reason.to_string(),
                    })
                    .collect(),
            })
            .collect(),
        cost: Cost {
            before: money(before),
            launch: money(launch_cost),
            disruption_savings: money(disruption_savings),
            after: money(before + launch_cost - disruption_savings),
            unpriced_nodes,
        },
        // LOWER BOUND: karpenter-cost's bound on the cheapest placement, and `after / bound - 1`, go here.
        lower_bound: None,
        gap: None,
        warnings: findings.warnings,
        refused: findings.refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_reads_as_a_count_and_settings_check_their_flags() {
        assert_eq!(
            Refused { count: 2 }.to_string(),
            "2 object(s) or document(s) refused (listed above); the plan covers the rest"
        );
        let parse = |extra: &[&str]| {
            let mut argv = vec!["plan", "-f", "x"];
            argv.extend(extra);
            #[derive(clap::Parser)]
            struct Cli {
                #[command(flatten)]
                plan: PlanArgs,
            }
            let cli = <Cli as clap::Parser>::try_parse_from(argv).map_err(|e| e.to_string())?;
            settings(&cli.plan).map(|_| ()).map_err(|e| format!("{e:#}"))
        };
        assert_eq!(parse(&["--now", "2026-01-01T00:00:00Z", "--preference-policy", "Ignore"]), Ok(()));
        assert!(parse(&["--now", "yesterday"]).unwrap_err().contains("expected RFC 3339"));
        assert!(parse(&["--feature-gates", "Drift=true"]).unwrap_err().contains("unknown gate"));
        assert!(parse(&["--min-values-policy", "Loose"]).is_err());
    }
}
