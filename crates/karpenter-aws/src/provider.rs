//! The AWS [`CloudProvider`] (`aws/karpenter-provider-aws: pkg/cloudprovider/cloudprovider.go`,
//! `pkg/providers/instance/instance.go`, `pkg/cloudprovider/drift.go`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use aws_sdk_ec2::types::Filter;
use karpenter_api::labels::{annotation, hash_version, label, taint};
use karpenter_api::{AmiFamily, EC2NodeClass};
use karpenter_catalog::labels::{INSTANCE_TENANCY, ZONE_ID};
use karpenter_catalog::{Catalog, NodeClassSettings};
use karpenter_cloud::{
    CloudProvider, ConditionStatus, Deletion, DriftQuery, DriftReason, Error, Instance, InstanceTypes,
    LaunchRequest, NodeClassKind, OfferingKey, RepairPolicy, Result, instance_labels, with_unavailable,
};
use karpenter_solver::SolverConfig;
use karpenter_solver::labels::{CAPACITY_TYPE, INSTANCE_TYPE, NODE_POOL, ZONE};
use karpenter_solver::model::{InstanceType, Labels, NodeClassRef, NodePool, NodeSelectorRequirement, Taint};

use crate::batcher::{Batcher, Executor, TERMINATE_WINDOW};
use crate::error::{AwsError, FleetErrorKind, NO_FREE_ADDRESSES_CODE, fleet_error_kind, launch_reason};
use crate::fleet::{self, FleetBatcher, FleetRequest, Launched, Override, TemplateConfig};
use crate::instance::{self, CLUSTER_NAME_TAG, Ec2Instance, NODE_CLAIM_TAG, NODE_CLASS_TAG, NODE_POOL_TAG};
use crate::launch::{self, LaunchPlan};
use crate::launch_template::{self, LaunchTemplateSpec, LaunchTemplates, Metadata};
use crate::nodeclass::{self, Resolution};
use crate::unavailable::UnavailableOfferings;
use crate::userdata::{self, BootstrapInput};
use crate::{Clients, Settings};

/// The node-class kind the AWS provider launches from.
pub fn node_class_kind() -> NodeClassKind {
    NodeClassKind::new(karpenter_api::labels::AWS_GROUP, "v1", "EC2NodeClass")
}

/// The solver settings the AWS provider matches requirements with: its labels are well-known, so pods may
/// select them.
pub fn solver_config() -> SolverConfig {
    SolverConfig { well_known_labels: karpenter_catalog::well_known_labels(), ..SolverConfig::default() }
}

/// An EC2NodeClass the controller registered, with what launches need from it.
#[derive(Debug)]
struct Registered {
    node_class: EC2NodeClass,
    settings: NodeClassSettings,
    hash: String,
    version: u64,
}

/// Instance types computed for a node class, and what they were computed from.
struct CachedTypes {
    catalog_generation: u64,
    class_version: u64,
    types: InstanceTypes,
}

/// The AWS provider.
pub struct AwsProvider {
    clients: Clients,
    settings: Settings,
    config: SolverConfig,
    catalog: RwLock<Arc<Catalog>>,
    catalog_generation: AtomicU64,
    classes: RwLock<BTreeMap<String, Arc<Registered>>>,
    class_versions: AtomicU64,
    types: Mutex<BTreeMap<String, CachedTypes>>,
    unavailable: UnavailableOfferings,
    templates: LaunchTemplates,
    fleet: FleetBatcher,
    terminations: Batcher<(), String, std::result::Result<(), AwsError>>,
}

impl std::fmt::Debug for AwsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsProvider")
            .field("cluster", &self.settings.cluster_name)
            .field("region", &self.settings.region)
            .finish_non_exhaustive()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // Writers replace whole values, so a panic elsewhere cannot leave one half-written.
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The instance states garbage collection and `list` look at.
const LIVE_STATES: [&str; 4] = ["pending", "running", "stopping", "stopped"];

fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder().name(name).set_values(Some(values.into_iter().map(Into::into).collect())).build()
}

impl AwsProvider {
    /// A provider over the services of `config` (one client per service).
    pub fn new(config: &aws_config::SdkConfig, settings: Settings) -> Self {
        Self::from_clients(Clients::new(config), settings)
    }

