//! The NodeClaim lifecycle (`kubernetes-sigs/karpenter: pkg/controllers/nodeclaim/lifecycle/controller.go`,
//! `launch.go`, `registration.go`, `initialization.go`, `liveness.go`): a NodeClaim gets the termination
//! finalizer, is launched by the cloud provider (`Launched`), is matched with the node that joins under its
//! provider id, which gets the NodeClaim's labels, taints and finalizer and loses the unregistered taint
//! (`Registered`), and is initialised once that node is Ready with its startup taints gone and its extended
//! resources present (`Initialized`). A NodeClaim that does not launch within 5 minutes or register within 15 is
//! deleted. A deleted NodeClaim has its node deleted, waits for it to go, terminates its instance and loses its
//! finalizer.
//!
//! Each step's decision is a pure function of the NodeClaim, its node and the time; [`reconcile`] runs them
//! against the store and the provider.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use karpenter_api::labels::{annotation, condition, finalizer, label, taint};
use karpenter_api::{NodeClaim, NodeSelectorOperator};
use karpenter_cloud::{CloudProvider, Deletion, Error as ProviderError, Instance, LaunchRequest};
use karpenter_solver::model::{self, InstanceType, NodeClassRef};
use karpenter_solver::quantity::Quantity as ParsedQuantity;

use crate::clock::{Clock, signed, since};
use crate::conditions::{ConditionSet, claim_condition};
use crate::context::Context;
use crate::error::Result;
use crate::events::{Event, Regarding, reason};
use crate::metrics::{DisruptedLabels, NodeClaimLabels, NodeLabels};
use crate::store::{Cluster, ClusterState};

/// Taints the node lifecycle controller and cloud controllers put on new nodes and lift once they are ready
/// (upstream's `KnownEphemeralTaints`).
pub const KNOWN_EPHEMERAL_TAINTS: &[(&str, &str)] = &[
    ("node.kubernetes.io/not-ready", "NoSchedule"),
    ("node.kubernetes.io/unreachable", "NoSchedule"),
    ("node.cloudprovider.kubernetes.io/uninitialized", "NoSchedule"),
];

/// Whether the provider launches from the NodeClaim's node class (upstream's `IsManaged`).
pub fn is_managed<P: CloudProvider>(claim: &NodeClaim, provider: &P) -> bool {
    let reference = &claim.spec.node_class_ref;
    provider.node_classes().iter().any(|kind| kind.group == reference.group && kind.kind == reference.kind)
}

/// The finalizers of an object contain the termination finalizer.
pub fn has_termination_finalizer(finalizers: Option<&Vec<String>>) -> bool {
    finalizers.is_some_and(|f| f.iter().any(|f| f == finalizer::TERMINATION))
}

fn model_taint(t: &Taint) -> model::Taint {
    model::Taint { key: t.key.clone(), value: t.value.clone().unwrap_or_default(), effect: t.effect.clone() }
}

fn operator(op: NodeSelectorOperator) -> &'static str {
    match op {
        NodeSelectorOperator::In => "In",
        NodeSelectorOperator::NotIn => "NotIn",
        NodeSelectorOperator::Exists => "Exists",
        NodeSelectorOperator::DoesNotExist => "DoesNotExist",
        NodeSelectorOperator::Gt => "Gt",
        NodeSelectorOperator::Lt => "Lt",
        NodeSelectorOperator::Gte => "Gte",
        NodeSelectorOperator::Lte => "Lte",
    }
}

/// The launch request of a NodeClaim: its labels, taints, requirements, requests and node class, and the instance
/// types of its NodePool that its instance-type requirement names (all of them when it names none).
pub fn launch_request(claim: &NodeClaim, pool_instance_types: &[Arc<InstanceType>]) -> LaunchRequest {
    let requirements: Vec<model::NodeSelectorRequirement> = claim
        .spec
        .requirements
        .iter()
        .map(|r| model::NodeSelectorRequirement {
            key: r.key.clone(),
            operator: operator(r.operator).to_string(),
            values: r.values.clone().unwrap_or_default(),
            min_values: r.min_values.and_then(|m| u32::try_from(m).ok()),
        })
        .collect();
    let named: Option<Vec<&str>> = claim
        .spec
        .requirements
        .iter()
        .find(|r| r.key == label::INSTANCE_TYPE && r.operator == NodeSelectorOperator::In)
        .map(|r| r.values.iter().flatten().map(String::as_str).collect());
    let instance_types = pool_instance_types
        .iter()
        .filter(|t| named.as_ref().is_none_or(|names| names.contains(&t.name.as_str())))
        .cloned()
        .collect();
    let reference = &claim.spec.node_class_ref;
    LaunchRequest {
        node_claim: claim.metadata.name.clone().unwrap_or_default(),
        node_pool: claim
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(label::NODE_POOL))
            .cloned()
            .unwrap_or_default(),
        node_class: NodeClassRef {
            group: reference.group.clone(),
            kind: reference.kind.clone(),
            name: reference.name.clone(),
        },
        labels: claim.metadata.labels.clone().unwrap_or_default(),
        taints: claim.spec.taints.iter().flatten().map(model_taint).collect(),
        startup_taints: claim.spec.startup_taints.iter().flatten().map(model_taint).collect(),
        requirements,
        requests: claim
            .spec
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .into_iter()
            .flatten()
            .map(|(name, quantity)| (name.clone(), quantity.0.clone()))
            .collect(),
        instance_types,
    }
}

