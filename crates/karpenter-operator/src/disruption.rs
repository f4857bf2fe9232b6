//! The disruption loop (`kubernetes-sigs/karpenter: pkg/controllers/disruption/controller.go`, the 15-second check
//! of `validation.go`, and the expiration of `pkg/controllers/nodeclaim/expiration/controller.go`).
//!
//! Every [`POLLING_PERIOD`], once the store has synced and no NodeClaim is launching, a pass:
//!
//! 1. takes the disrupted taint and the `DisruptionReason` condition off every node and NodeClaim that no command
//!    in flight owns: what a controller that stopped between marking and deleting left behind;
//! 2. builds the disruption engine's view of the store's state with `karpenter-snapshot`'s `cluster_view` (the one
//!    mapping `karpenter plan` uses too), with what only the controller knows laid on top — nodes nominated for
//!    pending pods, and nodes a command in flight owns — and asks `karpenter_disruption::decide`;
//! 3. deletes the NodeClaims that expired (forceful: no budget, no replacement first), publishes why nodes stay
//!    (`DisruptionBlocked`, `Unconsolidatable`), and records the pass in the metrics;
//! 4. takes the first command; for emptiness and consolidation it waits [`VALIDATION_PERIOD`] and checks the
//!    command again against a fresh view with `karpenter_disruption::validate`; then it hands the command to the
//!    [`Orchestrator`], which marks the candidates, launches the replacements and deletes the candidates once
//!    the replacements are initialised.
//!
//! The decisions are pure functions of the state ([`view()`], [`stale`], [`kept_event`], [`needs_validation`]);
//! the pass only reads, writes and waits.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use karpenter_api::labels::condition;
use karpenter_cloud::CloudProvider;
use karpenter_disruption::view::{self, ClusterView};
use karpenter_disruption::{Command, Decision, KeptNode, KeptReason, Method, Options, Reason, SearchLimit};
use karpenter_snapshot::{Report, ViewOptions, cluster_view};
use karpenter_solver::model::InstanceType;

use crate::clock::Clock;
use crate::conditions;
use crate::context::Context;
use crate::events::{Event, Regarding, reason};
use crate::metrics::{ConsolidationTypeLabels, DisruptedLabels, EvaluationLabels, ReasonLabels};
use crate::orchestration::{self, Orchestrator, consolidation_type, has_disrupted_taint};
use crate::provisioner;
use crate::settings::Settings;
use crate::store::{Cluster, ClusterState};
use crate::termination::claim_of;

/// How often the loop looks for something to disrupt when the last pass found nothing (upstream's polling period).
pub const POLLING_PERIOD: Duration = Duration::from_secs(10);
/// How long an emptiness or consolidation command waits before it is checked again (`commandValidationDelay`).
pub const VALIDATION_PERIOD: Duration = Duration::from_secs(15);
/// How soon a pass is tried again while the store has not synced or a NodeClaim is launching.
pub const NOT_SYNCED_RETRY: Duration = Duration::from_secs(1);
/// How soon the next pass follows a command that started: a second, so that the store shows what it wrote.
pub const AFTER_COMMAND: Duration = Duration::from_secs(1);
/// Multi-node consolidation's search stops after this long (upstream's timeout).
pub const MULTI_NODE_TIMEOUT: Duration = Duration::from_secs(60);
/// Single-node consolidation's search stops after this long (upstream's timeout).
pub const SINGLE_NODE_TIMEOUT: Duration = Duration::from_secs(3 * 60);

/// The view settings of a pass: the feature gates that change decisions, the provider's repair policies (read
/// with `NodeRepair`), the solver's settings, and NodePools that must be Ready to launch, as in provisioning.
pub fn view_options(
    settings: &Settings,
    repair_policies: &[karpenter_cloud::RepairPolicy],
    now: Timestamp,
) -> ViewOptions {
    let gates = &settings.features;
    ViewOptions {
        now,
        feature_gates: view::FeatureGates {
            spot_to_spot_consolidation: gates.spot_to_spot_consolidation,
            node_repair: gates.node_repair,
            static_capacity: gates.static_capacity,
            pod_deletion_cost_management: gates.pod_deletion_cost_management,
        },
        repair_policies: repair_policies
            .iter()
            .map(|p| view::RepairPolicy {
                condition_type: p.condition_type.clone(),
                condition_status: p.condition_status.as_str().to_string(),
                reason_regex: ".*".to_string(),
                toleration_duration: format!("{}s", p.toleration.as_secs()),
                ..view::RepairPolicy::default()
            })
            .collect(),
        solver: settings.solver.clone(),
        require_ready_node_pools: true,
    }
}

/// The engine's view of the store's state (`karpenter_snapshot::cluster_view`), with a node marked nominated when
/// `nominated` says so of its name or its NodeClaim's, and marked for deletion when a command in flight owns it
/// (`owned` holds node and NodeClaim names).
pub fn view(
    state: &ClusterState,
    instance_types: BTreeMap<String, Vec<Arc<InstanceType>>>,
    options: &ViewOptions,
    nominated: &dyn Fn(&str) -> bool,
    owned: &BTreeSet<String>,
) -> (ClusterView, Vec<Report>) {
    let (mut view, reports) = cluster_view(&state.objects, instance_types, options);
    for node in &mut view.nodes {
        let claim = node.node_claim.as_ref().map(|c| c.name.as_str());
        let names = std::iter::once(node.name.as_str()).chain(claim);
        let names: Vec<&str> = names.collect();
        node.nominated |= names.iter().any(|n| nominated(n));
        node.marked_for_deletion |= names.iter().any(|n| owned.contains(*n));
    }
    (view, reports)
}

