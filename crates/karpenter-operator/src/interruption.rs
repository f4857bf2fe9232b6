//! The interruption controller: it polls a provider's [`InterruptionQueue`] and, for each notice, publishes
//! events on the NodeClaims and nodes of the instances it names, stops offering a reclaimed spot offering, and
//! deletes the NodeClaims of machines that are going anyway, so that the normal termination cordons and drains
//! their nodes while there is still time (`aws/karpenter-provider-aws: pkg/controllers/interruption/
//! controller.go`, `utils.go`, `metrics.go`, `events/events.go`). What each kind of notice means is
//! provider-neutral ([`karpenter_cloud::interruption`]); the same loop runs over SQS on AWS, over the fake queue
//! in tests, and in `karpenter simulate`.
//!
//! [`plan`] decides from the store's [`ClusterState`] alone; [`handle`] carries the plan out and acknowledges
//! the notice only when every step succeeded, so that a failed deletion is retried when the queue delivers the
//! notice again (SQS's visibility timeout). NodeClaims already being deleted keep their deletion: they still
//! get the notice's event, as upstream publishes it before looking at the deletion timestamp, but are not
//! deleted or counted again.
//!
//! Deliberate differences from upstream: notices of a batch are handled one after the other rather than ten at
//! a time (a batch is at most ten messages and each costs a few writes); a capacity-reservation interruption
//! does not mark its reservation unavailable, because an offering here has no reservation id and marking the
//! whole reserved offering would also hide the reservation's siblings; and upstream's DescribeInstanceStatus
//! controller (kinds `instance_status`, `system_status`, `event_status`, which force termination) is not
//! implemented.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use karpenter_api::NodeClaim;
use karpenter_api::labels::label;
use karpenter_cloud::{
    CloudProvider, InterruptionQueue, Notice, NoticeAction, NoticeEvent, NoticeKind, OfferingKey,
    names_instance,
};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::clock::{Clock, since};
use crate::context::Context;
use crate::events::{Event, Regarding};
use crate::metrics::DisruptedLabels;
use crate::store::{Cluster, ClusterState};

/// How long the loop waits after a receive that returned nothing. SQS already long-polls for 20 s; the wait
/// keeps a queue that answers at once (the fake) from spinning.
pub const IDLE_WAIT: Duration = Duration::from_secs(1);
/// How long the loop waits after a receive that failed.
pub const ERROR_WAIT: Duration = Duration::from_secs(10);

/// Upstream's histogram buckets for durations (`kubernetes-sigs/karpenter: pkg/metrics/constants.go`).
const DURATION_BUCKETS: [f64; 45] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25,
    1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0,
    50.0, 60.0, 120.0, 150.0, 300.0, 450.0, 600.0,
];

/// Labels of `karpenter_interruption_received_messages_total`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct MessageTypeLabels {
    /// The notice's kind ([`NoticeKind::message_type`]).
    pub message_type: String,
}

/// The interruption controller's metrics, under upstream's names. Cloning shares them.
#[derive(Debug, Clone)]
pub struct InterruptionMetrics {
    /// `karpenter_interruption_received_messages_total`.
    pub received: Family<MessageTypeLabels, Counter>,
    /// `karpenter_interruption_deleted_messages_total`.
    pub deleted: Counter,
    /// `karpenter_interruption_message_queue_duration_seconds`: from when the provider sent a notice to when
    /// it was handled.
    pub queue_duration: Histogram,
}

impl Default for InterruptionMetrics {
    fn default() -> Self {
        InterruptionMetrics {
            received: Family::default(),
            deleted: Counter::default(),
            queue_duration: Histogram::new(DURATION_BUCKETS),
        }
    }
}

impl InterruptionMetrics {
    /// Registers the metrics (sharing them) under the `karpenter_interruption` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let interruption = registry.sub_registry_with_prefix("karpenter_interruption");
        interruption.register(
            "received_messages",
            "Count of messages received from the interruption queue, by message type",
            self.received.clone(),
        );
        interruption.register(
            "deleted_messages",
            "Count of messages deleted from the interruption queue",
            self.deleted.clone(),
        );
        interruption.register(
            "message_queue_duration_seconds",
            "Amount of time an interruption message is on the queue before it is processed",
            self.queue_duration.clone(),
        );
    }
}

