//! What the controllers of a cluster would make of the objects people keep in files: the pods of Deployments,
//! ReplicaSets, StatefulSets and Jobs, the pods DaemonSets run on existing nodes, and the claims of volumes that
//! are made from templates (`kubernetes/kubernetes: pkg/controller/deployment/sync.go`,
//! `pkg/controller/replicaset/replica_set.go`, `pkg/controller/statefulset/stateful_set_utils.go`,
//! `pkg/controller/job/job_controller.go`, `pkg/controller/daemon/daemon_controller.go` and
//! `pkg/controller/daemon/util/daemonset_util.go`, `pkg/controller/volume/ephemeral/controller.go`,
//! `plugin/pkg/admission/storage/storageclass/setdefault/admission.go`).
//!
//! A snapshot read from a cluster needs none of this: the controllers have already made the pods. Files hold the
//! workloads instead, so `karpenter plan` asks the question a user means by them: "if these were applied, what
//! would Karpenter launch?" Each workload wants its replica count of pods; the pods of the snapshot it selects
//! count towards that, and the rest are made from its template, pending, with deterministic names. A pod read from
//! a file that is neither bound nor looked at by a scheduler yet is pending too ([`mark_file_pods_unschedulable`]).
//! Names follow the controllers' shapes (`web-5d9c7b8f4b-x7kq2`, `db-0`, `backup-m2fq8`); the hashes are
//! deterministic but are not the API server's values.
//!
//! Reading any object with [`read_object`] names the field at fault when it does not read as its kind.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    Node, PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimStatus,
    PersistentVolumeClaimVolumeSource, Pod, PodCondition, PodSpec, PodStatus, PodTemplateSpec, Toleration,
    Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::daemonset::controls;
use crate::disruption::matches;
use crate::node::node_tracked;
use crate::pod::{is_active, node_name};
use crate::report::{Error, ObjectRef, Report};
use crate::snapshot::Snapshot;

/// The characters Kubernetes uses in generated names (`k8s.io/apimachinery/pkg/util/rand`): no vowels, no
/// characters that read alike.
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The annotation that marks a StorageClass as the cluster's default.
const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";

/// Reads an object as its kind. An object that does not read is an [`Error::InvalidField`] naming the field at
/// fault (`spec.template.spec.containers[0].resources.requests.cpu`), or [`Error::Malformed`] when the object
/// itself is not a map.
pub fn read_object<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let field = error.path().to_string();
        let reason = error.into_inner().to_string();
        if field.is_empty() || field == "." {
            Error::Malformed { reason }
        } else {
            Error::InvalidField { field, reason }
        }
    })
}

/// For an object [`Snapshot::add`] found malformed, the field at fault: the object is read again as its kind
/// with the path tracked. `None` when the kind is not one the snapshot reads or the object reads after all.
pub fn malformed_field(object: &Value) -> Option<Error> {
    fn check<T: DeserializeOwned>(object: &Value) -> Option<Error> {
        read_object::<T>(object.clone()).err()
    }
    use k8s_openapi::api::core::v1 as core;
    let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
    match (api_version, kind) {
        ("v1", "Pod") => check::<Pod>(object),
        ("v1", "Node") => check::<Node>(object),
        ("v1", "Namespace") => check::<core::Namespace>(object),
        ("v1", "PersistentVolumeClaim") => check::<PersistentVolumeClaim>(object),
        ("v1", "PersistentVolume") => check::<core::PersistentVolume>(object),
        ("apps/v1", "DaemonSet") => check::<DaemonSet>(object),
        ("policy/v1", "PodDisruptionBudget") => {
            check::<k8s_openapi::api::policy::v1::PodDisruptionBudget>(object)
        }
        ("storage.k8s.io/v1", "StorageClass") => check::<k8s_openapi::api::storage::v1::StorageClass>(object),
        ("karpenter.sh/v1", "NodePool") => check::<karpenter_api::NodePool>(object),
        ("karpenter.sh/v1", "NodeClaim") => check::<karpenter_api::NodeClaim>(object),
        ("karpenter.k8s.aws/v1", "EC2NodeClass") => check::<karpenter_api::EC2NodeClass>(object),
        _ => None,
    }
}

/// One workload object.
#[derive(Debug, Clone)]
enum Workload {
    Deployment(Arc<Deployment>),
    ReplicaSet(Arc<ReplicaSet>),
    StatefulSet(Arc<StatefulSet>),
    Job(Arc<Job>),
}

/// What every kind of workload has in common, borrowed from the object.
struct Shape<'a> {
    object: ObjectRef,
    metadata: &'a ObjectMeta,
    owner: OwnerReference,
    /// `None` for a Job without a manual selector: its pods are its own by owner reference.
    selector: Option<&'a LabelSelector>,
    template: Option<&'a PodTemplateSpec>,
    replicas: usize,
}

