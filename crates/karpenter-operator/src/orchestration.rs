//! The disruption commands in flight (`kubernetes-sigs/karpenter: pkg/controllers/disruption/queue.go`, and the
//! taint and condition helpers of `pkg/controllers/state/statenode.go`).
//!
//! Starting a command marks its candidates (the `karpenter.sh/disrupted:NoSchedule` taint on each node, the
//! `DisruptionReason` condition on each NodeClaim) and creates its replacements with the provisioner's own
//! NodeClaim construction ([`provisioner::node_claim_for`]). The [`Orchestrator`] then looks at every command each
//! second: once every replacement is `Initialized` it deletes the candidates' NodeClaims, and termination drains
//! them; when a replacement is deleted, or the command outlives its timeout, it rolls the command back — the taint
//! and the condition come off, and the replacements that never initialised are deleted so that no capacity is
//! left behind that nobody asked for.
//!
//! What to do with a command is decided by pure functions ([`observe`], [`progress`], [`disrupted_taint`],
//! [`disruption_reason`]) over the store's state and the time; the async parts only read, write and wait.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use karpenter_api::NodeClaim;
use karpenter_api::labels::{condition, taint};
use karpenter_cloud::CloudProvider;
use karpenter_disruption::{Action, Command};
use tokio::sync::Notify;

use crate::clock::{Clock, signed, since};
use crate::conditions;
use crate::context::Context;
use crate::error::Result;
use crate::events::{Event, Regarding, reason};
use crate::metrics::{DecisionLabels, DisruptedLabels, NodeClaimLabels};
use crate::provisioner;
use crate::store::{Cluster, ClusterState, StoreError};

/// How often commands in flight are looked at (upstream requeues a waiting command after a second).
pub const RECONCILE_PERIOD: Duration = Duration::from_secs(1);
/// The shortest a command may wait for its replacements.
pub const MIN_RETRY_DURATION: Duration = Duration::from_secs(10 * 60);
/// The longest a command may wait for its replacements.
pub const MAX_RETRY_DURATION: Duration = Duration::from_secs(60 * 60);
/// Each command in flight lengthens every command's timeout by this much, within the bounds above: many
/// replacements launching at once take longer.
pub const RETRY_DURATION_SCALE: Duration = Duration::from_millis(80);
/// A command that succeeded still owns its candidates this long, until the store shows their NodeClaims deleting;
/// otherwise the disruption loop could take the taint of a node being terminated for a stale one.
pub const SUCCEEDED_GRACE: Duration = Duration::from_secs(60);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under this lock is one step, so a poisoned lock holds consistent data.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How long a command may wait for its replacements when `in_flight` commands are queued.
pub fn timeout(in_flight: usize) -> Duration {
    let scaled = RETRY_DURATION_SCALE.saturating_mul(u32::try_from(in_flight).unwrap_or(u32::MAX));
    scaled.clamp(MIN_RETRY_DURATION, MAX_RETRY_DURATION)
}

/// The reason as upstream's metric labels spell it.
pub fn reason_label(command: &Command) -> String {
    command.reason.as_str().to_lowercase()
}

/// `empty`, `multi`, `single`, or empty for methods that are not consolidation, as upstream's
/// `consolidation_type` label.
pub fn consolidation_type(method: karpenter_disruption::Method) -> &'static str {
    use karpenter_disruption::Method;
    match method {
        Method::Emptiness => "empty",
        Method::MultiNodeConsolidation => "multi",
        Method::SingleNodeConsolidation => "single",
        Method::Repair | Method::StaticDrift | Method::Drift => "",
    }
}

/// The decision labels of a command.
pub fn decision_labels(command: &Command) -> DecisionLabels {
    DecisionLabels {
        decision: match command.action {
            Action::Delete => "delete",
            Action::Replace => "replace",
            Action::Reboot => "reboot",
        }
        .to_string(),
        reason: reason_label(command),
        consolidation_type: consolidation_type(command.method).to_string(),
    }
}

fn is_disrupted_taint(t: &k8s_openapi::api::core::v1::Taint) -> bool {
    t.key == taint::DISRUPTED && t.effect == "NoSchedule"
}

/// Whether a node carries `karpenter.sh/disrupted:NoSchedule`.
pub fn has_disrupted_taint(node: &Node) -> bool {
    node.spec.as_ref().and_then(|s| s.taints.as_ref()).into_iter().flatten().any(is_disrupted_taint)
}

