//! The solver's prepared form: everything that does not change between provisioning rounds (NodePools, instance
//! types, DaemonSets) compiled once, so that each round only compiles its own pods and nodes. Upstream added the
//! same split for the same reason (`preparedscheduler.go`, `simulationcache.go`): the disruption engine solves once
//! per candidate and `simulate` once per simulated second, and a real catalog takes tens of milliseconds to
//! compile.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use crate::SolverConfig;
use crate::compile::{
    self, InstanceTypeData, NamespaceIndex, PodData, PodKind, TemplateData, compile_instance_type,
    compile_pod, compile_template,
};
use crate::filter::{OfferingSlots, Types};
use crate::ids::{KeyId, PoolId, TypeId, ValueId};
use crate::interner::Interner;
use crate::model::{ExistingNode, InstanceType, Namespace, NodeOverlay, NodePool, Pod, Problem};
use crate::overlay::{self, OverlayStatus};
use crate::plan::{InputError, Plan};
use crate::requirements::Shape;
use crate::resources::ResourceTable;
use crate::scheduler::Scheduler;
use crate::taints::{Effect, Taint};
use crate::templates::Template;

/// What one provisioning round brings: the pods waiting for capacity, the nodes that exist or are being launched
/// (with the pods bound to them), and the namespaces (for `namespaceSelector` in pod affinity terms).
#[derive(Clone, Copy, Default)]
pub struct Round<'a> {
    /// Pods waiting for capacity.
    pub pods: &'a [Pod],
    /// Nodes that exist or are being launched, with the pods bound to them.
    pub nodes: &'a [ExistingNode],
    /// Namespaces with their labels.
    pub namespaces: &'a [Namespace],
    /// A monotonic clock for [`crate::plan::SolveStats::phases`]; without one, no phase is timed. The solver never
    /// reads a clock of its own, and nothing it decides depends on this one.
    pub clock: Option<&'a (dyn Fn() -> std::time::Duration + Sync)>,
}

impl<'a> Round<'a> {
    /// The round part of a problem: its pods, nodes and namespaces.
    pub fn of(problem: &'a Problem) -> Self {
        Round { pods: &problem.pods, nodes: &problem.nodes, namespaces: &problem.namespaces, clock: None }
    }
}

impl std::fmt::Debug for Round<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Round")
            .field("pods", &self.pods.len())
            .field("nodes", &self.nodes.len())
            .field("namespaces", &self.namespaces.len())
            .field("clock", &self.clock.is_some())
            .finish()
    }
}

/// NodePools, instance types and DaemonSets compiled once, for many [`Prepared::solve`] rounds.
///
/// Instance types are compiled once each, however many NodePools list them: the lists given per pool refer to one
/// table (the same `Arc`, or an equal instance type, is the same entry). Topology domains are worked out only for
/// the label keys some pod's topology term uses, the first time a round needs them.
///
/// ```
/// use std::sync::Arc;
/// use karpenter_solver::{Prepared, Round, SolverConfig, model::*};
///
/// let types: Vec<Arc<InstanceType>> = vec![Arc::new(serde_json::from_str(r#"{
///     "name": "m.large", "capacity": {"cpu": "2", "memory": "8Gi", "pods": "29"},
///     "offerings": [{"zone": "a", "capacityType": "on-demand", "price": 0.096}]}"#).unwrap())];
/// let pools = [NodePool { name: "default".into(), ..NodePool::default() }];
/// let prepared = Prepared::new(&pools, &types, &Default::default(), &[], &SolverConfig::default());
/// let pods: Vec<Pod> = serde_json::from_str(r#"[{"name": "web",
///     "containers": [{"requests": {"cpu": "1", "memory": "1Gi"}}]}]"#).unwrap();
/// let plan = prepared.solve(&Round { pods: &pods, ..Round::default() });
/// assert_eq!(plan.new_node_claims.len(), 1);
/// ```
pub struct Prepared {
    pub(crate) config: SolverConfig,
    /// Frozen: rounds extend it.
    pub(crate) interner: Interner,
    pub(crate) table: ResourceTable,
    pub(crate) instance_types: Vec<InstanceTypeData>,
    pub(crate) daemons: Vec<PodData>,
    /// Every NodePool that compiled, in the order pools are tried; topology domains come from all of them.
    pub(crate) pool_data: Vec<TemplateData>,
    /// The pools that keep at least one instance type, in the order pools are tried.
    pub(crate) templates: Vec<Template>,
    /// True when some pool taints with PreferNoSchedule, which relaxation may then tolerate.
    pub(crate) any_prefer_no_schedule_taint: bool,
    /// Objects set aside, with the reason.
    pub(crate) input_errors: Vec<InputError>,
    /// For each instance type of the shared list that compiled, its position in that list.
    pub(crate) shared: Vec<(usize, TypeId)>,
    /// What became of each NodeOverlay.
    overlay_statuses: Vec<OverlayStatus>,
    /// The (zone, capacity type) slots of the offerings, when there are few enough.
    pub(crate) slots: Option<OfferingSlots>,
    /// Topology domains per label key, worked out on first use.
    domains: Mutex<HashMap<KeyId, Arc<Domains>>>,
}