fn quantities(list: &model::ResourceList) -> BTreeMap<String, Quantity> {
    list.iter().map(|(name, value)| (name.clone(), Quantity(value.clone()))).collect()
}

/// The NodeClaim once its instance launched (upstream's `PopulateNodeClaimDetails`): the provider's labels under
/// the NodeClaim's own, the provider id, image, capacity and allocatable, and `Launched`.
pub fn launched(claim: &NodeClaim, instance: &Instance, now: Timestamp) -> NodeClaim {
    let mut claim = claim.clone();
    let mut labels = instance.labels.clone();
    labels.extend(claim.metadata.labels.take().unwrap_or_default());
    claim.metadata.labels = Some(labels);
    let status = claim.status.get_or_insert_with(Default::default);
    status.provider_id = Some(instance.provider_id.clone());
    status.image_id = instance.image_id.clone();
    status.capacity = Some(quantities(&instance.capacity));
    status.allocatable = Some(quantities(&instance.allocatable));
    ConditionSet::node_claim(&mut claim, now).set_true(condition::LAUNCHED);
    claim
}

/// The node a NodeClaim registers as.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeMatch<'a> {
    /// The NodeClaim has no provider id yet, or no node has it.
    None,
    /// One node has the NodeClaim's provider id.
    One(&'a Arc<Node>),
    /// Several nodes have it: an invariant is broken, and the NodeClaim is not registered.
    Many(usize),
}

/// The node with the NodeClaim's provider id.
pub fn node_of<'a>(state: &'a ClusterState, claim: &NodeClaim) -> NodeMatch<'a> {
    let Some(provider_id) = karpenter_snapshot::claim_provider_id(claim) else { return NodeMatch::None };
    let nodes: Vec<&'a Arc<Node>> = state
        .objects
        .nodes
        .iter()
        .filter(|n| karpenter_snapshot::node_provider_id(n) == Some(provider_id))
        .collect();
    match nodes.as_slice() {
        [] => NodeMatch::None,
        [one] => NodeMatch::One(one),
        many => NodeMatch::Many(many.len()),
    }
}

fn same_taint(a: &Taint, b: &Taint) -> bool {
    a.key == b.key && a.effect == b.effect
}

/// The node once registered (upstream's `syncNode`): the termination finalizer, the NodeClaim as owner, the
/// NodeClaim's taints and startup taints added unless the node asks not to (`karpenter.sh/do-not-sync-taints`),
/// its labels and annotations, the unregistered taint removed and `karpenter.sh/registered=true`.
pub fn registered_node(claim: &NodeClaim, node: &Node) -> Node {
    let mut node = node.clone();
    let finalizers = node.metadata.finalizers.get_or_insert_with(Vec::new);
    if !finalizers.iter().any(|f| f == finalizer::TERMINATION) {
        finalizers.push(finalizer::TERMINATION.to_string());
    }
    let owner = OwnerReference {
        api_version: "karpenter.sh/v1".to_string(),
        kind: "NodeClaim".to_string(),
        name: claim.metadata.name.clone().unwrap_or_default(),
        uid: claim.metadata.uid.clone().unwrap_or_default(),
        block_owner_deletion: Some(true),
        controller: None,
    };
    let owners = node.metadata.owner_references.get_or_insert_with(Vec::new);
    if !owners.iter().any(|o| o.uid == owner.uid) {
        owners.push(owner);
    }
    let do_not_sync = node
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(label::DO_NOT_SYNC_TAINTS))
        .is_some_and(|v| v == "true");
    let spec = node.spec.get_or_insert_with(Default::default);
    let taints = spec.taints.get_or_insert_with(Vec::new);
    if !do_not_sync {
        for wanted in claim.spec.taints.iter().flatten().chain(claim.spec.startup_taints.iter().flatten()) {
            if !taints.iter().any(|t| same_taint(t, wanted)) {
                taints.push(wanted.clone());
            }
        }
    }
    taints.retain(|t| !same_taint(t, &taint::unregistered()));
    if taints.is_empty() {
        spec.taints = None;
    }
    let annotations = node.metadata.annotations.get_or_insert_with(Default::default);
    annotations.extend(claim.metadata.annotations.clone().unwrap_or_default());
    let labels = node.metadata.labels.get_or_insert_with(Default::default);
    labels.extend(claim.metadata.labels.clone().unwrap_or_default());
    labels.insert(label::REGISTERED.to_string(), "true".to_string());
    node
}

