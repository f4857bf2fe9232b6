//! The controller as a whole: the reconcilers of this crate wired to the store's change feed, each with its own
//! work queue and workers (upstream's controller-runtime manager with the provisioning, NodeClaim lifecycle and
//! pod events, drift, node termination, NodePool status, garbage-collection and disruption controllers,
//! `kubernetes-sigs/karpenter: pkg/controllers/controllers.go`).
//!
//! [`Operator::run`] runs until its shutdown future completes; then the queues stop handing out work, the
//! reconciles in flight finish, and it returns. The same code runs on a real API server ([`KubeCluster`]) and in
//! memory ([`MemoryCluster`]) with simulated time.
//!
//! [`KubeCluster`]: crate::store::KubeCluster
//! [`MemoryCluster`]: crate::store::MemoryCluster

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use karpenter_api::labels::label;
use karpenter_cloud::CloudProvider;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;

use crate::batcher::Batcher;
use crate::clock::Clock;
use crate::context::Context;
use crate::lifecycle::LaunchCache;
use crate::orchestration::Orchestrator;
use crate::provisioner::{Blocked, PreparedCache};
use crate::queue::WorkQueue;
use crate::settings::Settings;
use crate::store::{Change, Cluster, ClusterState, Kind, Notice};
use crate::termination::EvictionBackoff;
use crate::{disruption, drift, gc, lifecycle, nodepool, podevents, provisioner, statemetrics, termination};

/// How often pods that stay pending trigger a round again (upstream requeues provisionable pods every 10 s).
pub const PENDING_POD_REQUEUE: Duration = Duration::from_secs(10);
/// How often a blocked round (a NodeClaim launching) is tried again.
const BLOCKED_RETRY: Duration = Duration::from_millis(500);
/// How soon a reconcile whose write conflicted is tried again.
const CONFLICT_RETRY: Duration = Duration::from_millis(100);
/// How long reconciles in flight may take to finish after shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The queues of the keyed reconcilers.
#[derive(Debug, Default)]
struct Queues {
    node_claims: WorkQueue,
    nodes: WorkQueue,
    node_pools: WorkQueue,
    pod_events: WorkQueue,
}

/// The controller.
pub struct Operator<C, P, K> {
    ctx: Arc<Context<C, P, K>>,
    batcher: Batcher,
    queues: Arc<Queues>,
}

