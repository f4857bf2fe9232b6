//! The store on a real API server: one watcher per kind (`kube::runtime::watcher`, with kube's default backoff,
//! so watches resume by themselves after the API server restarts) keeps an in-memory copy of every object, and
//! writes go through `kube::Api`. What a write returns is put into the copy at once, so the reconcilers read their
//! own writes without waiting for the watch (upstream's cluster state does the same for the NodeClaims it
//! creates). `managedFields` are dropped on the way in: the controller never reads them and they are most of a
//! pod's size.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Namespace, Node, ObjectReference, PersistentVolume, PersistentVolumeClaim, Pod,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use karpenter_api::{Condition, NodeClaim, NodeOverlay, NodePool};
use karpenter_cloud::NodeClassKind;
use kube::api::{Api, DeleteParams, DynamicObject, EvictParams, PostParams, Preconditions};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::WatchStreamExt;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::watcher::{self, Event as WatchEvent};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;

use super::{Change, Cluster, ClusterState, Kind, NodeClass, Notice, Result, StoreError};
use crate::events::{Event, EventType as OurEventType};

type Objects<T> = BTreeMap<(String, String), Arc<T>>;

/// Events published at once.
const EVENTS_IN_FLIGHT: usize = 16;

#[derive(Default)]
struct Cache {
    pods: Objects<Pod>,
    nodes: Objects<Node>,
    node_claims: Objects<NodeClaim>,
    node_pools: Objects<NodePool>,
    daemon_sets: Objects<DaemonSet>,
    namespaces: Objects<Namespace>,
    pdbs: Objects<PodDisruptionBudget>,
    pvcs: Objects<PersistentVolumeClaim>,
    pvs: Objects<PersistentVolume>,
    storage_classes: Objects<StorageClass>,
    node_overlays: Objects<NodeOverlay>,
    node_classes: BTreeMap<(String, String, String), Arc<NodeClass>>,
    /// Watches that have listed once, by name.
    synced: BTreeSet<String>,
    state: Option<Arc<ClusterState>>,
}

/// A kind the store watches and keeps.
trait Kept: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static {
    const KIND: Kind;
    fn slot(cache: &mut Cache) -> &mut Objects<Self>;
}

macro_rules! kept {
    ($type:ty, $kind:expr, $field:ident) => {
        impl Kept for $type {
            const KIND: Kind = $kind;
            fn slot(cache: &mut Cache) -> &mut Objects<Self> {
                &mut cache.$field
            }
        }
    };
}

kept!(Pod, Kind::Pod, pods);
kept!(Node, Kind::Node, nodes);
kept!(NodeClaim, Kind::NodeClaim, node_claims);
kept!(NodePool, Kind::NodePool, node_pools);
kept!(DaemonSet, Kind::DaemonSet, daemon_sets);
kept!(Namespace, Kind::Namespace, namespaces);
kept!(PodDisruptionBudget, Kind::PodDisruptionBudget, pdbs);
kept!(PersistentVolumeClaim, Kind::PersistentVolumeClaim, pvcs);
kept!(PersistentVolume, Kind::PersistentVolume, pvs);
kept!(StorageClass, Kind::StorageClass, storage_classes);
kept!(NodeOverlay, Kind::NodeOverlay, node_overlays);

fn values<T>(objects: &Objects<T>) -> Vec<Arc<T>> {
    objects.values().cloned().collect()
}

fn key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (String, String) {
    (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default())
}

/// Whether `incoming` is older than what is kept: resource versions are etcd revisions, so a smaller number is an
/// older version (a watch event that arrives after our own write's answer).
fn older(incoming: Option<&str>, kept: Option<&str>) -> bool {
    match (incoming.and_then(|v| v.parse::<u64>().ok()), kept.and_then(|v| v.parse::<u64>().ok())) {
        (Some(incoming), Some(kept)) => incoming < kept,
        _ => false,
    }
}

