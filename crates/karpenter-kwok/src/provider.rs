//! The KWOK [`CloudProvider`]: a launch writes a Node object that KWOK makes Ready, a delete removes it
//! (upstream `kubernetes-sigs/karpenter: kwok/cloudprovider/cloudprovider.go`).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use karpenter_api::KWOKNodeClass;
use karpenter_api::kwok;
use karpenter_cloud::{
    CloudProvider, ConditionStatus, Deletion, DriftQuery, DriftReason, Error, Instance, InstanceTypes,
    LaunchRequest, NodeClassKind, OfferingKey, RepairPolicy, Result, launch_order, with_unavailable,
};
use karpenter_solver::SolverConfig;
use karpenter_solver::model::NodePool;
use kube::api::{Api, DeleteParams, ListParams, PostParams, Preconditions};

use crate::capacity::OfferingPattern;
use crate::node::{instance_from, is_kwok_node, is_terminating, node_for, node_name};

/// How long an offering that failed for capacity is reported unavailable: the AWS provider's
/// unavailable-offerings TTL.
pub const UNAVAILABLE_OFFERINGS_TTL: Duration = Duration::from_secs(3 * 60);

/// How the provider is set up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The instance types it offers every NodePool ([`crate::instance_types`] by default).
    pub instance_types: InstanceTypes,
    /// Offerings whose launches fail for lack of capacity ([`crate::capacity::parse_list`] reads them from
    /// the text of `KWOK_INSUFFICIENT_CAPACITY`).
    pub insufficient_capacity: Vec<OfferingPattern>,
    /// How long an offering that failed is reported unavailable.
    pub unavailable_offerings_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            instance_types: crate::instance_types(),
            insufficient_capacity: Vec::new(),
            unavailable_offerings_ttl: UNAVAILABLE_OFFERINGS_TTL,
        }
    }
}

/// The KWOK provider.
pub struct KwokProvider {
    client: kube::Client,
    instance_types: InstanceTypes,
    config: SolverConfig,
    insufficient_capacity: Mutex<Vec<OfferingPattern>>,
    /// Offerings that failed, with when they become available again.
    unavailable: Mutex<BTreeMap<OfferingKey, Instant>>,
    unavailable_ttl: Duration,
}

/// The node-class kind the KWOK provider launches from.
pub fn node_class_kind() -> NodeClassKind {
    NodeClassKind::new(kwok::GROUP, kwok::VERSION, kwok::KIND)
}