/// The domains of one label key that NodePools and their instance types can offer, each with the taint sets of
/// the pools that offer it (`TopologyDomainGroup`).
pub(crate) type Domains = BTreeMap<ValueId, Vec<Vec<Taint>>>;

impl Prepared {
    /// Compiles NodePools, the instance types offered to them (`instance_types` to every pool without an entry in
    /// `pool_instance_types`), and the DaemonSet pods that will run on their nodes. Malformed objects are set
    /// aside and reported in every round's [`Plan::input_errors`].
    pub fn new(
        node_pools: &[NodePool],
        instance_types: &[Arc<InstanceType>],
        pool_instance_types: &BTreeMap<String, Vec<Arc<InstanceType>>>,
        daemon_set_pods: &[Pod],
        config: &SolverConfig,
    ) -> Prepared {
        Prepared::with_overlays(node_pools, instance_types, pool_instance_types, daemon_set_pods, &[], config)
    }

    /// Like [`Prepared::new`], with NodeOverlays (gate `NodeOverlay`) applied to each pool's instance types first;
    /// [`Prepared::overlay_statuses`] says what became of each.
    pub fn with_overlays(
        node_pools: &[NodePool],
        instance_types: &[Arc<InstanceType>],
        pool_instance_types: &BTreeMap<String, Vec<Arc<InstanceType>>>,
        daemon_set_pods: &[Pod],
        overlays: &[NodeOverlay],
        config: &SolverConfig,
    ) -> Prepared {
        // Overlays make each pool's list its own (types no overlay touches stay the same `Arc`).
        let overlaid;
        let mut overlay_statuses = Vec::new();
        let (instance_types, pool_instance_types) = if overlays.is_empty() {
            (instance_types, pool_instance_types)
        } else {
            let lists: BTreeMap<String, Vec<Arc<InstanceType>>> = node_pools
                .iter()
                .map(|pool| {
                    let list = pool_instance_types.get(&pool.name).map_or(instance_types, Vec::as_slice);
                    (pool.name.clone(), list.to_vec())
                })
                .collect();
            let (lists, statuses) = overlay::apply(node_pools, &lists, overlays, &config.well_known_labels);
            overlay_statuses = statuses;
            overlaid = lists;
            (instance_types, &overlaid)
        };
        let mut interner = Interner::new(&config.well_known_labels)
            .with_restricted_domains(&config.restricted_label_domains);
        let mut table = ResourceTable::new();
        table.extend(node_pools.iter().map(|p| &p.limits));
        // Each distinct type once: per-pool lists usually repeat the same `Arc`s.
        let mut seen = std::collections::HashSet::new();
        table.extend(
            instance_types
                .iter()
                .chain(pool_instance_types.values().flatten())
                .filter(|it| seen.insert(Arc::as_ptr(it)))
                .flat_map(|it| ResourceTable::instance_type_lists(it)),
        );
        table.extend(ResourceTable::pod_lists(daemon_set_pods));
        let mut input_errors = Vec::new();

        let no_namespaces = NamespaceIndex::new(&[]);
        let mut daemons = Vec::new();
        for pod in daemon_set_pods {
            match compile_pod(&mut interner, &table, &no_namespaces, pod, PodKind::DaemonSet) {
                Ok(data) => daemons.push(data),
                Err(error) => {
                    input_errors.push(error.on(format!("DaemonSetPod/{}/{}", pod.namespace, pod.name)))
                }
            }
        }

        let mut catalog = TypeCatalog::default();
        let mut shared = Vec::new();
        for (position, it) in instance_types.iter().enumerate() {
            if let Some(id) = catalog.add(&mut interner, &table, it, &mut input_errors) {
                shared.push((position, id));
            }
        }
        let shared_ids: Vec<TypeId> = shared.iter().map(|(_, id)| *id).collect();
        let mut pool_data = Vec::new();
        for pool in node_pools {
            let types = match pool_instance_types.get(&pool.name) {
                Some(list) => list
                    .iter()
                    .filter_map(|it| catalog.add(&mut interner, &table, it, &mut input_errors))
                    .collect(),
                None => shared_ids.clone(),
            };
            match compile_template(&mut interner, &table, pool, types) {
                Ok(template) => pool_data.push(template),
                Err(error) => input_errors.push(error),
            }
        }
        let mut instance_types = catalog.compiled;
        let slots = OfferingSlots::assign(&mut instance_types);
        for pool in &mut pool_data {
            pool.instance_types
                .sort_by(|a, b| instance_types[a.index()].name.cmp(&instance_types[b.index()].name));
        }
        // Weight first, then name descending, as upstream orders NodePools.
        pool_data.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| b.name.cmp(&a.name)));

        let interner = interner.freeze();
        let types = Types { interner: &interner, list: &instance_types, slots: slots.as_ref() };
        let mut templates = Vec::new();
        for data in &pool_data {
            match Template::build(data.clone(), types, &daemons, &table, config.min_values()) {
                Ok(template) => templates.push(template),
                Err(message) => input_errors.push(InputError {
                    object: format!("NodePool/{}", data.name),
                    field: None,
                    message,
                }),
            }
        }
        let any_prefer_no_schedule_taint =
            pool_data.iter().any(|t| t.taints.iter().any(|taint| taint.effect == Effect::PreferNoSchedule));
        Prepared {
            config: config.clone(),
            interner,
            table,
            instance_types,
            daemons,
            pool_data,
            templates,
            any_prefer_no_schedule_taint,
            input_errors,
            shared,
            slots,
            overlay_statuses,
            domains: Mutex::default(),
        }
    }

    /// Compiles the NodePools, instance types and DaemonSet pods of a problem (its pods, nodes and namespaces are
    /// left for [`Round::of`]).
    pub fn from_problem(problem: &Problem, config: &SolverConfig) -> Prepared {
        Prepared::with_overlays(
            &problem.node_pools,
            &problem.instance_types,
            &problem.pool_instance_types,
            &problem.daemon_set_pods,
            &problem.node_overlays,
            config,
        )
    }

    /// Simulates one provisioning round over the prepared NodePools. Equal rounds give equal plans, whatever
    /// rounds were solved before.
    pub fn solve(&self, round: &Round<'_>) -> Plan {
        let started = round.clock.map(|clock| clock());
        let compiled = compile::compile_round(self, round);
        let nodes: Vec<_> = compiled.nodes.iter().collect();
        let compiled_at = round.clock.map(|clock| clock());
        Scheduler::new(self, compiled.view(&nodes), round.clock).solve(started, compiled_at)
    }

    /// What became of each NodeOverlay, in the order they were applied (heaviest first).
    pub fn overlay_statuses(&self) -> &[OverlayStatus] {
        &self.overlay_statuses
    }

    /// Input objects that were set aside while preparing (NodePools, instance types, DaemonSet pods).
    pub fn input_errors(&self) -> &[InputError] {
        &self.input_errors
    }

    /// The compiled instance types, read through `interner` (the prepared one or a round's).
    pub(crate) fn types<'a>(&'a self, interner: &'a Interner) -> Types<'a> {
        Types { interner, list: &self.instance_types, slots: self.slots.as_ref() }
    }

    pub(crate) fn template(&self, pool: PoolId) -> &Template {
        &self.templates[pool.index()]
    }

    /// The domains of `key` that the NodePools and their instance types can offer (`buildDomainGroups`), worked
    /// out for one key at a time on first use: a round whose pods spread over zones never pays for the dozens of
    /// other labels of a real catalog.
    pub(crate) fn domains(&self, key: KeyId) -> Arc<Domains> {
        if !self.interner.in_base(key) {
            // A key only a round's pods name: no NodePool or instance type offers a domain of it.
            return Arc::default();
        }
        let mut cache = self.domains.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(cache.entry(key).or_insert_with(|| Arc::new(self.domains_of(key))))
    }

    fn domains_of(&self, key: KeyId) -> Domains {
        let interner = &self.interner;
        let mut domains = Domains::new();
        let mut insert = |domain: ValueId, taints: &[Taint]| {
            let sets = domains.entry(domain).or_default();
            // A domain offered without taints is open to every pod; no need to remember the tainted offers.
            if taints.is_empty() {
                sets.clear();
                sets.push(Vec::new());
            } else if !sets.first().is_some_and(Vec::is_empty) {
                sets.push(taints.to_vec());
            }
        };
        for pool in &self.pool_data {
            let from_pool = pool.requirements.get(key);
            for &id in &pool.instance_types {
                let from_type = self.instance_types[id.index()].requirements.get(key);
                // The pool's requirements with the type's added, as upstream combines them, on this key only.
                let combined = match (from_pool, from_type) {
                    (Some(p), Some(t)) => t.intersection(interner, p),
                    (Some(only), None) | (None, Some(only)) => only.clone(),
                    (None, None) => continue,
                };
                for &domain in combined.values() {
                    insert(domain, &pool.taints);
                }
            }
            if let Some(requirement) = from_pool
                && requirement.shape() == Shape::In
            {
                for &domain in requirement.values() {
                    insert(domain, &pool.taints);
                }
            }
        }
        domains
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("node_pools", &self.templates.iter().map(|t| &t.data.name).collect::<Vec<_>>())
            .field("instance_types", &self.instance_types.len())
            .field("daemon_set_pods", &self.daemons.len())
            .field("input_errors", &self.input_errors)
            .finish_non_exhaustive()
    }
}

