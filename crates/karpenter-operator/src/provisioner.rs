//! Provisioning: pending pods in, NodeClaims out (`kubernetes-sigs/karpenter: pkg/controllers/provisioning/
//! provisioner.go`, `controller.go`, `scheduling/nodeclaimtemplate.go`, `pkg/utils/pod/scheduling.go`).
//!
//! A round reads the store's state, asks the cloud provider for each Ready NodePool's instance types, maps the
//! state onto the solver's model with `karpenter-snapshot` (pending pods, pods of deleting nodes, nodes and
//! in-flight NodeClaims, DaemonSets, namespaces), solves it with a [`Prepared`] solver kept between rounds, and
//! creates one NodeClaim per new claim of the plan. Pods the plan puts on existing or in-flight nodes only
//! nominate those nodes; a pod that fits nowhere gets a `FailedScheduling` event saying why. A round waits while
//! some NodeClaim has not launched yet, as upstream's cluster state does, so that a claim's capacity is known
//! before the next round plans around it: that is what keeps two rounds from launching for the same pods.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use karpenter_api::labels::{annotation, hash_version, label};
use karpenter_api::{
    NodeClaim, NodeClaimSpec, NodePool, NodeSelectorOperator, NodeSelectorRequirementWithMinValues,
    ResourceRequirements,
};
use karpenter_cloud::CloudProvider;
use karpenter_snapshot::{Report, RoundOptions};
use karpenter_solver::model::{self, InstanceType};
use karpenter_solver::plan::NewNodeClaim;
use karpenter_solver::{Plan, Prepared, Round, SolverConfig};

use crate::clock::Clock;
use crate::context::Context;
use crate::error::Result;
use crate::events::{Event, Regarding, reason};
use crate::metrics::NodeClaimLabels;
use crate::store::{Cluster, ClusterState};

/// Why a round did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// The store has not listed every kind yet.
    NotSynced,
    /// A NodeClaim has not launched: its instance type, and so what it holds, is not known yet.
    Launching(String),
}

/// Why a round must wait, if it must: the store has not synced, or a NodeClaim that is not being deleted has not
/// launched (upstream's `Cluster.Synced`).
pub fn blocked(state: &ClusterState) -> Option<Blocked> {
    if !state.synced {
        return Some(Blocked::NotSynced);
    }
    state
        .objects
        .node_claims
        .iter()
        .find(|c| {
            c.metadata.deletion_timestamp.is_none() && karpenter_snapshot::claim_provider_id(c).is_none()
        })
        .map(|c| Blocked::Launching(c.metadata.name.clone().unwrap_or_default()))
}

/// Whether any pod waits for capacity: a provisionable pod, or a reschedulable pod on a node marked for deletion.
/// These are what trigger a round; each is named by an id for the batcher.
pub fn triggers(state: &ClusterState) -> BTreeSet<String> {
    let objects = &state.objects;
    let mut ids: BTreeSet<String> = objects
        .provisionable_pods()
        .map(|p| p.metadata.uid.clone().unwrap_or_else(|| karpenter_snapshot::object_ref(p).to_string()))
        .collect();
    let disrupted: BTreeSet<&str> = objects
        .nodes
        .iter()
        .filter(|n| {
            n.metadata.deletion_timestamp.is_some()
                || n.spec
                    .as_ref()
                    .and_then(|s| s.taints.as_ref())
                    .into_iter()
                    .flatten()
                    .any(|t| t.key == karpenter_api::labels::taint::DISRUPTED && t.effect == "NoSchedule")
        })
        .filter_map(|n| n.metadata.name.as_deref())
        .collect();
    if !disrupted.is_empty() {
        for pod in &objects.pods {
            if karpenter_snapshot::node_name(pod).is_some_and(|n| disrupted.contains(n))
                && karpenter_snapshot::is_reschedulable(pod)
            {
                ids.insert(format!("node/{}", karpenter_snapshot::node_name(pod).unwrap_or_default()));
            }
        }
    }
    ids
}

/// What one round decided.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// The solver's plan.
    pub plan: Plan,
    /// The NodeClaims to create, each with the position of its new claim in the plan, in plan order.
    pub node_claims: Vec<(usize, NodeClaim)>,
    /// Objects left out of the round, and why.
    pub reports: Vec<Report>,
}