impl Workload {
    fn shape(&self) -> Shape<'_> {
        let owner = |api_version: &str, kind: &str, metadata: &ObjectMeta| OwnerReference {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name: metadata.name.clone().unwrap_or_default(),
            uid: metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        let object = |kind: &str, metadata: &ObjectMeta| {
            ObjectRef::namespaced(kind, namespace_of(metadata), metadata.name.as_deref().unwrap_or_default())
        };
        let count = |replicas: Option<i32>| usize::try_from(replicas.unwrap_or(1)).unwrap_or(0);
        match self {
            Workload::Deployment(d) => {
                let spec = d.spec.as_ref();
                Shape {
                    object: object("Deployment", &d.metadata),
                    metadata: &d.metadata,
                    // The Deployment's pods belong to its ReplicaSet, named after the template's hash.
                    owner: OwnerReference {
                        name: format!(
                            "{}-{}",
                            d.metadata.name.as_deref().unwrap_or_default(),
                            spec.map(|s| template_hash(&s.template)).unwrap_or_default()
                        ),
                        uid: String::new(),
                        ..owner("apps/v1", "ReplicaSet", &d.metadata)
                    },
                    selector: spec.map(|s| &s.selector),
                    template: spec.map(|s| &s.template),
                    replicas: spec.map_or(1, |s| count(s.replicas)),
                }
            }
            Workload::ReplicaSet(r) => {
                let spec = r.spec.as_ref();
                Shape {
                    object: object("ReplicaSet", &r.metadata),
                    metadata: &r.metadata,
                    owner: owner("apps/v1", "ReplicaSet", &r.metadata),
                    selector: spec.map(|s| &s.selector),
                    template: spec.and_then(|s| s.template.as_ref()),
                    replicas: spec.map_or(1, |s| count(s.replicas)),
                }
            }
            Workload::StatefulSet(s) => {
                let spec = s.spec.as_ref();
                Shape {
                    object: object("StatefulSet", &s.metadata),
                    metadata: &s.metadata,
                    owner: owner("apps/v1", "StatefulSet", &s.metadata),
                    selector: spec.map(|s| &s.selector),
                    template: spec.map(|s| &s.template),
                    replicas: spec.map_or(1, |s| count(s.replicas)),
                }
            }
            Workload::Job(j) => {
                let spec = j.spec.as_ref();
                // A suspended Job runs nothing; otherwise `parallelism` pods at once, never more than the
                // completions it still needs.
                let replicas = match spec {
                    None => 1,
                    Some(s) if s.suspend == Some(true) => 0,
                    Some(s) => {
                        let parallel = count(s.parallelism);
                        s.completions.map_or(parallel, |c| parallel.min(usize::try_from(c).unwrap_or(0)))
                    }
                };
                Shape {
                    object: object("Job", &j.metadata),
                    metadata: &j.metadata,
                    owner: owner("batch/v1", "Job", &j.metadata),
                    selector: spec
                        .filter(|s| s.manual_selector == Some(true))
                        .and_then(|s| s.selector.as_ref()),
                    template: spec.map(|s| &s.template),
                    replicas,
                }
            }
        }
    }
}

/// The namespace of an object; a manifest without one lands in `default`, as `kubectl apply` would put it.
fn namespace_of(metadata: &ObjectMeta) -> &str {
    metadata.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or("default")
}

/// Workload objects read from files, to be expanded into pods with [`Workloads::expand_into`].
#[derive(Debug, Clone, Default)]
pub struct Workloads {
    items: Vec<Workload>,
}

impl Workloads {
    /// No workloads.
    pub fn new() -> Self {
        Workloads::default()
    }

    /// Whether an object of this API version and kind is a workload [`Workloads::add`] reads: `apps/v1`
    /// Deployment, ReplicaSet and StatefulSet, `batch/v1` Job. DaemonSets are the snapshot's own.
    pub fn reads(api_version: &str, kind: &str) -> bool {
        matches!(
            (api_version, kind),
            ("apps/v1", "Deployment" | "ReplicaSet" | "StatefulSet") | ("batch/v1", "Job")
        )
    }