impl<C: Cluster, P: CloudProvider + 'static, K: Clock + Clone> Operator<C, P, K> {
    /// A controller over a store, a provider and a clock.
    pub fn new(cluster: Arc<C>, provider: Arc<P>, clock: K, settings: Settings) -> Self {
        let batcher = Batcher::new(settings.batch);
        Operator {
            ctx: Arc::new(Context::new(cluster, provider, clock, settings)),
            batcher,
            queues: Arc::default(),
        }
    }

    /// The shared context (metrics, the store, the provider).
    pub fn context(&self) -> &Arc<Context<C, P, K>> {
        &self.ctx
    }

    /// Runs every reconciler until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let Operator { ctx, batcher, queues } = self;
        let mut tasks = JoinSet::new();
        tasks.spawn(route(Arc::clone(&ctx), batcher.clone(), Arc::clone(&queues)));
        tasks.spawn(provisioning(Arc::clone(&ctx), batcher));
        tasks.spawn(garbage_collection(Arc::clone(&ctx)));
        tasks.spawn(drift::run(Arc::clone(&ctx)));
        tasks.spawn(statemetrics::run(Arc::clone(&ctx)));
        let orchestrator = Arc::new(Orchestrator::new());
        tasks.spawn(Arc::clone(&orchestrator).run(Arc::clone(&ctx)));
        tasks.spawn(disruption::run(Arc::clone(&ctx), orchestrator));
        let mut workers = JoinSet::new();
        let launches = Arc::new(LaunchCache::default());
        let evictions = Arc::new(EvictionBackoff::default());
        for _ in 0..ctx.settings.workers.max(1) {
            let (ctx_a, queues_a, launches) = (Arc::clone(&ctx), Arc::clone(&queues), Arc::clone(&launches));
            workers.spawn(async move {
                while let Some(key) = queues_a.node_claims.next().await {
                    let result = lifecycle::reconcile(&ctx_a, &launches, &key).await;
                    finish(&ctx_a, &queues_a.node_claims, "nodeclaim", &key, result);
                }
            });
            let (ctx_b, queues_b, evictions) =
                (Arc::clone(&ctx), Arc::clone(&queues), Arc::clone(&evictions));
            workers.spawn(async move {
                while let Some(key) = queues_b.nodes.next().await {
                    let result = termination::reconcile(&ctx_b, &evictions, &key).await;
                    finish(&ctx_b, &queues_b.nodes, "node", &key, result);
                }
            });
        }
        for _ in 0..2 {
            let (ctx_a, queues_a) = (Arc::clone(&ctx), Arc::clone(&queues));
            workers.spawn(async move {
                while let Some(key) = queues_a.node_pools.next().await {
                    let result = nodepool::reconcile(&ctx_a, &key).await;
                    finish(&ctx_a, &queues_a.node_pools, "nodepool", &key, result);
                }
            });
            let (ctx_b, queues_b) = (Arc::clone(&ctx), Arc::clone(&queues));
            workers.spawn(async move {
                while let Some(key) = queues_b.pod_events.next().await {
                    let result = podevents::reconcile(&ctx_b, &key).await;
                    finish(&ctx_b, &queues_b.pod_events, "podevents", &key, result);
                }
            });
        }
        shutdown.await;
        tracing::info!("shutting down: finishing the reconciles in flight");
        tasks.abort_all();
        queues.node_claims.shut_down();
        queues.nodes.shut_down();
        queues.node_pools.shut_down();
        queues.pod_events.shut_down();
        let drained =
            tokio::time::timeout(SHUTDOWN_GRACE, async { while workers.join_next().await.is_some() {} })
                .await;
        if drained.is_err() {
            tracing::warn!("reconciles still running after the shutdown grace period were cancelled");
            workers.abort_all();
        }
        while tasks.join_next().await.is_some() {}
    }
}

fn finish<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    queue: &WorkQueue,
    what: &str,
    key: &str,
    result: crate::error::Result<lifecycle::Requeue>,
) {
    match result {
        Ok(requeue) => queue.done(key, false, requeue.0),
        // Someone else (the kubelet, KWOK, a user) wrote the object between our read and our write: look again as
        // soon as the watch has the new version. This is routine, not a failure.
        Err(crate::error::Error::Store(crate::store::StoreError::Conflict { object, .. })) => {
            tracing::debug!(kind = what, name = key, %object, "conflict; looking again");
            queue.done(key, false, Some(CONFLICT_RETRY));
        }
        Err(error) => {
            ctx.metrics.reconcile_errors.inc();
            tracing::warn!(kind = what, name = key, %error, "reconcile failed; retrying with backoff");
            queue.done(key, true, None);
        }
    }
}

/// Routes changes to the queues and triggers provisioning rounds.
async fn route<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: Arc<Context<C, P, K>>,
    batcher: Batcher,
    queues: Arc<Queues>,
) {
    let mut changes = ctx.cluster.changes();
    let mut resync = true;
    // The state the last batch was routed against: a pod that went away is found there, with its node.
    let mut previous = ctx.cluster.state();
    let mut ticker = tokio::time::interval(PENDING_POD_REQUEUE);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut batch: BTreeSet<Change> = BTreeSet::new();
        let mut tick = false;
        if !resync {
            tokio::select! {
                notice = changes.recv() => match notice {
                    Ok(Notice::Changed(change)) => { batch.insert(change); }
                    Ok(Notice::Resync) | Err(RecvError::Lagged(_)) => resync = true,
                    Err(RecvError::Closed) => return,
                },
                _ = ticker.tick() => tick = true,
            }
            // Take whatever else is waiting, so that a burst is routed against one state.
            loop {
                match changes.try_recv() {
                    Ok(Notice::Changed(change)) => {
                        batch.insert(change);
                    }
                    Ok(Notice::Resync) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                        resync = true
                    }
                    Err(_) => break,
                }
            }
        }
        let state = ctx.cluster.state();
        if resync || tick {
            for id in provisioner::triggers(&state) {
                batcher.trigger(&id);
            }
        }
        if tick {
            // A NodeClaim being deleted waits on its node and its instance going, which other objects' events
            // announce; look at each again every tick, so that a missed or early event cannot leave one stuck
            // with its finalizer (upstream's termination requeues itself the same way).
            for claim in state.objects.node_claims.iter().filter(|c| c.metadata.deletion_timestamp.is_some())
            {
                queues.node_claims.add(claim.metadata.name.as_deref().unwrap_or_default());
            }
        }
        if resync {
            resync = false;
            for claim in &state.objects.node_claims {
                queues.node_claims.add(claim.metadata.name.as_deref().unwrap_or_default());
            }
            for node in &state.objects.nodes {
                queues.nodes.add(node.metadata.name.as_deref().unwrap_or_default());
            }
            for pool in &state.objects.node_pools {
                queues.node_pools.add(pool.metadata.name.as_deref().unwrap_or_default());
            }
            previous = state;
            continue;
        }
        route_changes(&previous, &state, &batch, &batcher, &queues);
        previous = state;
    }
}