/// A node and NodeClaim marked disrupted that no command owns: the taint and the condition are to come off.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stale {
    /// The node, when it carries the disrupted taint.
    pub node: Option<String>,
    /// The NodeClaim, when it carries the `DisruptionReason` condition.
    pub node_claim: Option<String>,
}

/// The marks no command in flight owns (`owned`: node and NodeClaim names). Nodes and NodeClaims being deleted
/// keep theirs (termination taints too), and so do NodeClaims rebooting.
pub fn stale(state: &ClusterState, owned: &BTreeSet<String>) -> Vec<Stale> {
    let has_reason =
        |c: &karpenter_api::NodeClaim| conditions::claim_condition(c, condition::DISRUPTION_REASON).is_some();
    let settled = |c: &karpenter_api::NodeClaim| {
        c.metadata.deletion_timestamp.is_none()
            && !conditions::is_true(conditions::of_claim(c), condition::REBOOTING)
            && !c.metadata.name.as_ref().is_some_and(|n| owned.contains(n))
    };
    let mut found = Vec::new();
    let mut claims_seen = BTreeSet::new();
    for node in &state.objects.nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        let claim = claim_of(state, node);
        if let Some(claim) = claim {
            claims_seen.insert(claim.metadata.name.clone().unwrap_or_default());
        }
        if owned.contains(&name)
            || node.metadata.deletion_timestamp.is_some()
            || claim.is_some_and(|c| !settled(c))
        {
            continue;
        }
        let tainted = has_disrupted_taint(node);
        let claim_marked = claim.filter(|c| has_reason(c));
        if tainted || claim_marked.is_some() {
            found.push(Stale {
                node: tainted.then_some(name),
                node_claim: claim_marked.and_then(|c| c.metadata.name.clone()),
            });
        }
    }
    for claim in &state.objects.node_claims {
        let name = claim.metadata.name.clone().unwrap_or_default();
        if !claims_seen.contains(&name) && has_reason(claim) && settled(claim) {
            found.push(Stale { node: None, node_claim: Some(name) });
        }
    }
    found
}

/// Emptiness and consolidation commands are checked again after [`VALIDATION_PERIOD`]; drift and repair are not.
pub fn needs_validation(method: Method) -> bool {
    matches!(method, Method::Emptiness | Method::MultiNodeConsolidation | Method::SingleNodeConsolidation)
}

fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The event a kept node gets, from the first of its reasons that users act on: `DisruptionBlocked` for what
/// stops any disruption (a blocking pod, `do-not-disrupt`, a nomination, a budget), `Unconsolidatable` for what
/// stops consolidation (pods would not fit, no cheaper replacement, the policy). Transient states (launching,
/// initialising, deleting, `consolidateAfter` not elapsed) and "nothing to do" get none.
pub fn kept_event(kept: &KeptNode) -> Option<(&'static str, String)> {
    kept.why.iter().find_map(|why| {
        let event = match &why.reason {
            KeptReason::Nominated
            | KeptReason::NodeDoNotDisrupt
            | KeptReason::NodePoolNotFound { .. }
            | KeptReason::PodBlocks { .. }
            | KeptReason::Budget { .. }
            | KeptReason::StaticAtLimit
            | KeptReason::StaticScalingDown
            | KeptReason::DoNotRepair
            | KeptReason::RepairNeedsTerminationGracePeriod
            | KeptReason::UnhealthyThreshold => reason::DISRUPTION_BLOCKED,
            KeptReason::ConsolidationDisabled
            | KeptReason::WhenEmptyNotEmpty
            | KeptReason::UnknownInstanceType { .. }
            | KeptReason::MissingLabel { .. }
            | KeptReason::PodsWouldNotFit { .. }
            | KeptReason::WouldUseUninitializedNode { .. }
            | KeptReason::NeedsMultipleReplacements { .. }
            | KeptReason::NotCheaper
            | KeptReason::MinValues { .. }
            | KeptReason::SpotToSpotDisabled
            | KeptReason::SpotToSpotTooFewOptions { .. }
            | KeptReason::BalancedScore { .. } => reason::UNCONSOLIDATABLE,
            _ => return None,
        };
        Some((event, sentence(&why.reason.to_string())))
    })
}

/// NodePools whose budget for a reason allows no disruption now, as the kept nodes say.
pub fn blocked_pools(decision: &Decision) -> BTreeSet<(String, Reason)> {
    decision
        .kept
        .iter()
        .filter_map(|kept| {
            let pool = kept.node_pool.as_ref()?;
            kept.why.iter().find_map(|w| match w.reason {
                KeptReason::Budget { reason, allowed: 0 } => Some((pool.clone(), reason)),
                _ => None,
            })
        })
        .collect()
}

/// Candidates per disruption reason in a pass; of two methods with one reason, the later one's count, as
/// upstream's gauge keeps the last method that ran.
pub fn eligible(decision: &Decision) -> BTreeMap<Reason, usize> {
    let mut counts = BTreeMap::new();
    for (method, count) in &decision.evaluations.candidates {
        counts.insert(method.reason(), *count);
    }
    counts
}

/// How long a settled cluster goes without a pass at most: upstream's consolidated state expires after five
/// minutes, so that what no object shows (an instance type available again) is looked at again.
pub const SETTLED_FOR_AT_MOST: Duration = Duration::from_secs(5 * 60);