    /// Adds one workload object given as JSON; an object that does not read as its kind is reported with the
    /// field at fault, and any other kind is reported as skipped.
    pub fn add(&mut self, object: Value) -> Vec<Report> {
        let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
        let metadata = object.get("metadata");
        let name = metadata.and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or_default();
        let namespace =
            metadata.and_then(|m| m.get("namespace")).and_then(Value::as_str).unwrap_or("default");
        let object_ref = ObjectRef::namespaced(&kind, namespace, name);
        let result = match (api_version.as_str(), kind.as_str()) {
            ("apps/v1", "Deployment") => read_object(object).map(|o| Workload::Deployment(Arc::new(o))),
            ("apps/v1", "ReplicaSet") => read_object(object).map(|o| Workload::ReplicaSet(Arc::new(o))),
            ("apps/v1", "StatefulSet") => read_object(object).map(|o| Workload::StatefulSet(Arc::new(o))),
            ("batch/v1", "Job") => read_object(object).map(|o| Workload::Job(Arc::new(o))),
            _ => Err(Error::skipped(format!("{api_version} {kind} is not a workload"))),
        };
        match result {
            Ok(workload) => {
                self.items.push(workload);
                Vec::new()
            }
            Err(error) => vec![Report::new(object_ref, error)],
        }
    }

    /// How many workloads were added.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether none were added.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Adds to the snapshot the pods the workloads still want, pending, with the claims of their StatefulSet
    /// volume claim templates. The pods of the snapshot a workload selects (active, in its namespace) count
    /// towards its replicas; a ReplicaSet owned by a Deployment of the input is the Deployment's business. A
    /// workload without a name, a template, or with a selector its template's labels do not match is reported
    /// and makes no pods.
    pub fn expand_into(&self, snapshot: &mut Snapshot) -> Vec<Report> {
        let mut reports = Vec::new();
        let deployments: BTreeSet<(String, String)> = self
            .items
            .iter()
            .filter_map(|w| match w {
                Workload::Deployment(d) => {
                    Some((namespace_of(&d.metadata).to_string(), d.metadata.name.clone().unwrap_or_default()))
                }
                _ => None,
            })
            .collect();
        let mut taken: BTreeSet<(String, String)> =
            snapshot.pods.iter().map(|p| (pod_namespace(p).to_string(), pod_name(p).to_string())).collect();
        let mut new_pods = Vec::new();
        let mut new_claims = Vec::new();
        for workload in &self.items {
            if let Workload::ReplicaSet(rs) = workload {
                let namespace = namespace_of(&rs.metadata).to_string();
                let owned_by_input = rs.metadata.owner_references.iter().flatten().any(|o| {
                    o.kind == "Deployment" && deployments.contains(&(namespace.clone(), o.name.clone()))
                });
                if owned_by_input {
                    continue;
                }
            }
            let shape = workload.shape();
            let made = match check(&shape) {
                Ok(template) => self.make_pods(workload, &shape, template, snapshot, &mut taken),
                Err(error) => {
                    reports.push(Report::new(shape.object.clone(), error));
                    continue;
                }
            };
            new_pods.extend(made.0);
            new_claims.extend(made.1);
        }
        let default_class = default_storage_class(snapshot);
        for mut claim in new_claims {
            let known = snapshot
                .persistent_volume_claims
                .iter()
                .any(|c| c.metadata.name == claim.metadata.name && pvc_namespace(c) == pvc_namespace(&claim));
            if !known {
                set_default_class(&mut claim, default_class.as_deref());
                snapshot.persistent_volume_claims.push(Arc::new(claim));
            }
        }
        snapshot.pods.extend(new_pods.into_iter().map(Arc::new));
        reports
    }