fn pool_of(labels: Option<&std::collections::BTreeMap<String, String>>) -> Option<&str> {
    labels?.get(label::NODE_POOL).map(String::as_str)
}

/// Which queues a batch of changes concerns.
fn route_changes(
    previous: &ClusterState,
    state: &ClusterState,
    changes: &BTreeSet<Change>,
    batcher: &Batcher,
    queues: &Queues,
) {
    let mut pods_changed = false;
    for change in changes {
        match change.kind {
            Kind::NodeClaim => {
                queues.node_claims.add(&change.name);
                if let Some(pool) =
                    state.node_claim(&change.name).and_then(|c| pool_of(c.metadata.labels.as_ref()))
                {
                    queues.node_pools.add(pool);
                }
            }
            Kind::Node => {
                queues.nodes.add(&change.name);
                if let Some(node) = state.node(&change.name) {
                    if let Some(pool) = pool_of(node.metadata.labels.as_ref()) {
                        queues.node_pools.add(pool);
                    }
                    if let Some(provider_id) = karpenter_snapshot::node_provider_id(node) {
                        for claim in state.claims_with_provider_id(provider_id) {
                            queues.node_claims.add(claim.metadata.name.as_deref().unwrap_or_default());
                        }
                    }
                } else {
                    // A node that is gone: its NodeClaim may be waiting for that to finish its own termination.
                    for claim in &state.objects.node_claims {
                        if claim.status.as_ref().and_then(|s| s.node_name.as_deref())
                            == Some(change.name.as_str())
                        {
                            queues.node_claims.add(claim.metadata.name.as_deref().unwrap_or_default());
                        }
                    }
                }
            }
            Kind::NodePool => queues.node_pools.add(&change.name),
            Kind::NodeClass => {
                for pool in &state.objects.node_pools {
                    if pool.spec.template.spec.node_class_ref.name == change.name {
                        queues.node_pools.add(pool.metadata.name.as_deref().unwrap_or_default());
                    }
                }
            }
            Kind::Pod => pods_changed = true,
            _ => {}
        }
    }
    if !pods_changed {
        return;
    }
    // Pods: a provisionable pod triggers a round; a pod on a draining node moves that node's drain on.
    let changed: BTreeSet<(&str, &str)> = changes
        .iter()
        .filter(|c| c.kind == Kind::Pod)
        .map(|c| (c.namespace.as_deref().unwrap_or("default"), c.name.as_str()))
        .collect();
    let mut draining: BTreeSet<&str> = BTreeSet::new();
    for pod in &state.objects.pods {
        let key = (karpenter_snapshot::namespace(pod), pod.metadata.name.as_deref().unwrap_or_default());
        if !changed.contains(&key) {
            continue;
        }
        if karpenter_snapshot::is_provisionable(pod) {
            batcher.trigger(pod.metadata.uid.as_deref().unwrap_or(key.1));
        }
        if let Some(node) = karpenter_snapshot::node_name(pod) {
            draining.insert(node);
        }
    }
    for node in draining {
        if state.node(node).is_some_and(|n| n.metadata.deletion_timestamp.is_some()) {
            queues.nodes.add(node);
        }
    }
    let named: BTreeSet<(String, String)> =
        changed.iter().map(|(namespace, name)| (namespace.to_string(), name.to_string())).collect();
    for claim in podevents::touched(previous, state, &named) {
        queues.pod_events.add(&claim);
    }
    // A pod that went away from a draining node is not in the state any more; the node's periodic requeue
    // during draining picks that up.
}