struct Shared {
    cache: Mutex<Cache>,
    changes: broadcast::Sender<Notice>,
    watches: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn notify(&self, kind: Kind, key: &(String, String)) {
        let namespace = (!key.0.is_empty()).then(|| key.0.clone());
        let _ = self.changes.send(Notice::Changed(Change { kind, namespace, name: key.1.clone() }));
    }

    /// Keeps an object, unless an newer version is kept already.
    fn keep<T: Kept>(&self, mut object: T) -> Arc<T> {
        object.meta_mut().managed_fields = None;
        let key = key(object.meta());
        let mut cache = self.lock();
        let slot = T::slot(&mut cache);
        if let Some(kept) = slot.get(&key)
            && older(object.meta().resource_version.as_deref(), kept.meta().resource_version.as_deref())
        {
            return Arc::clone(kept);
        }
        let object = Arc::new(object);
        slot.insert(key.clone(), Arc::clone(&object));
        cache.state = None;
        drop(cache);
        self.notify(T::KIND, &key);
        object
    }

    fn forget<T: Kept>(&self, key: &(String, String)) {
        let mut cache = self.lock();
        if T::slot(&mut cache).remove(key).is_some() {
            cache.state = None;
            drop(cache);
            self.notify(T::KIND, key);
        }
    }
}

/// The store on a real API server.
#[derive(Clone)]
pub struct KubeCluster {
    client: kube::Client,
    shared: Arc<Shared>,
    recorder: Recorder,
    /// Events are published in the background, this many at once, so that a round that nominates a thousand pods
    /// does not wait for a thousand API calls.
    events_in_flight: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for KubeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeCluster").finish_non_exhaustive()
    }
}

fn api_error(object: String, error: kube::Error) -> StoreError {
    match error {
        kube::Error::Api(status) => match status.code {
            404 => StoreError::NotFound { object },
            409 if status.is_already_exists() => StoreError::AlreadyExists { object },
            409 => StoreError::Conflict { object, message: status.message.clone() },
            400 | 422 => StoreError::Invalid { object, message: status.message.clone() },
            code => StoreError::Api { message: format!("{object}: {} ({code})", status.message) },
        },
        other => StoreError::Api { message: format!("{object}: {other}") },
    }
}

/// The plural resource name of a node-class kind: `KWOKNodeClass` is served as `kwoknodeclasses`.
fn plural(kind: &str) -> String {
    let lower = kind.to_lowercase();
    if lower.ends_with('s') { format!("{lower}es") } else { format!("{lower}s") }
}

fn node_class_of(kind: &NodeClassKind, object: &DynamicObject) -> NodeClass {
    let ready = object
        .data
        .get("status")
        .and_then(|s| s.get("conditions"))
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
        .find(|c| c.get("type").and_then(|t| t.as_str()) == Some("Ready"))
        .and_then(|c| serde_json::from_value::<Condition>(c.clone()).ok());
    NodeClass {
        group: kind.group.clone(),
        kind: kind.kind.clone(),
        name: object.name_any(),
        deleting: object.metadata.deletion_timestamp.is_some(),
        ready,
    }
}

impl KubeCluster {
    /// A store on the cluster of `client`, watching the provider's node classes too, publishing events as
    /// `reporter` (the controller's name and its pod's). Its watches start at once,
    /// on the current tokio runtime, and run as long as the runtime does; [`ClusterState::synced`] turns true
    /// once every kind has been listed. NodeOverlays are watched only when `node_overlays` is set (the
    /// `NodeOverlay` feature gate), since their CRD may not be installed otherwise.
    pub fn start(
        client: kube::Client,
        node_classes: &[NodeClassKind],
        node_overlays: bool,
        reporter: Reporter,
    ) -> Self {
        let (changes, _) = broadcast::channel(64 * 1024);
        let shared = Arc::new(Shared {
            cache: Mutex::new(Cache::default()),
            changes,
            watches: 10 + node_classes.len() + usize::from(node_overlays),
        });
        let store = KubeCluster {
            recorder: Recorder::new(client.clone(), reporter),
            client: client.clone(),
            shared,
            events_in_flight: Arc::new(tokio::sync::Semaphore::new(EVENTS_IN_FLIGHT)),
        };
        store.watch::<Pod>("pods");
        store.watch::<Node>("nodes");
        store.watch::<NodeClaim>("nodeclaims");
        store.watch::<NodePool>("nodepools");
        store.watch::<DaemonSet>("daemonsets");
        store.watch::<Namespace>("namespaces");
        store.watch::<PodDisruptionBudget>("poddisruptionbudgets");
        store.watch::<PersistentVolumeClaim>("persistentvolumeclaims");
        store.watch::<PersistentVolume>("persistentvolumes");
        store.watch::<StorageClass>("storageclasses");
        if node_overlays {
            store.watch::<NodeOverlay>("nodeoverlays");
        }
        for kind in node_classes {
            store.watch_node_class(kind.clone());
        }
        store
    }