    /// A provider over the given clients (tests hand in mocked or intercepted ones).
    pub fn from_clients(clients: Clients, settings: Settings) -> Self {
        let ec2 = clients.ec2.clone();
        let terminate: Executor<String, std::result::Result<(), AwsError>> =
            Arc::new(move |ids: Vec<String>| {
                let ec2 = ec2.clone();
                Box::pin(async move { terminate_batch(&ec2, ids).await })
            });
        AwsProvider {
            fleet: fleet::batcher(clients.ec2.clone()),
            terminations: Batcher::new(TERMINATE_WINDOW, terminate),
            catalog: RwLock::new(Arc::new(settings.catalog.clone())),
            catalog_generation: AtomicU64::new(0),
            classes: RwLock::new(BTreeMap::new()),
            class_versions: AtomicU64::new(0),
            types: Mutex::new(BTreeMap::new()),
            unavailable: UnavailableOfferings::new(settings.unavailable_offerings_ttl),
            templates: LaunchTemplates::default(),
            config: solver_config(),
            clients,
            settings,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The clients.
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// The catalog instance types are built from now.
    pub fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&read(&self.catalog))
    }

    /// Replaces the catalog (after a refresh); instance types are rebuilt on the next request.
    pub fn set_catalog(&self, catalog: Catalog) {
        *write(&self.catalog) = Arc::new(catalog);
        self.catalog_generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Resolves an EC2NodeClass into the status the controller writes: subnets, security groups, images,
    /// instance profile and conditions (see [`crate::nodeclass`]). `now` decides which images are deprecated
    /// and stamps changed conditions.
    pub async fn resolve_node_class(&self, node_class: &EC2NodeClass, now: SystemTime) -> Resolution {
        nodeclass::resolve(&self.clients, &self.settings, node_class, now).await
    }

    /// Registers (or updates) an EC2NodeClass with its status, and the catalog settings the controller's
    /// snapshot mapping made of it; launches and instance types of NodePools that name it use them. The zones
    /// of the status's subnets replace `settings.subnet_zones`.
    pub fn set_node_class(&self, node_class: &EC2NodeClass, mut settings: NodeClassSettings) -> Result<()> {
        let name = node_class.metadata.name.clone().unwrap_or_default();
        let hash =
            node_class.hash(self.settings.ca_bundle.as_deref()).map_err(|e| Error::NodeClassNotReady {
                reason: format!("EC2NodeClass {name}: its hash cannot be computed: {e}"),
            })?;
        if let Some(subnets) = node_class.status.as_ref().and_then(|s| s.subnets.as_ref()) {
            let zones: BTreeSet<String> = subnets.iter().map(|s| s.zone.clone()).collect();
            settings.subnet_zones = Some(zones.into_iter().collect());
        }
        let version = self.class_versions.fetch_add(1, Ordering::SeqCst) + 1;
        write(&self.classes)
            .insert(name, Arc::new(Registered { node_class: node_class.clone(), settings, hash, version }));
        Ok(())
    }

    /// Forgets an EC2NodeClass.
    pub fn remove_node_class(&self, name: &str) {
        write(&self.classes).remove(name);
        lock(&self.types).remove(name);
    }

    /// The `karpenter.k8s.aws/ec2nodeclass-hash` value of a registered EC2NodeClass, which the controller
    /// writes on the NodeClaims it launches (with hash version [`hash_version::EC2_NODE_CLASS`]).
    pub fn node_class_hash(&self, name: &str) -> Option<String> {
        read(&self.classes).get(name).map(|r| r.hash.clone())
    }

    /// Offerings that failed for lack of capacity and are unavailable now.
    pub fn unavailable_offerings(&self) -> Vec<OfferingKey> {
        self.unavailable.offerings()
    }

    /// Marks an offering unavailable for the capacity TTL (a spot interruption does this for its offering).
    pub fn mark_unavailable(&self, offering: OfferingKey) {
        self.unavailable.mark(offering);
    }

    fn class(&self, reference: &NodeClassRef) -> Result<Arc<Registered>> {
        if !node_class_kind().matches(reference) {
            return Err(Error::Launch {
                reason: "UnsupportedNodeClass".to_string(),
                message: format!(
                    "the AWS provider launches from karpenter.k8s.aws/EC2NodeClass, not {}/{}",
                    reference.group, reference.kind
                ),
            });
        }
        read(&self.classes).get(&reference.name).cloned().ok_or_else(|| Error::NodeClassNotReady {
            reason: format!("EC2NodeClass {} not found", reference.name),
        })
    }

    /// The node class of a launch, which must be Ready for its current generation.
    fn ready_class(&self, reference: &NodeClassRef) -> Result<Arc<Registered>> {
        let class = self.class(reference)?;
        let not_ready = |why: String| Error::NodeClassNotReady {
            reason: format!("EC2NodeClass {}: {why}", reference.name),
        };
        let status =
            class.node_class.status.as_ref().ok_or_else(|| not_ready("it has no status yet".into()))?;
        let ready = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == karpenter_api::labels::condition::READY)
            .ok_or_else(|| not_ready("it has no Ready condition yet".into()))?;
        if ready.status != "True" {
            return Err(not_ready(format!("not ready ({}): {}", ready.reason, ready.message)));
        }
        if ready.observed_generation.is_some()
            && ready.observed_generation != class.node_class.metadata.generation
        {
            return Err(not_ready("its status is for an older generation".into()));
        }
        Ok(class)
    }

