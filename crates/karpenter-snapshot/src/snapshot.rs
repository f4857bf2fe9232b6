//! A cluster's objects at one moment, and the solver's [`Problem`] for a provisioning round over them
//! (`kubernetes-sigs/karpenter: pkg/controllers/provisioning/provisioner.go` `Schedule`, `GetPendingPods`,
//! `NewScheduler`).
//!
//! Objects are held behind `Arc`s, so a controller can take a snapshot of its reflector stores without copying
//! them, and `karpenter plan` can fill one from files with [`Snapshot::add`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::jiff::Timestamp;
use karpenter_api::{EC2NodeClass, NodeClaim, NodePool};
use karpenter_catalog::{Catalog, NodeClassSettings};
use karpenter_solver::model::{self, ExistingNode, InstanceType, Problem};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::daemonset::{daemon_set_pod, daemon_set_ref, newest_pod};
use crate::disruption::PdbLimits;
use crate::node::{
    claim_provider_id, map_node, map_node_claim, node_claim_ref, node_provider_id, node_ref, node_tracked,
};
use crate::nodeclass::{ProviderFlags, node_class_ref, node_class_settings};
use crate::nodepool::{map_namespace, map_node_pool, node_pool_in_round, node_pool_ref};
use crate::pod::{is_provisionable, map_pod, node_name, object_ref};
use crate::report::{Error, ObjectRef, Report};
use crate::volume::{VolumeObjects, volume_topology};

/// The objects of a cluster that provisioning reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every pod, pending and bound.
    pub pods: Vec<Arc<Pod>>,
    /// Nodes.
    pub nodes: Vec<Arc<Node>>,
    /// NodeClaims.
    pub node_claims: Vec<Arc<NodeClaim>>,
    /// NodePools.
    pub node_pools: Vec<Arc<NodePool>>,
    /// EC2NodeClasses.
    pub node_classes: Vec<Arc<EC2NodeClass>>,
    /// DaemonSets.
    pub daemon_sets: Vec<Arc<DaemonSet>>,
    /// Namespaces.
    pub namespaces: Vec<Arc<Namespace>>,
    /// PodDisruptionBudgets.
    pub pod_disruption_budgets: Vec<Arc<PodDisruptionBudget>>,
    /// PersistentVolumeClaims.
    pub persistent_volume_claims: Vec<Arc<PersistentVolumeClaim>>,
    /// PersistentVolumes.
    pub persistent_volumes: Vec<Arc<PersistentVolume>>,
    /// StorageClasses.
    pub storage_classes: Vec<Arc<StorageClass>>,
    /// NodeOverlays.
    pub node_overlays: Vec<Arc<karpenter_api::NodeOverlay>>,
}

/// Settings of one provisioning round.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundOptions {
    /// The time of the round, for `karpenter.sh/do-not-disrupt` durations.
    pub now: Timestamp,
    /// Leave out NodePools whose `Ready` condition is not `True`, as the controller does. `karpenter plan` reads
    /// NodePools without status from files and turns this off.
    pub require_ready_node_pools: bool,
}

/// A provisioning round's problem, and every object that was left out of it.
#[derive(Debug, Clone, Default)]
pub struct Round {
    /// The solver's input. Instance types are the caller's, per NodePool (`pool_instance_types`).
    pub problem: Problem,
    /// The objects left out, each with the field and the reason, in the order they were met.
    pub reports: Vec<Report>,
}

/// The nodes of cluster state, with the name of the Node each stands for (none for an in-flight NodeClaim).
struct StateNodes {
    nodes: Vec<(Option<String>, ExistingNode)>,
    reports: Vec<Report>,
}

impl VolumeObjects for Snapshot {
    fn persistent_volume_claim(&self, namespace: &str, name: &str) -> Option<&PersistentVolumeClaim> {
        self.persistent_volume_claims
            .iter()
            .find(|c| {
                c.metadata.name.as_deref() == Some(name)
                    && c.metadata.namespace.as_deref().unwrap_or("default") == namespace
            })
            .map(|c| &**c)
    }

    fn persistent_volume(&self, name: &str) -> Option<&PersistentVolume> {
        self.persistent_volumes.iter().find(|v| v.metadata.name.as_deref() == Some(name)).map(|v| &**v)
    }

    fn storage_class(&self, name: &str) -> Option<&StorageClass> {
        self.storage_classes.iter().find(|c| c.metadata.name.as_deref() == Some(name)).map(|c| &**c)
    }
}