    /// Waits until every kind has been listed once.
    pub async fn wait_synced(&self) {
        let mut changes = self.shared.changes.subscribe();
        while !self.state().synced {
            let _ = tokio::time::timeout(std::time::Duration::from_millis(200), changes.recv()).await;
        }
    }

    fn watch<T: Kept>(&self, name: &'static str) {
        let shared = Arc::clone(&self.shared);
        let api: Api<T> = Api::all(self.client.clone());
        tokio::spawn(async move {
            let mut stream = watcher::watcher(api, watcher::Config::default()).default_backoff().boxed();
            let mut buffer: Option<Objects<T>> = None;
            while let Some(event) = stream.next().await {
                match event {
                    Ok(WatchEvent::Init) => buffer = Some(BTreeMap::new()),
                    Ok(WatchEvent::InitApply(mut object)) => {
                        object.meta_mut().managed_fields = None;
                        buffer.get_or_insert_with(BTreeMap::new).insert(key(object.meta()), Arc::new(object));
                    }
                    Ok(WatchEvent::InitDone) => {
                        let listed = buffer.take().unwrap_or_default();
                        let mut cache = shared.lock();
                        *T::slot(&mut cache) = listed;
                        cache.synced.insert(name.to_string());
                        cache.state = None;
                        drop(cache);
                        tracing::debug!(kind = name, "listed");
                        let _ = shared.changes.send(Notice::Resync);
                    }
                    Ok(WatchEvent::Apply(object)) => {
                        shared.keep(object);
                    }
                    Ok(WatchEvent::Delete(object)) => shared.forget::<T>(&key(object.meta())),
                    Err(error) => tracing::warn!(kind = name, %error, "watch failed; retrying"),
                }
            }
        });
    }