    /// The pods one workload still wants, and the claims its StatefulSet templates make for them.
    fn make_pods(
        &self,
        workload: &Workload,
        shape: &Shape<'_>,
        template: &PodTemplateSpec,
        snapshot: &Snapshot,
        taken: &mut BTreeSet<(String, String)>,
    ) -> (Vec<Pod>, Vec<PersistentVolumeClaim>) {
        let namespace = namespace_of(shape.metadata).to_string();
        let name = shape.metadata.name.clone().unwrap_or_default();
        let existing = snapshot
            .pods
            .iter()
            .filter(|p| pod_namespace(p) == namespace && is_active(p))
            .filter(|p| belongs(shape, p))
            .count();
        let wanted = shape.replicas.saturating_sub(existing);
        let mut pods = Vec::new();
        let mut claims = Vec::new();
        let mut labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
        let hash = template_hash(template);
        match workload {
            Workload::Deployment(_) => {
                labels.insert("pod-template-hash".into(), hash.clone());
            }
            Workload::Job(_) => {
                labels.insert("job-name".into(), name.clone());
                labels.insert("batch.kubernetes.io/job-name".into(), name.clone());
            }
            Workload::StatefulSet(_) => {
                labels.insert("controller-revision-hash".into(), format!("{name}-{hash}"));
            }
            Workload::ReplicaSet(_) => {}
        }
        let prefix = match workload {
            Workload::Deployment(_) => format!("{name}-{hash}"),
            _ => name.clone(),
        };
        let mut attempt = 0u64;
        let mut ordinal = match workload {
            Workload::StatefulSet(s) => {
                s.spec.as_ref().and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0)
            }
            _ => 0,
        };
        while pods.len() < wanted {
            let (pod_name, index) = match workload {
                Workload::StatefulSet(_) => {
                    // StatefulSet pods have stable names: the first ordinals without a pod are the ones made.
                    let candidate = format!("{prefix}-{ordinal}");
                    ordinal += 1;
                    (candidate, Some(ordinal - 1))
                }
                _ => {
                    attempt += 1;
                    (format!("{prefix}-{}", suffix(&format!("{namespace}/{prefix}/{attempt}"))), None)
                }
            };
            if !taken.insert((namespace.clone(), pod_name.clone())) {
                continue;
            }
            let mut pod_labels = labels.clone();
            let mut spec = template.spec.clone().unwrap_or_default();
            if let (Workload::StatefulSet(s), Some(index)) = (workload, index) {
                pod_labels.insert("statefulset.kubernetes.io/pod-name".into(), pod_name.clone());
                pod_labels.insert("apps.kubernetes.io/pod-index".into(), index.to_string());
                spec.hostname = Some(pod_name.clone());
                let set_spec = s.spec.as_ref();
                spec.subdomain = set_spec.and_then(|s| s.service_name.clone()).filter(|n| !n.is_empty());
                for claim_template in
                    set_spec.and_then(|s| s.volume_claim_templates.as_ref()).into_iter().flatten()
                {
                    let template_name = claim_template.metadata.name.clone().unwrap_or_default();
                    let claim_name = format!("{template_name}-{pod_name}");
                    let volumes = spec.volumes.get_or_insert_with(Vec::new);
                    if !volumes.iter().any(|v| v.name == template_name) {
                        volumes.push(Volume {
                            name: template_name.clone(),
                            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                                claim_name: claim_name.clone(),
                                read_only: None,
                            }),
                            ..Volume::default()
                        });
                    }
                    claims.push(unbound_claim(&namespace, &claim_name, claim_template.spec.clone()));
                }
            }
            pods.push(Pod {
                metadata: ObjectMeta {
                    name: Some(pod_name),
                    namespace: Some(namespace.clone()),
                    labels: Some(pod_labels),
                    annotations: template.metadata.as_ref().and_then(|m| m.annotations.clone()),
                    owner_references: Some(vec![shape.owner.clone()]),
                    ..ObjectMeta::default()
                },
                spec: Some(spec),
                status: Some(unschedulable_status()),
            });
        }
        (pods, claims)
    }
}

/// The template of a workload that can make pods, or why it cannot.
fn check<'a>(shape: &Shape<'a>) -> Result<&'a PodTemplateSpec, Error> {
    if shape.metadata.name.as_deref().is_none_or(str::is_empty) {
        return Err(Error::missing("metadata.name"));
    }
    let template = shape.template.ok_or_else(|| Error::missing("spec.template"))?;
    if template.spec.is_none() {
        return Err(Error::missing("spec.template.spec"));
    }
    if let Some(selector) = shape.selector {
        let labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
        let empty = selector.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
            && selector.match_expressions.as_ref().is_none_or(Vec::is_empty);
        if empty {
            return Err(Error::missing("spec.selector"));
        }
        if !matches(selector, &labels) {
            return Err(Error::invalid(
                "spec.selector",
                "does not select the template's labels (the API server refuses such a workload)",
            ));
        }
    }
    Ok(template)
}

/// Whether a pod counts towards a workload's replicas: its selector matches the pod's labels, or, for a Job
/// without a manual selector, the Job is the pod's owner or its `job-name` label.
fn belongs(shape: &Shape<'_>, pod: &Pod) -> bool {
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    match shape.selector {
        Some(selector) => matches(selector, &labels),
        None => {
            let name = shape.metadata.name.as_deref().unwrap_or_default();
            let owned =
                pod.metadata.owner_references.iter().flatten().any(|o| o.kind == "Job" && o.name == name);
            owned
                || labels.get("batch.kubernetes.io/job-name").is_some_and(|n| n == name)
                || labels.get("job-name").is_some_and(|n| n == name)
        }
    }
}

fn pod_namespace(pod: &Pod) -> &str {
    namespace_of(&pod.metadata)
}

fn pod_name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

fn pvc_namespace(claim: &PersistentVolumeClaim) -> &str {
    namespace_of(&claim.metadata)
}

/// A pending pod's status as the scheduler leaves it when no node fits.
fn unschedulable_status() -> PodStatus {
    PodStatus {
        phase: Some("Pending".into()),
        conditions: Some(vec![PodCondition {
            type_: "PodScheduled".into(),
            status: "False".into(),
            reason: Some("Unschedulable".into()),
            ..PodCondition::default()
        }]),
        ..PodStatus::default()
    }
}

