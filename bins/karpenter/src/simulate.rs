//! `karpenter simulate`: the whole controller (`karpenter_operator::operator::Operator`, every reconciler of
//! `karpenter run`) over an in-memory API server (`MemoryCluster`) and simulated time (paused tokio time and
//! `TokioClock`), with the fake cloud provider offering the embedded AWS catalog at its prices. Around it the
//! simulation plays what a cluster and a cloud do (`world`): workload controllers, a kube-scheduler that binds
//! with the controller's own solver to Ready nodes only, kubelets registering launched machines after a delay, the
//! pod garbage collector, spot interruptions and capacity running out. It prints a timeline and a summary
//! (`record`); the scenario format is in `docs/simulate.md` and `docs/design/0015-simulate.md` says why it is
//! built so. Upstream has no simulator; the controllers run are upstream's (`kubernetes-sigs/karpenter:
//! pkg/controllers/controllers.go`).

mod chart;
pub(crate) mod record;
pub(crate) mod scenario;
mod world;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use karpenter_api::labels::AWS_GROUP;
use karpenter_api::{Condition, EC2NodeClass};
use karpenter_catalog::{Catalog, NodeClassSettings, well_known_labels};
use karpenter_cloud::fake::FakeProvider;
use karpenter_cloud::fake_queue::FakeQueue;
use karpenter_cloud::{
    CloudProvider, Deletion, DriftQuery, DriftReason, Instance, InstanceTypes, LaunchRequest, NodeClassKind,
    RepairPolicy,
};
use karpenter_operator::clock::TokioClock;
use karpenter_operator::interruption::InterruptionMetrics;
use karpenter_operator::operator::Operator;
use karpenter_operator::settings::Settings;
use karpenter_operator::store::{MemoryCluster, NodeClass};
use karpenter_snapshot::{ProviderFlags, Snapshot};
use karpenter_solver::SolverConfig;
use serde::Serialize;

use record::{Prices, Recorder, Row, Summary};
use scenario::Scenario;
use world::World;

#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// A scenario file (YAML, `docs/simulate.md`); the built-in scenario (the seed's cluster and a day of a
    /// service fleet) by default.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    file: Option<PathBuf>,
    /// The seed of the scenario's random choices (jitter of daily curves, which spot instances are interrupted);
    /// the scenario's `seed`, else 1.
    #[arg(long)]
    seed: Option<u64>,
    /// Output format: the timeline and the summary as text, or both as JSON or YAML.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Print the summary only.
    #[arg(long)]
    summary_only: bool,
    /// Also draw NodeClaims, pending pods and cost per hour over time into this file (`.svg` or `.png`).
    #[arg(long, value_name = "PATH")]
    chart: Option<PathBuf>,
    /// Print the built-in scenario and exit (a starting point for `-f`).
    #[arg(long, conflicts_with = "file")]
    print_scenario: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
    Yaml,
}

/// Everything a run prints with `-o json|yaml`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    timeline: Option<&'a [Row]>,
    summary: &'a Summary,
}

/// Runs `args`: the report to `out`.
pub(crate) fn write(args: &SimulateArgs, out: &mut impl Write) -> Result<()> {
    if args.print_scenario {
        out.write_all(scenario::DEFAULT.as_bytes()).context("writing the scenario")?;
        return Ok(());
    }
    let scenario = match &args.file {
        Some(path) => Scenario::read(path)?,
        None => Scenario::parse("the built-in scenario", scenario::DEFAULT)?,
    };
    let seed = args.seed.or(scenario.seed).unwrap_or(1);
    let progress = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(scenario.duration.0.as_secs());
        bar.set_style(
            ProgressStyle::with_template("{spinner} simulated {msg} [{bar:40}] {percent}% in {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let outcome = simulate(scenario, seed, &progress)?;
    progress.finish_and_clear();
    if let Some(path) = &args.chart {
        let title = format!("karpenter simulate: {} (seed {seed})", outcome.summary.scenario);
        chart::draw(path, &title, &outcome.points)?;
    }
    let timeline = (!args.summary_only).then_some(outcome.rows.as_slice());
    match args.output {
        Output::Table => {
            if let Some(rows) = timeline {
                out.write_all(record::render_timeline(rows).as_bytes())?;
                writeln!(out)?;
            }
            out.write_all(record::render_summary(&outcome.summary).as_bytes())
        }
        Output::Json => {
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&Report { timeline, summary: &outcome.summary })?
            )
        }
        Output::Yaml => out
            .write_all(serde_norway::to_string(&Report { timeline, summary: &outcome.summary })?.as_bytes()),
    }
    .context("writing the simulation's report")?;
    out.flush().context("writing the simulation's report")
}

