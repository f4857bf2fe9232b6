//! An in-memory API server: the store unit tests and `karpenter simulate` run the reconcilers on.
//!
//! It models what the controller relies on and no more: resource versions with optimistic-lock conflicts, uids
//! and creation times, generated names, the status subresource (status writes leave the rest alone and the other
//! way round), finalizers holding an object in deletion, and the Eviction API refusing evictions that a
//! PodDisruptionBudget does not allow (its `status.disruptionsAllowed`, decremented per eviction as the API server
//! does) or that fall under more than one budget.

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use karpenter_api::{NodeClaim, NodeOverlay, NodePool};
use kube::Resource;
use tokio::sync::broadcast;

use super::{Change, Cluster, ClusterState, Kind, NodeClass, Notice, Result, StoreError};
use crate::clock::Clock;
use crate::events::Event;

/// Objects of every kind, by kind, then namespace (empty for cluster-scoped kinds) and name.
type Objects = BTreeMap<Kind, BTreeMap<(String, String), Arc<dyn Any + Send + Sync>>>;

/// A write the store can be told to fail, for tests of error paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Write {
    /// [`Cluster::create_node_claim`].
    CreateNodeClaim,
    /// [`Cluster::update_node_claim`].
    UpdateNodeClaim,
    /// [`Cluster::update_node_claim_status`].
    UpdateNodeClaimStatus,
    /// [`Cluster::delete_node_claim`].
    DeleteNodeClaim,
    /// [`Cluster::update_node`].
    UpdateNode,
    /// [`Cluster::delete_node`].
    DeleteNode,
    /// [`Cluster::update_node_pool_status`].
    UpdateNodePoolStatus,
    /// [`Cluster::evict_pod`].
    EvictPod,
    /// [`Cluster::delete_pod`].
    DeletePod,
}

#[derive(Default)]
struct Inner {
    version: u64,
    uids: u64,
    generated: u64,
    objects: Objects,
    node_classes: BTreeMap<(String, String, String), Arc<NodeClass>>,
    events: Vec<Event>,
    failures: BTreeMap<Write, VecDeque<StoreError>>,
    cached: Option<Arc<ClusterState>>,
}

impl Inner {
    fn get<T: Stored>(&self, key: &(String, String)) -> Option<Arc<T>> {
        let any = Arc::clone(self.objects.get(&T::KIND)?.get(key)?);
        any.downcast::<T>().ok()
    }

    fn insert<T: Stored>(&mut self, key: (String, String), object: Arc<T>) {
        self.objects.entry(T::KIND).or_default().insert(key, object);
    }

    fn remove<T: Stored>(&mut self, key: &(String, String)) {
        if let Some(objects) = self.objects.get_mut(&T::KIND) {
            objects.remove(key);
        }
    }

    fn list<T: Stored>(&self) -> Vec<Arc<T>> {
        self.objects
            .get(&T::KIND)
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|any| Arc::clone(any).downcast::<T>().ok())
            .collect()
    }

    fn contains<T: Stored>(&self, key: &(String, String)) -> bool {
        self.objects.get(&T::KIND).is_some_and(|m| m.contains_key(key))
    }
}

/// A kind the in-memory store holds.
pub trait Stored: Resource<DynamicType = ()> + Clone + Send + Sync + 'static {
    /// The kind, for change notices.
    const KIND: Kind;

    /// Copies `stored`'s status into `self` (a main-resource write keeps the stored status).
    #[doc(hidden)]
    fn keep_status(&mut self, _stored: &Self) {}

    /// Copies everything but the status from `stored` into `self` (a status write keeps the rest).
    #[doc(hidden)]
    fn keep_main(&mut self, stored: &Self) {
        *self.meta_mut() = stored.meta().clone();
    }

    /// Whether the spec differs, so that the generation moves.
    #[doc(hidden)]
    fn spec_changed(&self, _stored: &Self) -> bool {
        false
    }
}