/// A claim made from a template, not yet bound.
fn unbound_claim(
    namespace: &str,
    name: &str,
    spec: Option<PersistentVolumeClaimSpec>,
) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            ..ObjectMeta::default()
        },
        spec,
        status: Some(PersistentVolumeClaimStatus { phase: Some("Pending".into()), ..Default::default() }),
    }
}

/// The StorageClass annotated as the default, as the admission plugin picks it (the newest, then by name; files
/// have no times, so by name).
fn default_storage_class(snapshot: &Snapshot) -> Option<String> {
    let mut defaults: Vec<&str> = snapshot
        .storage_classes
        .iter()
        .filter(|c| {
            c.metadata.annotations.as_ref().and_then(|a| a.get(DEFAULT_CLASS)).is_some_and(|v| v == "true")
        })
        .filter_map(|c| c.metadata.name.as_deref())
        .collect();
    defaults.sort_unstable();
    defaults.first().map(|n| (*n).to_string())
}

/// A claim without a class gets the default one, as admission gives it.
fn set_default_class(claim: &mut PersistentVolumeClaim, default: Option<&str>) {
    if let (Some(spec), Some(default)) = (claim.spec.as_mut(), default)
        && spec.storage_class_name.is_none()
    {
        spec.storage_class_name = Some(default.to_string());
    }
}

/// Pods read from files that say nothing about scheduling are pods to place: a pod without `spec.nodeName` and
/// without a `PodScheduled` condition, active and neither a DaemonSet's nor a mirror pod, gets the condition the
/// scheduler gives a pod no node fits (`PodScheduled=False`, reason `Unschedulable`). Pods with a
/// `PodScheduled` condition keep it: they say what a cluster said about them. Returns how many were marked.
pub fn mark_file_pods_unschedulable(snapshot: &mut Snapshot) -> usize {
    let mut marked = 0;
    for pod in &mut snapshot.pods {
        let has_condition = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "PodScheduled"));
        if node_name(pod).is_some()
            || has_condition
            || !is_active(pod)
            || crate::pod::is_owned_by_daemon_set(pod)
            || crate::pod::is_owned_by_node(pod)
        {
            continue;
        }
        let pod = Arc::make_mut(pod);
        let status = pod.status.get_or_insert_with(PodStatus::default);
        status.phase.get_or_insert_with(|| "Pending".into());
        status
            .conditions
            .get_or_insert_with(Vec::new)
            .extend(unschedulable_status().conditions.unwrap_or_default());
        marked += 1;
    }
    marked
}

/// Claims for the ephemeral volumes of pending pods that have none yet, made from the volumes' templates as the
/// ephemeral volume controller makes them (`<pod>-<volume>`), with the default StorageClass when the template
/// names none.
pub fn add_ephemeral_claims(snapshot: &mut Snapshot) {
    let default_class = default_storage_class(snapshot);
    let mut made = Vec::new();
    for pod in snapshot.provisionable_pods() {
        let namespace = pod_namespace(pod);
        for volume in pod.spec.as_ref().and_then(|s| s.volumes.as_ref()).into_iter().flatten() {
            let Some(template) = volume.ephemeral.as_ref().and_then(|e| e.volume_claim_template.as_ref())
            else {
                continue;
            };
            let name = format!("{}-{}", pod_name(pod), volume.name);
            let exists = snapshot
                .persistent_volume_claims
                .iter()
                .any(|c| c.metadata.name.as_deref() == Some(name.as_str()) && pvc_namespace(c) == namespace);
            if !exists {
                let mut claim = unbound_claim(namespace, &name, Some(template.spec.clone()));
                set_default_class(&mut claim, default_class.as_deref());
                made.push(claim);
            }
        }
    }
    snapshot.persistent_volume_claims.extend(made.into_iter().map(Arc::new));
}