/// Why a registered node is not initialised yet, as the `Initialized` condition's reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotInitialized {
    /// A CamelCase word.
    pub reason: &'static str,
    /// Details.
    pub message: String,
}

fn format_taint(t: &Taint) -> String {
    match t.value.as_deref().filter(|v| !v.is_empty()) {
        Some(value) => format!("{}={}:{}", t.key, value, t.effect),
        None => format!("{}:{}", t.key, t.effect),
    }
}

/// Whether a registered node is initialised (upstream's `Initialization.Reconcile`): Ready, no startup taint of
/// the NodeClaim left, no known ephemeral taint left, and every extended resource the NodeClaim requested present
/// in the node's allocatable.
pub fn initialization(claim: &NodeClaim, node: &Node) -> Result<(), NotInitialized> {
    let status = node.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    if !ready {
        return Err(NotInitialized { reason: "NodeNotReady", message: "Node status is NotReady".into() });
    }
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_ref());
    for startup in claim.spec.startup_taints.iter().flatten() {
        if let Some(t) = taints.into_iter().flatten().find(|t| same_taint(t, startup)) {
            return Err(NotInitialized {
                reason: "StartupTaintsExist",
                message: format!("StartupTaint {:?} still exists", format_taint(t)),
            });
        }
    }
    for t in taints.into_iter().flatten() {
        if KNOWN_EPHEMERAL_TAINTS.iter().any(|(key, effect)| t.key == *key && t.effect == *effect) {
            return Err(NotInitialized {
                reason: "KnownEphemeralTaintsExist",
                message: format!("KnownEphemeralTaint {:?} still exists", format_taint(t)),
            });
        }
    }
    let allocatable = status.and_then(|s| s.allocatable.as_ref());
    let zero = |q: Option<&Quantity>| {
        q.is_none_or(|q| ParsedQuantity::parse(&q.0).ok().and_then(|q| q.to_milli()).is_none_or(|m| m == 0))
    };
    for (name, quantity) in
        claim.spec.resources.as_ref().and_then(|r| r.requests.as_ref()).into_iter().flatten()
    {
        if zero(Some(quantity)) {
            continue;
        }
        if zero(allocatable.and_then(|a| a.get(name))) {
            return Err(NotInitialized {
                reason: "ResourceNotRegistered",
                message: format!("Resource {name:?} was requested but not registered"),
            });
        }
    }
    Ok(())
}

/// What the liveness check says about a NodeClaim that has not registered (upstream's `Liveness.Reconcile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// Fine; look again after this long, if set.
    Alive(Option<Duration>),
    /// Not launched within the launch timeout of its `Launched` condition's last transition.
    LaunchTimedOut,
    /// Launched but not registered within the registration timeout of its `Registered` condition's last
    /// transition.
    RegistrationTimedOut,
}

/// Checks the launch and registration timeouts.
pub fn liveness(
    claim: &NodeClaim,
    now: Timestamp,
    launch_timeout: Duration,
    registration_timeout: Duration,
) -> Liveness {
    let registered = claim_condition(claim, condition::REGISTERED);
    if registered.is_some_and(|c| c.status == "True") {
        return Liveness::Alive(None);
    }
    let Some(launched) = claim_condition(claim, condition::LAUNCHED) else { return Liveness::Alive(None) };
    if launched.status != "True" {
        let age = since(now, launched.last_transition_time.0);
        return if age >= launch_timeout {
            Liveness::LaunchTimedOut
        } else {
            Liveness::Alive(Some(launch_timeout - age))
        };
    }
    let Some(registered) = registered else { return Liveness::Alive(None) };
    let age = since(now, registered.last_transition_time.0);
    if age >= registration_timeout {
        Liveness::RegistrationTimedOut
    } else {
        Liveness::Alive(Some(registration_timeout - age))
    }
}