/// The loop's memory between passes.
#[derive(Debug, Default)]
struct Memory {
    /// NodePools the last single-node pass did not reach; they go first in the next.
    unseen_node_pools: Vec<String>,
    /// What the last pass saw when it found nothing to do.
    settled: Option<Settled>,
}

/// A pass that found nothing to do, and what it saw: while the store shows the same state (the same `Arc`: the
/// stores make a new one on every change), the same nodes are nominated and owned, and none of the view's
/// deadlines has run out, another pass would find nothing either. Upstream skips its consolidation methods on
/// the same grounds (`IsConsolidated`); here the whole pass is skipped, which holds because drift, expiration and
/// repair also read nothing but the state and the time.
#[derive(Debug)]
struct Settled {
    state: Arc<ClusterState>,
    nominated: BTreeSet<String>,
    owned: BTreeSet<String>,
    until: Timestamp,
}

impl Settled {
    fn holds(
        &self,
        state: &Arc<ClusterState>,
        nominated: &BTreeSet<String>,
        owned: &BTreeSet<String>,
        now: Timestamp,
    ) -> bool {
        Arc::ptr_eq(&self.state, state)
            && &self.nominated == nominated
            && &self.owned == owned
            && now < self.until
    }
}

/// Whether a decision leaves the cluster settled: no command, no expiration, every method ran to the end, and no
/// node kept only by a budget (upstream's emptiness does not mark the cluster consolidated then either, as a
/// budget can open without any object changing).
pub fn settles(decision: &Decision) -> bool {
    decision.commands.is_empty()
        && decision.expirations.is_empty()
        && !decision.evaluations.limited
        && decision.unseen_node_pools.is_empty()
        && !decision.kept.iter().any(|k| k.why.iter().any(|w| matches!(w.reason, KeptReason::Budget { .. })))
}

/// Nodes and NodeClaims of the state the provisioner has nominated for pending pods.
fn nominated<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    state: &ClusterState,
) -> BTreeSet<String> {
    let nodes = state.objects.nodes.iter().filter_map(|n| n.metadata.name.as_deref());
    let claims = state.objects.node_claims.iter().filter_map(|c| c.metadata.name.as_deref());
    nodes.chain(claims).filter(|name| ctx.is_nominated(name)).map(str::to_string).collect()
}

/// Runs passes until the task is dropped.
pub async fn run<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: Arc<Context<C, P, K>>,
    orchestrator: Arc<Orchestrator>,
) {
    let mut memory = Memory::default();
    loop {
        let wait = pass(&ctx, &orchestrator, &mut memory).await;
        tokio::time::sleep(wait).await;
    }
}

/// What a pass decided, for the log and tests.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The command started, if any.
    pub started: Option<Command>,
    /// NodeClaims deleted because they expired.
    pub expired: Vec<String>,
    /// Why a command was abandoned by validation.
    pub invalidated: Option<String>,
}

async fn pass<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    orchestrator: &Orchestrator,
    memory: &mut Memory,
) -> Duration {
    match disrupt(ctx, orchestrator, memory).await {
        Ok((outcome, wait)) => {
            if let Some(why) = &outcome.invalidated {
                tracing::info!(reason = %why, "abandoning disruption command: no longer valid");
            }
            wait
        }
        Err(error) => {
            if !matches!(error, crate::error::Error::Store(crate::store::StoreError::Conflict { .. })) {
                ctx.metrics.reconcile_errors.inc();
                tracing::warn!(%error, "disruption pass failed");
            }
            POLLING_PERIOD
        }
    }
}

/// Whether a pass may run on this state: the store synced and no NodeClaim launching (upstream's
/// `Cluster.Synced`: until a NodeClaim launches, what it will hold is unknown).
fn ready(state: &ClusterState) -> bool {
    provisioner::blocked(state).is_none()
}

/// Builds the view of the store's state now.
async fn current_view<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    orchestrator: &Orchestrator,
    state: &ClusterState,
) -> ClusterView {
    let instance_types = provisioner::instance_types(ctx, state, false).await;
    let now = ctx.now();
    let policies =
        if ctx.settings.features.node_repair { ctx.provider.repair_policies() } else { Vec::new() };
    let options = view_options(&ctx.settings, &policies, now);
    let owned = orchestrator.owned(now);
    let (view, reports) = view(state, instance_types, &options, &|name| ctx.is_nominated(name), &owned);
    for report in reports {
        // The provisioner publishes these as events; here they only explain a node left out of the pass.
        tracing::debug!(object = %report.object, reason = %report.error, "left out of the disruption pass");
    }
    view
}