macro_rules! stored {
    ($type:ty, $kind:expr) => {
        impl Stored for $type {
            const KIND: Kind = $kind;
        }
    };
    ($type:ty, $kind:expr, with status) => {
        impl Stored for $type {
            const KIND: Kind = $kind;
            fn keep_status(&mut self, stored: &Self) {
                self.status = stored.status.clone();
            }
            fn keep_main(&mut self, stored: &Self) {
                let status = self.status.take();
                *self = stored.clone();
                self.status = status;
            }
            fn spec_changed(&self, stored: &Self) -> bool {
                self.spec != stored.spec
            }
        }
    };
}

stored!(Pod, Kind::Pod, with status);
stored!(Node, Kind::Node, with status);
stored!(NodeClaim, Kind::NodeClaim, with status);
stored!(NodePool, Kind::NodePool, with status);
stored!(DaemonSet, Kind::DaemonSet, with status);
stored!(Namespace, Kind::Namespace, with status);
stored!(PodDisruptionBudget, Kind::PodDisruptionBudget, with status);
stored!(PersistentVolumeClaim, Kind::PersistentVolumeClaim, with status);
stored!(PersistentVolume, Kind::PersistentVolume, with status);
stored!(StorageClass, Kind::StorageClass);
stored!(NodeOverlay, Kind::NodeOverlay, with status);

fn key_of(meta: &ObjectMeta) -> (String, String) {
    (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default())
}

fn shown<T: Stored>(namespace: &str, name: &str) -> String {
    let kind = T::kind(&());
    if namespace.is_empty() { format!("{kind}/{name}") } else { format!("{kind}/{namespace}/{name}") }
}

/// The in-memory store.
pub struct MemoryCluster {
    inner: Mutex<Inner>,
    changes: broadcast::Sender<Notice>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for MemoryCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCluster").finish_non_exhaustive()
    }
}