    /// The instance types of a node class, built once per catalog and node-class version.
    fn class_types(&self, class: &Registered) -> Result<InstanceTypes> {
        let name = class.node_class.metadata.name.clone().unwrap_or_default();
        let generation = self.catalog_generation.load(Ordering::SeqCst);
        if let Some(cached) = lock(&self.types).get(&name)
            && cached.catalog_generation == generation
            && cached.class_version == class.version
        {
            return Ok(cached.types.clone());
        }
        let types: InstanceTypes = self
            .catalog()
            .instance_types(&class.settings)
            .map_err(|e| Error::NodeClassNotReady { reason: format!("EC2NodeClass {name}: {e}") })?
            .into_iter()
            .map(Arc::new)
            .collect();
        lock(&self.types).insert(
            name,
            CachedTypes {
                catalog_generation: generation,
                class_version: class.version,
                types: types.clone(),
            },
        );
        Ok(types)
    }

    /// The zone id of a zone, from the node class's subnets.
    fn zone_id(class: Option<&Registered>, zone: &str) -> Option<String> {
        class?
            .node_class
            .status
            .as_ref()?
            .subnets
            .as_ref()?
            .iter()
            .find(|s| s.zone == zone)
            .and_then(|s| s.zone_id.clone())
    }

    /// The provider-neutral instance for an EC2 instance, with its type's capacity when the type is known.
    fn instance_from(&self, ec2: &Ec2Instance) -> Instance {
        let class_name = ec2.tags.get(NODE_CLASS_TAG).cloned().unwrap_or_default();
        let class = read(&self.classes).get(&class_name).cloned();
        let instance_type: Option<Arc<InstanceType>> = class
            .as_deref()
            .and_then(|c| self.class_types(c).ok())
            .and_then(|types| types.iter().find(|t| t.name == ec2.instance_type).cloned());
        let mut labels = Labels::new();
        if let Some(it) = &instance_type {
            for requirement in &it.requirements {
                if requirement.operator == "In" && requirement.values.len() == 1 {
                    labels.insert(requirement.key.clone(), requirement.values[0].clone());
                }
            }
        }
        labels.insert(INSTANCE_TYPE.to_string(), ec2.instance_type.clone());
        labels.insert(ZONE.to_string(), ec2.zone.clone());
        labels.insert(CAPACITY_TYPE.to_string(), ec2.capacity_type.clone());
        labels.insert(INSTANCE_TENANCY.to_string(), ec2.tenancy.clone());
        if let Some(pool) = ec2.tags.get(NODE_POOL_TAG) {
            labels.insert(NODE_POOL.to_string(), pool.clone());
        }
        if !class_name.is_empty() {
            labels.insert(NODE_CLASS_TAG.to_string(), class_name);
        }
        if let Some(zone_id) = Self::zone_id(class.as_deref(), &ec2.zone) {
            labels.insert(ZONE_ID.to_string(), zone_id);
        }
        Instance {
            provider_id: ec2.provider_id(),
            node_claim: ec2.tags.get(NODE_CLAIM_TAG).cloned(),
            instance_type: ec2.instance_type.clone(),
            zone: ec2.zone.clone(),
            capacity_type: ec2.capacity_type.clone(),
            image_id: ec2.image_id.clone(),
            capacity: instance_type.as_ref().map(|t| t.capacity.clone()).unwrap_or_default(),
            allocatable: instance_type
                .as_deref()
                .and_then(|t| karpenter_solver::allocatable(t).ok())
                .unwrap_or_default(),
            labels,
            launched_at: ec2.launched_at,
        }
    }

    /// Reads one instance; `None` when EC2 does not know it.
    async fn describe(&self, instance_id: &str) -> Result<Option<Ec2Instance>> {
        let answer = self.clients.ec2.describe_instances().instance_ids(instance_id).send().await;
        match answer {
            Ok(output) => Ok(output
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .map(Ec2Instance::from_sdk)
                .find(|i| i.id == instance_id)),
            Err(e) => {
                let error = AwsError::from_sdk("DescribeInstances", e);
                if error.is_not_found() || error.code() == "InvalidInstanceID.Malformed" {
                    Ok(None)
                } else {
                    Err(error.into_api_error())
                }
            }
        }
    }