/// The inputs of [`Prepared::with_overlays`] that decide whether a prepared solver can be reused: NodePools, each
/// pool's instance types (by identity: providers share unchanged lists), DaemonSet pods and NodeOverlays.
#[derive(Debug, Clone, PartialEq)]
struct PreparedKey {
    pools: Vec<model::NodePool>,
    types: Vec<(String, Vec<usize>)>,
    daemons: Vec<model::Pod>,
    overlays: Vec<model::NodeOverlay>,
    config: SolverConfig,
}

impl PreparedKey {
    fn new(problem: &model::Problem, config: &SolverConfig) -> Self {
        PreparedKey {
            pools: problem.node_pools.clone(),
            types: problem
                .pool_instance_types
                .iter()
                .map(|(pool, types)| (pool.clone(), types.iter().map(|t| Arc::as_ptr(t) as usize).collect()))
                .collect(),
            daemons: problem.daemon_set_pods.clone(),
            overlays: problem.node_overlays.clone(),
            config: config.clone(),
        }
    }
}

/// Keeps the last prepared solver, for rounds whose NodePools, instance types, DaemonSets and NodeOverlays did not
/// change. It also says whether NodeOverlays apply at all (the `NodeOverlay` feature gate).
#[derive(Default)]
pub struct PreparedCache {
    node_overlays: bool,
    last: Mutex<Option<(PreparedKey, Arc<Prepared>)>>,
}

impl std::fmt::Debug for PreparedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedCache").finish_non_exhaustive()
    }
}

impl PreparedCache {
    /// An empty cache; `node_overlays` is the `NodeOverlay` feature gate.
    pub fn new(node_overlays: bool) -> Self {
        PreparedCache { node_overlays, last: Mutex::default() }
    }

    fn get(&self, problem: &model::Problem, config: &SolverConfig) -> Arc<Prepared> {
        let key = PreparedKey::new(problem, config);
        let mut last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((known, prepared)) = last.as_ref()
            && *known == key
        {
            return Arc::clone(prepared);
        }
        let prepared = Arc::new(Prepared::with_overlays(
            &problem.node_pools,
            &problem.instance_types,
            &problem.pool_instance_types,
            &problem.daemon_set_pods,
            &problem.node_overlays,
            config,
        ));
        *last = Some((key, Arc::clone(&prepared)));
        prepared
    }
}

/// Plans a round: maps the state with `karpenter-snapshot`, solves it, and turns each new claim of the plan into
/// the NodeClaim to create. Pure: the instance types and the time are arguments.
pub fn decide(
    state: &ClusterState,
    instance_types: BTreeMap<String, Vec<Arc<InstanceType>>>,
    now: Timestamp,
    config: &SolverConfig,
    cache: &PreparedCache,
) -> Decision {
    let options = RoundOptions { now, require_ready_node_pools: true };
    let mut round = state.objects.provisioning_round(instance_types, &options);
    if cache.node_overlays {
        let (overlays, reports) = state.objects.node_overlays();
        round.problem.node_overlays = overlays;
        round.reports.extend(reports);
    }
    let problem = &round.problem;
    let prepared = cache.get(problem, config);
    let started = std::time::Instant::now();
    let clock = move || started.elapsed();
    let plan = prepared.solve(&Round {
        pods: &problem.pods,
        nodes: &problem.nodes,
        namespaces: &problem.namespaces,
        clock: Some(&clock),
    });
    let mut node_claims = Vec::with_capacity(plan.new_node_claims.len());
    let mut reports = round.reports;
    for (i, claim) in plan.new_node_claims.iter().enumerate() {
        let Some(pool) = state.node_pool(&claim.node_pool) else { continue };
        match node_claim_for(claim, pool) {
            Ok(node_claim) => node_claims.push((i, node_claim)),
            Err(report) => reports.push(*report),
        }
    }
    Decision { plan, node_claims, reports }
}