impl MemoryCluster {
    /// An empty cluster whose timestamps come from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let (changes, _) = broadcast::channel(16 * 1024);
        MemoryCluster { inner: Mutex::new(Inner::default()), changes, clock }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change under the lock is completed before it is released, so a poisoned lock holds a consistent
        // state.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn notify(&self, kind: Kind, namespace: &str, name: &str) {
        let namespace = (!namespace.is_empty()).then(|| namespace.to_string());
        let _ = self.changes.send(Notice::Changed(Change { kind, namespace, name: name.to_string() }));
    }

    /// Makes the next call of `write` fail with `error` (errors queue up, one per call).
    pub fn fail_next(&self, write: Write, error: StoreError) {
        self.lock().failures.entry(write).or_default().push_back(error);
    }

    fn injected(inner: &mut Inner, write: Write) -> Result<()> {
        match inner.failures.get_mut(&write).and_then(VecDeque::pop_front) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Creates or replaces an object as a user would (`kubectl apply`): no version check; a new object gets a
    /// uid, a creation time and generation 1.
    pub fn apply<T: Stored>(&self, object: T) -> Arc<T> {
        let now = self.clock.now();
        let mut inner = self.lock();
        let (namespace, name) = key_of(object.meta());
        let existing = inner.get::<T>(&(namespace.clone(), name.clone()));
        let mut object = object;
        inner.version += 1;
        let version = inner.version;
        {
            let meta = object.meta_mut();
            meta.resource_version = Some(version.to_string());
            match &existing {
                Some(stored) => {
                    meta.uid = stored.meta().uid.clone();
                    meta.creation_timestamp = stored.meta().creation_timestamp.clone();
                    meta.generation = stored.meta().generation;
                    meta.deletion_timestamp = stored.meta().deletion_timestamp.clone();
                }
                None => {
                    inner.uids += 1;
                    meta.uid = Some(format!("uid-{}", inner.uids));
                    meta.creation_timestamp.get_or_insert(Time(now));
                    meta.generation = Some(1);
                }
            }
        }
        if let Some(stored) = &existing
            && object.spec_changed(stored)
        {
            object.meta_mut().generation = Some(stored.meta().generation.unwrap_or(0) + 1);
        }
        let object = Arc::new(object);
        inner.insert((namespace.clone(), name.clone()), Arc::clone(&object));
        inner.cached = None;
        drop(inner);
        self.notify(T::KIND, &namespace, &name);
        object
    }

    /// Adds or replaces a node class.
    pub fn apply_node_class(&self, class: NodeClass) {
        let mut inner = self.lock();
        let name = class.name.clone();
        inner
            .node_classes
            .insert((class.group.clone(), class.kind.clone(), class.name.clone()), Arc::new(class));
        inner.cached = None;
        drop(inner);
        self.notify(Kind::NodeClass, "", &name);
    }

    /// The object of a namespace (empty for cluster-scoped kinds) and name.
    pub fn get<T: Stored>(&self, namespace: &str, name: &str) -> Option<Arc<T>> {
        self.lock().get::<T>(&(namespace.to_string(), name.to_string()))
    }

    /// Every object of a kind.
    pub fn list<T: Stored>(&self) -> Vec<Arc<T>> {
        self.lock().list::<T>()
    }

    /// Deletes an object as a user would: it stays, marked, while it has finalizers.
    pub fn delete<T: Stored>(&self, namespace: &str, name: &str) -> Result<()> {
        self.delete_object::<T>(namespace, name, None)
    }

    /// Every event published, in order.
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }

    fn delete_object<T: Stored>(&self, namespace: &str, name: &str, uid: Option<&str>) -> Result<()> {
        let now = self.clock.now();
        let mut inner = self.lock();
        let key = (namespace.to_string(), name.to_string());
        let Some(stored) = inner.get::<T>(&key) else {
            return Err(StoreError::NotFound { object: shown::<T>(namespace, name) });
        };
        if let Some(uid) = uid
            && stored.meta().uid.as_deref() != Some(uid)
        {
            return Err(StoreError::Conflict {
                object: shown::<T>(namespace, name),
                message: format!("the uid precondition {uid} does not match"),
            });
        }
        if stored.meta().finalizers.as_ref().is_some_and(|f| !f.is_empty()) {
            if stored.meta().deletion_timestamp.is_none() {
                let mut marked = (*stored).clone();
                inner.version += 1;
                marked.meta_mut().resource_version = Some(inner.version.to_string());
                marked.meta_mut().deletion_timestamp = Some(Time(now));
                inner.insert(key, Arc::new(marked));
            }
        } else {
            inner.remove::<T>(&key);
        }
        inner.cached = None;
        drop(inner);
        self.notify(T::KIND, namespace, name);
        Ok(())
    }

    /// An optimistic-lock update of the main resource (`status == false`) or of the status.
    fn update<T: Stored>(&self, object: &T, status: bool) -> Result<Arc<T>> {
        let mut inner = self.lock();
        let (namespace, name) = key_of(object.meta());
        let key = (namespace.clone(), name.clone());
        let Some(stored) = inner.get::<T>(&key) else {
            return Err(StoreError::NotFound { object: shown::<T>(&namespace, &name) });
        };
        if object.meta().resource_version != stored.meta().resource_version {
            return Err(StoreError::Conflict {
                object: shown::<T>(&namespace, &name),
                message: "the object has been modified; please apply your changes to the latest version"
                    .into(),
            });
        }
        let mut updated = object.clone();
        if status {
            updated.keep_main(&stored);
        } else {
            updated.keep_status(&stored);
            let meta = updated.meta_mut();
            // What the API server owns stays as it is.
            meta.uid = stored.meta().uid.clone();
            meta.creation_timestamp = stored.meta().creation_timestamp.clone();
            meta.deletion_timestamp = stored.meta().deletion_timestamp.clone();
            meta.generation = stored.meta().generation;
            if updated.spec_changed(&stored) {
                updated.meta_mut().generation = Some(stored.meta().generation.unwrap_or(0) + 1);
            }
        }
        if updated.meta() == stored.meta() && !status && !updated.spec_changed(&stored) {
            // Nothing but possibly the status (which a main write ignores) differs: a no-op write.
            return Ok(stored);
        }
        inner.version += 1;
        updated.meta_mut().resource_version = Some(inner.version.to_string());
        let released = updated.meta().deletion_timestamp.is_some()
            && updated.meta().finalizers.as_ref().is_none_or(Vec::is_empty);
        let updated = Arc::new(updated);
        if released {
            inner.remove::<T>(&key);
        } else {
            inner.insert(key, Arc::clone(&updated));
        }
        inner.cached = None;
        drop(inner);
        self.notify(T::KIND, &namespace, &name);
        Ok(updated)
    }

    fn create_claim(&self, claim: &NodeClaim) -> Result<Arc<NodeClaim>> {
        let now = self.clock.now();
        let mut inner = self.lock();
        Self::injected(&mut inner, Write::CreateNodeClaim)?;
        let mut claim = claim.clone();
        if claim.metadata.name.as_deref().is_none_or(str::is_empty) {
            let prefix = claim.metadata.generate_name.clone().unwrap_or_default();
            inner.generated += 1;
            claim.metadata.name = Some(format!("{prefix}{}", generated_suffix(inner.generated)));
        }
        let key = key_of(&claim.metadata);
        if inner.contains::<NodeClaim>(&key) {
            return Err(StoreError::AlreadyExists { object: shown::<NodeClaim>(&key.0, &key.1) });
        }
        inner.version += 1;
        inner.uids += 1;
        let meta = &mut claim.metadata;
        meta.resource_version = Some(inner.version.to_string());
        meta.uid = Some(format!("uid-{}", inner.uids));
        meta.creation_timestamp = Some(Time(now));
        meta.generation = Some(1);
        meta.deletion_timestamp = None;
        // The status subresource: a create does not set the status.
        claim.status = None;
        let claim = Arc::new(claim);
        inner.insert(key.clone(), Arc::clone(&claim));
        inner.cached = None;
        drop(inner);
        self.notify(Kind::NodeClaim, "", &key.1);
        Ok(claim)
    }

    fn evict(&self, namespace: &str, name: &str, uid: &str) -> Result<()> {
        let mut inner = self.lock();
        Self::injected(&mut inner, Write::EvictPod)?;
        let key = (namespace.to_string(), name.to_string());
        let pod_ref = format!("{namespace}/{name}");
        let Some(pod) = inner.get::<Pod>(&key) else {
            return Err(StoreError::NotFound { object: format!("Pod/{pod_ref}") });
        };
        if pod.metadata.uid.as_deref() != Some(uid) {
            return Err(StoreError::Conflict {
                object: format!("Pod/{pod_ref}"),
                message: format!("the uid precondition {uid} does not match"),
            });
        }
        // A pod already being deleted is evicted at once, as the API server does.
        if pod.metadata.deletion_timestamp.is_none() {
            let labels = pod.metadata.labels.clone().unwrap_or_default();
            let budgets: Vec<Arc<PodDisruptionBudget>> = inner
                .list::<PodDisruptionBudget>()
                .into_iter()
                .filter(|pdb| {
                    pdb.metadata.namespace.as_deref() == Some(namespace)
                        && pdb
                            .spec
                            .as_ref()
                            .and_then(|s| s.selector.as_ref())
                            .is_some_and(|s| selects(s, &labels))
                })
                .collect();
            match budgets.as_slice() {
                [] => {}
                [pdb] => {
                    let allowed = pdb.status.as_ref().and_then(|s| s.disruptions_allowed).unwrap_or(0);
                    if allowed <= 0 {
                        return Err(StoreError::EvictionRefused {
                            pod: pod_ref,
                            message: "Cannot evict pod as it would violate the pod's disruption budget."
                                .into(),
                        });
                    }
                    let mut pdb: PodDisruptionBudget = (**pdb).clone();
                    if let Some(status) = pdb.status.as_mut() {
                        status.disruptions_allowed = Some(allowed - 1);
                    }
                    inner.version += 1;
                    pdb.metadata.resource_version = Some(inner.version.to_string());
                    inner.insert(key_of(&pdb.metadata), Arc::new(pdb));
                }
                _ => {
                    return Err(StoreError::EvictionRefused {
                        pod: pod_ref,
                        message: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.".into(),
                    });
                }
            }
        }
        drop(inner);
        self.delete_object::<Pod>(namespace, name, Some(uid))
    }
}