    /// The tags of everything a launch makes.
    fn launch_tags(&self, class: &Registered, node_pool: &str) -> BTreeMap<String, String> {
        let mut tags = class.node_class.spec.tags.clone().unwrap_or_default();
        tags.insert(format!("kubernetes.io/cluster/{}", self.settings.cluster_name), "owned".to_string());
        tags.insert(NODE_POOL_TAG.to_string(), node_pool.to_string());
        tags.insert(CLUSTER_NAME_TAG.to_string(), self.settings.cluster_name.clone());
        tags.insert(NODE_CLASS_TAG.to_string(), class.node_class.metadata.name.clone().unwrap_or_default());
        tags
    }

    /// The launch templates and fleet request of a planned launch.
    fn fleet_request(
        &self,
        class: &Registered,
        request: &LaunchRequest,
        plan: &LaunchPlan,
    ) -> Result<(FleetRequest, Vec<LaunchTemplateSpec>)> {
        let node_class = &class.node_class;
        let class_name = node_class.metadata.name.clone().unwrap_or_default();
        let spec = &node_class.spec;
        let status = node_class.status.clone().unwrap_or_default();
        let not_ready =
            |what: &str| Error::NodeClassNotReady { reason: format!("EC2NodeClass {class_name}: {what}") };
        let subnets = status.subnets.clone().unwrap_or_default();
        let amis = status.amis.clone().unwrap_or_default();
        let mut security_group_ids: Vec<String> =
            status.security_groups.iter().flatten().map(|g| g.id.clone()).collect();
        security_group_ids.sort();
        let instance_profile =
            status.instance_profile.clone().ok_or_else(|| not_ready("no instance profile in its status"))?;
        if security_group_ids.is_empty() {
            return Err(not_ready("no security groups in its status"));
        }
        // The subnet with the most free addresses in each zone (the status lists them that way), skipping
        // subnets that just ran out.
        let mut zonal: BTreeMap<&str, &str> = BTreeMap::new();
        for subnet in &subnets {
            if !self.unavailable.is_subnet_unavailable(&subnet.id) {
                zonal.entry(subnet.zone.as_str()).or_insert(subnet.id.as_str());
            }
        }
        // Each type takes the first (newest) image whose requirements it meets.
        let mut image_of: BTreeMap<String, String> = BTreeMap::new();
        for candidate in &plan.candidates {
            let it = &candidate.instance_type;
            if image_of.contains_key(&it.name) {
                continue;
            }
            let image = amis.iter().find(|ami| {
                let requirements: Vec<NodeSelectorRequirement> = ami
                    .requirements
                    .iter()
                    .map(|r| NodeSelectorRequirement {
                        key: r.key.clone(),
                        operator: r.operator.clone(),
                        values: r.values.clone().unwrap_or_default(),
                        min_values: None,
                    })
                    .collect();
                karpenter_solver::compatible_offerings(it, &requirements, &self.config)
                    .is_ok_and(|o| !o.is_empty())
            });
            if let Some(image) = image {
                image_of.insert(it.name.clone(), image.id.clone());
            }
        }
        if image_of.is_empty() {
            let ids: Vec<&str> = amis.iter().map(|a| a.id.as_str()).collect();
            return Err(Error::Launch {
                reason: "NoCompatibleAMI".to_string(),
                message: format!(
                    "no instance type of the launch meets the requirements of the images {ids:?} of EC2NodeClass {class_name}"
                ),
            });
        }
        let family = spec.resolved_ami_family();
        let block_devices = launch_template::block_devices(spec, family).map_err(|e| Error::Launch {
            reason: "InvalidBlockDeviceMapping".into(),
            message: e.to_string(),
        })?;
        let tags = self.launch_tags(class, &request.node_pool);
        let labels = node_labels(request, &class_name, &plan.capacity_type, family);
        let taints = node_taints(request);
        // One template per image and max-pods value: user data carries max pods.
        let mut groups: BTreeMap<(String, u64), Vec<&karpenter_cloud::Candidate>> = BTreeMap::new();
        for candidate in &plan.candidates {
            let Some(image) = image_of.get(&candidate.instance_type.name) else { continue };
            if !zonal.contains_key(candidate.offering().zone.as_str()) {
                continue;
            }
            let pods: u64 =
                candidate.instance_type.capacity.get("pods").and_then(|p| p.parse().ok()).unwrap_or(110);
            groups.entry((image.clone(), pods)).or_default().push(candidate);
        }
        if groups.is_empty() {
            return Err(Error::InsufficientCapacity { offerings: Vec::new() });
        }
        let mut specs = Vec::new();
        let mut configs = Vec::new();
        for ((image, pods), candidates) in groups {
            let user_data = userdata::render(&BootstrapInput {
                family,
                cluster_name: &self.settings.cluster_name,
                cluster_endpoint: &self.settings.cluster_endpoint,
                ca_bundle: self.settings.ca_bundle.as_deref(),
                cluster_cidr: self.settings.cluster_cidr.as_deref(),
                cluster_dns: self.settings.cluster_dns.as_deref(),
                labels: &labels,
                taints: &taints,
                max_pods: pods,
                kubelet: spec.kubelet.as_ref(),
                custom_user_data: spec.user_data.as_deref(),
                raid0: spec.instance_store_policy.is_some(),
            })
            .map_err(|e| match e {
                userdata::UserDataError::NoClusterCidr => not_ready(&e.to_string()),
                other => Error::Launch {
                    reason: "InvalidUserData".into(),
                    message: format!("EC2NodeClass {class_name}: {other}"),
                },
            })?;
            let template = LaunchTemplateSpec {
                node_class: class_name.clone(),
                image_id: image.clone(),
                user_data,
                instance_profile: instance_profile.clone(),
                security_group_ids: security_group_ids.clone(),
                metadata: Metadata::of(spec),
                block_devices: block_devices.clone(),
                detailed_monitoring: spec.detailed_monitoring.unwrap_or(false),
                associate_public_ip_address: spec.associate_public_ip_address,
                tags: tags.clone(),
                capacity_type: plan.capacity_type.clone(),
                tenancy: "default".to_string(),
            };
            let mut seen = BTreeSet::new();
            let overrides: Vec<Override> = candidates
                .iter()
                .filter(|c| seen.insert((c.instance_type.name.clone(), c.offering().zone.clone())))
                .map(|c| Override {
                    instance_type: c.instance_type.name.clone(),
                    subnet_id: zonal[c.offering().zone.as_str()].to_string(),
                    zone: c.offering().zone.clone(),
                    image_id: image.clone(),
                    price_bits: c.price().to_bits(),
                })
                .collect();
            configs.push(TemplateConfig { launch_template: template.name(), overrides });
            specs.push(template);
        }
        // The template of the cheapest offering first (ties in the plan's order), so that an emulator that
        // takes the first override agrees with EC2's lowest-price strategy.
        let position = |config: &TemplateConfig| {
            config.overrides.first().and_then(|o| {
                plan.candidates
                    .iter()
                    .position(|c| c.instance_type.name == o.instance_type && c.offering().zone == o.zone)
            })
        };
        configs.sort_by_key(|c| position(c).unwrap_or(usize::MAX));
        let fleet = FleetRequest {
            capacity_type: plan.capacity_type.clone(),
            configs,
            tags,
            context: spec.context.clone(),
        };
        Ok((fleet, specs))
    }