/// The tolerations the DaemonSet controller adds to every pod it makes, so that node conditions do not keep
/// daemons off (`AddOrUpdateDaemonPodTolerations`); `network-unavailable` only for host-network pods.
fn daemon_tolerations(host_network: bool) -> Vec<Toleration> {
    let toleration = |key: &str, effect: &str| Toleration {
        key: Some(key.to_string()),
        operator: Some("Exists".into()),
        effect: Some(effect.to_string()),
        ..Toleration::default()
    };
    let mut list = vec![
        toleration("node.kubernetes.io/not-ready", "NoExecute"),
        toleration("node.kubernetes.io/unreachable", "NoExecute"),
        toleration("node.kubernetes.io/disk-pressure", "NoSchedule"),
        toleration("node.kubernetes.io/memory-pressure", "NoSchedule"),
        toleration("node.kubernetes.io/pid-pressure", "NoSchedule"),
        toleration("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if host_network {
        list.push(toleration("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    list
}

/// Whether one toleration tolerates a taint (`k8s.io/api/core/v1` `Toleration.ToleratesTaint`).
fn tolerates(toleration: &Toleration, taint: &k8s_openapi::api::core::v1::Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            toleration.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

/// Whether a node selector requirement holds for a node's labels (and `metadata.name` for field requirements).
fn requirement_holds(
    requirement: &k8s_openapi::api::core::v1::NodeSelectorRequirement,
    value: Option<&str>,
) -> bool {
    let values = requirement.values.as_deref().unwrap_or_default();
    let number = |text: &str| text.parse::<i64>().ok();
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(have), Some(bound)) = (value.and_then(number), values.first().and_then(|v| number(v)))
            else {
                return false;
            };
            if requirement.operator == "Gt" { have > bound } else { have < bound }
        }
        _ => false,
    }
}

/// Whether the DaemonSet's template would run a pod on the node: its node selector and required node affinity
/// match the node, and it tolerates every `NoSchedule` and `NoExecute` taint of the node (with the tolerations
/// the DaemonSet controller adds), as `NodeShouldRunDaemonPod` decides.
fn daemon_fits(spec: &PodSpec, node: &Node) -> bool {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let name = node.metadata.name.as_deref().unwrap_or_default();
    let selector_ok = spec.node_selector.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    let terms = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
        .map(|s| s.node_selector_terms.as_slice());
    let affinity_ok = terms.is_none_or(|terms| {
        terms.iter().any(|term| {
            let expressions = term.match_expressions.iter().flatten();
            let fields = term.match_fields.iter().flatten();
            let has_any = term.match_expressions.as_ref().is_some_and(|e| !e.is_empty())
                || term.match_fields.as_ref().is_some_and(|f| !f.is_empty());
            has_any
                && expressions
                    .into_iter()
                    .all(|r| requirement_holds(r, labels.get(&r.key).map(String::as_str)))
                && fields.into_iter().all(|r| r.key == "metadata.name" && requirement_holds(r, Some(name)))
        })
    });
    let mut tolerations = spec.tolerations.clone().unwrap_or_default();
    tolerations.extend(daemon_tolerations(spec.host_network.unwrap_or(false)));
    let taints_ok = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|taint| tolerations.iter().any(|t| tolerates(t, taint)));
    selector_ok && affinity_ok && taints_ok
}

/// Adds, for every node of the snapshot that Karpenter's cluster state takes in and every DaemonSet whose
/// template would run there, the DaemonSet's pod bound to the node when the snapshot has none: files hold the
/// DaemonSet, a cluster holds its pods. The pods take room on the nodes as the real ones do. A DaemonSet without
/// a name or template makes none (the round reports it). Returns how many pods were added.
pub fn add_daemon_set_node_pods(snapshot: &mut Snapshot) -> usize {
    let mut made = Vec::new();
    for daemon_set in &snapshot.daemon_sets {
        let name = daemon_set.metadata.name.clone().unwrap_or_default();
        let Some(template) = daemon_set.spec.as_ref().map(|s| &s.template) else { continue };
        let Some(spec) = template.spec.as_ref() else { continue };
        if name.is_empty() {
            continue;
        }
        let namespace = namespace_of(&daemon_set.metadata).to_string();
        for node in &snapshot.nodes {
            if node_tracked(node).is_err() {
                continue;
            }
            let node_name_value = node.metadata.name.clone().unwrap_or_default();
            let running = snapshot
                .pods
                .iter()
                .any(|p| node_name(p) == Some(node_name_value.as_str()) && controls(daemon_set, p));
            if running || !daemon_fits(spec, node) {
                continue;
            }
            let mut pod_spec = spec.clone();
            pod_spec.node_name = Some(node_name_value.clone());
            let mut tolerations = pod_spec.tolerations.take().unwrap_or_default();
            tolerations.extend(daemon_tolerations(spec.host_network.unwrap_or(false)));
            pod_spec.tolerations = Some(tolerations);
            made.push(Pod {
                metadata: ObjectMeta {
                    name: Some(format!(
                        "{name}-{}",
                        suffix(&format!("{namespace}/{name}/{node_name_value}"))
                    )),
                    namespace: Some(namespace.clone()),
                    labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                    annotations: template.metadata.as_ref().and_then(|m| m.annotations.clone()),
                    owner_references: Some(vec![OwnerReference {
                        api_version: "apps/v1".into(),
                        kind: "DaemonSet".into(),
                        name: name.clone(),
                        uid: daemon_set.metadata.uid.clone().unwrap_or_default(),
                        controller: Some(true),
                        block_owner_deletion: Some(true),
                    }]),
                    ..ObjectMeta::default()
                },
                spec: Some(pod_spec),
                status: Some(PodStatus {
                    phase: Some("Running".into()),
                    conditions: Some(vec![PodCondition {
                        type_: "PodScheduled".into(),
                        status: "True".into(),
                        ..PodCondition::default()
                    }]),
                    ..PodStatus::default()
                }),
            });
        }
    }
    let count = made.len();
    snapshot.pods.extend(made.into_iter().map(Arc::new));
    count
}

/// 32-bit FNV-1a, the hash the controllers use for names.
fn fnv1a(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// The pod template's hash in the shape of `pod-template-hash`: the decimal FNV-1a of the template, each digit
/// mapped onto the name alphabet (`SafeEncodeString`). The template is hashed as JSON, whose maps are sorted,
/// so the value is stable.
fn template_hash(template: &PodTemplateSpec) -> String {
    let json = serde_json::to_string(template).unwrap_or_default();
    fnv1a(json.as_bytes())
        .to_string()
        .bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// Five name characters derived from a seed, as the controllers' random suffixes look.
fn suffix(seed: &str) -> String {
    let mut value = u64::from(fnv1a(seed.as_bytes())) << 32 | u64::from(fnv1a(format!("{seed}#").as_bytes()));
    (0..5)
        .map(|_| {
            let c = ALPHANUMS[(value % ALPHANUMS.len() as u64) as usize] as char;
            value /= ALPHANUMS.len() as u64;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};
    use serde_json::json;

    use super::*;

    /// Reads the objects, expands the workloads, marks file pods, adds DaemonSet pods, and lists every pod with
    /// its node or scheduling condition, owner and labels, then the claims and reports.
    fn check(objects: Vec<Value>, expected: Expect) {
        let mut snapshot = Snapshot::new();
        let mut workloads = Workloads::new();
        let mut reports = Vec::new();
        for object in objects {
            let api_version = object["apiVersion"].as_str().unwrap_or_default().to_string();
            let kind = object["kind"].as_str().unwrap_or_default().to_string();
            if Workloads::reads(&api_version, &kind) {
                reports.extend(workloads.add(object));
            } else {
                reports.extend(snapshot.add(object));
            }
        }
        reports.extend(workloads.expand_into(&mut snapshot));
        let marked = mark_file_pods_unschedulable(&mut snapshot);
        add_ephemeral_claims(&mut snapshot);
        let daemons = add_daemon_set_node_pods(&mut snapshot);
        let mut out = format!("marked {marked}, daemon pods {daemons}\n");
        for pod in &snapshot.pods {
            let owner = pod
                .metadata
                .owner_references
                .iter()
                .flatten()
                .map(|o| format!("{}/{}", o.kind, o.name))
                .collect::<Vec<_>>()
                .join(",");
            let place = node_name(pod).map(|n| format!("on {n}")).unwrap_or_else(|| {
                if crate::pod::is_provisionable(pod) { "pending".into() } else { "not pending".into() }
            });
            let labels = pod.metadata.labels.clone().unwrap_or_default();
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let volumes: Vec<String> = pod
                .spec
                .as_ref()
                .and_then(|s| s.volumes.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|v| v.persistent_volume_claim.as_ref().map(|c| c.claim_name.clone()))
                .collect();
            out.push_str(&format!(
                "pod {}/{} {place} owner={owner} labels={} claims={}\n",
                pod_namespace(pod),
                pod_name(pod),
                labels.join(","),
                volumes.join(",")
            ));
        }
        for claim in &snapshot.persistent_volume_claims {
            let class = claim.spec.as_ref().and_then(|s| s.storage_class_name.clone()).unwrap_or_default();
            out.push_str(&format!(
                "claim {}/{} class={class}\n",
                pvc_namespace(claim),
                claim.metadata.name.as_deref().unwrap_or_default()
            ));
        }
        for report in reports {
            out.push_str(&format!("report {report}\n"));
        }
        expected.assert_eq(&out);
    }

    fn template(labels: Value) -> Value {
        json!({"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "resources": {"requests": {"cpu": "1"}}}]}})
    }

    #[test]
    fn a_deployment_makes_its_missing_replicas_with_replica_set_names() {
        check(
            vec![
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
                       "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"}))}}),
                // One replica already runs: two are made.
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-old", "namespace": "shop", "labels": {"app": "web"}},
                       "spec": {"nodeName": "n1", "containers": [{"name": "app"}]}}),
            ],
            expect![[r#"
                marked 0, daemon pods 0
                pod shop/web-old on n1 owner= labels=app=web claims=
                pod shop/web-9bf45fc69-qm8hg pending owner=ReplicaSet/web-9bf45fc69 labels=app=web,pod-template-hash=9bf45fc69 claims=
                pod shop/web-9bf45fc69-4dqz9 pending owner=ReplicaSet/web-9bf45fc69 labels=app=web,pod-template-hash=9bf45fc69 claims=
            "#]],
        );
    }

    #[test]
    fn stateful_sets_jobs_and_replica_sets_follow_their_controllers() {
        check(
            vec![
                json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "ebs.csi.aws.com",
                       "metadata": {"name": "gp3", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                       "volumeBindingMode": "WaitForFirstConsumer"}),
                json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
                       "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                                "template": template(json!({"app": "db"})),
                                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                    "resources": {"requests": {"storage": "10Gi"}}}}]}}),
                json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "backup"},
                       "spec": {"parallelism": 3, "completions": 2, "template": template(json!({}))}}),
                json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "paused"},
                       "spec": {"suspend": true, "template": template(json!({}))}}),
                json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "cache"},
                       "spec": {"selector": {"matchLabels": {"app": "cache"}}, "template": template(json!({"app": "cache"}))}}),
            ],
            expect![[r#"
                marked 0, daemon pods 0
                pod default/db-0 pending owner=StatefulSet/db labels=app=db,apps.kubernetes.io/pod-index=0,controller-revision-hash=db-7764bdbff9,statefulset.kubernetes.io/pod-name=db-0 claims=data-db-0
                pod default/db-1 pending owner=StatefulSet/db labels=app=db,apps.kubernetes.io/pod-index=1,controller-revision-hash=db-7764bdbff9,statefulset.kubernetes.io/pod-name=db-1 claims=data-db-1
                pod default/backup-9cm47 pending owner=Job/backup labels=batch.kubernetes.io/job-name=backup,job-name=backup claims=
                pod default/backup-mm852 pending owner=Job/backup labels=batch.kubernetes.io/job-name=backup,job-name=backup claims=
                pod default/cache-9gqbw pending owner=ReplicaSet/cache labels=app=cache claims=
                claim default/data-db-0 class=gp3
                claim default/data-db-1 class=gp3
            "#]],
        );
    }

    #[test]
    fn bad_workloads_are_reported_with_the_field() {
        check(
            vec![
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "no-selector"},
                       "spec": {"template": template(json!({"app": "x"}))}}),
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "mismatch"},
                       "spec": {"selector": {"matchLabels": {"app": "y"}}, "template": template(json!({"app": "x"}))}}),
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad-replicas"},
                       "spec": {"replicas": "three", "selector": {"matchLabels": {"app": "x"}}, "template": template(json!({"app": "x"}))}}),
            ],
            expect![[r#"
                marked 0, daemon pods 0
                report Deployment/default/bad-replicas spec.replicas: invalid type: string "three", expected i32
                report Deployment/default/no-selector spec.selector: missing
                report Deployment/default/mismatch spec.selector: does not select the template's labels (the API server refuses such a workload)
            "#]],
        );
    }

    #[test]
    fn file_pods_without_a_node_or_a_scheduler_verdict_are_pending_and_daemon_sets_run_on_nodes() {
        check(
            vec![
                json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"kubernetes.io/os": "linux"}}}),
                json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "tainted"},
                       "spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}}),
                json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "kube-system"},
                       "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {
                           "metadata": {"labels": {"app": "agent"}},
                           "spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "a"}]}}}}),
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain"}, "spec": {"containers": [{"name": "a"}],
                       "volumes": [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {"storageClassName": "gp3"}}}}]}}),
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "seen"}, "spec": {"containers": [{"name": "a"}]},
                       "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}}),
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "done"}, "spec": {"containers": [{"name": "a"}]},
                       "status": {"phase": "Succeeded"}}),
            ],
            expect![[r#"
                marked 1, daemon pods 1
                pod default/plain pending owner= labels= claims=
                pod default/seen not pending owner= labels= claims=
                pod default/done not pending owner= labels= claims=
                pod kube-system/agent-5dpm6 on n1 owner=DaemonSet/agent labels=app=agent claims=
                claim default/plain-scratch class=gp3
            "#]],
        );
    }

    #[test]
    fn a_replica_set_of_a_deployment_in_the_input_makes_no_pods_of_its_own() {
        check(
            vec![
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                       "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"}))}}),
                json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-abc",
                       "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u"}]},
                       "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"}))}}),
            ],
            expect![[r#"
                marked 0, daemon pods 0
                pod default/web-9bf45fc69-gtrbq pending owner=ReplicaSet/web-9bf45fc69 labels=app=web,pod-template-hash=9bf45fc69 claims=
            "#]],
        );
    }

    #[test]
    fn names_are_deterministic_and_use_the_controllers_alphabet() {
        let a = suffix("ns/web/1");
        assert_eq!(a, suffix("ns/web/1"));
        assert_ne!(a, suffix("ns/web/2"));
        assert_eq!(a.len(), 5);
        assert!(a.bytes().all(|b| ALPHANUMS.contains(&b)), "{a}");
    }
}