    fn watch_node_class(&self, kind: NodeClassKind) {
        let shared = Arc::clone(&self.shared);
        let gvk = GroupVersionKind::gvk(&kind.group, &kind.version, &kind.kind);
        let resource = ApiResource::from_gvk_with_plural(&gvk, &plural(&kind.kind));
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource);
        let name = format!("{}.{}", plural(&kind.kind), kind.group);
        tokio::spawn(async move {
            let mut stream = watcher::watcher(api, watcher::Config::default()).default_backoff().boxed();
            let mut buffer: Option<Vec<NodeClass>> = None;
            let key_of = |c: &NodeClass| (c.group.clone(), c.kind.clone(), c.name.clone());
            while let Some(event) = stream.next().await {
                let mut cache = shared.lock();
                match event {
                    Ok(WatchEvent::Init) => buffer = Some(Vec::new()),
                    Ok(WatchEvent::InitApply(object)) => {
                        buffer.get_or_insert_with(Vec::new).push(node_class_of(&kind, &object));
                    }
                    Ok(WatchEvent::InitDone) => {
                        cache.node_classes.retain(|(g, k, _), _| *g != kind.group || *k != kind.kind);
                        for class in buffer.take().unwrap_or_default() {
                            cache.node_classes.insert(key_of(&class), Arc::new(class));
                        }
                        cache.synced.insert(name.clone());
                        cache.state = None;
                        drop(cache);
                        let _ = shared.changes.send(Notice::Resync);
                        continue;
                    }
                    Ok(WatchEvent::Apply(object)) => {
                        let class = node_class_of(&kind, &object);
                        let changed_name = class.name.clone();
                        cache.node_classes.insert(key_of(&class), Arc::new(class));
                        cache.state = None;
                        drop(cache);
                        shared.notify(Kind::NodeClass, &(String::new(), changed_name));
                        continue;
                    }
                    Ok(WatchEvent::Delete(object)) => {
                        let class = node_class_of(&kind, &object);
                        cache.node_classes.remove(&key_of(&class));
                        cache.state = None;
                        drop(cache);
                        shared.notify(Kind::NodeClass, &(String::new(), class.name));
                        continue;
                    }
                    Err(error) => tracing::warn!(kind = %name, %error, "watch failed; retrying"),
                }
            }
        });
    }

    async fn delete<T: Kept>(&self, name: &str, object: String) -> Result<()> {
        let api: Api<T> = Api::all(self.client.clone());
        match api.delete(name, &DeleteParams::default()).await {
            Ok(either) => {
                match either.left() {
                    Some(marked) => {
                        self.shared.keep(marked);
                    }
                    None => self.shared.forget::<T>(&(String::new(), name.to_string())),
                }
                Ok(())
            }
            Err(error) => Err(api_error(object, error)),
        }
    }

    async fn replace<T: Kept + serde::Serialize>(&self, object: &T, status: bool) -> Result<Arc<T>> {
        let name = object.name_any();
        let shown = format!("{}/{name}", T::kind(&()));
        // Only cluster-scoped kinds (NodeClaims, nodes, NodePools) are replaced.
        let api: Api<T> = Api::all(self.client.clone());
        let result = if status {
            api.replace_status(&name, &PostParams::default(), object).await
        } else {
            api.replace(&name, &PostParams::default(), object).await
        };
        match result {
            Ok(updated) => Ok(self.shared.keep(updated)),
            Err(error) => Err(api_error(shown, error)),
        }
    }
}

impl Cluster for KubeCluster {
    fn state(&self) -> Arc<ClusterState> {
        let mut cache = self.shared.lock();
        if let Some(state) = &cache.state {
            return Arc::clone(state);
        }
        let state = Arc::new(ClusterState {
            objects: karpenter_snapshot::Snapshot {
                pods: values(&cache.pods),
                nodes: values(&cache.nodes),
                node_claims: values(&cache.node_claims),
                node_pools: values(&cache.node_pools),
                node_classes: Vec::new(),
                daemon_sets: values(&cache.daemon_sets),
                namespaces: values(&cache.namespaces),
                pod_disruption_budgets: values(&cache.pdbs),
                persistent_volume_claims: values(&cache.pvcs),
                persistent_volumes: values(&cache.pvs),
                storage_classes: values(&cache.storage_classes),
                node_overlays: values(&cache.node_overlays),
            },
            node_classes: cache.node_classes.values().cloned().collect(),
            synced: cache.synced.len() >= self.shared.watches,
        });
        cache.state = Some(Arc::clone(&state));
        state
    }

    fn changes(&self) -> broadcast::Receiver<Notice> {
        self.shared.changes.subscribe()
    }

    async fn create_node_claim(&self, claim: &NodeClaim) -> Result<Arc<NodeClaim>> {
        let api: Api<NodeClaim> = Api::all(self.client.clone());
        let shown = format!(
            "NodeClaim/{}",
            claim.metadata.name.as_deref().or(claim.metadata.generate_name.as_deref()).unwrap_or_default()
        );
        match api.create(&PostParams::default(), claim).await {
            Ok(created) => Ok(self.shared.keep(created)),
            Err(error) => Err(api_error(shown, error)),
        }
    }

    async fn update_node_claim(&self, claim: &NodeClaim) -> Result<Arc<NodeClaim>> {
        self.replace(claim, false).await
    }

    async fn update_node_claim_status(&self, claim: &NodeClaim) -> Result<Arc<NodeClaim>> {
        self.replace(claim, true).await
    }