    /// Ensures the templates and runs the fleet request; a template that vanished is recreated once.
    async fn launch_fleet(
        &self,
        fleet: &FleetRequest,
        specs: &[LaunchTemplateSpec],
    ) -> Result<fleet::Outcome> {
        for attempt in 0..2 {
            for spec in specs {
                self.templates
                    .ensure(&self.clients, spec)
                    .await
                    .map_err(|e| e.into_launch_error("ensuring the launch template"))?;
            }
            let outcome = self.fleet.call(fleet.clone(), fleet.clone()).await.ok_or_else(|| Error::Api {
                message: "the CreateFleet batch did not answer".to_string(),
                retryable: true,
            })?;
            match outcome {
                Ok(outcome) => return Ok(outcome),
                Err(error) if error.is_launch_template_not_found() && attempt == 0 => {
                    let names: Vec<String> = specs.iter().map(LaunchTemplateSpec::name).collect();
                    self.templates.forget(&names);
                }
                Err(error) => return Err(error.into_launch_error("creating the fleet")),
            }
        }
        unreachable!("the second attempt returns")
    }

    /// Records what a fleet's per-override errors say about capacity; returns the offerings that had none.
    fn learn(&self, capacity_type: &str, errors: &[fleet::OverrideError]) -> Vec<OfferingKey> {
        let mut failed = Vec::new();
        for error in errors {
            if error.code == NO_FREE_ADDRESSES_CODE
                && let Some(subnet) = &error.subnet_id
            {
                self.unavailable.mark_subnet(subnet);
            }
            match fleet_error_kind(&error.code) {
                FleetErrorKind::InsufficientCapacity => {
                    if let (Some(instance_type), Some(zone)) = (&error.instance_type, &error.zone) {
                        let key = OfferingKey::new(instance_type, zone, capacity_type);
                        self.unavailable.mark(key.clone());
                        if !failed.contains(&key) {
                            failed.push(key);
                        }
                    }
                }
                FleetErrorKind::SpotServiceLinkedRole => self.unavailable.mark_capacity_type("spot"),
                FleetErrorKind::Other => {}
            }
        }
        failed
    }