/// A NodeClaim a notice makes the controller delete, and what it publishes once the deletion is made.
#[derive(Debug, Clone)]
pub struct Deletion {
    /// The NodeClaim, as the state had it.
    pub node_claim: Arc<NodeClaim>,
    /// `TerminatingOnInterruption` on the NodeClaim and its node.
    pub events: Vec<Event>,
}

/// What one notice makes the controller do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The notice's kind.
    pub kind: NoticeKind,
    /// The kind's event on every NodeClaim the notice names and on its node.
    pub events: Vec<Event>,
    /// Spot offerings to stop offering.
    pub offerings: Vec<OfferingKey>,
    /// NodeClaims to delete.
    pub deletions: Vec<Deletion>,
    /// Instance ids no NodeClaim has: machines of another cluster, or already gone.
    pub unknown: Vec<String>,
}

fn event(notice: NoticeEvent, regarding: Regarding, message: &str) -> Event {
    if notice.warning {
        Event::warning(regarding, notice.reason, message)
    } else {
        Event::normal(regarding, notice.reason, message)
    }
}

fn label<'a>(claim: &'a NodeClaim, key: &str) -> Option<&'a str> {
    claim.metadata.labels.as_ref()?.get(key).map(String::as_str).filter(|v| !v.is_empty())
}

/// Decides what a notice makes the controller do, from the cluster's state alone.
pub fn plan(state: &ClusterState, notice: &Notice) -> Plan {
    let kind = notice.kind;
    let mut plan =
        Plan { kind, events: Vec::new(), offerings: Vec::new(), deletions: Vec::new(), unknown: Vec::new() };
    if kind.action() == NoticeAction::Nothing {
        return plan;
    }
    let mut seen = BTreeSet::new();
    for instance_id in &notice.instance_ids {
        if !seen.insert(instance_id.as_str()) {
            continue;
        }
        let claims: Vec<&Arc<NodeClaim>> = state
            .objects
            .node_claims
            .iter()
            .filter(|c| {
                karpenter_snapshot::claim_provider_id(c).is_some_and(|id| names_instance(id, instance_id))
            })
            .collect();
        if claims.is_empty() {
            plan.unknown.push(instance_id.clone());
            continue;
        }
        for claim in claims {
            let node: Option<&Arc<Node>> = karpenter_snapshot::claim_provider_id(claim)
                .and_then(|provider_id| state.nodes_with_provider_id(provider_id).next());
            if let Some(announced) = kind.event() {
                plan.events.push(event(
                    announced,
                    Regarding::node_claim(claim),
                    announced.node_claim_message,
                ));
                if let Some(node) = node {
                    plan.events.push(event(announced, Regarding::node(node), announced.node_message));
                }
            }
            if kind.marks_spot_offering_unavailable()
                && let (Some(instance_type), Some(zone)) =
                    (label(claim, label::INSTANCE_TYPE), label(claim, label::ZONE))
            {
                let offering = OfferingKey::new(instance_type, zone, label::CAPACITY_TYPE_SPOT);
                if !plan.offerings.contains(&offering) {
                    plan.offerings.push(offering);
                }
            }
            if kind.action() == NoticeAction::DeleteNodeClaim && claim.metadata.deletion_timestamp.is_none() {
                let terminating = NoticeEvent::TERMINATING;
                let mut events =
                    vec![event(terminating, Regarding::node_claim(claim), terminating.node_claim_message)];
                if let Some(node) = node {
                    events.push(event(terminating, Regarding::node(node), terminating.node_message));
                }
                plan.deletions.push(Deletion { node_claim: Arc::clone(claim), events });
            }
        }
    }
    plan
}

/// How handling a notice ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every step succeeded and the notice was acknowledged.
    Acknowledged,
    /// A step failed; the notice stays in the queue and comes back.
    Retried,
}