/// What a run produced.
pub(crate) struct Outcome {
    pub(crate) rows: Vec<Row>,
    pub(crate) points: Vec<record::Point>,
    pub(crate) summary: Summary,
}

/// The fake provider as the AWS provider looks to the controller: NodePools name EC2NodeClasses, so the node-class
/// kind it serves is `EC2NodeClass`; everything else is the fake's.
struct SimProvider(Arc<FakeProvider>);

impl CloudProvider for SimProvider {
    async fn create(&self, request: &LaunchRequest) -> karpenter_cloud::Result<Instance> {
        self.0.create(request).await
    }

    async fn delete(&self, provider_id: &str) -> karpenter_cloud::Result<Deletion> {
        self.0.delete(provider_id).await
    }

    async fn get(&self, provider_id: &str) -> karpenter_cloud::Result<Instance> {
        self.0.get(provider_id).await
    }

    async fn list(&self) -> karpenter_cloud::Result<Vec<Instance>> {
        self.0.list().await
    }

    async fn instance_types(
        &self,
        node_pool: &karpenter_solver::model::NodePool,
    ) -> karpenter_cloud::Result<InstanceTypes> {
        self.0.instance_types(node_pool).await
    }

    async fn is_drifted(&self, query: &DriftQuery) -> karpenter_cloud::Result<Option<DriftReason>> {
        self.0.is_drifted(query).await
    }

    fn repair_policies(&self) -> Vec<RepairPolicy> {
        self.0.repair_policies()
    }

    fn name(&self) -> &str {
        "simulated-aws"
    }

    fn node_classes(&self) -> Vec<NodeClassKind> {
        vec![NodeClassKind::new(AWS_GROUP, "v1", "EC2NodeClass")]
    }
}

/// The EC2NodeClass a NodePool names that the scenario does not give: Amazon Linux 2023 with the catalog's
/// defaults.
fn default_node_class(name: &str) -> Result<EC2NodeClass> {
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass",
        "metadata": {"name": name},
        "spec": {
            "amiSelectorTerms": [{"alias": "al2023@latest"}],
            "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "simulated"}}],
            "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "simulated"}}],
            "role": "KarpenterNodeRole-simulated"
        }
    }))?)
}