    /// The cloud instance for what a launch made.
    fn launched_instance(
        &self,
        class: &Registered,
        request: &LaunchRequest,
        plan: &LaunchPlan,
        launched: &Launched,
    ) -> Instance {
        let candidate = plan
            .candidates
            .iter()
            .find(|c| c.instance_type.name == launched.instance_type && c.offering().zone == launched.zone)
            .or_else(|| plan.candidates.iter().find(|c| c.instance_type.name == launched.instance_type));
        let class_name = class.node_class.metadata.name.clone().unwrap_or_default();
        let (mut labels, capacity, allocatable) = match candidate {
            Some(c) => {
                let mut offering = c.offering().clone();
                offering.zone = launched.zone.clone();
                (
                    instance_labels(request, &c.instance_type, &offering),
                    c.instance_type.capacity.clone(),
                    karpenter_solver::allocatable(&c.instance_type).unwrap_or_default(),
                )
            }
            None => (request.labels.clone(), Default::default(), Default::default()),
        };
        labels.insert(INSTANCE_TYPE.to_string(), launched.instance_type.clone());
        labels.insert(ZONE.to_string(), launched.zone.clone());
        labels.insert(CAPACITY_TYPE.to_string(), plan.capacity_type.clone());
        labels.insert(INSTANCE_TENANCY.to_string(), "default".to_string());
        labels.insert(NODE_CLASS_TAG.to_string(), class_name);
        if let Some(zone_id) = Self::zone_id(Some(class), &launched.zone) {
            labels.insert(ZONE_ID.to_string(), zone_id);
        }
        Instance {
            provider_id: instance::provider_id(&launched.zone, &launched.instance_id),
            node_claim: Some(request.node_claim.clone()),
            instance_type: launched.instance_type.clone(),
            zone: launched.zone.clone(),
            capacity_type: plan.capacity_type.clone(),
            image_id: Some(launched.image_id.clone()).filter(|i| !i.is_empty()),
            capacity,
            allocatable,
            labels,
            launched_at: None,
        }
    }
}

/// Labels the node registers with: the NodeClaim's, its NodePool and node class, the capacity type, and for
/// families Karpenter bootstraps `karpenter.sh/do-not-sync-taints`; minus labels in the `kubernetes.io` and
/// `k8s.io` domains that the kubelet may not set on itself.
pub fn node_labels(
    request: &LaunchRequest,
    node_class: &str,
    capacity_type: &str,
    family: AmiFamily,
) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = request.labels.clone().into_iter().collect();
    labels.insert(NODE_POOL.to_string(), request.node_pool.clone());
    labels.insert(NODE_CLASS_TAG.to_string(), node_class.to_string());
    labels.insert(CAPACITY_TYPE.to_string(), capacity_type.to_string());
    if family != AmiFamily::Custom {
        labels.insert(label::DO_NOT_SYNC_TAINTS.to_string(), "true".to_string());
    }
    labels.retain(|key, _| kubelet_may_set(key));
    labels
}

/// Whether the NodeRestriction admission plugin lets a kubelet put this label on its own node.
fn kubelet_may_set(key: &str) -> bool {
    let Some((domain, _)) = key.split_once('/') else { return true };
    let restricted = |d: &str| {
        d == "kubernetes.io" || d.ends_with(".kubernetes.io") || d == "k8s.io" || d.ends_with(".k8s.io")
    };
    if !restricted(domain) {
        return true;
    }
    const ALLOWED_KEYS: [&str; 8] = [
        "kubernetes.io/hostname",
        "kubernetes.io/arch",
        "kubernetes.io/os",
        "node.kubernetes.io/instance-type",
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "beta.kubernetes.io/instance-type",
        "failure-domain.beta.kubernetes.io/zone",
    ];
    ALLOWED_KEYS.contains(&key)
        || ["kubelet.kubernetes.io", "node.kubernetes.io"]
            .iter()
            .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
}

/// Taints the node registers with: the NodeClaim's taints and startup taints, and `karpenter.sh/unregistered`.
pub fn node_taints(request: &LaunchRequest) -> Vec<Taint> {
    let mut taints: Vec<Taint> = request.taints.iter().chain(&request.startup_taints).cloned().collect();
    let unregistered = taint::unregistered();
    if !taints.iter().any(|t| t.key == unregistered.key) {
        taints.push(Taint { key: unregistered.key, value: String::new(), effect: unregistered.effect });
    }
    taints
}

/// Terminates a batch of instances in one call; each id gets the call's outcome.
async fn terminate_batch(
    ec2: &aws_sdk_ec2::Client,
    ids: Vec<String>,
) -> Vec<std::result::Result<(), AwsError>> {
    let unique: Vec<String> = ids.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    let answer = ec2.terminate_instances().set_instance_ids(Some(unique)).send().await;
    match answer {
        Ok(_) => ids.iter().map(|_| Ok(())).collect(),
        Err(e) => {
            let error = AwsError::from_sdk("TerminateInstances", e);
            ids.iter().map(|_| Err(error.clone())).collect()
        }
    }
}