/// Five lower-case letters and digits from a counter, shaped like the API server's generated suffixes.
fn generated_suffix(n: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = n.wrapping_mul(2_654_435_761) % 14_348_907; // 27^5
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % 27) as usize] as char;
            n /= 27;
            c
        })
        .collect()
}

/// Whether a label selector selects the labels (an empty selector selects everything).
fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    selector.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v))
        && selector.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

impl Cluster for MemoryCluster {
    fn state(&self) -> Arc<ClusterState> {
        let mut inner = self.lock();
        if let Some(cached) = &inner.cached {
            return Arc::clone(cached);
        }
        let state = Arc::new(ClusterState {
            objects: karpenter_snapshot::Snapshot {
                pods: inner.list::<Pod>(),
                nodes: inner.list::<Node>(),
                node_claims: inner.list::<NodeClaim>(),
                node_pools: inner.list::<NodePool>(),
                node_classes: Vec::new(),
                daemon_sets: inner.list::<DaemonSet>(),
                namespaces: inner.list::<Namespace>(),
                pod_disruption_budgets: inner.list::<PodDisruptionBudget>(),
                persistent_volume_claims: inner.list::<PersistentVolumeClaim>(),
                persistent_volumes: inner.list::<PersistentVolume>(),
                storage_classes: inner.list::<StorageClass>(),
                node_overlays: inner.list::<NodeOverlay>(),
            },
            node_classes: inner.node_classes.values().cloned().collect(),
            synced: true,
        });
        inner.cached = Some(Arc::clone(&state));
        state
    }