/// The node with the disrupted taint added (`add`) or removed, or `None` when it needs no write. A node being
/// deleted keeps its taint: termination put it there and needs it.
pub fn disrupted_taint(node: &Node, add: bool) -> Option<Node> {
    let has = has_disrupted_taint(node);
    if has == add || (has && node.metadata.deletion_timestamp.is_some()) {
        return None;
    }
    let mut changed = node.clone();
    let taints = changed.spec.get_or_insert_with(Default::default).taints.get_or_insert_with(Vec::new);
    taints.retain(|t| !is_disrupted_taint(t));
    if add {
        taints.push(k8s_openapi::api::core::v1::Taint {
            key: taint::DISRUPTED.to_string(),
            effect: "NoSchedule".to_string(),
            value: None,
            time_added: None,
        });
    }
    Some(changed)
}

/// The NodeClaim with the `DisruptionReason` condition set to `reason` (`Some`) or cleared (`None`), or `None`
/// when it needs no write.
pub fn disruption_reason(claim: &NodeClaim, reason: Option<&str>, now: Timestamp) -> Option<NodeClaim> {
    conditions::with_claim_condition(claim, condition::DISRUPTION_REASON, reason, now)
}

/// A replacement NodeClaim of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    /// Its name.
    pub name: String,
    /// The store has shown it: from then on, its absence means it was deleted.
    pub seen: bool,
    /// Its `Initialized` condition has been `True`.
    pub initialized: bool,
}

/// A command being carried out.
#[derive(Debug, Clone)]
pub struct InFlight {
    /// A number for the logs.
    pub id: u64,
    /// The command; its candidates are those that were marked.
    pub command: Command,
    /// When it started.
    pub started: Timestamp,
    /// Its replacements.
    pub replacements: Vec<Replacement>,
}

impl InFlight {
    /// Node and NodeClaim names of its candidates.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.command.candidates.iter().flat_map(|c| [c.node.as_str(), c.node_claim.as_str()])
    }
}

/// Where a command stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Some replacements have not initialised.
    Waiting {
        /// Their names.
        replacements: Vec<String>,
    },
    /// Every replacement initialised (or there are none): delete the candidates.
    Ready,
    /// Roll back, for this reason.
    Failed(String),
}

/// Updates what is known of a command's replacements from the store's state.
pub fn observe(command: &mut InFlight, state: &ClusterState) {
    for replacement in command.replacements.iter_mut().filter(|r| !r.initialized) {
        if let Some(claim) = state.node_claim(&replacement.name) {
            replacement.seen = true;
            replacement.initialized =
                conditions::is_true(conditions::of_claim(claim), condition::INITIALIZED);
        }
    }
}

/// Where a command stands at `now`, given its observed replacements, the state and its timeout.
pub fn progress(command: &InFlight, state: &ClusterState, now: Timestamp, timeout: Duration) -> Progress {
    if let Some(gone) =
        command.replacements.iter().find(|r| r.seen && !r.initialized && state.node_claim(&r.name).is_none())
    {
        return Progress::Failed(format!("replacement NodeClaim {} was deleted", gone.name));
    }
    if let Some(deleting) = command.replacements.iter().find(|r| {
        !r.initialized && state.node_claim(&r.name).is_some_and(|c| c.metadata.deletion_timestamp.is_some())
    }) {
        return Progress::Failed(format!("replacement NodeClaim {} is being deleted", deleting.name));
    }
    let waiting: Vec<String> =
        command.replacements.iter().filter(|r| !r.initialized).map(|r| r.name.clone()).collect();
    if waiting.is_empty() {
        return Progress::Ready;
    }
    let waited = since(now, command.started);
    if waited > timeout {
        return Progress::Failed(format!(
            "command reached its timeout of {}s waiting for NodeClaim(s) {} to initialize",
            timeout.as_secs(),
            waiting.join(", ")
        ));
    }
    Progress::Waiting { replacements: waiting }
}

/// Why a command did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A candidate is already part of a command in flight.
    #[error("node {0} is already being disrupted")]
    AlreadyDisrupting(String),
    /// No candidate could be marked, or a command with replacements could not mark them all.
    #[error("marking the candidates disrupted: {0}")]
    Marking(crate::error::Error),
    /// A replacement could not be built or created.
    #[error("launching a replacement NodeClaim: {0}")]
    Launching(String),
}

/// The commands in flight.
#[derive(Debug, Default)]
pub struct Orchestrator {
    commands: Mutex<Vec<InFlight>>,
    succeeded: Mutex<Vec<(Timestamp, Vec<String>)>>,
    next_id: AtomicU64,
    wake: Notify,
}