/// The solver settings the KWOK provider matches requirements with: its labels are well-known, as upstream
/// registers them, so pods may select them.
pub fn solver_config() -> SolverConfig {
    SolverConfig {
        well_known_labels: kwok::label::WELL_KNOWN.iter().map(|l| l.to_string()).collect(),
        ..SolverConfig::default()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single step, so a panic elsewhere cannot leave them half-done.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl KwokProvider {
    /// A provider that writes Nodes through `client`.
    pub fn new(client: kube::Client, settings: Settings) -> Self {
        KwokProvider {
            client,
            instance_types: settings.instance_types,
            config: solver_config(),
            insufficient_capacity: Mutex::new(settings.insufficient_capacity),
            unavailable: Mutex::new(BTreeMap::new()),
            unavailable_ttl: settings.unavailable_offerings_ttl,
        }
    }

    /// Replaces the offerings whose launches fail for lack of capacity.
    pub fn set_insufficient_capacity(&self, patterns: Vec<OfferingPattern>) {
        *lock(&self.insufficient_capacity) = patterns;
    }

    /// Adds offerings whose launches fail for lack of capacity.
    pub fn add_insufficient_capacity(&self, patterns: impl IntoIterator<Item = OfferingPattern>) {
        lock(&self.insufficient_capacity).extend(patterns);
    }

    /// Offerings that failed and are reported unavailable now.
    pub fn unavailable_offerings(&self) -> Vec<OfferingKey> {
        let now = Instant::now();
        lock(&self.unavailable).iter().filter(|(_, until)| **until > now).map(|(k, _)| k.clone()).collect()
    }

    fn nodes(&self) -> Api<Node> {
        Api::all(self.client.clone())
    }

    /// The node class of a request, checked to be a KWOKNodeClass that is not marked not-ready, and its
    /// registration delay.
    async fn node_class_delay(&self, request: &LaunchRequest) -> Result<Duration> {
        let reference = &request.node_class;
        if !node_class_kind().matches(reference) {
            return Err(Error::Launch {
                reason: "UnsupportedNodeClass".to_string(),
                message: format!(
                    "the KWOK provider launches from {}/{}, not {}/{}",
                    kwok::GROUP,
                    kwok::KIND,
                    reference.group,
                    reference.kind
                ),
            });
        }
        let classes: Api<KWOKNodeClass> = Api::all(self.client.clone());
        let class =
            classes.get_opt(&reference.name).await.map_err(|e| api_error("reading the KWOKNodeClass", e))?;
        let not_ready = |why: String| Error::NodeClassNotReady {
            reason: format!("KWOKNodeClass {}: {why}", reference.name),
        };
        let class = class.ok_or_else(|| not_ready("not found".to_string()))?;
        if let Some(ready) = class.ready_condition().filter(|c| c.status == ConditionStatus::False.as_str()) {
            return Err(not_ready(format!("not ready ({}): {}", ready.reason, ready.message)));
        }
        class.spec.node_registration_delay().map_err(|e| not_ready(e.to_string()))
    }

    /// Whether `key` is remembered as failed; forgets it once its time is up.
    fn remembered_unavailable(&self, key: &OfferingKey, now: Instant) -> bool {
        let mut unavailable = lock(&self.unavailable);
        match unavailable.get(key) {
            Some(until) if *until > now => true,
            Some(_) => {
                unavailable.remove(key);
                false
            }
            None => false,
        }
    }

    fn injected_failure(&self, key: &OfferingKey) -> bool {
        lock(&self.insufficient_capacity).iter().any(|p| p.matches(key))
    }

    async fn create_node(&self, node: &Node) -> Result<Instance> {
        let name = node.metadata.name.clone().unwrap_or_default();
        match self.nodes().create(&PostParams::default(), node).await {
            Ok(created) => Ok(instance_from(&created)),
            Err(kube::Error::Api(status)) if status.is_already_exists() => {
                // A repeated launch for the same NodeClaim: the first one's node is the answer.
                let existing =
                    self.nodes().get_opt(&name).await.map_err(|e| api_error("reading the node", e))?;
                match existing {
                    Some(existing) if is_kwok_node(&existing) && !is_terminating(&existing) => {
                        Ok(instance_from(&existing))
                    }
                    _ => Err(Error::Launch {
                        reason: "NodeNameTaken".to_string(),
                        message: format!(
                            "node {name} exists and is not a running KWOK node of this NodeClaim"
                        ),
                    }),
                }
            }
            Err(error) => Err(launch_error(error)),
        }
    }
}

/// Registers a node after the node class's delay, as a booting machine would, retrying for a while.
fn register_later(nodes: Api<Node>, node: Node, delay: Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let name = node.metadata.name.clone().unwrap_or_default();
        let mut backoff = Duration::from_millis(100);
        for attempt in 1..=5 {
            match nodes.create(&PostParams::default(), &node).await {
                Ok(_) => return,
                Err(kube::Error::Api(status)) if status.is_already_exists() => return,
                Err(error) if attempt == 5 => {
                    let message = "could not create the node of a delayed KWOK launch";
                    tracing::error!(node = %name, %error, "{message}");
                }
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
    });
}

/// Maps a failed API call that is not a launch.
fn api_error(what: &str, error: kube::Error) -> Error {
    match error {
        kube::Error::Api(status) if status.code == 429 => Error::Throttled { message: status.message },
        kube::Error::Api(status) => Error::Api {
            message: format!("{what}: {} ({})", status.message, status.code),
            retryable: status.code >= 500,
        },
        other => Error::Api { message: format!("{what}: {other}"), retryable: true },
    }
}

/// Maps a failed Node create: the API server refusing the object is a launch error, not a transient one.
fn launch_error(error: kube::Error) -> Error {
    match error {
        kube::Error::Api(status) if (400..500).contains(&status.code) && status.code != 429 => {
            Error::Launch {
                reason: "NodeCreateRefused".to_string(),
                message: format!("{} ({})", status.message, status.code),
            }
        }
        other => api_error("creating the node", other),
    }
}

impl CloudProvider for KwokProvider {
    async fn create(&self, request: &LaunchRequest) -> Result<Instance> {
        let delay = self.node_class_delay(request).await?;
        let order = launch_order(request, &self.config, usize::MAX)?;
        let now = Instant::now();
        let mut failed = Vec::new();
        let mut chosen = None;
        for candidate in &order.candidates {
            let key = candidate.key();
            if self.remembered_unavailable(&key, now) {
                failed.push(key);
            } else if self.injected_failure(&key) {
                lock(&self.unavailable).insert(key.clone(), now + self.unavailable_ttl);
                failed.push(key);
            } else {
                chosen = Some(candidate);
                break;
            }
        }
        let Some(candidate) = chosen else {
            return Err(Error::InsufficientCapacity { offerings: failed });
        };
        let node = node_for(request, candidate);
        if delay.is_zero() {
            return self.create_node(&node).await;
        }
        // The node does not exist yet, so the launch time is not known (`launched_at` is `None`) until `get`
        // reads the node's creation time.
        let instance = instance_from(&node);
        register_later(self.nodes(), node, delay);
        Ok(instance)
    }

    async fn delete(&self, provider_id: &str) -> Result<Deletion> {
        let Some(name) = node_name(provider_id) else { return Ok(Deletion::Gone) };
        let Some(node) = self.nodes().get_opt(name).await.map_err(|e| api_error("reading the node", e))?
        else {
            return Ok(Deletion::Gone);
        };
        // A node of that name that is not this machine (another provider id) is left alone.
        if node.spec.as_ref().and_then(|s| s.provider_id.as_deref()) != Some(provider_id) {
            return Ok(Deletion::Gone);
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions { uid: node.metadata.uid.clone(), resource_version: None }),
            ..DeleteParams::default()
        };
        match self.nodes().delete(name, &params).await {
            // Once the Node is marked for deletion the machine is gone; Karpenter's own finalizer may keep
            // the object a little longer.
            Ok(_) => Ok(Deletion::Gone),
            Err(kube::Error::Api(status)) if status.is_not_found() || status.is_conflict() => {
                Ok(Deletion::Gone)
            }
            Err(error) => Err(api_error("deleting the node", error)),
        }
    }

    async fn get(&self, provider_id: &str) -> Result<Instance> {
        let not_found = || Error::NotFound { provider_id: provider_id.to_string() };
        let name = node_name(provider_id).ok_or_else(not_found)?;
        let node = self.nodes().get_opt(name).await.map_err(|e| api_error("reading the node", e))?;
        match node {
            Some(node)
                if !is_terminating(&node)
                    && node.spec.as_ref().and_then(|s| s.provider_id.as_deref()) == Some(provider_id) =>
            {
                Ok(instance_from(&node))
            }
            _ => Err(not_found()),
        }
    }

    async fn list(&self) -> Result<Vec<Instance>> {
        let nodes =
            self.nodes().list(&ListParams::default()).await.map_err(|e| api_error("listing nodes", e))?;
        Ok(nodes.items.iter().filter(|n| is_kwok_node(n) && !is_terminating(n)).map(instance_from).collect())
    }

    async fn instance_types(&self, _node_pool: &NodePool) -> Result<InstanceTypes> {
        let now = Instant::now();
        let mut unavailable = lock(&self.unavailable);
        unavailable.retain(|_, until| *until > now);
        Ok(with_unavailable(&self.instance_types, |key| unavailable.contains_key(key)))
    }

    async fn is_drifted(&self, _query: &DriftQuery) -> Result<Option<DriftReason>> {
        // A KWOK node has nothing that can drift from its node class.
        Ok(None)
    }

    fn repair_policies(&self) -> Vec<RepairPolicy> {
        [ConditionStatus::False, ConditionStatus::Unknown]
            .into_iter()
            .map(|status| RepairPolicy {
                condition_type: "Ready".to_string(),
                condition_status: status,
                toleration: Duration::from_secs(10 * 60),
            })
            .collect()
    }

    fn name(&self) -> &str {
        "kwok"
    }

    fn node_classes(&self) -> Vec<NodeClassKind> {
        vec![node_class_kind()]
    }
}