    fn changes(&self) -> broadcast::Receiver<Notice> {
        self.changes.subscribe()
    }

    async fn create_node_claim(&self, claim: &NodeClaim) -> Result<Arc<NodeClaim>> {
        self.create_claim(claim)
    }

    async fn update_node_claim(&self, claim: &NodeClaim) -> Result<Arc<NodeClaim>> {
        Self::injected(&mut self.lock(), Write::UpdateNodeClaim)?;
        self.update(claim, false)
    }

    async fn update_node_claim_status(&self, claim: &NodeClaim) -> Result<Arc<NodeClaim>> {
        Self::injected(&mut self.lock(), Write::UpdateNodeClaimStatus)?;
        self.update(claim, true)
    }

    async fn delete_node_claim(&self, name: &str) -> Result<()> {
        Self::injected(&mut self.lock(), Write::DeleteNodeClaim)?;
        self.delete_object::<NodeClaim>("", name, None)
    }

    async fn update_node(&self, node: &Node) -> Result<Arc<Node>> {
        Self::injected(&mut self.lock(), Write::UpdateNode)?;
        self.update(node, false)
    }

    async fn delete_node(&self, name: &str) -> Result<()> {
        Self::injected(&mut self.lock(), Write::DeleteNode)?;
        self.delete_object::<Node>("", name, None)
    }

    async fn update_node_pool_status(&self, pool: &NodePool) -> Result<Arc<NodePool>> {
        Self::injected(&mut self.lock(), Write::UpdateNodePoolStatus)?;
        self.update(pool, true)
    }

    async fn evict_pod(&self, namespace: &str, name: &str, uid: &str) -> Result<()> {
        self.evict(namespace, name, uid)
    }

    async fn delete_pod(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        _grace_period_seconds: i64,
    ) -> Result<()> {
        Self::injected(&mut self.lock(), Write::DeletePod)?;
        self.delete_object::<Pod>(namespace, name, Some(uid))
    }