/// One pass; returns what it did and how long to wait before the next.
async fn disrupt<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    orchestrator: &Orchestrator,
    memory: &mut Memory,
) -> crate::error::Result<(Outcome, Duration)> {
    let mut outcome = Outcome::default();
    let state = ctx.cluster.state();
    if !ready(&state) {
        return Ok((outcome, NOT_SYNCED_RETRY));
    }
    let now = ctx.now();
    let owned = orchestrator.owned(now);
    for mark in stale(&state, &owned) {
        tracing::info!(node = ?mark.node, nodeclaim = ?mark.node_claim, "removing a disruption mark no command owns");
        orchestration::release(ctx, mark.node.as_deref(), mark.node_claim.as_deref()).await?;
    }
    let nominated = nominated(ctx, &state);
    if memory.settled.as_ref().is_some_and(|s| s.holds(&state, &nominated, &owned, now)) {
        return Ok((outcome, POLLING_PERIOD));
    }
    memory.settled = None;
    let view = current_view(ctx, orchestrator, &state).await;
    let next_change = karpenter_disruption::next_change(&view);
    let unseen = std::mem::take(&mut memory.unseen_node_pools);
    let started = std::time::Instant::now();
    let decision = tokio::task::spawn_blocking(move || {
        let begun = std::time::Instant::now();
        let multi = move || begun.elapsed() > MULTI_NODE_TIMEOUT;
        let single = move || begun.elapsed() > SINGLE_NODE_TIMEOUT;
        let options = Options {
            multi_node: SearchLimit { deadline: Some(&multi), ..SearchLimit::default() },
            single_node: SearchLimit { deadline: Some(&single), ..SearchLimit::default() },
            unseen_node_pools: unseen,
            ..Options::default()
        };
        karpenter_disruption::decide(&view, &options)
    })
    .await
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()));
    let elapsed = started.elapsed();
    memory.unseen_node_pools = decision.unseen_node_pools.clone();
    tracing::debug!(
        commands = decision.commands.len(),
        expirations = decision.expirations.len(),
        kept = decision.kept.len(),
        elapsed_ms = elapsed.as_millis() as u64,
        decision = %decision.render(),
        "disruption pass"
    );
    record(ctx, &state, &decision, elapsed).await;
    if settles(&decision) {
        let mut until = now.checked_add(SETTLED_FOR_AT_MOST).unwrap_or(now);
        if let Some(at) = next_change.and_then(|at| Timestamp::from_second(at).ok()) {
            until = until.min(at);
        }
        memory.settled = Some(Settled { state: Arc::clone(&state), nominated, owned, until });
    }

    for expiration in &decision.expirations {
        let Some(claim) = state.node_claim(&expiration.node_claim) else { continue };
        if claim.metadata.deletion_timestamp.is_some() {
            continue;
        }
        match ctx.cluster.delete_node_claim(&expiration.node_claim).await {
            Ok(()) => {
                tracing::info!(nodeclaim = %expiration.node_claim, "deleting expired nodeclaim");
                ctx.metrics.node_claims_disrupted.get_or_create(&DisruptedLabels::of(claim, "expired")).inc();
                outcome.expired.push(expiration.node_claim.clone());
            }
            Err(error) if error.is_not_found() => {}
            Err(error) => return Err(error.into()),
        }
    }

    let Some(mut command) = decision.commands.into_iter().next() else {
        return Ok((outcome, POLLING_PERIOD));
    };
    if command.action == karpenter_disruption::Action::Reboot {
        tracing::info!(command = %command, "reboot commands are not carried out by this controller; skipping");
        return Ok((outcome, POLLING_PERIOD));
    }
    if needs_validation(command.method) {
        tracing::debug!(command = %command, "validating the disruption command after the validation period");
        tokio::time::sleep(VALIDATION_PERIOD).await;
        let fresh = ctx.cluster.state();
        let checked = if ready(&fresh) {
            let fresh_view = current_view(ctx, orchestrator, &fresh).await;
            let proposed = command.clone();
            tokio::task::spawn_blocking(move || karpenter_disruption::validate(&proposed, &fresh_view))
                .await
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))
                .map_err(|e| e.to_string())
        } else {
            Err("churn: the cluster changed (a NodeClaim is launching)".to_string())
        };
        match checked {
            Ok(valid) => command = valid,
            Err(why) => {
                ctx.metrics
                    .disruption_failed_validations
                    .get_or_create(&ConsolidationTypeLabels {
                        consolidation_type: consolidation_type(command.method).to_string(),
                    })
                    .inc();
                outcome.invalidated = Some(format!("{command}: {why}"));
                return Ok((outcome, POLLING_PERIOD));
            }
        }
    }
    match orchestrator.start(ctx, command.clone()).await {
        Ok(_) => {
            outcome.started = Some(command);
            Ok((outcome, AFTER_COMMAND))
        }
        Err(error) => {
            tracing::warn!(command = %command, %error, "disruption command did not start");
            Ok((outcome, POLLING_PERIOD))
        }
    }
}