impl CloudProvider for AwsProvider {
    async fn create(&self, request: &LaunchRequest) -> Result<Instance> {
        let class = self.ready_class(&request.node_class)?;
        let unavailable = self.unavailable.snapshot();
        let offered: InstanceTypes = request.instance_types.iter().cloned().collect();
        let types = with_unavailable(&offered, |key| unavailable.is_unavailable(key));
        let current = LaunchRequest { instance_types: types.to_vec(), ..request.clone() };
        let plan = launch::plan(&current, &self.config, self.settings.max_instance_types)?;
        let (fleet_request, specs) = self.fleet_request(&class, &current, &plan)?;
        let outcome = self.launch_fleet(&fleet_request, &specs).await?;
        let failed = self.learn(&plan.capacity_type, &outcome.errors);
        if let Some(launched) = &outcome.instance {
            let instance = self.launched_instance(&class, &current, &plan, launched);
            // Upstream's tagging controller adds this after registration; tagging now ties the machine to its
            // NodeClaim for `get`, `list` and garbage collection from the start.
            let tagged = self
                .clients
                .ec2
                .create_tags()
                .resources(&launched.instance_id)
                .tags(
                    aws_sdk_ec2::types::Tag::builder().key(NODE_CLAIM_TAG).value(&request.node_claim).build(),
                )
                .send()
                .await;
            if let Err(e) = tagged {
                let error = AwsError::from_sdk("CreateTags", e);
                tracing::warn!(instance = %launched.instance_id, %error, "could not tag the instance with its NodeClaim");
            }
            return Ok(instance);
        }
        let others: Vec<&fleet::OverrideError> =
            outcome.errors.iter().filter(|e| fleet_error_kind(&e.code) == FleetErrorKind::Other).collect();
        if outcome.errors.is_empty() {
            return Err(Error::Launch {
                reason: "LaunchFailed".to_string(),
                message: "CreateFleet launched no instance and reported no error".to_string(),
            });
        }
        if others.is_empty() {
            return Err(Error::InsufficientCapacity { offerings: failed });
        }
        let (reason, summary) = launch_reason(&others[0].code, &others[0].message);
        let details: Vec<String> =
            outcome.errors.iter().map(|e| format!("{}: {}", e.code, e.message)).collect();
        Err(Error::Launch {
            reason: reason.to_string(),
            message: format!("creating the fleet: {summary} ({})", details.join("; ")),
        })
    }

    async fn delete(&self, provider_id: &str) -> Result<Deletion> {
        let Some(id) = instance::instance_id(provider_id) else { return Ok(Deletion::Gone) };
        let Some(ec2) = self.describe(id).await? else { return Ok(Deletion::Gone) };
        match ec2.state.as_str() {
            "terminated" => return Ok(Deletion::Gone),
            // Terminating already: asking again only adds load.
            "shutting-down" => return Ok(Deletion::Terminating),
            _ => {}
        }
        match self.terminations.call((), id.to_string()).await {
            Some(Ok(())) => Ok(Deletion::Terminating),
            Some(Err(error)) if error.is_not_found() => Ok(Deletion::Gone),
            Some(Err(error)) => Err(error.into_api_error()),
            None => Err(Error::Api {
                message: "the TerminateInstances batch did not answer".into(),
                retryable: true,
            }),
        }
    }

    async fn get(&self, provider_id: &str) -> Result<Instance> {
        let not_found = || Error::NotFound { provider_id: provider_id.to_string() };
        let id = instance::instance_id(provider_id).ok_or_else(not_found)?;
        match self.describe(id).await? {
            Some(ec2) if !ec2.is_terminating() => Ok(self.instance_from(&ec2)),
            _ => Err(not_found()),
        }
    }