    async fn publish(&self, event: Event) {
        self.lock().events.push(event);
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::policy::v1::{PodDisruptionBudgetSpec, PodDisruptionBudgetStatus};
    use serde_json::json;

    use super::*;
    use crate::clock::TokioClock;

    fn cluster() -> MemoryCluster {
        MemoryCluster::new(Arc::new(TokioClock::starting_at("2026-01-01T00:00:00Z".parse().unwrap())))
    }

    fn pod(name: &str, app: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "shop", "labels": {"app": app}},
            "spec": {"containers": [{"name": "c"}], "nodeName": "n1"}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn updates_carry_the_version_they_were_based_on() {
        let cluster = cluster();
        let mut claim = NodeClaim::new("", Default::default());
        claim.metadata.generate_name = Some("default-".into());
        let created = cluster.create_node_claim(&claim).await.unwrap();
        let name = created.metadata.name.clone().unwrap();
        assert!(name.starts_with("default-") && name.len() == "default-".len() + 5, "{name}");

        let mut labelled = (*created).clone();
        labelled.metadata.labels = Some([("a".to_string(), "b".to_string())].into());
        let updated = cluster.update_node_claim(&labelled).await.unwrap();
        assert_ne!(updated.metadata.resource_version, created.metadata.resource_version);
        // The same edit on the old version is refused.
        let stale = cluster.update_node_claim(&labelled).await.unwrap_err();
        assert!(stale.is_conflict(), "{stale}");

        // A status write keeps the labels; a main write keeps the status.
        let mut with_status = (*updated).clone();
        with_status.status = Some(Default::default());
        with_status.status.as_mut().unwrap().provider_id = Some("fake:///a/i-1".into());
        with_status.metadata.labels = None;
        let after_status = cluster.update_node_claim_status(&with_status).await.unwrap();
        assert_eq!(after_status.metadata.labels, updated.metadata.labels);
        assert_eq!(karpenter_snapshot::claim_provider_id(&after_status), Some("fake:///a/i-1"));
    }

    #[tokio::test]
    async fn finalizers_hold_a_deleted_object_until_they_are_removed() {
        let cluster = cluster();
        let mut node = Node::default();
        node.metadata.name = Some("n1".into());
        node.metadata.finalizers = Some(vec!["karpenter.sh/termination".into()]);
        cluster.apply(node);
        cluster.delete_node("n1").await.unwrap();
        let marked = cluster.get::<Node>("", "n1").expect("held by its finalizer");
        assert!(marked.metadata.deletion_timestamp.is_some());
        let mut released = (*marked).clone();
        released.metadata.finalizers = Some(vec![]);
        cluster.update_node(&released).await.unwrap();
        assert!(cluster.get::<Node>("", "n1").is_none());
        assert!(cluster.delete_node("n1").await.unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn evictions_honour_disruption_budgets() {
        let cluster = cluster();
        let a = cluster.apply(pod("a", "web"));
        let b = cluster.apply(pod("b", "web"));
        let c = cluster.apply(pod("c", "db"));
        let pdb = |name: &str, app: &str, allowed: i32| PodDisruptionBudget {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("shop".into()),
                ..Default::default()
            },
            spec: Some(PodDisruptionBudgetSpec {
                selector: Some(LabelSelector {
                    match_labels: Some([("app".to_string(), app.to_string())].into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: Some(PodDisruptionBudgetStatus {
                disruptions_allowed: Some(allowed),
                ..Default::default()
            }),
        };
        cluster.apply(pdb("web", "web", 1));
        let uid = |p: &Arc<Pod>| p.metadata.uid.clone().unwrap();
        cluster.evict_pod("shop", "a", &uid(&a)).await.unwrap();
        assert!(cluster.get::<Pod>("shop", "a").is_none());
        let refused = cluster.evict_pod("shop", "b", &uid(&b)).await.unwrap_err();
        assert!(matches!(refused, StoreError::EvictionRefused { .. }), "{refused}");
        assert!(cluster.evict_pod("shop", "b", "other-uid").await.unwrap_err().is_conflict());
        // A pod under two budgets cannot be evicted at all.
        cluster.apply(pdb("db-1", "db", 5));
        cluster.apply(pdb("db-2", "db", 5));
        let refused = cluster.evict_pod("shop", "c", &uid(&c)).await.unwrap_err().to_string();
        assert!(refused.contains("more than one PodDisruptionBudget"), "{refused}");
    }
}