/// The provisioning loop: wait for a batch, run a round, repeat.
async fn provisioning<C: Cluster, P: CloudProvider, K: Clock>(ctx: Arc<Context<C, P, K>>, batcher: Batcher) {
    let cache = PreparedCache::new(ctx.settings.features.node_overlay);
    loop {
        if !batcher.wait().await {
            continue;
        }
        loop {
            match provisioner::provision(&ctx, &cache).await {
                Ok(outcome) => match outcome.blocked {
                    Some(blocked) => {
                        if provisioner::triggers(&ctx.cluster.state()).is_empty() {
                            break;
                        }
                        if let Blocked::Launching(claim) = &blocked {
                            tracing::debug!(nodeclaim = %claim, "waiting for a nodeclaim to launch before provisioning");
                        }
                        tokio::time::sleep(BLOCKED_RETRY).await;
                    }
                    None => break,
                },
                Err(error) => {
                    ctx.metrics.reconcile_errors.inc();
                    tracing::error!(%error, "provisioning round failed");
                    break;
                }
            }
        }
    }
}

/// The garbage-collection loop.
async fn garbage_collection<C: Cluster, P: CloudProvider, K: Clock>(ctx: Arc<Context<C, P, K>>) {
    let orphans = gc::Orphans::default();
    let mut ticker = tokio::time::interval(ctx.settings.garbage_collection_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = gc::collect(&ctx, &orphans).await {
            ctx.metrics.reconcile_errors.inc();
            tracing::warn!(%error, "garbage collection failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{Node, Pod};
    use karpenter_api::NodeClaim;

    use super::*;
    use crate::clock::TokioClock;
    use crate::testing::{Around, cluster_around, context, node_pool, pending_pod, provider};

    #[tokio::test(start_paused = true)]
    async fn pending_pods_get_nodes_and_a_deleted_claim_is_torn_down() {
        let provider = provider();
        let ctx = context(Arc::clone(&provider));
        let cluster = Arc::clone(&ctx.cluster);
        let mut pool = node_pool("default", None);
        pool.status = None;
        pool.spec.template.spec.startup_taints = None;
        cluster.apply(pool);
        let clock = TokioClock::starting_at(crate::testing::START.parse().unwrap());
        let operator =
            Operator::new(Arc::clone(&cluster), Arc::clone(&provider), clock, ctx.settings.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(operator.run(async {
            let _ = stopped.await;
        }));
        let around = tokio::spawn(cluster_around(Arc::clone(&cluster), Around::default()));

        for i in 0..5 {
            cluster.apply(pending_pod(&format!("inflate-{i}"), "1500m"));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
        let state = cluster.state();
        let bound = state.objects.pods.iter().filter(|p| karpenter_snapshot::node_name(p).is_some()).count();
        assert_eq!(bound, 5, "every pod runs");
        // One batch, one plan: 5 × 1.5 vCPU fit on one 8-vCPU node, the cheapest way.
        assert_eq!(state.objects.node_claims.len(), 1, "no duplicate claims");
        assert_eq!(provider.create_calls().len(), 1, "one launch");
        let claim = &state.objects.node_claims[0];
        assert!(crate::conditions::is_true(crate::conditions::of_claim(claim), "Ready"));

        // Deleting the NodeClaim drains its node and terminates its instance.
        let name = claim.metadata.name.clone().unwrap();
        cluster.delete::<NodeClaim>("", &name).unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(cluster.get::<NodeClaim>("", &name).is_none());
        assert!(cluster.list::<Node>().is_empty());
        assert!(provider.instances().is_empty());
        // The evicted pods were deleted; their ReplicaSet is not modelled, so nothing replaces them.
        assert!(cluster.list::<Pod>().is_empty());

        stop.send(()).unwrap();
        running.await.unwrap();
        around.abort();
    }
}