/// Metrics and events of a pass.
async fn record<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    state: &ClusterState,
    decision: &Decision,
    elapsed: Duration,
) {
    let acted = decision.commands.first();
    ctx.metrics
        .disruption_evaluation_duration
        .get_or_create(&EvaluationLabels {
            reason: acted.map(orchestration::reason_label).unwrap_or_default(),
            consolidation_type: acted.map(|c| consolidation_type(c.method)).unwrap_or_default().to_string(),
        })
        .observe(elapsed.as_secs_f64());
    for (reason, count) in eligible(decision) {
        ctx.metrics
            .disruption_eligible_nodes
            .get_or_create(&ReasonLabels { reason: reason.as_str().to_lowercase() })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
    for kept in &decision.kept {
        let Some((why, message)) = kept_event(kept) else { continue };
        let node = state.node(&kept.node);
        let claim = node.and_then(|n| claim_of(state, n)).or_else(|| state.node_claim(&kept.node));
        if claim.is_none() {
            continue;
        }
        if let Some(node) = node {
            ctx.publish(Event::normal(Regarding::node(node), why, message.clone())).await;
        }
        if let Some(claim) = claim {
            ctx.publish(Event::normal(Regarding::node_claim(claim), why, message)).await;
        }
    }
    for (pool, reason) in blocked_pools(decision) {
        if let Some(object) = state.node_pool(&pool) {
            ctx.publish(Event::normal(
                Regarding::node_pool(object),
                reason::DISRUPTION_BLOCKED,
                format!("No allowed disruptions for disruption reason {reason} due to blocking budget"),
            ))
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use k8s_openapi::api::core::v1::{Node, Pod};
    use karpenter_api::{NodeClaim, NodePool};
    use karpenter_cloud::fake::FakeProvider;
    use serde_json::json;

    use super::*;
    use crate::clock::TokioClock;
    use crate::metrics::Metrics;
    use crate::operator::Operator;
    use crate::store::MemoryCluster;
    use crate::testing::{Around, cluster_around, context, node_pool, pending_pod, provider};

    /// A controller running over a MemoryCluster with the fake provider, and the rest of the cluster around it.
    struct World {
        cluster: Arc<MemoryCluster>,
        provider: Arc<FakeProvider>,
        metrics: Metrics,
        around: Around,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        running: Option<tokio::task::JoinHandle<()>>,
        playing: tokio::task::JoinHandle<()>,
    }

    impl World {
        fn start(pool: NodePool) -> World {
            let provider = provider();
            let ctx = context(Arc::clone(&provider));
            let cluster = Arc::clone(&ctx.cluster);
            cluster.apply(pool);
            let around = Around::default();
            let playing = tokio::spawn(cluster_around(Arc::clone(&cluster), around.clone()));
            let mut world = World {
                cluster,
                provider,
                metrics: Metrics::default(),
                around,
                stop: None,
                running: None,
                playing,
            };
            world.start_controller();
            world
        }

        /// Starts a controller (again), as a new process would: nothing in memory from the last one.
        fn start_controller(&mut self) {
            let clock = TokioClock::starting_at(crate::testing::START.parse().unwrap());
            let settings = crate::settings::Settings { workers: 4, ..crate::settings::Settings::default() };
            let operator =
                Operator::new(Arc::clone(&self.cluster), Arc::clone(&self.provider), clock, settings);
            self.metrics = operator.context().metrics.clone();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            self.running = Some(tokio::spawn(operator.run(async {
                let _ = stopped.await;
            })));
            self.stop = Some(stop);
        }

        async fn stop_controller(&mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            if let Some(running) = self.running.take() {
                running.await.unwrap();
            }
        }

        async fn finish(mut self) {
            self.stop_controller().await;
            self.playing.abort();
        }

        fn claims(&self) -> Vec<Arc<NodeClaim>> {
            self.cluster.list::<NodeClaim>()
        }

        fn nodes(&self) -> Vec<Arc<Node>> {
            self.cluster.list::<Node>()
        }

        fn bound(&self) -> usize {
            self.cluster.list::<Pod>().iter().filter(|p| karpenter_snapshot::node_name(p).is_some()).count()
        }

        fn events(&self, reason: &str) -> Vec<String> {
            self.cluster.events().iter().filter(|e| e.reason == reason).map(ToString::to_string).collect()
        }

        fn metrics_text(&self) -> String {
            crate::testing::scraped(|registry| self.metrics.register(registry))
        }

        /// Waits, a simulated second at a time, until `done` holds; panics after `limit`.
        async fn eventually(&self, what: &str, limit: Duration, done: impl Fn(&World) -> bool) -> Duration {
            let mut waited = Duration::ZERO;
            while !done(self) {
                assert!(waited < limit, "{what}: not within {}s", limit.as_secs());
                tokio::time::sleep(Duration::from_secs(1)).await;
                waited += Duration::from_secs(1);
            }
            waited
        }

        async fn inflate(&self, replicas: usize, cpu: &str, annotate: Option<usize>) {
            for i in 0..replicas {
                let mut pod = pending_pod(&format!("inflate-{i}"), cpu);
                if annotate == Some(i) {
                    pod.metadata.annotations =
                        Some([("karpenter.sh/do-not-disrupt".to_string(), "true".to_string())].into());
                }
                self.cluster.apply(pod);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            self.eventually("every pod runs", Duration::from_secs(120), |w| w.bound() == replicas).await;
        }

        fn delete_pods(&self, range: std::ops::Range<usize>) {
            for i in range {
                self.cluster.delete::<Pod>("shop", &format!("inflate-{i}")).unwrap();
            }
        }
    }

    fn pool(policy: &str, budgets: Option<serde_json::Value>) -> NodePool {
        let mut pool = node_pool("default", None);
        pool.spec.template.spec.startup_taints = None;
        let mut disruption = json!({"consolidationPolicy": policy, "consolidateAfter": "30s"});
        if let Some(budgets) = budgets {
            disruption["budgets"] = budgets;
        }
        pool.spec.disruption = Some(serde_json::from_value(disruption).unwrap());
        pool
    }

    fn tainted(node: &Node) -> bool {
        has_disrupted_taint(node)
    }

    fn metric(text: &str, prefix: &str) -> Option<f64> {
        text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    #[tokio::test(start_paused = true)]
    async fn emptied_nodes_go_once_consolidate_after_has_passed() {
        let world = World::start(pool("WhenEmpty", None));
        world.inflate(5, "3", None).await;
        let claims = world.claims().len();
        assert!(claims >= 2, "several nodes: {claims}");
        // Long enough that a consolidateAfter counted from initialisation would have passed.
        tokio::time::sleep(Duration::from_secs(60)).await;
        // `kubectl scale deployment inflate --replicas=0`.
        world.delete_pods(0..5);
        // consolidateAfter counts from the last pod event (the deletions), not from when the nodes initialised.
        tokio::time::sleep(Duration::from_secs(29)).await;
        assert_eq!(world.nodes().len(), claims, "nothing goes before consolidateAfter (30s) has passed");
        assert!(world.nodes().iter().all(|n| !tainted(n)), "nor is marked");
        assert!(world.claims().iter().all(|c| c.metadata.deletion_timestamp.is_none()));
        world
            .eventually("every node goes", Duration::from_secs(600), |w| {
                w.claims().is_empty() && w.nodes().is_empty() && w.provider.instances().is_empty()
            })
            .await;
        let terminating = world.events(reason::DISRUPTION_TERMINATING);
        assert_eq!(terminating.len(), 2 * claims, "a node and a NodeClaim event per node: {terminating:#?}");
        assert!(
            terminating[0].ends_with("Disrupting NodeClaim: Empty")
                || terminating[0].ends_with("Disrupting Node: Empty")
        );
        let text = world.metrics_text();
        let disrupted = metric(
            &text,
            "karpenter_nodeclaims_disrupted_total{reason=\"empty\",nodepool=\"default\",capacity_type=\"on-demand\"}",
        );
        assert_eq!(disrupted, Some(claims as f64), "{text}");
        let decisions = metric(
            &text,
            "karpenter_voluntary_disruption_decisions_total{decision=\"delete\",reason=\"empty\",consolidation_type=\"empty\"}",
        );
        assert!(decisions.is_some_and(|d| d >= 1.0), "{text}");
        assert!(text.contains("karpenter_voluntary_disruption_eligible_nodes{reason=\"empty\"}"), "{text}");
        assert!(
            text.contains("karpenter_voluntary_disruption_decision_evaluation_duration_seconds_count{reason=\"empty\",consolidation_type=\"empty\"}"),
            "{text}"
        );
        world.finish().await;
    }

    /// Passes that found nothing to do, as the evaluation histogram counts them.
    fn idle_passes(world: &World) -> f64 {
        let prefix = "karpenter_voluntary_disruption_decision_evaluation_duration_seconds_count{reason=\"\",consolidation_type=\"\"}";
        metric(&world.metrics_text(), prefix).unwrap_or(0.0)
    }

    #[tokio::test(start_paused = true)]
    async fn a_settled_cluster_is_evaluated_again_only_when_it_changes_or_a_deadline_passes() {
        let world = World::start(pool("WhenEmpty", None));
        world.inflate(2, "1", None).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        // Nothing to do and nothing changing: a pass, then none for the next two minutes (twelve polling periods).
        let settled = idle_passes(&world);
        assert!(settled >= 1.0, "the cluster was evaluated at least once");
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(idle_passes(&world), settled, "no pass over an unchanged cluster");
        // Five minutes on, the cluster is looked at again even though nothing changed, as upstream does.
        tokio::time::sleep(Duration::from_secs(200)).await;
        let refreshed = idle_passes(&world);
        assert!(refreshed > settled, "a pass within five minutes: {refreshed} after {settled}");
        // A change ends the settled state at once; the emptied node's consolidateAfter is a deadline the skip
        // honours, so the node still goes 30 s after its last pod left.
        world.delete_pods(0..2);
        let waited = world
            .eventually("the emptied nodes go", Duration::from_secs(120), |w| w.claims().is_empty())
            .await;
        assert!(waited >= Duration::from_secs(30), "not before consolidateAfter: {waited:?}");
        assert!(waited <= Duration::from_secs(75), "soon after it: {waited:?}");
        world.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn node_claims_of_a_changed_template_are_replaced_as_drifted() {
        let world = World::start(pool("WhenEmpty", None));
        world.inflate(2, "1", None).await;
        let before: BTreeSet<String> =
            world.claims().iter().filter_map(|c| c.metadata.name.clone()).collect();
        assert!(!before.is_empty());
        // A template change: every node launched from now on carries the new label, the old ones have drifted.
        let mut changed = (*world.cluster.get::<NodePool>("", "default").unwrap()).clone();
        let labels = changed
            .spec
            .template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(Default::default);
        labels.insert("example.com/team".to_string(), "b".to_string());
        world.cluster.apply(changed);
        let relabelled = |c: &NodeClaim| {
            c.metadata.labels.as_ref().is_some_and(|l| l.get("example.com/team").is_some_and(|v| v == "b"))
        };
        world
            .eventually("each drifted NodeClaim is replaced", Duration::from_secs(600), |w| {
                // The world's pods have no ReplicaSet: drained, they are gone, and the replacement is soon empty.
                let claims = w.claims();
                !claims.is_empty()
                    && claims.iter().all(|c| {
                        relabelled(c) && !before.contains(c.metadata.name.as_deref().unwrap_or_default())
                    })
            })
            .await;
        let text = world.metrics_text();
        let drifted = metric(
            &text,
            "karpenter_nodeclaims_disrupted_total{reason=\"drifted\",nodepool=\"default\",capacity_type=\"on-demand\"}",
        );
        assert_eq!(drifted, Some(before.len() as f64), "{text}");
        world.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_of_zero_nodes_keeps_empty_nodes_and_says_why() {
        let world = World::start(pool("WhenEmpty", Some(json!([{"nodes": "0"}]))));
        world.inflate(5, "3", None).await;
        let claims = world.claims().len();
        world.delete_pods(0..5);
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert_eq!((world.claims().len(), world.nodes().len()), (claims, claims), "every node stays");
        assert!(world.nodes().iter().all(|n| !tainted(n)));
        let blocked = world.events(reason::DISRUPTION_BLOCKED);
        let node = world.nodes()[0].metadata.name.clone().unwrap();
        assert!(
            blocked.contains(&format!(
                "Normal Node/{node} DisruptionBlocked: Empty budget allows 0 more disruption(s)"
            )),
            "{blocked:#?}"
        );
        assert!(
            blocked.contains(&"Normal NodePool/default DisruptionBlocked: No allowed disruptions for disruption reason Empty due to blocking budget".to_string()),
            "{blocked:#?}"
        );
        world.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_underutilized_node_is_replaced_by_a_cheaper_one() {
        let world = World::start(pool("WhenEmptyOrUnderutilized", None));
        // Five pods of 1.5 vCPU fill one 8-vCPU node; four go, and the last fits a 2-vCPU node at a quarter of the
        // price.
        world.inflate(5, "1500m", None).await;
        assert_eq!(world.claims().len(), 1);
        world.delete_pods(1..5);
        let only = |w: &World, kind: &str| {
            let instances = w.provider.instances();
            instances.len() == 1 && instances[0].instance_type == kind
        };
        world
            .eventually("the large node is replaced by a small one", Duration::from_secs(600), |w| {
                only(w, "small") && w.claims().len() == 1 && w.nodes().len() == 1
            })
            .await;
        let text = world.metrics_text();
        let replaced = metric(
            &text,
            "karpenter_voluntary_disruption_decisions_total{decision=\"replace\",reason=\"underutilized\",consolidation_type=\"single\"}",
        );
        assert_eq!(replaced, Some(1.0), "{text}");
        assert!(!world.events(reason::DISRUPTION_LAUNCHING).is_empty());
        world.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_do_not_disrupt_pod_keeps_its_node() {
        let world = World::start(pool("WhenEmptyOrUnderutilized", None));
        world.inflate(5, "1500m", Some(0)).await;
        world.delete_pods(1..5);
        tokio::time::sleep(Duration::from_secs(300)).await;
        let instances = world.provider.instances();
        assert_eq!(instances.len(), 1);
        assert_eq!(instances[0].instance_type, "large", "kept, although a small node would be cheaper");
        assert!(world.nodes().iter().all(|n| !tainted(n)));
        let node = world.nodes()[0].metadata.name.clone().unwrap();
        let blocked = world.events(reason::DISRUPTION_BLOCKED);
        assert!(
            blocked.contains(&format!(
                "Normal Node/{node} DisruptionBlocked: Pod shop/inflate-0 blocks eviction: karpenter.sh/do-not-disrupt=true"
            )),
            "{blocked:#?}"
        );
        world.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_node_claim_is_deleted_without_waiting_for_a_budget() {
        let mut expiring = pool("WhenEmpty", Some(json!([{"nodes": "0"}])));
        expiring.spec.template.spec.expire_after = Some("2m".into());
        let world = World::start(expiring);
        world.inflate(1, "500m", None).await;
        let original = world.claims()[0].metadata.name.clone().unwrap();
        assert_eq!(world.claims()[0].spec.expire_after.as_deref(), Some("2m"));
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(world.cluster.get::<NodeClaim>("", &original).is_some(), "not expired yet");
        world
            .eventually("the expired NodeClaim goes", Duration::from_secs(180), |w| {
                w.cluster.get::<NodeClaim>("", &original).is_none()
            })
            .await;
        let text = world.metrics_text();
        assert_eq!(
            metric(
                &text,
                "karpenter_nodeclaims_disrupted_total{reason=\"expired\",nodepool=\"default\",capacity_type=\"on-demand\"}"
            ),
            Some(1.0),
            "{text}"
        );
        world.finish().await;
    }

    /// Runs the replacement scenario with replacements that never become Ready, until the candidate is tainted.
    async fn stuck_replacement() -> World {
        let world = World::start(pool("WhenEmptyOrUnderutilized", None));
        world.inflate(5, "1500m", None).await;
        let original = world.claims()[0].metadata.name.clone().unwrap();
        world.around.nodes_ready.store(false, Ordering::SeqCst);
        world.delete_pods(1..5);
        world
            .eventually(
                "the candidate is tainted and its replacement launched",
                Duration::from_secs(300),
                |w| w.nodes().iter().any(|n| tainted(n)) && w.claims().len() == 2,
            )
            .await;
        let claim = world.cluster.get::<NodeClaim>("", &original).unwrap();
        let reason = conditions::claim_condition(&claim, condition::DISRUPTION_REASON).unwrap();
        assert_eq!((reason.status.as_str(), reason.reason.as_str()), ("True", "Underutilized"));
        world
    }

    #[tokio::test(start_paused = true)]
    async fn a_replacement_that_never_initializes_is_rolled_back_without_a_taint() {
        let world = stuck_replacement().await;
        let candidate =
            world.nodes().into_iter().find(|n| tainted(n)).unwrap().metadata.name.clone().unwrap();
        let replacement = world
            .claims()
            .into_iter()
            .find(|c| !conditions::is_true(conditions::of_claim(c), condition::INITIALIZED))
            .unwrap()
            .metadata
            .name
            .clone()
            .unwrap();
        // Nothing is deleted while the replacement is not initialised.
        tokio::time::sleep(Duration::from_secs(590)).await;
        assert!(world.cluster.get::<Node>("", &candidate).is_some_and(|n| tainted(&n)));
        assert!(world.claims().iter().all(|c| c.metadata.deletion_timestamp.is_none()));
        // The command times out after 10 minutes: the taint and the condition come off, and the replacement goes.
        tokio::time::sleep(Duration::from_secs(15)).await;
        let node = world.cluster.get::<Node>("", &candidate).unwrap();
        assert!(!tainted(&node), "{:?}", node.spec);
        assert!(
            world
                .claims()
                .iter()
                .all(|c| conditions::claim_condition(c, condition::DISRUPTION_REASON).is_none())
        );
        assert!(
            world
                .cluster
                .get::<NodeClaim>("", &replacement)
                .is_none_or(|c| c.metadata.deletion_timestamp.is_some()),
            "the replacement is deleted"
        );
        let text = world.metrics_text();
        assert_eq!(
            metric(
                &text,
                "karpenter_voluntary_disruption_queue_failures_total{decision=\"replace\",reason=\"underutilized\",consolidation_type=\"single\"}"
            ),
            Some(1.0),
            "{text}"
        );
        world.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_controller_restarted_mid_command_takes_the_stale_taint_off() {
        let mut world = stuck_replacement().await;
        world.stop_controller().await;
        assert!(world.nodes().iter().any(|n| tainted(n)), "the killed controller left its mark");
        world.start_controller();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(world.nodes().iter().all(|n| !tainted(n)), "the new controller took the taint off");
        assert!(
            world
                .claims()
                .iter()
                .all(|c| conditions::claim_condition(c, condition::DISRUPTION_REASON).is_none())
        );
        world.finish().await;
    }

    #[test]
    fn only_emptiness_and_consolidation_wait_for_validation() {
        let validated: Vec<Method> = Method::ALL.into_iter().filter(|m| needs_validation(*m)).collect();
        assert_eq!(
            validated,
            [Method::Emptiness, Method::MultiNodeConsolidation, Method::SingleNodeConsolidation]
        );
    }

    #[test]
    fn kept_nodes_get_an_event_for_reasons_users_act_on_only() {
        use karpenter_disruption::decision::Why;
        let kept = |reasons: Vec<KeptReason>| KeptNode {
            node: "n".into(),
            node_pool: Some("default".into()),
            why: reasons.into_iter().map(|reason| Why { method: None, reason }).collect(),
        };
        assert_eq!(kept_event(&kept(vec![KeptReason::NoAction])), None);
        assert_eq!(kept_event(&kept(vec![KeptReason::ConsolidateAfterNotElapsed { until: 5 }])), None);
        assert_eq!(
            kept_event(&kept(vec![KeptReason::NotInitialized, KeptReason::NotCheaper])),
            Some((reason::UNCONSOLIDATABLE, "Can't replace with a cheaper node".to_string()))
        );
        assert_eq!(
            kept_event(&kept(vec![KeptReason::Budget { reason: Reason::Drifted, allowed: 0 }])),
            Some((reason::DISRUPTION_BLOCKED, "Drifted budget allows 0 more disruption(s)".to_string()))
        );
        let decision = Decision {
            kept: vec![kept(vec![KeptReason::Budget { reason: Reason::Empty, allowed: 0 }])],
            ..Decision::default()
        };
        assert_eq!(blocked_pools(&decision), BTreeSet::from([("default".to_string(), Reason::Empty)]));
    }

    #[test]
    fn stale_marks_are_those_no_command_owns_on_objects_not_being_deleted() {
        let node = |name: &str, tainted: bool, deleting: bool| -> Arc<Node> {
            let mut node: Node = serde_json::from_value(json!({
                "metadata": {"name": name},
                "spec": {"providerID": format!("fake://{name}")}
            }))
            .unwrap();
            node = if tainted { orchestration::disrupted_taint(&node, true).unwrap() } else { node };
            if deleting {
                node.metadata.deletion_timestamp =
                    Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                        "2026-01-01T00:00:00Z".parse().unwrap(),
                    ));
            }
            Arc::new(node)
        };
        let claim = |name: &str, node: &str, marked: bool| -> Arc<NodeClaim> {
            let claim: NodeClaim = serde_json::from_value(json!({
                "apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
                "metadata": {"name": name},
                "spec": {"requirements": [], "nodeClassRef": {"group": "g", "kind": "K", "name": "n"}},
                "status": {"providerID": format!("fake://{node}"), "nodeName": node}
            }))
            .unwrap();
            let now = "2026-01-01T00:00:00Z".parse().unwrap();
            Arc::new(if marked {
                orchestration::disruption_reason(&claim, Some("Empty"), now).unwrap()
            } else {
                claim
            })
        };
        let mut state = ClusterState { synced: true, ..ClusterState::default() };
        state.objects.nodes = vec![
            node("a", true, false),
            node("b", true, false),
            node("c", true, true),
            node("d", false, false),
        ];
        state.objects.node_claims = vec![
            claim("ca", "a", true),
            claim("cb", "b", true),
            claim("cc", "c", true),
            claim("cd", "d", true),
        ];
        let owned = BTreeSet::from(["b".to_string(), "cb".to_string()]);
        assert_eq!(
            stale(&state, &owned),
            vec![
                Stale { node: Some("a".into()), node_claim: Some("ca".into()) },
                Stale { node: None, node_claim: Some("cd".into()) },
            ]
        );
    }
}