/// The NodeClaim for a new claim of a plan, from its NodePool (upstream's `NodeClaimTemplate.ToNodeClaim`):
/// named `<pool>-<suffix>` by the API server, labelled with the pool, its node class and the plan's labels,
/// annotated with the pool's drift hash, owned by the pool, with the pool's taints, startup taints, node class,
/// termination grace period and expiry, the plan's requirements (the instance types it may launch as included)
/// and its pods' requests.
pub fn node_claim_for(claim: &NewNodeClaim, pool: &NodePool) -> Result<NodeClaim, Box<Report>> {
    let pool_name = pool.metadata.name.clone().unwrap_or_default();
    let template = &pool.spec.template;
    let invalid = |field: &str, reason: String| {
        Box::new(Report::new(
            karpenter_snapshot::node_pool_ref(pool),
            karpenter_snapshot::Error::InvalidField { field: field.to_string(), reason },
        ))
    };
    let hash = pool.hash().map_err(|e| invalid("spec.template", e.to_string()))?;
    let mut annotations = template.metadata.as_ref().and_then(|m| m.annotations.clone()).unwrap_or_default();
    annotations.insert(annotation::NODE_POOL_HASH.to_string(), hash);
    annotations.insert(annotation::NODE_POOL_HASH_VERSION.to_string(), hash_version::NODE_POOL.to_string());
    if claim.min_values_relaxed {
        annotations.insert(annotation::NODE_CLAIM_MIN_VALUES_RELAXED.to_string(), "true".to_string());
    }
    let node_class = &template.spec.node_class_ref;
    let mut labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    labels.extend(claim.labels.clone());
    labels.insert(label::NODE_POOL.to_string(), pool_name.clone());
    labels.insert(label::node_class(&node_class.group, &node_class.kind), node_class.name.clone());
    let mut requirements = Vec::new();
    for (i, r) in claim.node_selector_requirements().into_iter().enumerate() {
        let operator: NodeSelectorOperator =
            serde_json::from_value(serde_json::Value::String(r.operator.clone())).map_err(|_| {
                invalid(&format!("requirements[{i}].operator"), format!("unknown operator {}", r.operator))
            })?;
        requirements.push(NodeSelectorRequirementWithMinValues {
            key: r.key,
            operator,
            values: (!r.values.is_empty()).then_some(r.values),
            min_values: r.min_values.map(i64::from),
        });
    }
    let requests: BTreeMap<String, Quantity> =
        claim.requests.iter().map(|(name, value)| (name.clone(), Quantity(value.clone()))).collect();
    let uid = pool.metadata.uid.clone().unwrap_or_default();
    Ok(NodeClaim {
        metadata: ObjectMeta {
            generate_name: Some(format!("{pool_name}-")),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "karpenter.sh/v1".to_string(),
                kind: "NodePool".to_string(),
                name: pool_name,
                uid,
                block_owner_deletion: Some(true),
                controller: None,
            }]),
            ..ObjectMeta::default()
        },
        spec: NodeClaimSpec {
            taints: template.spec.taints.clone(),
            startup_taints: template.spec.startup_taints.clone(),
            requirements,
            resources: Some(ResourceRequirements { requests: Some(requests) }),
            node_class_ref: node_class.clone(),
            termination_grace_period: template.spec.termination_grace_period.clone(),
            expire_after: template.spec.expire_after.clone(),
        },
        status: None,
    })
}

/// What a round did, for the loop's log and for tests.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Why the round did not run.
    pub blocked: Option<Blocked>,
    /// Names of the NodeClaims created.
    pub created: Vec<String>,
    /// Pods the plan put on existing or in-flight nodes.
    pub nominated: usize,
    /// Pods that fit nowhere.
    pub unschedulable: usize,
    /// Pods in the round.
    pub pods: usize,
    /// How long the solve took.
    pub solve_time: Duration,
}

fn pod_index(state: &ClusterState) -> BTreeMap<(String, String), &Arc<Pod>> {
    state
        .objects
        .pods
        .iter()
        .map(|p| {
            let reference = karpenter_snapshot::object_ref(p);
            ((reference.namespace.unwrap_or_default(), reference.name), p)
        })
        .collect()
}

/// The cloud provider's instance types for each NodePool (each Ready one, with `require_ready`). A NodePool whose
/// types cannot be listed is left out, with a warning event on it.
pub async fn instance_types<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    state: &ClusterState,
    require_ready: bool,
) -> BTreeMap<String, Vec<Arc<InstanceType>>> {
    let (pools, _) = state.objects.round_node_pools(require_ready);
    let mut instance_types = BTreeMap::new();
    for pool in &pools {
        match ctx.provider.instance_types(pool).await {
            Ok(types) => {
                instance_types.insert(pool.name.clone(), types.to_vec());
            }
            Err(error) => {
                tracing::error!(nodepool = %pool.name, %error, "listing instance types");
                if let Some(object) = state.node_pool(&pool.name) {
                    ctx.publish(Event::warning(
                        Regarding::node_pool(object),
                        reason::FAILED_TO_RESOLVE,
                        format!("Failed resolving instance types, {error}"),
                    ))
                    .await;
                }
            }
        }
    }
    instance_types
}