/// Runs a scenario to its end.
pub(crate) fn simulate(scenario: Scenario, seed: u64, progress: &ProgressBar) -> Result<Outcome> {
    let catalog = Catalog::embedded(&scenario.region)?;
    let flags = ProviderFlags::default();
    // Each NodePool's instance types as the AWS provider would answer for its EC2NodeClass.
    let mut snapshot = Snapshot::new();
    let mut classes = scenario.node_classes.clone();
    for pool in &scenario.node_pools {
        let reference = &pool.spec.template.spec.node_class_ref;
        if reference.group != AWS_GROUP || reference.kind != "EC2NodeClass" {
            bail!(
                "{}: NodePool {}: spec.template.spec.nodeClassRef: {}/{} is not an EC2NodeClass, the only node \
                 class the simulation has",
                scenario.source,
                pool.metadata.name.as_deref().unwrap_or_default(),
                reference.group,
                reference.kind
            );
        }
        if !classes.iter().any(|c| c.metadata.name.as_deref() == Some(reference.name.as_str())) {
            classes.push(default_node_class(&reference.name)?);
        }
    }
    snapshot.node_pools = scenario.node_pools.iter().cloned().map(Arc::new).collect();
    snapshot.node_classes = classes.iter().cloned().map(Arc::new).collect();
    let (pool_types, reports) = snapshot.catalog_instance_types(&catalog, &flags);
    if let Some(report) = reports.first() {
        bail!("{}: {report}", scenario.source);
    }
    let mut prices = Prices::new();
    for instance_type in catalog.instance_types(&NodeClassSettings::default())? {
        for offering in &instance_type.offerings {
            prices.insert(
                (instance_type.name.clone(), offering.zone.clone(), offering.capacity_type.clone()),
                offering.price,
            );
        }
    }
    for (i, error) in scenario.capacity_errors.iter().enumerate() {
        if !prices.contains_key(&(
            error.instance_type.clone(),
            error.zone.clone(),
            error.capacity_type.clone(),
        )) {
            bail!(
                "{}: capacityErrors[{i}]: the catalog of {} has no offering {} {} {}",
                scenario.source,
                scenario.region,
                error.instance_type,
                error.zone,
                error.capacity_type
            );
        }
    }
    let solver = SolverConfig { well_known_labels: well_known_labels(), ..SolverConfig::default() };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .context("starting the simulation's runtime")?;
    let scenario = Arc::new(scenario);
    runtime.block_on(async move {
        let clock = TokioClock::starting_at(scenario.start());
        let cluster = Arc::new(MemoryCluster::new(Arc::new(clock)));
        let fake = Arc::new(FakeProvider::new(Vec::new()).with_config(solver.clone()));
        for (pool, types) in pool_types {
            fake.set_pool_instance_types(&pool, types);
        }
        let ready: Condition = serde_json::from_value(serde_json::json!({
            "type": "Ready", "status": "True", "reason": "Ready", "message": "",
            "lastTransitionTime": scenario.start().to_string(),
        }))?;
        for class in &classes {
            cluster.apply_node_class(NodeClass {
                group: AWS_GROUP.to_string(),
                kind: "EC2NodeClass".to_string(),
                name: class.metadata.name.clone().unwrap_or_default(),
                deleting: false,
                ready: Some(ready.clone()),
            });
        }
        for pool in &scenario.node_pools {
            cluster.apply(pool.clone());
        }
        let settings = Settings { solver: solver.clone(), workers: 4, ..Settings::default() };
        let operator =
            Operator::new(Arc::clone(&cluster), Arc::new(SimProvider(Arc::clone(&fake))), clock, settings);
        // Spot interruption warnings reach the controller through an interruption queue, as EventBridge's reach
        // it through SQS on AWS: the same interruption controller acts on them.
        let queue = Arc::new(FakeQueue::for_provider(Arc::clone(&fake)));
        let interruptions = tokio::spawn(karpenter_operator::interruption::run(
            Arc::clone(operator.context()),
            Arc::clone(&queue),
            InterruptionMetrics::default(),
        ));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let controller = tokio::spawn(operator.run(async move {
            let _ = stopped.await;
        }));
        let recorder = Recorder::new(prices, scenario.sample.0);
        let mut world = World::new(cluster, fake, queue, Arc::clone(&scenario), seed, solver, recorder);
        let origin = tokio::time::Instant::now();
        let tick = scenario.delays.scheduler.0;
        let end = scenario.duration.0;
        let mut elapsed = Duration::ZERO;
        loop {
            world.step(elapsed).await;
            if elapsed.as_secs().is_multiple_of(60) {
                progress.set_position(elapsed.as_secs());
                progress.set_message(scenario::clock_time(elapsed));
            }
            if elapsed >= end {
                break;
            }
            elapsed = (elapsed + tick).min(end);
            tokio::time::sleep_until(origin + elapsed).await;
        }
        let _ = stop.send(());
        interruptions.abort();
        controller.await.context("the controller's task")?;
        let name = scenario.name.clone().unwrap_or_else(|| "unnamed".to_string());
        let summary = world.recorder.summary(name, seed, end);
        Ok(Outcome {
            rows: world.recorder.rows().to_vec(),
            points: world.recorder.points().to_vec(),
            summary,
        })
    })
}