    async fn delete_node_claim(&self, name: &str) -> Result<()> {
        self.delete::<NodeClaim>(name, format!("NodeClaim/{name}")).await
    }

    async fn update_node(&self, node: &Node) -> Result<Arc<Node>> {
        self.replace(node, false).await
    }

    async fn delete_node(&self, name: &str) -> Result<()> {
        self.delete::<Node>(name, format!("Node/{name}")).await
    }

    async fn update_node_pool_status(&self, pool: &NodePool) -> Result<Arc<NodePool>> {
        self.replace(pool, true).await
    }

    async fn evict_pod(&self, namespace: &str, name: &str, uid: &str) -> Result<()> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let params = EvictParams {
            delete_options: Some(DeleteParams {
                preconditions: Some(Preconditions { uid: Some(uid.to_string()), resource_version: None }),
                ..DeleteParams::default()
            }),
            post_options: PostParams::default(),
        };
        let pod = format!("{namespace}/{name}");
        match api.evict(name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 429 => {
                Err(StoreError::EvictionRefused { pod, message: status.message.clone() })
            }
            Err(kube::Error::Api(status)) if status.message.contains("more than one PodDisruptionBudget") => {
                Err(StoreError::EvictionRefused { pod, message: status.message.clone() })
            }
            Err(error) => Err(api_error(format!("Pod/{pod}"), error)),
        }
    }

    async fn delete_pod(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        grace_period_seconds: i64,
    ) -> Result<()> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let params = DeleteParams {
            grace_period_seconds: u32::try_from(grace_period_seconds.max(1)).ok(),
            preconditions: Some(Preconditions { uid: Some(uid.to_string()), resource_version: None }),
            ..DeleteParams::default()
        };
        match api.delete(name, &params).await {
            Ok(_) => Ok(()),
            Err(error) => Err(api_error(format!("Pod/{namespace}/{name}"), error)),
        }
    }

    async fn publish(&self, event: Event) {
        let regarding = ObjectReference {
            api_version: Some(event.regarding.api_version.clone()),
            kind: Some(event.regarding.kind.clone()),
            name: Some(event.regarding.name.clone()),
            namespace: event.regarding.namespace.clone(),
            uid: event.regarding.uid.clone(),
            ..ObjectReference::default()
        };
        let mut note = event.message.clone();
        if note.len() > 1000 {
            let mut end = 1000;
            while !note.is_char_boundary(end) {
                end -= 1;
            }
            note.truncate(end);
        }
        let published = KubeEvent {
            type_: match event.type_ {
                OurEventType::Normal => EventType::Normal,
                OurEventType::Warning => EventType::Warning,
            },
            reason: event.reason.clone(),
            // kube's recorder folds events with the same reason and action about one object into one series,
            // keeping the first note: the action carries a digest of the note so that a new message (another
            // reason a node is kept, another reason a pod does not fit) is a new event, as client-go's correlator
            // keys its aggregation by message too.
            action: format!("{}-{:016x}", event.reason, {
                use std::hash::{Hash, Hasher};
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                note.hash(&mut hasher);
                hasher.finish()
            }),
            note: Some(note),
            secondary: None,
        };
        let recorder = self.recorder.clone();
        let permits = Arc::clone(&self.events_in_flight);
        tokio::spawn(async move {
            let Ok(_permit) = permits.acquire().await else { return };
            if let Err(error) = recorder.publish(&published, &regarding).await {
                tracing::warn!(%error, event = %event, "publishing an event failed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_class_kinds_are_served_under_their_plurals() {
        assert_eq!(plural("KWOKNodeClass"), "kwoknodeclasses");
        assert_eq!(plural("EC2NodeClass"), "ec2nodeclasses");
        assert_eq!(plural("Widget"), "widgets");
    }

    #[test]
    fn a_smaller_resource_version_is_older() {
        assert!(older(Some("41"), Some("42")));
        assert!(!older(Some("43"), Some("42")));
        assert!(!older(Some("x"), Some("42")), "versions that are not numbers are never second-guessed");
        assert!(!older(Some("1"), None));
    }
}