/// Handles one notice: publishes its events, reports its spot offerings, deletes its NodeClaims, and
/// acknowledges it when all of that succeeded.
pub async fn handle<C, P, K, Q>(
    ctx: &Context<C, P, K>,
    queue: &Q,
    metrics: &InterruptionMetrics,
    notice: &Notice,
) -> Outcome
where
    C: Cluster,
    P: CloudProvider,
    K: Clock,
    Q: InterruptionQueue,
{
    let message_type = notice.kind.message_type();
    metrics.received.get_or_create(&MessageTypeLabels { message_type: message_type.to_string() }).inc();
    if let Some(why) = &notice.unreadable {
        tracing::warn!(queue = queue.name(), error = %why, "failed parsing interruption message; deleting it");
    }
    let state = ctx.cluster.state();
    let plan = plan(&state, notice);
    if !plan.unknown.is_empty() {
        tracing::debug!(
            queue = queue.name(),
            message_type,
            instances = ?plan.unknown,
            "interruption message names instances without a NodeClaim"
        );
    }
    for event in plan.events {
        ctx.publish(event).await;
    }
    for offering in &plan.offerings {
        tracing::info!(queue = queue.name(), message_type, %offering, "marking interrupted offering unavailable");
        queue.offering_interrupted(offering);
    }
    let mut failed = false;
    for deletion in plan.deletions {
        let claim = &deletion.node_claim;
        let name = claim.metadata.name.clone().unwrap_or_default();
        match ctx.cluster.delete_node_claim(&name).await {
            Ok(()) => {
                tracing::info!(nodeclaim = %name, message_type, "initiating delete from interruption message");
                for event in deletion.events {
                    ctx.publish(event).await;
                }
                ctx.metrics
                    .node_claims_disrupted
                    .get_or_create(&DisruptedLabels::of(claim, message_type))
                    .inc();
            }
            // Gone meanwhile: what the notice asked for has happened.
            Err(error) if error.is_not_found() => {}
            Err(error) => {
                tracing::warn!(
                    nodeclaim = %name,
                    message_type,
                    %error,
                    "deleting the NodeClaim of an interruption message failed; the message is kept for a retry"
                );
                failed = true;
            }
        }
    }
    if failed {
        ctx.metrics.reconcile_errors.inc();
        return Outcome::Retried;
    }
    if let Some(sent) = notice.sent_at.and_then(|at| Timestamp::try_from(at).ok()) {
        metrics.queue_duration.observe(since(ctx.now(), sent).as_secs_f64());
    }
    match queue.acknowledge(&notice.handle).await {
        Ok(()) => {
            metrics.deleted.inc();
            Outcome::Acknowledged
        }
        Err(error) => {
            tracing::warn!(queue = queue.name(), message_type, %error, "deleting an interruption message failed");
            ctx.metrics.reconcile_errors.inc();
            Outcome::Retried
        }
    }
}