impl Orchestrator {
    /// An empty queue.
    pub fn new() -> Self {
        Orchestrator::default()
    }

    /// Commands in flight.
    pub fn len(&self) -> usize {
        lock(&self.commands).len()
    }

    /// Whether no command is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The commands in flight.
    pub fn commands(&self) -> Vec<InFlight> {
        lock(&self.commands).clone()
    }

    /// Node and NodeClaim names the queue owns at `now`: the candidates of commands in flight, and of commands
    /// that succeeded within [`SUCCEEDED_GRACE`].
    pub fn owned(&self, now: Timestamp) -> BTreeSet<String> {
        let mut names: BTreeSet<String> =
            lock(&self.commands).iter().flat_map(|c| c.names().map(str::to_string)).collect();
        let mut succeeded = lock(&self.succeeded);
        succeeded.retain(|(at, _)| since(now, *at) < SUCCEEDED_GRACE);
        names.extend(succeeded.iter().flat_map(|(_, n)| n.iter().cloned()));
        names
    }

    /// Starts a command: marks its candidates, creates its replacements and queues it. A command that cannot
    /// start is undone before this returns.
    pub async fn start<C: Cluster, P: CloudProvider, K: Clock>(
        &self,
        ctx: &Context<C, P, K>,
        mut command: Command,
    ) -> Result<u64, StartError> {
        let now = ctx.now();
        let owned = self.owned(now);
        if let Some(busy) = command.candidates.iter().find(|c| owned.contains(&c.node)) {
            return Err(StartError::AlreadyDisrupting(busy.node.clone()));
        }
        let state = ctx.cluster.state();
        let mut marked = Vec::new();
        let mut failure = None;
        for candidate in &command.candidates {
            match mark(ctx, &state, &candidate.node, &candidate.node_claim, command.reason.as_str(), now)
                .await
            {
                Ok(()) => marked.push(candidate.clone()),
                Err(error) => {
                    tracing::warn!(node = %candidate.node, %error, "marking a disruption candidate");
                    failure.get_or_insert(error);
                }
            }
        }
        if let Some(error) = failure
            && (!command.replacements.is_empty() || marked.is_empty())
        {
            release_all(
                ctx,
                &marked.iter().map(|c| (c.node.clone(), c.node_claim.clone())).collect::<Vec<_>>(),
            )
            .await;
            return Err(StartError::Marking(error));
        }
        command.candidates = marked;
        let mut replacements = Vec::new();
        let mut launch_failure = None;
        for new in &command.replacements {
            let Some(pool) = state.node_pool(&new.node_pool) else {
                launch_failure = Some(format!("NodePool {} not found", new.node_pool));
                break;
            };
            let claim = match provisioner::node_claim_for(new, pool) {
                Ok(claim) => claim,
                Err(report) => {
                    launch_failure = Some(format!("{}: {}", report.object, report.error));
                    break;
                }
            };
            match ctx.cluster.create_node_claim(&claim).await {
                Ok(created) => {
                    let name = created.metadata.name.clone().unwrap_or_default();
                    ctx.metrics
                        .node_claims_created
                        .get_or_create(&NodeClaimLabels {
                            nodepool: new.node_pool.clone(),
                            reason: reason_label(&command),
                        })
                        .inc();
                    tracing::info!(nodeclaim = %name, nodepool = %new.node_pool, "created replacement nodeclaim");
                    replacements.push(Replacement { name, seen: false, initialized: false });
                }
                Err(error) => {
                    launch_failure = Some(format!("NodeClaim for NodePool {}: {error}", new.node_pool));
                    break;
                }
            }
        }
        if let Some(why) = launch_failure {
            for replacement in &replacements {
                delete_claim(ctx, &replacement.name).await;
            }
            let candidates: Vec<(String, String)> =
                command.candidates.iter().map(|c| (c.node.clone(), c.node_claim.clone())).collect();
            release_all(ctx, &candidates).await;
            return Err(StartError::Launching(why));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(command = %command, id, "disrupting node(s)");
        ctx.metrics.disruption_decisions.get_or_create(&decision_labels(&command)).inc();
        lock(&self.commands).push(InFlight { id, command, started: now, replacements });
        self.wake.notify_one();
        Ok(id)
    }

    /// Looks at every command once: waits, deletes the candidates of those whose replacements initialised, and
    /// rolls back those that failed.
    pub async fn reconcile<C: Cluster, P: CloudProvider, K: Clock>(
        &self,
        ctx: &Context<C, P, K>,
    ) -> Result<()> {
        let state = ctx.cluster.state();
        let now = ctx.now();
        let limit = timeout(self.len());
        let ids: Vec<u64> = lock(&self.commands).iter().map(|c| c.id).collect();
        let mut first_error = None;
        for id in ids {
            let observed = {
                let mut commands = lock(&self.commands);
                let Some(command) = commands.iter_mut().find(|c| c.id == id) else { continue };
                observe(command, &state);
                command.clone()
            };
            let outcome = match progress(&observed, &state, now, limit) {
                Progress::Waiting { replacements } => {
                    for name in &replacements {
                        if let Some(claim) = state.node_claim(name) {
                            ctx.publish(Event::normal(
                                Regarding::node_claim(claim),
                                reason::DISRUPTION_LAUNCHING,
                                format!("Launching NodeClaim: {}", observed.command.reason),
                            ))
                            .await;
                            ctx.publish(Event::normal(
                                Regarding::node_claim(claim),
                                reason::DISRUPTION_WAITING_READINESS,
                                "Waiting on readiness to continue disruption",
                            ))
                            .await;
                        }
                    }
                    continue;
                }
                Progress::Ready => terminate(ctx, &state, &observed).await.map(|()| true),
                Progress::Failed(why) => {
                    roll_back(ctx, &state, &observed, &why).await;
                    Ok(false)
                }
            };
            match outcome {
                Ok(succeeded) => {
                    lock(&self.commands).retain(|c| c.id != id);
                    if succeeded {
                        let names = observed.names().map(str::to_string).collect();
                        lock(&self.succeeded).push((now, names));
                    }
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Looks at the commands every [`RECONCILE_PERIOD`] while there are any, and sleeps until one starts when there
    /// are none.
    pub async fn run<C: Cluster, P: CloudProvider, K: Clock>(self: Arc<Self>, ctx: Arc<Context<C, P, K>>) {
        loop {
            if self.is_empty() {
                self.wake.notified().await;
                continue;
            }
            // A conflict is someone else's write landing first: the next look a second later reads it.
            if let Err(error) = self.reconcile(&ctx).await
                && !matches!(error, crate::error::Error::Store(StoreError::Conflict { .. }))
            {
                ctx.metrics.reconcile_errors.inc();
                tracing::warn!(%error, "disruption queue; retrying");
            }
            tokio::time::sleep(RECONCILE_PERIOD).await;
        }
    }
}

/// Taints a candidate's node and sets the reason on its NodeClaim.
async fn mark<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    state: &ClusterState,
    node: &str,
    node_claim: &str,
    reason: &str,
    now: Timestamp,
) -> Result<()> {
    if let Some(tainted) = state.node(node).and_then(|n| disrupted_taint(n, true)) {
        ctx.cluster.update_node(&tainted).await?;
    }
    if let Some(claim) = state.node_claim(node_claim).and_then(|c| disruption_reason(c, Some(reason), now)) {
        crate::store::unless_gone(ctx.cluster.update_node_claim_status(&claim).await)?;
    }
    Ok(())
}

/// Takes the disrupted taint off a node and the `DisruptionReason` condition off its NodeClaim, as the store
/// shows them now.
pub async fn release<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    node: Option<&str>,
    node_claim: Option<&str>,
) -> Result<()> {
    let state = ctx.cluster.state();
    if let Some(untainted) = node.and_then(|n| state.node(n)).and_then(|n| disrupted_taint(n, false)) {
        crate::store::unless_gone(ctx.cluster.update_node(&untainted).await)?;
    }
    let cleared = node_claim
        .and_then(|c| state.node_claim(c))
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .and_then(|c| disruption_reason(c, None, ctx.now()));
    if let Some(claim) = cleared {
        crate::store::unless_gone(ctx.cluster.update_node_claim_status(&claim).await)?;
    }
    Ok(())
}

/// Releases every candidate; a failure is logged, and the disruption loop's sweep of stale marks retries it.
async fn release_all<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    candidates: &[(String, String)],
) {
    for (node, claim) in candidates {
        if let Err(error) = release(ctx, Some(node), Some(claim)).await {
            tracing::warn!(node = %node, %error, "removing the disrupted taint; the next disruption pass retries");
        }
    }
}

async fn delete_claim<C: Cluster, P: CloudProvider, K: Clock>(ctx: &Context<C, P, K>, name: &str) {
    match ctx.cluster.delete_node_claim(name).await {
        Ok(()) => {}
        Err(error) if error.is_not_found() => {}
        Err(error) => {
            tracing::warn!(nodeclaim = %name, %error, "deleting a replacement that did not initialize");
        }
    }
}

/// Deletes the candidates' NodeClaims; termination drains their nodes.
async fn terminate<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    state: &ClusterState,
    command: &InFlight,
) -> Result<()> {
    let reason = command.command.reason;
    for candidate in &command.command.candidates {
        let Some(claim) = state.node_claim(&candidate.node_claim) else { continue };
        if claim.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if let Some(grace) = command.command.termination_grace_period {
            // A repair policy's drain bound: the NodeClaim's termination timestamp is set before the delete, so
            // that termination reads it instead of the NodeClaim's own grace period.
            let nanos = u64::try_from(grace.0.max(0)).unwrap_or(u64::MAX);
            let deadline = now_plus(ctx.now(), Duration::from_nanos(nanos));
            let mut annotated = (**claim).clone();
            annotated.metadata.annotations.get_or_insert_with(Default::default).insert(
                karpenter_api::labels::annotation::NODE_CLAIM_TERMINATION_TIMESTAMP.to_string(),
                deadline.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            );
            ctx.cluster.update_node_claim(&annotated).await?;
        }
        match ctx.cluster.delete_node_claim(&candidate.node_claim).await {
            Ok(()) => {}
            Err(error) if error.is_not_found() => continue,
            Err(error) => return Err(error.into()),
        }
        let message = format!("Disrupting NodeClaim: {reason}");
        ctx.publish(Event::normal(Regarding::node_claim(claim), reason::DISRUPTION_TERMINATING, message))
            .await;
        if let Some(node) = state.node(&candidate.node) {
            ctx.publish(Event::normal(
                Regarding::node(node),
                reason::DISRUPTION_TERMINATING,
                format!("Disrupting Node: {reason}"),
            ))
            .await;
        }
        ctx.metrics
            .node_claims_disrupted
            .get_or_create(&DisruptedLabels::of(claim, &reason_label(&command.command)))
            .inc();
    }
    tracing::info!(id = command.id, command = %command.command, "command succeeded");
    Ok(())
}

fn now_plus(now: Timestamp, duration: Duration) -> Timestamp {
    now.saturating_add(signed(duration)).unwrap_or(now)
}

/// Undoes a command that failed: candidates released, replacements that did not initialise deleted.
async fn roll_back<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    state: &ClusterState,
    command: &InFlight,
    why: &str,
) {
    let failed: Vec<&Replacement> = command.replacements.iter().filter(|r| !r.initialized).collect();
    ctx.metrics
        .disruption_queue_failures
        .get_or_create(&decision_labels(&command.command))
        .inc_by(failed.len().max(1) as u64);
    tracing::error!(id = command.id, command = %command.command, reason = %why, "disruption command failed; rolling back");
    for replacement in failed {
        if state.node_claim(&replacement.name).is_some_and(|c| c.metadata.deletion_timestamp.is_none()) {
            delete_claim(ctx, &replacement.name).await;
        }
    }
    let candidates: Vec<(String, String)> =
        command.command.candidates.iter().map(|c| (c.node.clone(), c.node_claim.clone())).collect();
    release_all(ctx, &candidates).await;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn claim(name: &str, initialized: bool, deleting: bool) -> Arc<NodeClaim> {
        let mut claim: NodeClaim = serde_json::from_value(json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
            "metadata": {"name": name},
            "spec": {"requirements": [], "nodeClassRef": {"group": "g", "kind": "K", "name": "n"}}
        }))
        .unwrap();
        if initialized {
            conditions::ConditionSet::node_claim(&mut claim, at("2026-01-01T00:00:00Z"))
                .set_true(condition::INITIALIZED);
        }
        if deleting {
            claim.metadata.deletion_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at("2026-01-01T00:00:00Z")));
        }
        Arc::new(claim)
    }

    fn command(replacements: &[&str]) -> InFlight {
        InFlight {
            id: 1,
            command: Command {
                method: karpenter_disruption::Method::SingleNodeConsolidation,
                reason: karpenter_disruption::Reason::Underutilized,
                action: Action::Replace,
                candidates: Vec::new(),
                replacements: Vec::new(),
                destinations: Vec::new(),
                savings_per_hour: 0.3,
                termination_grace_period: None,
                reboot_escalated: false,
            },
            started: at("2026-01-01T00:00:00Z"),
            replacements: replacements
                .iter()
                .map(|n| Replacement { name: n.to_string(), seen: false, initialized: false })
                .collect(),
        }
    }

    #[test]
    fn a_command_waits_for_its_replacements_then_deletes_or_times_out() {
        let mut state = ClusterState { synced: true, ..ClusterState::default() };
        let mut inflight = command(&["r1"]);
        let soon = at("2026-01-01T00:01:00Z");
        let limit = timeout(1);
        // Not in the store yet (a watch lags a create): wait.
        observe(&mut inflight, &state);
        assert_eq!(
            progress(&inflight, &state, soon, limit),
            Progress::Waiting { replacements: vec!["r1".into()] }
        );
        state.objects.node_claims = vec![claim("r1", false, false)];
        observe(&mut inflight, &state);
        assert!(inflight.replacements[0].seen);
        assert!(matches!(progress(&inflight, &state, soon, limit), Progress::Waiting { .. }));
        let late = at("2026-01-01T00:10:01Z");
        assert!(
            matches!(progress(&inflight, &state, late, limit), Progress::Failed(why) if why.contains("timeout of 600s"))
        );
        state.objects.node_claims = vec![claim("r1", true, false)];
        observe(&mut inflight, &state);
        assert_eq!(progress(&inflight, &state, soon, limit), Progress::Ready);
        // Once initialised, it stays so for the command even if the store changes.
        state.objects.node_claims.clear();
        observe(&mut inflight, &state);
        assert_eq!(progress(&inflight, &state, soon, limit), Progress::Ready);
        assert_eq!(progress(&command(&[]), &state, soon, limit), Progress::Ready, "a delete needs no wait");
    }

    #[test]
    fn a_replacement_deleted_before_it_initialized_fails_the_command() {
        let mut state = ClusterState { synced: true, ..ClusterState::default() };
        let mut inflight = command(&["r1"]);
        let now = at("2026-01-01T00:01:00Z");
        state.objects.node_claims = vec![claim("r1", false, true)];
        observe(&mut inflight, &state);
        assert!(
            matches!(progress(&inflight, &state, now, timeout(1)), Progress::Failed(why) if why.contains("being deleted"))
        );
        state.objects.node_claims.clear();
        assert!(
            matches!(progress(&inflight, &state, now, timeout(1)), Progress::Failed(why) if why.contains("was deleted"))
        );
    }

    #[test]
    fn the_timeout_grows_with_the_queue_within_bounds() {
        assert_eq!(timeout(0), MIN_RETRY_DURATION);
        assert_eq!(timeout(10_000), Duration::from_secs(800));
        assert_eq!(timeout(1_000_000), MAX_RETRY_DURATION);
    }

    #[test]
    fn the_taint_and_the_condition_are_added_and_removed_once() {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": "n"},
            "spec": {"taints": [{"key": "other", "effect": "NoSchedule"}]}
        }))
        .unwrap();
        let tainted = disrupted_taint(&node, true).unwrap();
        assert!(has_disrupted_taint(&tainted));
        assert_eq!(disrupted_taint(&tainted, true), None, "already there");
        let untainted = disrupted_taint(&tainted, false).unwrap();
        assert_eq!(untainted.spec.unwrap().taints.unwrap().len(), 1, "other taints stay");
        let mut deleting = tainted.clone();
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at("2026-01-01T00:00:00Z")));
        assert_eq!(disrupted_taint(&deleting, false), None, "termination keeps the taint of a deleting node");

        let now = at("2026-01-01T00:00:00Z");
        let plain = claim("c", true, false);
        let marked = disruption_reason(&plain, Some("Empty"), now).unwrap();
        let condition = conditions::claim_condition(&marked, condition::DISRUPTION_REASON).unwrap();
        assert_eq!(
            (condition.status.as_str(), condition.reason.as_str(), condition.message.as_str()),
            ("True", "Empty", "Empty")
        );
        assert!(disruption_reason(&marked, Some("Empty"), now).is_none());
        let cleared = disruption_reason(&marked, None, now).unwrap();
        assert!(conditions::claim_condition(&cleared, condition::DISRUPTION_REASON).is_none());
        assert!(conditions::is_true(conditions::of_claim(&cleared), condition::INITIALIZED), "others stay");
        assert!(disruption_reason(&cleared, None, now).is_none());
    }
}