/// Runs one provisioning round against the store and the provider.
pub async fn provision<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    cache: &PreparedCache,
) -> Result<Outcome> {
    let state = ctx.cluster.state();
    if let Some(blocked) = blocked(&state) {
        return Ok(Outcome { blocked: Some(blocked), ..Outcome::default() });
    }
    let instance_types = instance_types(ctx, &state, true).await;
    let now = ctx.now();
    let started = tokio::time::Instant::now();
    ctx.metrics.scheduling_queue_depth.set(state.objects.provisionable_pods().count() as i64);
    let decision = decide(&state, instance_types, now, &ctx.settings.solver, cache);
    let solve_time = started.elapsed();
    ctx.metrics.scheduling_duration.observe(solve_time.as_secs_f64());
    // What stays in the queue after a solve is what it could not place, as in upstream's scheduler.
    ctx.metrics.scheduling_queue_depth.set(decision.plan.unschedulable.len() as i64);
    let plan = &decision.plan;
    for report in &decision.reports {
        report_object(ctx, &state, report).await;
    }
    for error in &plan.input_errors {
        tracing::warn!(object = %error.object, field = ?error.field, message = %error.message, "left out of the round");
    }
    let pods = pod_index(&state);
    let pod = |p: &karpenter_solver::plan::PodRef| pods.get(&(p.namespace.clone(), p.name.clone())).copied();
    let mut outcome = Outcome {
        pods: plan.stats.pods,
        unschedulable: plan.unschedulable.len(),
        solve_time,
        ..Outcome::default()
    };
    for unschedulable in &plan.unschedulable {
        if let Some(pod) = pod(&unschedulable.pod) {
            ctx.publish(Event::warning(
                Regarding::pod(pod),
                reason::FAILED_SCHEDULING,
                format!("Failed to schedule pod, {}", unschedulable.reason),
            ))
            .await;
        }
    }
    for placement in &plan.existing_nodes {
        ctx.nominate(&placement.node);
        outcome.nominated += placement.pods.len();
        for pod in placement.pods.iter().filter_map(pod) {
            ctx.publish(Event::normal(
                Regarding::pod(pod),
                reason::NOMINATED,
                format!("Pod should schedule on: node/{}", placement.node),
            ))
            .await;
        }
    }
    if !decision.node_claims.is_empty() || plan.stats.pods > 0 {
        tracing::info!(
            pods = plan.stats.pods,
            nodeclaims = decision.node_claims.len(),
            nominated = outcome.nominated,
            unschedulable = outcome.unschedulable,
            solve_ms = solve_time.as_millis() as u64,
            "computed new nodeclaim(s) to fit pod(s)"
        );
    }
    // Claims are created one by one, in plan order: a failure stops the round, and the next round plans again
    // around the claims that were created.
    for (i, node_claim) in &decision.node_claims {
        let new = &plan.new_node_claims[*i];
        let created = ctx.cluster.create_node_claim(node_claim).await?;
        let name = created.metadata.name.clone().unwrap_or_default();
        ctx.metrics
            .node_claims_created
            .get_or_create(&NodeClaimLabels {
                nodepool: new.node_pool.clone(),
                reason: "provisioning".into(),
            })
            .inc();
        tracing::info!(
            nodeclaim = %name,
            nodepool = %new.node_pool,
            instance_types = new.instance_type_options.len(),
            pods = new.pods.len(),
            "created nodeclaim"
        );
        ctx.nominate(&name);
        for pod in new.pods.iter().filter_map(pod) {
            ctx.publish(Event::normal(
                Regarding::pod(pod),
                reason::NOMINATED,
                format!("Pod should schedule on: nodeclaim/{name}"),
            ))
            .await;
        }
        outcome.created.push(name);
    }
    Ok(outcome)
}