/// The id an instance type compiled to, or why it did not compile.
type Compiled = Result<TypeId, InputError>;

/// The one table of compiled instance types, deduplicated: the same `Arc` (or an equal type) is compiled once.
#[derive(Default)]
struct TypeCatalog<'a> {
    compiled: Vec<InstanceTypeData>,
    by_pointer: HashMap<*const InstanceType, Compiled>,
    by_name: HashMap<&'a str, Vec<(&'a InstanceType, Compiled)>>,
    /// Types with offerings the solver ignores (and reports), in id order.
    with_notices: Vec<TypeId>,
}

impl<'a> TypeCatalog<'a> {
    /// The id of the type, compiling it on first sight. A malformed type is reported every time a list names it,
    /// as are notices about offerings it ignores, as if each list were compiled on its own.
    fn add(
        &mut self,
        interner: &mut Interner,
        table: &ResourceTable,
        it: &'a Arc<InstanceType>,
        errors: &mut Vec<InputError>,
    ) -> Option<TypeId> {
        let known = self.by_pointer.get(&Arc::as_ptr(it)).cloned().or_else(|| {
            self.by_name
                .get(it.name.as_str())?
                .iter()
                .find(|(other, _)| **other == **it)
                .map(|(_, r)| r.clone())
        });
        let outcome = known.unwrap_or_else(|| {
            let outcome = match compile_instance_type(interner, table, it) {
                Ok(data) => {
                    self.compiled.push(data);
                    let id = TypeId::new(self.compiled.len() - 1);
                    if compile::ignored_offerings(it).next().is_some() {
                        self.with_notices.push(id);
                    }
                    Ok(id)
                }
                Err(error) => Err(error.on(format!("InstanceType/{}", it.name))),
            };
            self.by_pointer.insert(Arc::as_ptr(it), outcome.clone());
            self.by_name.entry(it.name.as_str()).or_default().push((&**it, outcome.clone()));
            outcome
        });
        match outcome {
            Ok(id) => {
                // Only a type with reserved offerings has notices; the check is a flag, not a scan, per listing.
                if self.with_notices.binary_search(&id).is_ok() {
                    errors.extend(compile::ignored_offerings(it));
                }
                Some(id)
            }
            Err(error) => {
                errors.push(error);
                None
            }
        }
    }
}