/// Polls `queue` until the task is dropped, handling every notice it delivers. Nothing is received until the
/// cluster state has been listed once: a notice about a NodeClaim the store has not seen yet would otherwise be
/// acknowledged with nothing done.
pub async fn run<C, P, K, Q>(ctx: Arc<Context<C, P, K>>, queue: Q, metrics: InterruptionMetrics)
where
    C: Cluster,
    P: CloudProvider,
    K: Clock,
    Q: InterruptionQueue,
{
    tracing::info!(queue = queue.name(), "watching interruption queue");
    loop {
        if !ctx.cluster.state().synced {
            tokio::time::sleep(IDLE_WAIT).await;
            continue;
        }
        match queue.receive().await {
            Ok(notices) if notices.is_empty() => tokio::time::sleep(IDLE_WAIT).await,
            Ok(notices) => {
                for notice in &notices {
                    handle(&ctx, &queue, &metrics, notice).await;
                }
            }
            Err(error) => {
                tracing::warn!(queue = queue.name(), %error, "receiving interruption messages failed");
                ctx.metrics.reconcile_errors.inc();
                tokio::time::sleep(ERROR_WAIT).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use karpenter_api::NodePool;
    use karpenter_cloud::fake::FakeProvider;
    use karpenter_cloud::fake_queue::FakeQueue;
    use karpenter_cloud::{Error, NoticeHandle};
    use serde_json::json;

    use super::*;
    use crate::clock::TokioClock;
    use crate::operator::Operator;
    use crate::store::memory::Write;
    use crate::store::{MemoryCluster, StoreError};
    use crate::testing::{
        Around, TestContext, cluster_around, context, node_pool, offered_type, pending_pod, provider, scraped,
    };

    /// A NodeClaim launched as `instance` in test-zone-a, with the termination finalizer (so that a deletion
    /// leaves it marked), and its node.
    fn launched(cluster: &MemoryCluster, name: &str, instance: &str, capacity_type: &str) {
        let provider_id = format!("fake:///test-zone-a/{instance}");
        let labels = json!({
            "karpenter.sh/nodepool": "default",
            "karpenter.sh/capacity-type": capacity_type,
            "node.kubernetes.io/instance-type": "small",
            "topology.kubernetes.io/zone": "test-zone-a",
        });
        let claim: NodeClaim = serde_json::from_value(json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
            "metadata": {"name": name, "labels": labels, "finalizers": ["karpenter.sh/termination"]},
            "spec": {"requirements": [],
                     "nodeClassRef": {"group": "karpenter.test.sh", "kind": "TestNodeClass", "name": "default"}},
            "status": {"providerID": provider_id, "nodeName": format!("node-{name}")}
        }))
        .unwrap();
        cluster.apply(claim);
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": format!("node-{name}"), "labels": labels},
            "spec": {"providerID": provider_id}
        }))
        .unwrap();
        cluster.apply(node);
    }

    fn events(cluster: &MemoryCluster) -> Vec<String> {
        cluster.events().iter().map(ToString::to_string).collect()
    }

    fn metrics_text(ctx: &TestContext, metrics: &InterruptionMetrics) -> String {
        scraped(|registry| {
            ctx.metrics.register(registry);
            metrics.register(registry);
        })
    }

    fn metric(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    /// The controller's loop over a fresh fake queue that tells `provider` about interrupted offerings.
    fn start(
        ctx: &Arc<TestContext>,
        provider: &Arc<FakeProvider>,
    ) -> (Arc<FakeQueue>, InterruptionMetrics, tokio::task::JoinHandle<()>) {
        let queue = Arc::new(FakeQueue::for_provider(Arc::clone(provider)));
        let metrics = InterruptionMetrics::default();
        let running = tokio::spawn(run(Arc::clone(ctx), Arc::clone(&queue), metrics.clone()));
        (queue, metrics, running)
    }

    /// The test NodePool, without startup taints (nothing here would remove them), allowing spot.
    fn spot_pool() -> NodePool {
        let mut pool = node_pool("default", None);
        pool.spec.template.spec.startup_taints = None;
        pool.spec.template.spec.requirements.push(
            serde_json::from_value(
                json!({"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot", "on-demand"]}),
            )
            .unwrap(),
        );
        pool
    }

    async fn eventually(what: &str, limit: Duration, done: impl Fn() -> bool) {
        let mut waited = Duration::ZERO;
        while !done() {
            assert!(waited < limit, "{what}: not within {}s", limit.as_secs());
            tokio::time::sleep(Duration::from_secs(1)).await;
            waited += Duration::from_secs(1);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_spot_interruption_drains_the_node_and_stops_offering_spot_there() {
        let provider =
            Arc::new(FakeProvider::new([offered_type("small", 2, 8, &[("spot", 0.03), ("on-demand", 0.1)])]));
        let clock = TokioClock::starting_at(crate::testing::START.parse().unwrap());
        let setup = context(Arc::clone(&provider));
        let cluster = Arc::clone(&setup.cluster);
        cluster.apply(spot_pool());
        let settings = crate::settings::Settings { workers: 4, ..crate::settings::Settings::default() };
        let operator = Operator::new(Arc::clone(&cluster), Arc::clone(&provider), clock, settings);
        let ctx = Arc::clone(operator.context());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let operating = tokio::spawn(operator.run(async {
            let _ = stopped.await;
        }));
        let playing = tokio::spawn(cluster_around(Arc::clone(&cluster), Around::default()));
        let (queue, metrics, running) = start(&ctx, &provider);

        cluster.apply(pending_pod("inflate-0", "500m"));
        let bound = |pod: &str| {
            cluster
                .get::<k8s_openapi::api::core::v1::Pod>("shop", pod)
                .is_some_and(|p| karpenter_snapshot::node_name(&p).is_some())
        };
        eventually("the pod runs", Duration::from_secs(120), || bound("inflate-0")).await;
        let claim = cluster.list::<NodeClaim>().remove(0);
        assert_eq!(label(&claim, label::CAPACITY_TYPE), Some("spot"), "spot is the cheapest offering");
        let provider_id = karpenter_snapshot::claim_provider_id(&claim).unwrap().to_string();
        let instance = karpenter_cloud::instance_id(&provider_id).unwrap().to_string();
        let claim_name = claim.metadata.name.clone().unwrap();

        let handle = queue.push(NoticeKind::SpotInterrupted, [instance]);
        eventually("the notice is acknowledged", Duration::from_secs(10), || {
            queue.acknowledged() == [handle.clone()]
        })
        .await;
        let spot = OfferingKey::new("small", "test-zone-a", "spot");
        assert_eq!(queue.interrupted_offerings(), std::slice::from_ref(&spot));
        assert_eq!(provider.unavailable_offerings(), [spot]);
        let seen = events(&cluster);
        for expected in [
            format!(
                "Warning NodeClaim/{claim_name} SpotInterrupted: Spot interruption warning was triggered"
            ),
            format!(
                "Warning Node/node-{claim_name} SpotInterrupted: Spot interruption warning was triggered"
            ),
            format!(
                "Warning NodeClaim/{claim_name} TerminatingOnInterruption: Interruption triggered termination for the NodeClaim"
            ),
            format!(
                "Warning Node/node-{claim_name} TerminatingOnInterruption: Interruption triggered termination for the Node"
            ),
        ] {
            assert!(seen.contains(&expected), "{expected} in {seen:#?}");
        }

        // The normal termination drains the node and terminates the machine.
        eventually("the interrupted NodeClaim goes", Duration::from_secs(300), || {
            cluster.get::<NodeClaim>("", &claim_name).is_none() && provider.instances().is_empty()
        })
        .await;
        assert!(cluster.get::<k8s_openapi::api::core::v1::Pod>("shop", "inflate-0").is_none(), "evicted");

        // The next pod lands on on-demand capacity: the interrupted spot offering is not offered any more.
        cluster.apply(pending_pod("inflate-1", "500m"));
        eventually("the next pod runs", Duration::from_secs(120), || bound("inflate-1")).await;
        let replacement = cluster.list::<NodeClaim>().remove(0);
        assert_eq!(label(&replacement, label::CAPACITY_TYPE), Some("on-demand"));

        let text = metrics_text(&ctx, &metrics);
        for (series, value) in [
            ("karpenter_interruption_received_messages_total{message_type=\"spot_interrupted\"}", 1.0),
            ("karpenter_interruption_deleted_messages_total", 1.0),
            (
                "karpenter_nodeclaims_disrupted_total{reason=\"spot_interrupted\",nodepool=\"default\",capacity_type=\"spot\"}",
                1.0,
            ),
        ] {
            assert_eq!(metric(&text, series), Some(value), "{series} in\n{text}");
        }
        assert_eq!(
            metric(&text, "karpenter_interruption_message_queue_duration_seconds_count"),
            Some(0.0),
            "the fake's notices carry no send time"
        );
        assert!(!running.is_finished(), "the loop keeps polling");
        running.abort();
        playing.abort();
        let _ = stop.send(());
        operating.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_rebalance_recommendation_only_publishes_an_event() {
        let provider = provider();
        let ctx = context(Arc::clone(&provider));
        launched(&ctx.cluster, "spot-1", "i-1", "spot");
        let (queue, metrics, running) = start(&ctx, &provider);
        let sent = std::time::SystemTime::from(ctx.now()) - Duration::from_secs(3);
        queue.push_notice(
            Notice::new(NoticeHandle::new("r-1"), NoticeKind::RebalanceRecommendation, ["i-1"]).sent_at(sent),
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(queue.acknowledged(), [NoticeHandle::new("r-1")]);
        assert_eq!(
            events(&ctx.cluster),
            [
                "Normal NodeClaim/spot-1 SpotRebalanceRecommendation: Spot rebalance recommendation was triggered",
                "Normal Node/node-spot-1 SpotRebalanceRecommendation: Spot rebalance recommendation was triggered",
            ]
        );
        let claim = ctx.cluster.get::<NodeClaim>("", "spot-1").unwrap();
        assert!(claim.metadata.deletion_timestamp.is_none(), "a risk is not a reason to delete");
        assert!(provider.unavailable_offerings().is_empty() && queue.interrupted_offerings().is_empty());
        let text = metrics_text(&ctx, &metrics);
        assert_eq!(
            metric(
                &text,
                "karpenter_interruption_received_messages_total{message_type=\"rebalance_recommendation\"}"
            ),
            Some(1.0)
        );
        assert_eq!(metric(&text, "karpenter_interruption_message_queue_duration_seconds_count"), Some(1.0));
        let queued = metric(&text, "karpenter_interruption_message_queue_duration_seconds_sum").unwrap();
        assert!((3.0..4.0).contains(&queued), "three seconds on the queue, give or take the poll: {queued}");
        assert!(!text.contains("karpenter_nodeclaims_disrupted_total{"), "{text}");
        running.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn notices_about_unknown_instances_or_unreadable_messages_are_acknowledged_with_nothing_done() {
        let provider = provider();
        let ctx = context(Arc::clone(&provider));
        launched(&ctx.cluster, "spot-1", "i-1", "spot");
        let (queue, metrics, running) = start(&ctx, &provider);
        let unknown = queue.push(NoticeKind::SpotInterrupted, ["i-404"]);
        queue.push_notice(Notice::unreadable(NoticeHandle::new("garbage"), "not JSON"));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(queue.acknowledged(), [unknown, NoticeHandle::new("garbage")]);
        assert!(events(&ctx.cluster).is_empty());
        assert!(queue.interrupted_offerings().is_empty());
        assert!(ctx.cluster.get::<NodeClaim>("", "spot-1").unwrap().metadata.deletion_timestamp.is_none());
        let text = metrics_text(&ctx, &metrics);
        assert_eq!(
            metric(&text, "karpenter_interruption_received_messages_total{message_type=\"no_op\"}"),
            Some(1.0)
        );
        assert_eq!(metric(&text, "karpenter_interruption_deleted_messages_total"), Some(2.0));
        running.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_delete_leaves_the_notice_unacknowledged_until_it_comes_back() {
        let provider = provider();
        let ctx = context(Arc::clone(&provider));
        launched(&ctx.cluster, "a", "i-1", "on-demand");
        launched(&ctx.cluster, "b", "i-2", "on-demand");
        ctx.cluster.fail_next(Write::DeleteNodeClaim, StoreError::Api { message: "etcd is down".into() });
        let (queue, metrics, running) = start(&ctx, &provider);
        let handle = queue.push(NoticeKind::InstanceStopped, ["i-1", "i-2"]);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(queue.acknowledged().is_empty(), "kept for a retry");
        assert_eq!(queue.in_flight(), std::slice::from_ref(&handle));
        let deleting = |name: &str| {
            ctx.cluster.get::<NodeClaim>("", name).unwrap().metadata.deletion_timestamp.is_some()
        };
        assert!(!deleting("a") && deleting("b"), "the failure does not stop the rest of the notice");
        assert_eq!(ctx.metrics.reconcile_errors.get(), 1);

        // SQS's visibility timeout runs out: the notice comes back, and only what is left is done.
        queue.redeliver();
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(queue.acknowledged(), [handle]);
        assert!(deleting("a") && deleting("b"));
        let text = metrics_text(&ctx, &metrics);
        assert_eq!(
            metric(
                &text,
                "karpenter_nodeclaims_disrupted_total{reason=\"instance_stopped\",nodepool=\"default\",capacity_type=\"on-demand\"}"
            ),
            Some(2.0),
            "each NodeClaim counted once: {text}"
        );
        assert_eq!(
            metric(
                &text,
                "karpenter_interruption_received_messages_total{message_type=\"instance_stopped\"}"
            ),
            Some(2.0),
            "each delivery is a received message"
        );
        let terminating =
            events(&ctx.cluster).iter().filter(|e| e.contains("TerminatingOnInterruption")).count();
        assert_eq!(terminating, 4, "a NodeClaim and a node event per deleted NodeClaim");
        running.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_waits_when_idle_and_longer_after_a_receive_error() {
        let provider = provider();
        let ctx = context(Arc::clone(&provider));
        let queue = Arc::new(FakeQueue::new());
        queue.fail_next_receive(Error::Throttled { message: "slow down".into() });
        let running = tokio::spawn(run(Arc::clone(&ctx), Arc::clone(&queue), InterruptionMetrics::default()));
        tokio::time::sleep(Duration::from_millis(9_500)).await;
        assert_eq!(queue.receives(), 1, "no receive within ten seconds of a failed one");
        assert_eq!(ctx.metrics.reconcile_errors.get(), 1);
        tokio::time::sleep(Duration::from_millis(5_000)).await;
        let polls = queue.receives();
        assert!((5..=7).contains(&polls), "then about one receive a second: {polls}");
        running.abort();
    }

    #[test]
    fn the_plan_reports_each_claim_once_and_leaves_deleting_claims_to_their_deletion() {
        let clock = TokioClock::starting_at(crate::testing::START.parse().unwrap());
        let cluster = MemoryCluster::new(Arc::new(clock));
        launched(&cluster, "a", "i-1", "spot");
        launched(&cluster, "b", "i-2", "spot");
        cluster.delete::<NodeClaim>("", "b").unwrap();
        let state = cluster.state();
        let notice =
            Notice::new(NoticeHandle::new("h"), NoticeKind::SpotInterrupted, ["i-1", "i-2", "i-1", "i-3"]);
        let planned = plan(&state, &notice);
        let names: Vec<&str> =
            planned.deletions.iter().map(|d| d.node_claim.metadata.name.as_deref().unwrap()).collect();
        assert_eq!(names, ["a"], "b is being deleted already");
        assert_eq!(
            planned.events.len(),
            4,
            "both NodeClaims and their nodes hear of it: {:#?}",
            planned.events
        );
        assert_eq!(
            planned.offerings,
            [OfferingKey::new("small", "test-zone-a", "spot")],
            "one offering, once"
        );
        assert_eq!(planned.unknown, ["i-3"]);

        let stopped = Notice::new(NoticeHandle::new("h"), NoticeKind::InstanceStopped, ["i-1"]);
        assert!(plan(&state, &stopped).offerings.is_empty(), "only spot interruptions mark offerings");
        let noop = Notice::new(NoticeHandle::new("h"), NoticeKind::Unrecognised, ["i-1"]);
        let nothing = plan(&state, &noop);
        assert!(nothing.events.is_empty() && nothing.deletions.is_empty() && nothing.unknown.is_empty());
    }

    #[test]
    fn the_metrics_render_under_upstreams_names() {
        let metrics = InterruptionMetrics::default();
        metrics.received.get_or_create(&MessageTypeLabels { message_type: "scheduled_change".into() }).inc();
        metrics.deleted.inc();
        metrics.queue_duration.observe(2.0);
        let text = scraped(|registry| metrics.register(registry));
        for line in [
            "karpenter_interruption_received_messages_total{message_type=\"scheduled_change\"} 1",
            "karpenter_interruption_deleted_messages_total 1",
            "karpenter_interruption_message_queue_duration_seconds_count 1",
            "karpenter_interruption_message_queue_duration_seconds_bucket{le=\"2.0\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
    }
}