fn read<T: DeserializeOwned>(value: Value) -> Result<Arc<T>, Error> {
    serde_json::from_value(value).map(Arc::new).map_err(|e| Error::Malformed { reason: e.to_string() })
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Self {
        Snapshot::default()
    }

    /// Adds one object given as JSON (a YAML document read into a `serde_json::Value`), by its `apiVersion`
    /// and `kind`; a `List` adds each item. Kinds provisioning does not read are reported as skipped, as is an
    /// object that does not read as its kind. Every item of a list is added or reported on its own.
    pub fn add(&mut self, object: Value) -> Vec<Report> {
        let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
        let metadata = object.get("metadata");
        let name = metadata.and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or_default();
        let namespace = metadata.and_then(|m| m.get("namespace")).and_then(Value::as_str);
        let object_ref = ObjectRef {
            kind: if kind.is_empty() { "Object".into() } else { kind.clone() },
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        };
        let result = match (api_version.as_str(), kind.as_str()) {
            ("v1", "List") => {
                let items = object.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
                return items.into_iter().flat_map(|item| self.add(item)).collect();
            }
            ("v1", "Pod") => read(object).map(|o| self.pods.push(o)),
            ("v1", "Node") => read(object).map(|o| self.nodes.push(o)),
            ("v1", "Namespace") => read(object).map(|o| self.namespaces.push(o)),
            ("v1", "PersistentVolumeClaim") => read(object).map(|o| self.persistent_volume_claims.push(o)),
            ("v1", "PersistentVolume") => read(object).map(|o| self.persistent_volumes.push(o)),
            ("apps/v1", "DaemonSet") => read(object).map(|o| self.daemon_sets.push(o)),
            ("policy/v1", "PodDisruptionBudget") => read(object).map(|o| self.pod_disruption_budgets.push(o)),
            ("storage.k8s.io/v1", "StorageClass") => read(object).map(|o| self.storage_classes.push(o)),
            ("karpenter.sh/v1", "NodePool") => read(object).map(|o| self.node_pools.push(o)),
            ("karpenter.sh/v1", "NodeClaim") => read(object).map(|o| self.node_claims.push(o)),
            ("karpenter.k8s.aws/v1", "EC2NodeClass") => read(object).map(|o| self.node_classes.push(o)),
            ("karpenter.sh/v1alpha1", "NodeOverlay") => read(object).map(|o| self.node_overlays.push(o)),
            _ => Err(Error::skipped(format!("{api_version} {kind} is not read by provisioning"))),
        };
        result.err().map(|error| Report::new(object_ref, error)).into_iter().collect()
    }

    /// The NodeOverlays as the solver reads them, and a report for each that cannot be read. The caller sets them
    /// on a round's problem (`Problem::node_overlays`) when the `NodeOverlay` gate is on.
    pub fn node_overlays(&self) -> (Vec<model::NodeOverlay>, Vec<Report>) {
        let mut overlays = Vec::new();
        let mut reports = Vec::new();
        for overlay in &self.node_overlays {
            match crate::nodepool::map_node_overlay(overlay) {
                Ok(mapped) => overlays.push(mapped),
                Err(error) => reports.push(Report::new(
                    ObjectRef::cluster("NodeOverlay", overlay.metadata.name.as_deref().unwrap_or_default()),
                    error,
                )),
            }
        }
        (overlays, reports)
    }

    /// The pods a round provisions for (see [`crate::pod::is_provisionable`]), in snapshot order.
    pub fn provisionable_pods(&self) -> impl Iterator<Item = &Pod> {
        self.pods.iter().map(|p| &**p).filter(|p| is_provisionable(p))
    }

    /// Maps a pod that needs a place: its constraints and its volume topology.
    pub fn map_pending_pod(&self, pod: &Pod) -> Result<model::Pod, Error> {
        let mut mapped = map_pod(pod)?;
        mapped.volume_topology = volume_topology(pod, self)?;
        Ok(mapped)
    }

    /// Cluster state's nodes: each tracked Node with its NodeClaim (joined by provider id) and bound pods, then
    /// each launched NodeClaim that has no Node yet.
    fn state_nodes(&self) -> StateNodes {
        let mut reports = Vec::new();
        let mut claims: BTreeMap<&str, &NodeClaim> = BTreeMap::new();
        let mut unlaunched: Vec<&NodeClaim> = Vec::new();
        for claim in &self.node_claims {
            match claim_provider_id(claim) {
                None => unlaunched.push(claim),
                Some(id) => {
                    if let Some(first) = claims.get(id) {
                        let reason =
                            format!("provider id {id} is already NodeClaim {}'s", node_claim_ref(first).name);
                        reports.push(Report::new(
                            node_claim_ref(claim),
                            Error::invalid("status.providerID", reason),
                        ));
                    } else {
                        claims.insert(id, claim);
                    }
                }
            }
        }
        let mut bound: BTreeMap<&str, Vec<&Pod>> = BTreeMap::new();
        for pod in &self.pods {
            if let Some(node) = node_name(pod) {
                bound.entry(node).or_default().push(pod);
            }
        }
        let mut nodes = Vec::new();
        let mut joined: BTreeSet<&str> = BTreeSet::new();
        let mut keys: BTreeSet<String> = BTreeSet::new();
        for node in &self.nodes {
            if let Err(error) = node_tracked(node) {
                reports.push(Report::new(node_ref(node), error));
                continue;
            }
            let name = node.metadata.name.as_deref().unwrap_or_default();
            // An unmanaged node without a provider id is known by its name.
            let key = node_provider_id(node).unwrap_or(name);
            if !keys.insert(key.to_string()) {
                let reason = format!("another node has provider id {key}");
                reports.push(Report::new(node_ref(node), Error::invalid("spec.providerID", reason)));
                continue;
            }
            let claim = claims.get(key).copied();
            let mut pods = Vec::new();
            for pod in bound.get(name).into_iter().flatten() {
                match map_pod(pod) {
                    Ok(mapped) => pods.push(mapped),
                    Err(error) => reports.push(Report::new(object_ref(pod), error)),
                }
            }
            match map_node(node, claim, pods) {
                Ok(mapped) => {
                    if claim.is_some() {
                        joined.insert(key);
                    }
                    nodes.push((Some(name.to_string()), mapped));
                }
                Err(error) => reports.push(Report::new(node_ref(node), error)),
            }
        }
        let in_flight = claims.iter().filter(|(id, _)| !joined.contains(*id)).map(|(_, c)| *c);
        for claim in in_flight.chain(unlaunched) {
            match map_node_claim(claim) {
                Ok(mapped) => nodes.push((None, mapped)),
                Err(error) => reports.push(Report::new(node_claim_ref(claim), error)),
            }
        }
        StateNodes { nodes, reports }
    }

    /// Cluster state's nodes as the solver sees them: Nodes (with their NodeClaims) and in-flight NodeClaims.
    pub fn existing_nodes(&self) -> (Vec<ExistingNode>, Vec<Report>) {
        let state = self.state_nodes();
        (state.nodes.into_iter().map(|(_, node)| node).collect(), state.reports)
    }

    /// The NodePools of a round (see [`crate::nodepool::node_pool_in_round`]).
    pub fn round_node_pools(&self, require_ready: bool) -> (Vec<model::NodePool>, Vec<Report>) {
        let mut pools = Vec::new();
        let mut reports = Vec::new();
        for pool in &self.node_pools {
            match node_pool_in_round(pool, require_ready).and_then(|()| map_node_pool(pool)) {
                Ok(mapped) => pools.push(mapped),
                Err(error) => reports.push(Report::new(node_pool_ref(pool), error)),
            }
        }
        (pools, reports)
    }

    /// One pod per DaemonSet (see [`crate::daemonset::daemon_set_pod`]).
    pub fn daemon_set_pods(&self) -> (Vec<model::Pod>, Vec<Report>) {
        let mut pods = Vec::new();
        let mut reports = Vec::new();
        for daemon_set in &self.daemon_sets {
            let live = newest_pod(daemon_set, self.pods.iter().map(|p| &**p));
            match daemon_set_pod(daemon_set, live) {
                Ok(pod) => pods.push(pod),
                Err(error) => reports.push(Report::new(daemon_set_ref(daemon_set), error)),
            }
        }
        (pods, reports)
    }

    /// Every namespace.
    pub fn model_namespaces(&self) -> (Vec<model::Namespace>, Vec<Report>) {
        let mut namespaces = Vec::new();
        let mut reports = Vec::new();
        for namespace in &self.namespaces {
            match map_namespace(namespace) {
                Ok(mapped) => namespaces.push(mapped),
                Err(error) => {
                    let name = namespace.metadata.name.as_deref().unwrap_or_default();
                    reports.push(Report::new(ObjectRef::cluster("Namespace", name), error));
                }
            }
        }
        (namespaces, reports)
    }

    /// The settings of the EC2NodeClass a NodePool names, or why there are none.
    pub fn node_class_settings(
        &self,
        pool: &NodePool,
        flags: &ProviderFlags,
    ) -> Result<NodeClassSettings, Box<Report>> {
        let reference = &pool.spec.template.spec.node_class_ref;
        if reference.group != karpenter_api::labels::AWS_GROUP || reference.kind != "EC2NodeClass" {
            let reason = format!("node class {}/{} is not an EC2NodeClass", reference.group, reference.kind);
            return Err(Box::new(Report::new(
                node_pool_ref(pool),
                Error::Unsupported { field: "spec.template.spec.nodeClassRef".into(), reason },
            )));
        }
        let class = self
            .node_classes
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(reference.name.as_str()))
            .ok_or_else(|| {
                let reason = format!("EC2NodeClass {} not found", reference.name);
                Box::new(Report::new(
                    node_pool_ref(pool),
                    Error::invalid("spec.template.spec.nodeClassRef.name", reason),
                ))
            })?;
        node_class_settings(class, flags).map_err(|error| Box::new(Report::new(node_class_ref(class), error)))
    }

    /// Each NodePool's instance types from a catalog, shaped by its EC2NodeClass: what an AWS cloud provider
    /// answers, for callers without one (`karpenter plan`, tests). A NodePool whose class cannot be read gets no
    /// entry and is reported.
    pub fn catalog_instance_types(
        &self,
        catalog: &Catalog,
        flags: &ProviderFlags,
    ) -> (BTreeMap<String, Vec<Arc<InstanceType>>>, Vec<Report>) {
        let mut types = BTreeMap::new();
        let mut reports = Vec::new();
        // NodePools of the same class share one list: the solver compiles each instance type once.
        let mut built: Vec<(karpenter_catalog::NodeClassSettings, Vec<Arc<InstanceType>>)> = Vec::new();
        for pool in &self.node_pools {
            let Some(name) = pool.metadata.name.clone() else { continue };
            let settings = match self.node_class_settings(pool, flags) {
                Ok(settings) => settings,
                Err(report) => {
                    reports.push(*report);
                    continue;
                }
            };
            if let Some((_, list)) = built.iter().find(|(known, _)| *known == settings) {
                types.insert(name, list.clone());
                continue;
            }
            match catalog.instance_types(&settings) {
                Ok(list) => {
                    let list: Vec<Arc<InstanceType>> = list.into_iter().map(Arc::new).collect();
                    built.push((settings, list.clone()));
                    types.insert(name, list);
                }
                Err(error) => {
                    let class = &pool.spec.template.spec.node_class_ref.name;
                    let (field, reason) = match error {
                        karpenter_catalog::CatalogError::Setting { field, reason } => {
                            (format!("spec.{field}"), reason)
                        }
                        other => ("spec".to_string(), other.to_string()),
                    };
                    reports.push(Report::new(
                        ObjectRef::cluster("EC2NodeClass", class),
                        Error::invalid(field, reason),
                    ));
                }
            }
        }
        (types, reports)
    }

    /// The solver's problem for one provisioning round: the provisionable pods and the reschedulable pods of
    /// nodes marked for deletion (each with its volume topology), cluster state's nodes, the NodePools of the
    /// round, one pod per DaemonSet, the namespaces, and the caller's instance types per NodePool. Every object
    /// that could not be mapped is reported and left out; the rest is mapped as usual.
    pub fn provisioning_round(
        &self,
        instance_types: BTreeMap<String, Vec<Arc<InstanceType>>>,
        options: &RoundOptions,
    ) -> Round {
        let mut reports = Vec::new();
        // Nodes are read before pods, as upstream lists them first: a pod that binds meanwhile is then counted
        // as pending rather than as room taken, which errs towards too little capacity, never too much.
        let state = self.state_nodes();
        reports.extend(state.reports);
        let mut pods = Vec::new();
        for pod in self.provisionable_pods() {
            match self.map_pending_pod(pod) {
                Ok(mapped) => pods.push(mapped),
                Err(error) => reports.push(Report::new(object_ref(pod), error)),
            }
        }
        let deleting: BTreeSet<&str> = state
            .nodes
            .iter()
            .filter(|(_, n)| n.marked_for_deletion)
            .filter_map(|(name, _)| name.as_deref())
            .collect();
        if !deleting.is_empty() {
            let (limits, pdb_reports) = PdbLimits::new(self.pod_disruption_budgets.iter().map(|p| &**p));
            reports.extend(pdb_reports);
            let moving = self.pods.iter().filter(|p| node_name(p).is_some_and(|n| deleting.contains(n)));
            for pod in moving.filter(|p| limits.is_currently_reschedulable(p, options.now)) {
                match self.map_pending_pod(pod) {
                    Ok(mapped) => pods.push(mapped),
                    Err(error) => reports.push(Report::new(object_ref(pod), error)),
                }
            }
        }
        let (node_pools, pool_reports) = self.round_node_pools(options.require_ready_node_pools);
        reports.extend(pool_reports);
        let (daemon_set_pods, daemon_reports) = self.daemon_set_pods();
        reports.extend(daemon_reports);
        let (namespaces, namespace_reports) = self.model_namespaces();
        reports.extend(namespace_reports);
        Round {
            problem: Problem {
                pods,
                nodes: state.nodes.into_iter().map(|(_, node)| node).collect(),
                node_pools,
                instance_types: Vec::new(),
                pool_instance_types: instance_types,
                daemon_set_pods,
                namespaces,
                node_overlays: Vec::new(),
            },
            reports,
        }
    }
}