/// Turns a report about an object left out of a round into a warning event on that object.
async fn report_object<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    state: &ClusterState,
    report: &Report,
) {
    let object = &report.object;
    let regarding = match object.kind.as_str() {
        "Pod" => state
            .objects
            .pods
            .iter()
            .find(|p| {
                p.metadata.name.as_deref() == Some(object.name.as_str())
                    && Some(karpenter_snapshot::namespace(p)) == object.namespace.as_deref()
            })
            .map(|p| Regarding::pod(p)),
        "NodePool" => state.node_pool(&object.name).map(|p| Regarding::node_pool(p)),
        "NodeClaim" => state.node_claim(&object.name).map(|c| Regarding::node_claim(c)),
        "Node" => state.node(&object.name).map(|n| Regarding::node(n)),
        _ => None,
    };
    // Objects the round leaves out on purpose (a NodePool that is not Ready, a NodeClaim that has not launched)
    // are not news.
    if matches!(report.error, karpenter_snapshot::Error::Skipped { .. }) {
        tracing::debug!(object = %object, reason = %report.error, "left out of the round");
        return;
    }
    tracing::warn!(object = %object, reason = %report.error, "left out of the round");
    if let Some(regarding) = regarding {
        ctx.publish(Event::warning(regarding, reason::INVALID_OBJECT, report.error.to_string())).await;
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use karpenter_api::NodeClaim;

    use super::*;
    use crate::lifecycle::{LaunchCache, reconcile};
    use crate::testing::{claim_names, context, node_pool, pending_pod, provider};

    fn events(ctx: &crate::testing::TestContext) -> Vec<String> {
        ctx.cluster.events().iter().map(ToString::to_string).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn pending_pods_become_one_node_claim_shaped_by_its_node_pool() {
        let ctx = context(provider());
        ctx.cluster.apply(node_pool("default", None));
        for i in 0..3 {
            ctx.cluster.apply(pending_pod(&format!("inflate-{i}"), "500m"));
        }
        let outcome = provision(&ctx, &PreparedCache::default()).await.unwrap();
        assert_eq!((outcome.pods, outcome.created.len(), outcome.unschedulable), (3, 1, 0));
        let claim = ctx.cluster.get::<NodeClaim>("", &outcome.created[0]).unwrap();
        let mut shown = (*claim).clone();
        shown.metadata.creation_timestamp = None;
        expect![[r#"
            apiVersion: karpenter.sh/v1
            kind: NodeClaim
            metadata:
              annotations:
                karpenter.sh/nodepool-hash: '12973718657688116560'
                karpenter.sh/nodepool-hash-version: v3
              generateName: default-
              generation: 1
              labels:
                karpenter.sh/nodepool: default
                karpenter.test.sh/testnodeclass: default
                team: web
              name: default-vll49
              ownerReferences:
              - apiVersion: karpenter.sh/v1
                blockOwnerDeletion: true
                kind: NodePool
                name: default
                uid: uid-1
              resourceVersion: '5'
              uid: uid-5
            spec:
              startupTaints:
              - effect: NoSchedule
                key: example.com/booting
              requirements:
              - key: karpenter.sh/capacity-type
                operator: In
                values:
                - on-demand
              - key: karpenter.sh/nodepool
                operator: In
                values:
                - default
              - key: karpenter.test.sh/testnodeclass
                operator: In
                values:
                - default
              - key: kubernetes.io/arch
                operator: In
                values:
                - arm64
              - key: node.kubernetes.io/instance-type
                operator: In
                values:
                - large
                - small
              - key: team
                operator: In
                values:
                - web
              resources:
                requests:
                  cpu: 1500m
                  memory: 768Mi
                  pods: '3'
              nodeClassRef:
                kind: TestNodeClass
                name: default
                group: karpenter.test.sh
              expireAfter: 720h
        "#]]
        .assert_eq(&serde_norway::to_string(&shown).unwrap());
        expect![[r#"
            Normal Pod/shop/inflate-0 Nominated: Pod should schedule on: nodeclaim/default-vll49
            Normal Pod/shop/inflate-1 Nominated: Pod should schedule on: nodeclaim/default-vll49
            Normal Pod/shop/inflate-2 Nominated: Pod should schedule on: nodeclaim/default-vll49"#]]
        .assert_eq(&events(&ctx).join("\n"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_round_waits_for_launches_and_then_fills_in_flight_claims_first() {
        let ctx = context(provider());
        ctx.cluster.apply(node_pool("default", None));
        for i in 0..3 {
            ctx.cluster.apply(pending_pod(&format!("inflate-{i}"), "250m"));
        }
        let cache = PreparedCache::default();
        let first = provision(&ctx, &cache).await.unwrap();
        assert_eq!(first.created.len(), 1);
        // The claim has not launched: a second round for the same pods must not plan without it.
        let blocked = provision(&ctx, &cache).await.unwrap();
        assert_eq!(blocked.blocked, Some(Blocked::Launching(first.created[0].clone())));
        reconcile(&ctx, &LaunchCache::default(), &first.created[0]).await.unwrap();
        // Launched: its pods and one more fit on it, so no claim is added.
        ctx.cluster.apply(pending_pod("inflate-3", "250m"));
        let second = provision(&ctx, &cache).await.unwrap();
        assert_eq!((second.created.len(), second.nominated, second.pods), (0, 4, 4));
        assert_eq!(claim_names(&ctx).len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_pool_at_its_limit_stops_launching_and_says_so() {
        let ctx = context(provider());
        ctx.cluster.apply(node_pool("default", Some("2")));
        for i in 0..3 {
            ctx.cluster.apply(pending_pod(&format!("big-{i}"), "1500m"));
        }
        let cache = PreparedCache::default();
        let outcome = provision(&ctx, &cache).await.unwrap();
        assert_eq!((outcome.created.len(), outcome.unschedulable), (1, 2));
        let warnings: Vec<String> = events(&ctx).into_iter().filter(|e| e.starts_with("Warning")).collect();
        expect![[r#"
            Warning Pod/shop/big-1 FailedScheduling: Failed to schedule pod, nodepool default [limits]: all available instance types exceed limits for nodepool
            Warning Pod/shop/big-2 FailedScheduling: Failed to schedule pod, nodepool default [limits]: all available instance types exceed limits for nodepool"#]]
        .assert_eq(&warnings.join("\n"));
        // Once launched, the claim counts against the limit: the next round launches nothing.
        reconcile(&ctx, &LaunchCache::default(), &outcome.created[0]).await.unwrap();
        let again = provision(&ctx, &cache).await.unwrap();
        assert_eq!((again.created.len(), again.unschedulable), (0, 2));
        assert_eq!(ctx.metrics.scheduling_queue_depth.get(), 2, "the pods left waiting");
    }

    #[tokio::test(start_paused = true)]
    async fn an_impossible_pod_gets_a_warning_and_does_not_block_the_others() {
        let ctx = context(provider());
        ctx.cluster.apply(node_pool("default", None));
        ctx.cluster.apply(pending_pod("huge", "100"));
        ctx.cluster.apply(pending_pod("web-0", "500m"));
        ctx.cluster.apply(pending_pod("web-1", "500m"));
        let outcome = provision(&ctx, &PreparedCache::default()).await.unwrap();
        assert_eq!((outcome.created.len(), outcome.unschedulable), (1, 1));
        let warnings: Vec<String> = events(&ctx).into_iter().filter(|e| e.starts_with("Warning")).collect();
        expect!["Warning Pod/shop/huge FailedScheduling: Failed to schedule pod, nodepool default [resources]: no instance type has enough resources, requirements=karpenter.sh/initialized In [true], karpenter.sh/nodepool In [default], karpenter.sh/registered In [true], karpenter.test.sh/testnodeclass In [default], kubernetes.io/arch In [arm64], team In [web], resources=cpu=100 memory=256Mi pods=1"]
        .assert_eq(&warnings.join("\n"));
    }

    #[tokio::test(start_paused = true)]
    async fn node_pools_that_are_not_ready_take_no_part() {
        let ctx = context(provider());
        let mut pool = node_pool("default", None);
        pool.status = None;
        ctx.cluster.apply(pool);
        ctx.cluster.apply(pending_pod("web-0", "500m"));
        let outcome = provision(&ctx, &PreparedCache::default()).await.unwrap();
        assert_eq!((outcome.created.len(), outcome.unschedulable), (0, 1));
    }

    #[test]
    fn triggers_are_pending_pods_and_pods_of_disrupted_nodes() {
        let mut state = ClusterState { synced: true, ..ClusterState::default() };
        state.objects.pods.push(Arc::new(crate::testing::pending_pod("a", "1")));
        let mut bound = crate::testing::pending_pod("b", "1");
        bound.spec.as_mut().unwrap().node_name = Some("n1".into());
        bound.status = None;
        state.objects.pods.push(Arc::new(bound));
        let node: k8s_openapi::api::core::v1::Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1"},
            "spec": {"taints": [{"key": "karpenter.sh/disrupted", "effect": "NoSchedule"}]}
        }))
        .unwrap();
        state.objects.nodes.push(Arc::new(node));
        let ids: Vec<String> = triggers(&state).into_iter().collect();
        assert_eq!(ids, vec!["Pod/shop/a".to_string(), "node/n1".to_string()]);
    }
}