    async fn list(&self) -> Result<Vec<Instance>> {
        let mut pages = self
            .clients
            .ec2
            .describe_instances()
            .filters(filter("tag-key", [NODE_POOL_TAG]))
            .filters(filter("tag-key", [NODE_CLASS_TAG]))
            .filters(filter(&format!("tag:{CLUSTER_NAME_TAG}"), [self.settings.cluster_name.clone()]))
            .filters(filter("instance-state-name", LIVE_STATES))
            .max_results(1000)
            .into_paginator()
            .send();
        let mut instances = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("DescribeInstances", e).into_api_error())?;
            for ec2 in page.reservations().iter().flat_map(|r| r.instances()).map(Ec2Instance::from_sdk) {
                if !ec2.is_terminating() {
                    instances.push(self.instance_from(&ec2));
                }
            }
        }
        instances.sort_by(|a, b| a.provider_id.cmp(&b.provider_id));
        Ok(instances)
    }

    async fn instance_types(&self, node_pool: &NodePool) -> Result<InstanceTypes> {
        let reference = node_pool.node_class_ref.as_ref().ok_or_else(|| Error::NodeClassNotReady {
            reason: format!("NodePool {} names no node class", node_pool.name),
        })?;
        let class = self.class(reference)?;
        let types = self.class_types(&class)?;
        let unavailable = self.unavailable.snapshot();
        if unavailable.is_empty() {
            return Ok(types);
        }
        Ok(with_unavailable(&types, |key| unavailable.is_unavailable(key)))
    }

    async fn is_drifted(&self, query: &DriftQuery) -> Result<Option<DriftReason>> {
        let class = match self.class(&query.node_class) {
            Ok(class) => class,
            // Without its node class nothing can be compared.
            Err(Error::NodeClassNotReady { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        let status = class.node_class.status.clone().unwrap_or_default();
        // The static hash, when both sides carry one of the same version.
        let claim_hash = query.annotations.get(annotation::EC2_NODE_CLASS_HASH);
        let claim_version = query.annotations.get(annotation::EC2_NODE_CLASS_HASH_VERSION);
        if let (Some(hash), Some(version)) = (claim_hash, claim_version)
            && version == hash_version::EC2_NODE_CLASS
            && *hash != class.hash
        {
            return Ok(Some(DriftReason::new("NodeClassDrift")));
        }
        // The image: it must be among the images the status maps the instance type to.
        if let (Some(image), Some(type_name)) = (&query.image_id, query.labels.get(INSTANCE_TYPE)) {
            let types = self.class_types(&class)?;
            if let Some(it) = types.iter().find(|t| &t.name == type_name) {
                let serving: Vec<&str> = status
                    .amis
                    .iter()
                    .flatten()
                    .filter(|ami| {
                        let requirements: Vec<NodeSelectorRequirement> = ami
                            .requirements
                            .iter()
                            .map(|r| NodeSelectorRequirement {
                                key: r.key.clone(),
                                operator: r.operator.clone(),
                                values: r.values.clone().unwrap_or_default(),
                                min_values: None,
                            })
                            .collect();
                        let all = InstanceType {
                            offerings: it
                                .offerings
                                .iter()
                                .cloned()
                                .map(|mut o| {
                                    o.available = true;
                                    o
                                })
                                .collect(),
                            ..InstanceType::clone(it)
                        };
                        karpenter_solver::compatible_offerings(&all, &requirements, &self.config)
                            .is_ok_and(|o| !o.is_empty())
                    })
                    .map(|ami| ami.id.as_str())
                    .collect();
                // A type launches from the first (newest) image that serves it; any other image has drifted.
                if serving.first() != Some(&image.as_str()) {
                    return Ok(Some(DriftReason::new("AMIDrift")));
                }
            }
        }
        let Some(id) = instance::instance_id(&query.provider_id) else { return Ok(None) };
        let Some(ec2) = self.describe(id).await? else { return Ok(None) };
        let mut wanted: Vec<String> = status.security_groups.iter().flatten().map(|g| g.id.clone()).collect();
        wanted.sort();
        if !wanted.is_empty() && !ec2.security_group_ids.is_empty() && wanted != ec2.security_group_ids {
            return Ok(Some(DriftReason::new("SecurityGroupDrift")));
        }
        if let Some(subnet) = &ec2.subnet_id
            && !status.subnets.iter().flatten().any(|s| &s.id == subnet)
        {
            return Ok(Some(DriftReason::new("SubnetDrift")));
        }
        Ok(None)
    }

    fn repair_policies(&self) -> Vec<RepairPolicy> {
        let policy = |condition: &str, status: ConditionStatus, minutes: u64| RepairPolicy {
            condition_type: condition.to_string(),
            condition_status: status,
            toleration: Duration::from_secs(minutes * 60),
        };
        vec![
            policy("Ready", ConditionStatus::False, 30),
            policy("Ready", ConditionStatus::Unknown, 30),
            policy("AcceleratedHardwareReady", ConditionStatus::False, 10),
            policy("StorageReady", ConditionStatus::False, 30),
            policy("NetworkingReady", ConditionStatus::False, 30),
            policy("KernelReady", ConditionStatus::False, 30),
            policy("ContainerRuntimeReady", ConditionStatus::False, 30),
        ]
    }

    fn name(&self) -> &str {
        "aws"
    }

    fn node_classes(&self) -> Vec<NodeClassKind> {
        vec![node_class_kind()]
    }
}