/// The `karpenter.sh/nodeclaim-termination-timestamp` a deleted NodeClaim with a termination grace period gets:
/// its deletion time plus the grace period. `None` when it has no grace period, is not deleted, already has the
/// annotation, or the grace period does not read.
pub fn termination_timestamp(claim: &NodeClaim) -> Option<String> {
    if claim
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(annotation::NODE_CLAIM_TERMINATION_TIMESTAMP))
    {
        return None;
    }
    let deleted = claim.metadata.deletion_timestamp.as_ref()?.0;
    let grace = karpenter_snapshot::parse_duration(claim.spec.termination_grace_period.as_deref()?).ok()?;
    let at = deleted.saturating_add(signed(grace)).ok()?;
    Some(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// What a reconcile asks of its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Requeue(pub Option<Duration>);

impl Requeue {
    /// Nothing to do until something changes.
    pub const NONE: Requeue = Requeue(None);

    /// Look again after `after`.
    pub fn after(after: Duration) -> Self {
        Requeue(Some(after))
    }

    /// The earlier of two.
    pub fn min(self, other: Requeue) -> Requeue {
        match (self.0, other.0) {
            (Some(a), Some(b)) => Requeue(Some(a.min(b))),
            (a, b) => Requeue(a.or(b)),
        }
    }
}

/// Remembers instances launched for NodeClaims whose status may not have been written yet (upstream keeps the
/// same cache): a retried launch then reuses the instance instead of launching another.
#[derive(Debug, Default)]
pub struct LaunchCache {
    by_uid: Mutex<BTreeMap<String, Instance>>,
}

impl LaunchCache {
    fn get(&self, uid: &str) -> Option<Instance> {
        self.by_uid.lock().unwrap_or_else(|p| p.into_inner()).get(uid).cloned()
    }

    fn put(&self, uid: &str, instance: Instance) {
        self.by_uid.lock().unwrap_or_else(|p| p.into_inner()).insert(uid.to_string(), instance);
    }

    fn forget(&self, uid: &str) {
        self.by_uid.lock().unwrap_or_else(|p| p.into_inner()).remove(uid);
    }
}

fn claim_labels(claim: &NodeClaim, reason: &str) -> NodeClaimLabels {
    NodeClaimLabels {
        nodepool: claim
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(label::NODE_POOL))
            .cloned()
            .unwrap_or_default(),
        reason: reason.to_string(),
    }
}

/// Reconciles one NodeClaim by name.
pub async fn reconcile<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    launches: &LaunchCache,
    name: &str,
) -> Result<Requeue> {
    let state = ctx.cluster.state();
    let Some(stored) = state.node_claim(name).cloned() else { return Ok(Requeue::NONE) };
    if !is_managed(&stored, ctx.provider.as_ref()) {
        return Ok(Requeue::NONE);
    }
    if stored.metadata.deletion_timestamp.is_some() {
        return finalize(ctx, &state, &stored).await;
    }
    // The finalizer comes first: an instance launched for a NodeClaim without it could leak.
    let stored = if has_termination_finalizer(stored.metadata.finalizers.as_ref()) {
        stored
    } else {
        let mut with = (*stored).clone();
        with.metadata.finalizers.get_or_insert_with(Vec::new).push(finalizer::TERMINATION.to_string());
        ctx.cluster.update_node_claim(&with).await?
    };
    let uid = stored.metadata.uid.clone().unwrap_or_default();
    let now = ctx.now();
    let mut claim = (*stored).clone();
    ConditionSet::node_claim(&mut claim, now);
    let mut requeue = Requeue::NONE;
    let mut failure = None;

    // Launch.
    if !ConditionSet::node_claim(&mut claim, now).is_true(condition::LAUNCHED) {
        let instance = match launches.get(&uid) {
            Some(instance) => Ok(instance),
            None => launch(ctx, &state, &claim).await,
        };
        match instance {
            Ok(instance) => {
                tracing::info!(
                    nodeclaim = name,
                    provider_id = %instance.provider_id,
                    instance_type = %instance.instance_type,
                    zone = %instance.zone,
                    capacity_type = %instance.capacity_type,
                    "launched nodeclaim"
                );
                launches.put(&uid, instance.clone());
                claim = launched(&claim, &instance, now);
            }
            Err(
                error
                @ (ProviderError::InsufficientCapacity { .. } | ProviderError::NodeClassNotReady { .. }),
            ) => {
                // The offerings that failed are remembered by the provider; deleting the NodeClaim makes the next
                // provisioning round plan again around them.
                let (event_reason, metric_reason) = match error {
                    ProviderError::InsufficientCapacity { .. } => {
                        (reason::INSUFFICIENT_CAPACITY, "insufficient_capacity")
                    }
                    _ => (reason::NODE_CLASS_NOT_READY, "nodeclass_not_ready"),
                };
                tracing::error!(nodeclaim = name, %error, "failed launching nodeclaim");
                ctx.publish(Event::warning(
                    Regarding::node_claim(&stored),
                    event_reason,
                    format!("NodeClaim {name} event: {error}"),
                ))
                .await;
                match ctx.cluster.delete_node_claim(name).await {
                    Ok(()) => {
                        ctx.metrics
                            .node_claims_disrupted
                            .get_or_create(&DisruptedLabels::of(&stored, metric_reason))
                            .inc();
                    }
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
                return Ok(Requeue::NONE);
            }
            Err(error) => {
                let (why, message) = match &error {
                    ProviderError::Launch { reason, message } => (reason.clone(), message.clone()),
                    other => ("LaunchFailed".to_string(), other.to_string()),
                };
                let mut message = message;
                if message.len() > 300 {
                    message.truncate(300);
                    message.push_str("...");
                }
                ConditionSet::node_claim(&mut claim, now).set_unknown_with_reason(
                    condition::LAUNCHED,
                    &why,
                    &message,
                );
                tracing::error!(nodeclaim = name, %error, "failed launching nodeclaim");
                failure = Some(error);
            }
        }
    } else {
        launches.forget(&uid);
    }

    // Registration.
    let launched_now = ConditionSet::node_claim(&mut claim, now).is_true(condition::LAUNCHED);
    if launched_now && !ConditionSet::node_claim(&mut claim, now).is_true(condition::REGISTERED) {
        match node_of(&state, &claim) {
            NodeMatch::None => {
                ConditionSet::node_claim(&mut claim, now).set_unknown_with_reason(
                    condition::REGISTERED,
                    "NodeNotFound",
                    "Node not registered with cluster",
                );
            }
            NodeMatch::Many(_) => {
                ConditionSet::node_claim(&mut claim, now).set_false(
                    condition::REGISTERED,
                    "MultipleNodesFound",
                    "Invariant violated, matched multiple nodes",
                );
            }
            NodeMatch::One(node) => {
                let has_unregistered_taint = node
                    .spec
                    .as_ref()
                    .and_then(|s| s.taints.as_ref())
                    .into_iter()
                    .flatten()
                    .any(|t| same_taint(t, &taint::unregistered()));
                let already_synced =
                    node.metadata.labels.as_ref().is_some_and(|l| l.contains_key(label::REGISTERED));
                if !has_unregistered_taint && !already_synced {
                    ctx.publish(Event::warning(
                        Regarding::node_claim(&stored),
                        reason::UNREGISTERED_TAINT_MISSING,
                        format!("Missing {} taint which prevents registration related race conditions on Karpenter-managed nodes", taint::UNREGISTERED),
                    ))
                    .await;
                }
                let synced = registered_node(&claim, node);
                if synced != **node {
                    ctx.cluster.update_node(&synced).await?;
                }
                let mut set = ConditionSet::node_claim(&mut claim, now);
                set.set_true(condition::REGISTERED);
                if let Some(status) = claim.status.as_mut() {
                    status.node_name = node.metadata.name.clone();
                }
                tracing::info!(nodeclaim = name, node = ?node.metadata.name, "registered nodeclaim");
                ctx.metrics
                    .nodes_created
                    .get_or_create(&NodeLabels {
                        nodepool: claim_labels(&claim, "").nodepool,
                        zone: claim
                            .metadata
                            .labels
                            .as_ref()
                            .and_then(|l| l.get(label::ZONE))
                            .cloned()
                            .unwrap_or_default(),
                    })
                    .inc();
            }
        }
    }

    // Initialisation.
    if ConditionSet::node_claim(&mut claim, now).is_true(condition::REGISTERED)
        && !ConditionSet::node_claim(&mut claim, now).is_true(condition::INITIALIZED)
    {
        match node_of(&state, &claim) {
            NodeMatch::One(node) => match initialization(&claim, node) {
                Ok(()) => {
                    let mut labelled = (**node).clone();
                    // The registration above may have written the node already; the state read at the start has
                    // the older version, so a label write would conflict. Wait for the next look instead.
                    let registered_this_time =
                        !node.metadata.labels.as_ref().is_some_and(|l| l.contains_key(label::REGISTERED));
                    if registered_this_time {
                        requeue = requeue.min(Requeue::after(Duration::from_secs(1)));
                    } else {
                        let labels = labelled.metadata.labels.get_or_insert_with(Default::default);
                        if labels.get(label::INITIALIZED).map(String::as_str) != Some("true") {
                            labels.insert(label::INITIALIZED.to_string(), "true".to_string());
                            ctx.cluster.update_node(&labelled).await?;
                        }
                        ConditionSet::node_claim(&mut claim, now).set_true(condition::INITIALIZED);
                        tracing::info!(nodeclaim = name, node = ?node.metadata.name, "initialized nodeclaim");
                    }
                }
                Err(why) => {
                    ConditionSet::node_claim(&mut claim, now).set_unknown_with_reason(
                        condition::INITIALIZED,
                        why.reason,
                        &why.message,
                    );
                }
            },
            _ => {
                ConditionSet::node_claim(&mut claim, now).set_unknown_with_reason(
                    condition::INITIALIZED,
                    "NodeNotFound",
                    "Node not registered with cluster",
                );
            }
        }
    }

    // Liveness.
    match liveness(&claim, now, ctx.settings.launch_timeout, ctx.settings.registration_timeout) {
        Liveness::Alive(after) => requeue = requeue.min(Requeue(after)),
        timed_out => {
            let (metric_reason, timeout) = if timed_out == Liveness::LaunchTimedOut {
                ("launch_timeout", ctx.settings.launch_timeout)
            } else {
                ("registration_timeout", ctx.settings.registration_timeout)
            };
            tracing::info!(
                nodeclaim = name,
                reason = metric_reason,
                timeout_s = timeout.as_secs(),
                "terminating due to timeout"
            );
            match ctx.cluster.delete_node_claim(name).await {
                Ok(()) => {
                    ctx.metrics
                        .node_claims_disrupted
                        .get_or_create(&DisruptedLabels::of(&claim, metric_reason))
                        .inc();
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
            return Ok(Requeue::NONE);
        }
    }

    write_claim(ctx, &stored, &claim).await?;
    match failure {
        Some(error) => Err(error.into()),
        None => Ok(requeue),
    }
}

/// Writes what changed: metadata and spec first, then the status on top of the version that write returned.
async fn write_claim<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    stored: &NodeClaim,
    claim: &NodeClaim,
) -> Result<()> {
    let mut base = stored.clone();
    if claim.metadata != stored.metadata {
        base = (*ctx.cluster.update_node_claim(claim).await?).clone();
    }
    if claim.status != stored.status {
        let mut with_status = base;
        with_status.status = claim.status.clone();
        ctx.cluster.update_node_claim_status(&with_status).await?;
    }
    Ok(())
}

/// Launches the NodeClaim's instance with its NodePool's instance types.
async fn launch<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    state: &ClusterState,
    claim: &NodeClaim,
) -> Result<Instance, ProviderError> {
    let pool_name =
        claim.metadata.labels.as_ref().and_then(|l| l.get(label::NODE_POOL)).cloned().unwrap_or_default();
    let Some(pool) = state.node_pool(&pool_name) else {
        return Err(ProviderError::Launch {
            reason: "NodePoolNotFound".to_string(),
            message: format!("NodePool {pool_name:?} not found"),
        });
    };
    let model_pool = karpenter_snapshot::map_node_pool(pool).map_err(|e| ProviderError::Launch {
        reason: "NodePoolInvalid".to_string(),
        message: e.to_string(),
    })?;
    let types = ctx.provider.instance_types(&model_pool).await?;
    let request = launch_request(claim, &types);
    ctx.provider.create(&request).await
}

/// Finalises a deleted NodeClaim (upstream's `Controller.finalize`).
async fn finalize<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    state: &ClusterState,
    stored: &Arc<NodeClaim>,
) -> Result<Requeue> {
    if !has_termination_finalizer(stored.metadata.finalizers.as_ref()) {
        return Ok(Requeue::NONE);
    }
    let name = stored.metadata.name.clone().unwrap_or_default();
    let mut stored = Arc::clone(stored);
    if let Some(at) = termination_timestamp(&stored) {
        let mut annotated = (*stored).clone();
        annotated
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(annotation::NODE_CLAIM_TERMINATION_TIMESTAMP.to_string(), at.clone());
        stored = ctx.cluster.update_node_claim(&annotated).await?;
        ctx.publish(Event::normal(
            Regarding::node_claim(&stored),
            reason::TERMINATION_GRACE_PERIOD_EXPIRING,
            format!("All pods will be deleted by {at}"),
        ))
        .await;
    }
    // A registered NodeClaim's node goes first: the node's own finalizer drains it and terminates the instance.
    if claim_condition(&stored, condition::REGISTERED).is_some_and(|c| c.status == "True")
        && let Some(provider_id) = karpenter_snapshot::claim_provider_id(&stored)
    {
        let nodes: Vec<&Arc<Node>> = state.nodes_with_provider_id(provider_id).collect();
        for node in &nodes {
            if node.metadata.deletion_timestamp.is_none() {
                match ctx.cluster.delete_node(node.metadata.name.as_deref().unwrap_or_default()).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if !nodes.is_empty() {
            return Ok(Requeue::after(Duration::from_secs(10)));
        }
    }
    if let Some(provider_id) = karpenter_snapshot::claim_provider_id(&stored) {
        let deletion = match ctx.provider.delete(provider_id).await {
            Ok(deletion) => deletion,
            Err(error) if error.is_not_found() => Deletion::Gone,
            Err(error) => return Err(error.into()),
        };
        let now = ctx.now();
        let mut terminating = (*stored).clone();
        if ConditionSet::node_claim(&mut terminating, now).set_true(condition::INSTANCE_TERMINATING) {
            stored = ctx.cluster.update_node_claim_status(&terminating).await?;
        }
        if deletion == Deletion::Terminating {
            return Ok(Requeue::after(Duration::from_secs(5)));
        }
    }
    let mut released = (*stored).clone();
    if let Some(finalizers) = released.metadata.finalizers.as_mut() {
        finalizers.retain(|f| f != finalizer::TERMINATION);
    }
    match ctx.cluster.update_node_claim(&released).await {
        Ok(_) => {}
        Err(e) if e.is_not_found() => return Ok(Requeue::NONE),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(nodeclaim = %name, "deleted nodeclaim");
    ctx.metrics.node_claims_terminated.get_or_create(&claim_labels(&stored, "")).inc();
    Ok(Requeue::NONE)
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use karpenter_cloud::{Method, OfferingKey};
    use karpenter_solver::labels;

    use super::*;
    use crate::provisioner::{PreparedCache, provision};
    use crate::testing::{TestContext, context, joining_node, node_pool, pending_pod, provider};

    /// A context with a NodePool and one NodeClaim made by a provisioning round for two pods.
    async fn with_claim() -> (Arc<TestContext>, String) {
        let ctx = context(provider());
        ctx.cluster.apply(node_pool("default", None));
        ctx.cluster.apply(pending_pod("web-0", "500m"));
        ctx.cluster.apply(pending_pod("web-1", "500m"));
        let outcome = provision(&ctx, &PreparedCache::default()).await.unwrap();
        (ctx, outcome.created[0].clone())
    }

    fn claim(ctx: &TestContext, name: &str) -> Arc<NodeClaim> {
        ctx.cluster.get::<NodeClaim>("", name).expect("the claim exists")
    }

    fn conditions(claim: &NodeClaim) -> String {
        crate::conditions::of_claim(claim)
            .into_iter()
            .flatten()
            .map(|c| format!("{}={} {}", c.type_, c.status, c.reason))
            .collect::<Vec<_>>()
            .join(", ")
    }

    #[tokio::test(start_paused = true)]
    async fn a_claim_launches_registers_and_initialises() {
        let (ctx, name) = with_claim().await;
        let launches = LaunchCache::default();
        reconcile(&ctx, &launches, &name).await.unwrap();
        let launched = claim(&ctx, &name);
        assert!(has_termination_finalizer(launched.metadata.finalizers.as_ref()));
        expect!["Initialized=Unknown AwaitingReconciliation, Launched=True Launched, Registered=Unknown NodeNotFound, Ready=Unknown ReconcilingDependents"]
            .assert_eq(&conditions(&launched));
        let status = launched.status.clone().unwrap();
        assert_eq!(status.provider_id.as_deref(), Some("fake:///test-zone-a/i-0000000000000001"));
        assert_eq!(status.capacity.unwrap()["cpu"].0, "2", "the cheapest type that fits was launched");
        // The provider's labels join the NodeClaim's own.
        let labels = launched.metadata.labels.clone().unwrap();
        assert_eq!(labels.get(labels::INSTANCE_TYPE).map(String::as_str), Some("small"));
        assert_eq!(labels.get("team").map(String::as_str), Some("web"));

        // The machine's node joins, not Ready yet.
        let node = joining_node(&ctx.cluster, &name, false);
        let node_name = node.metadata.name.clone().unwrap();
        reconcile(&ctx, &launches, &name).await.unwrap();
        let registered = claim(&ctx, &name);
        expect!["Launched=True Launched, Registered=True Registered, Initialized=Unknown NodeNotReady, Ready=Unknown ReconcilingDependents"]
            .assert_eq(&conditions(&registered));
        assert_eq!(registered.status.as_ref().unwrap().node_name.as_deref(), Some(node_name.as_str()));
        let synced = ctx.cluster.get::<Node>("", &node_name).unwrap();
        let taints: Vec<String> = synced
            .spec
            .as_ref()
            .unwrap()
            .taints
            .iter()
            .flatten()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect();
        assert_eq!(
            taints,
            vec!["example.com/booting:NoSchedule"],
            "the unregistered taint is gone, the startup taint stays"
        );
        assert_eq!(synced.metadata.finalizers.as_deref(), Some(&[finalizer::TERMINATION.to_string()][..]));
        assert_eq!(synced.metadata.owner_references.as_ref().unwrap()[0].name, name);
        assert_eq!(
            synced.metadata.labels.as_ref().unwrap().get(label::REGISTERED).map(String::as_str),
            Some("true")
        );

        // Ready, but the startup taint is still there.
        let mut ready = (*synced).clone();
        ready.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = "True".into();
        let ready = ctx.cluster.apply(ready);
        reconcile(&ctx, &launches, &name).await.unwrap();
        expect![[r#"Launched=True Launched, Registered=True Registered, Initialized=Unknown StartupTaintsExist, Ready=Unknown ReconcilingDependents"#]]
            .assert_eq(&conditions(&claim(&ctx, &name)));
        // Something on the node lifts it.
        let mut lifted = (*ready).clone();
        lifted.spec.as_mut().unwrap().taints = None;
        ctx.cluster.apply(lifted);
        reconcile(&ctx, &launches, &name).await.unwrap();
        expect!["Launched=True Launched, Registered=True Registered, Initialized=True Initialized, Ready=True Ready"]
            .assert_eq(&conditions(&claim(&ctx, &name)));
        let initialized = ctx.cluster.get::<Node>("", &node_name).unwrap();
        assert_eq!(
            initialized.metadata.labels.as_ref().unwrap().get(label::INITIALIZED).map(String::as_str),
            Some("true")
        );
        assert_eq!(ctx.provider.create_calls().len(), 1, "one launch");
    }

    #[tokio::test(start_paused = true)]
    async fn insufficient_capacity_deletes_the_claim_so_the_next_round_plans_without_the_offering() {
        let (ctx, name) = with_claim().await;
        ctx.provider.set_capacity(OfferingKey::new("small", "test-zone-a", "on-demand"), 0);
        ctx.provider.set_capacity(OfferingKey::new("large", "test-zone-a", "on-demand"), 0);
        reconcile(&ctx, &LaunchCache::default(), &name).await.unwrap();
        let deleted = claim(&ctx, &name);
        assert!(deleted.metadata.deletion_timestamp.is_some(), "held by its finalizer until finalised");
        let events: Vec<String> = ctx
            .cluster
            .events()
            .iter()
            .map(ToString::to_string)
            .filter(|e| e.starts_with("Warning"))
            .collect();
        expect!["Warning NodeClaim/default-vll49 InsufficientCapacityError: NodeClaim default-vll49 event: insufficient capacity for small/test-zone-a/on-demand, large/test-zone-a/on-demand"]
            .assert_eq(&events.join("\n"));
        // Finalising an instance that never launched removes the finalizer without calling the provider.
        reconcile(&ctx, &LaunchCache::default(), &name).await.unwrap();
        assert!(ctx.cluster.get::<NodeClaim>("", &name).is_none());
        assert!(ctx.provider.calls().iter().all(|c| c.method() != Method::Delete));
    }

    #[tokio::test(start_paused = true)]
    async fn a_launch_that_keeps_failing_times_out_after_five_minutes() {
        let (ctx, name) = with_claim().await;
        for _ in 0..20 {
            ctx.provider
                .fail_next(Method::Create, ProviderError::Api { message: "boom".into(), retryable: true });
        }
        let launches = LaunchCache::default();
        assert!(reconcile(&ctx, &launches, &name).await.is_err());
        expect!["Registered=Unknown AwaitingReconciliation, Initialized=Unknown AwaitingReconciliation, Launched=Unknown LaunchFailed, Ready=Unknown ReconcilingDependents"]
            .assert_eq(&conditions(&claim(&ctx, &name)));
        tokio::time::sleep(Duration::from_secs(4 * 60 + 59)).await;
        assert!(reconcile(&ctx, &launches, &name).await.is_err());
        assert!(claim(&ctx, &name).metadata.deletion_timestamp.is_none());
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _ = reconcile(&ctx, &launches, &name).await;
        assert!(claim(&ctx, &name).metadata.deletion_timestamp.is_some(), "deleted at the launch timeout");
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_that_never_registers_times_out_after_fifteen_minutes_and_its_instance_is_terminated() {
        let (ctx, name) = with_claim().await;
        let launches = LaunchCache::default();
        let requeue = reconcile(&ctx, &launches, &name).await.unwrap();
        assert_eq!(requeue, Requeue::after(Duration::from_secs(15 * 60)));
        tokio::time::sleep(Duration::from_secs(15 * 60)).await;
        reconcile(&ctx, &launches, &name).await.unwrap();
        assert!(claim(&ctx, &name).metadata.deletion_timestamp.is_some());
        reconcile(&ctx, &launches, &name).await.unwrap();
        assert!(ctx.cluster.get::<NodeClaim>("", &name).is_none());
        assert!(ctx.provider.instances().is_empty(), "the instance was terminated");
    }

    #[tokio::test(start_paused = true)]
    async fn a_deleted_registered_claim_deletes_its_node_first() {
        let (ctx, name) = with_claim().await;
        let launches = LaunchCache::default();
        reconcile(&ctx, &launches, &name).await.unwrap();
        let node = joining_node(&ctx.cluster, &name, true);
        reconcile(&ctx, &launches, &name).await.unwrap();
        ctx.cluster.delete_node_claim(&name).await.unwrap();
        reconcile(&ctx, &launches, &name).await.unwrap();
        let node = ctx.cluster.get::<Node>("", node.metadata.name.as_deref().unwrap()).unwrap();
        assert!(node.metadata.deletion_timestamp.is_some(), "the node is being deleted");
        assert!(ctx.cluster.get::<NodeClaim>("", &name).is_some(), "the claim waits for its node");
        assert_eq!(ctx.provider.instances().len(), 1);
    }

    #[test]
    fn the_termination_timestamp_is_the_deletion_time_plus_the_grace_period() {
        let mut claim = NodeClaim::new("c", Default::default());
        claim.spec.termination_grace_period = Some("1h30m".into());
        assert_eq!(termination_timestamp(&claim), None, "not deleted");
        claim.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-01-01T00:00:00Z".parse().unwrap(),
        ));
        assert_eq!(termination_timestamp(&claim).as_deref(), Some("2026-01-01T01:30:00Z"));
        claim.metadata.annotations =
            Some([(annotation::NODE_CLAIM_TERMINATION_TIMESTAMP.to_string(), "x".to_string())].into());
        assert_eq!(termination_timestamp(&claim), None, "already annotated");
    }
}
