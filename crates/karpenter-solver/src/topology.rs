//! Topology spread constraints and pod (anti-)affinity: `topology.go`, `topologygroup.go`,
//! `topologydomaingroup.go` and `topologynodefilter.go` of upstream's scheduler.
//!
//! A *group* counts, per domain of one label key, the pods a selector picks. Pods with the same constraint share
//! one group. Placing a pod asks every group it owns (and every inverse anti-affinity group that selects it) which
//! domains it may go to; the answer becomes one more requirement on the node. Placing it records it in every group
//! that selects it.
//!
//! Differences from upstream, on purpose: where upstream picks among equally good domains by Go map order, the
//! domain with the smallest name wins, so equal input gives equal output.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use rustc_hash::FxHashMap;

use crate::Prepared;
use crate::compile::{NodeData, PodData, RoundView};
use crate::ids::{ClaimId, KeyId, PodId, ValueId};
use crate::podterms::{GroupKey, Kind, NodeFilter, Selector, Term};
use crate::requirements::{Interner, Requirement, Requirements, Shape, Undefined};
use crate::taints::{self, Taint, Toleration};

/// One topology group.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) kind: Kind,
    pub(crate) key: KeyId,
    hostname: bool,
    namespaces: Vec<String>,
    selector: Selector,
    max_skew: i32,
    min_domains: Option<i32>,
    filter: Option<NodeFilter>,
    /// Matching pods per known domain; known domains without pods are present with zero.
    counts: DomainCounts,
    /// Domains holding at least one matching pod, in the order they filled.
    occupied: Vec<ValueId>,
    /// For a group counted over every node of a what-if round: who registered each domain, so that a question
    /// can take nodes away again ([`Group::remove_node`]), and what this question took away.
    base: Option<Arc<BaseBook>>,
    taken: FxHashMap<ValueId, u32>,
}

/// What a group counted over every node of a what-if round remembers to take nodes away again.
#[derive(Debug, Default)]
struct BaseBook {
    /// How many times each domain was registered: by nodes, hostnames and (in inverse groups) bound pods' terms.
    registrations: FxHashMap<ValueId, u32>,
    /// Domains the NodePools offer: they stay whatever nodes go.
    universe: Vec<ValueId>,
}

/// Whether a group is an inverse anti-affinity group, and then of which term.
#[derive(Debug, Clone, Copy)]
enum Inverse<'k> {
    No,
    Of(&'k GroupKey),
}

/// Topology groups counted over every node of a what-if round, each worked out the first time a question needs
/// it and copied, minus the question's removed nodes, into every question after: a question never counts the
/// cluster's pods again.
#[derive(Debug, Default)]
pub(crate) struct TopologyBase {
    /// By group key and the tolerations of the pod that made it (upstream makes a group from its first pod).
    regular: Mutex<HashMap<(GroupKey, String), Arc<Group>>>,
    inverse: Mutex<HashMap<(GroupKey, String), Arc<Group>>>,
}

/// A what-if round's base topology, its nodes, and the nodes a question removed.
#[derive(Clone, Copy)]
pub(crate) struct BaseRef<'a> {
    pub(crate) topology: &'a TopologyBase,
    pub(crate) all_nodes: &'a [NodeData],
    pub(crate) removed: &'a [&'a NodeData],
}

impl BaseRef<'_> {
    /// The group for `term` as counted over the question's nodes.
    fn group(
        &self,
        interner: &Interner,
        prepared: &Prepared,
        term: &Term,
        tolerations: &[Toleration],
        inverse: bool,
    ) -> Group {
        let hostname_key = interner.keys().hostname;
        let kind = if inverse { Inverse::Of(&term.group_key) } else { Inverse::No };
        let cache = if inverse { &self.topology.inverse } else { &self.topology.regular };
        let key = (term.group_key.clone(), format!("{tolerations:?}"));
        let base = {
            let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(cache.entry(key).or_insert_with(|| {
                let mut group = Group::new(term, hostname_key, tolerations, prepared);
                group.count_base(interner, self.all_nodes, kind);
                Arc::new(group)
            }))
        };
        let mut group = (*base).clone();
        for node in self.removed {
            group.remove_node(interner, node, kind);
        }
        group
    }
}

/// Which groups a pending pod owns, per term, for every relaxation state.
#[derive(Debug, Clone, Default)]
pub(crate) struct PodGroups {
    spread: Vec<usize>,
    affinity_required: Vec<usize>,
    affinity_preferred: Vec<usize>,
    anti_required: Vec<usize>,
    anti_preferred: Vec<usize>,
    /// Inverse groups made from this pod's required anti-affinity terms.
    inverse_owned: Vec<usize>,
    /// Regular groups whose selector picks this pod.
    selected_by: Vec<usize>,
    /// Inverse groups whose selector picks this pod.
    inverse_selecting: Vec<usize>,
}

/// How far a pod's topology preferences have been relaxed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopologyRelaxation {
    pub(crate) affinity_preferred_dropped: usize,
    pub(crate) anti_preferred_dropped: usize,
    /// Indices of the spread constraints still in force, in the order upstream keeps them (a dropped constraint
    /// is replaced by the last one).
    pub(crate) spread: Vec<usize>,
}

impl TopologyRelaxation {
    pub(crate) fn new(pod: &PodData) -> Self {
        TopologyRelaxation {
            affinity_preferred_dropped: 0,
            anti_preferred_dropped: 0,
            spread: (0..pod.spread.len()).collect(),
        }
    }
}

/// The groups that constrain one placement attempt: owned regular groups, then inverse groups.
#[derive(Debug, Clone, Default)]
pub(crate) struct Constraints {
    owned: Vec<usize>,
    inverse: Vec<usize>,
}

impl Constraints {
    pub(crate) fn is_empty(&self) -> bool {
        self.owned.is_empty() && self.inverse.is_empty()
    }
}

/// Whether a group's selector picks the pod being placed, which then counts in the domain it lands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selection {
    Itself,
    OthersOnly,
}

impl Selection {
    /// What the pod adds to its own domain's count.
    fn own_count(self) -> i32 {
        i32::from(self == Selection::Itself)
    }
}

/// A topology group that left no domain for the pod; put into words by [`Topology::explain`] only when reported.
#[derive(Debug, Clone)]
pub(crate) struct TopologyConflict {
    group: usize,
    inverse: bool,
}

pub(crate) struct Topology {
    groups: Vec<Group>,
    inverse: Vec<Group>,
    pods: Vec<PodGroups>,
    hostname_key: KeyId,
    respect_preferences: bool,
    /// Hostnames of the round's existing nodes. Every hostname group knows them as domains, but keeps no entry
    /// for them until a pod is counted there: only explanations list them, and thousands of nodes times dozens of
    /// hostname groups would otherwise be copied into every group and every what-if question.
    node_hostnames: Vec<ValueId>,
}

impl Topology {
    /// Builds every group the pending pods need, counting the pods already running on the round's nodes. The
    /// domains each group knows come from the prepared NodePools (`Prepared::domains`), for its key only.
    pub(crate) fn new(c: &RoundView<'_>, prepared: &Prepared) -> Self {
        let respect_preferences = prepared.config.respects_preferences();
        let mut topology = Topology {
            groups: Vec::new(),
            inverse: Vec::new(),
            pods: Vec::with_capacity(c.pods.len()),
            hostname_key: c.keys().hostname,
            respect_preferences,
            node_hostnames: Vec::new(),
        };
        let mut index: HashMap<GroupKey, usize> = HashMap::new();
        let mut inverse_index: HashMap<GroupKey, usize> = HashMap::new();

        // Required anti-affinity of pods already running keeps matching pods out of their domains. A what-if
        // question's groups come counted from its base; a fresh round counts them here.
        for node in c.nodes {
            for pod in &node.pods {
                for term in &pod.anti_required {
                    let g = topology.inverse_group(&mut inverse_index, term, &pod.tolerations, prepared, c);
                    if c.base.is_none()
                        && let Some(domain) = node_domain(node, term.key)
                    {
                        topology.inverse[g].record(domain);
                    }
                }
            }
        }

        for pod in c.pods {
            let mut groups = PodGroups::default();
            let mut regular = |topology: &mut Topology, terms: &[Term]| -> Vec<usize> {
                terms.iter().map(|term| topology.regular_group(&mut index, term, pod, prepared, c)).collect()
            };
            groups.spread = regular(&mut topology, &pod.spread);
            groups.affinity_required = regular(&mut topology, &pod.affinity_required);
            groups.affinity_preferred = regular(&mut topology, &pod.affinity_preferred);
            groups.anti_required = regular(&mut topology, &pod.anti_required);
            groups.anti_preferred = regular(&mut topology, &pod.anti_preferred);
            groups.inverse_owned = pod
                .anti_required
                .iter()
                .map(|term| topology.inverse_group(&mut inverse_index, term, &pod.tolerations, prepared, c))
                .collect();
            topology.pods.push(groups);
        }

        // Selection does not change during a solve: work it out once per pod.
        for (p, pod) in c.pods.iter().enumerate() {
            let selected_by: Vec<usize> = (0..topology.groups.len())
                .filter(|&g| topology.groups[g].selects(&pod.namespace, &pod.labels))
                .collect();
            let inverse_selecting: Vec<usize> = (0..topology.inverse.len())
                .filter(|&g| topology.inverse[g].selects(&pod.namespace, &pod.labels))
                .collect();
            topology.pods[p].selected_by = selected_by;
            topology.pods[p].inverse_selecting = inverse_selecting;
        }
        topology
    }

    fn regular_group(
        &mut self,
        index: &mut HashMap<GroupKey, usize>,
        term: &Term,
        pod: &PodData,
        prepared: &Prepared,
        c: &RoundView<'_>,
    ) -> usize {
        if let Some(&g) = index.get(&term.group_key) {
            return g;
        }
        let group = match c.base {
            Some(base) => base.group(c.interner, prepared, term, &pod.tolerations, false),
            None => {
                let mut group = Group::new(term, self.hostname_key, &pod.tolerations, prepared);
                group.count_existing(c);
                group
            }
        };
        self.groups.push(group);
        index.insert(term.group_key.clone(), self.groups.len() - 1);
        self.groups.len() - 1
    }

    fn inverse_group(
        &mut self,
        index: &mut HashMap<GroupKey, usize>,
        term: &Term,
        tolerations: &[Toleration],
        prepared: &Prepared,
        c: &RoundView<'_>,
    ) -> usize {
        if let Some(&g) = index.get(&term.group_key) {
            return g;
        }
        let group = match c.base {
            Some(base) => base.group(c.interner, prepared, term, tolerations, true),
            None => Group::new(term, self.hostname_key, tolerations, prepared),
        };
        self.inverse.push(group);
        index.insert(term.group_key.clone(), self.inverse.len() - 1);
        self.inverse.len() - 1
    }

    /// The groups constraining `pod` in its current relaxation state (`getMatchingTopologies`).
    pub(crate) fn constraints(
        &self,
        pod: PodId,
        data: &PodData,
        relaxation: &TopologyRelaxation,
    ) -> Constraints {
        let groups = &self.pods[pod.index()];
        let mut owned = Vec::new();
        for &i in &relaxation.spread {
            if self.respect_preferences || !data.spread[i].schedule_anyway {
                owned.push(groups.spread[i]);
            }
        }
        owned.extend_from_slice(&groups.affinity_required);
        owned.extend_from_slice(&groups.anti_required);
        if self.respect_preferences {
            owned.extend_from_slice(&groups.affinity_preferred[relaxation.affinity_preferred_dropped..]);
            owned.extend_from_slice(&groups.anti_preferred[relaxation.anti_preferred_dropped..]);
        }
        owned.sort_unstable();
        owned.dedup();
        Constraints { owned, inverse: groups.inverse_selecting.clone() }
    }

    /// Whether `pod` selects itself for group `g` (it counts in its own domains).
    fn selection(&self, pod: PodId, g: usize) -> Selection {
        if self.pods[pod.index()].selected_by.binary_search(&g).is_ok() {
            Selection::Itself
        } else {
            Selection::OthersOnly
        }
    }

    /// `AddRequirements`: the domain requirement each constraining group allows, or the first group that allows
    /// none. `node` is what the candidate node already requires; `strict` is the pod's own required node
    /// affinity, which bounds the domains the pod may use.
    pub(crate) fn domain_requirements(
        &self,
        interner: &Interner,
        pod: PodId,
        constraints: &Constraints,
        strict: &Requirements,
        node: &Requirements,
    ) -> Result<Vec<(KeyId, Requirement)>, TopologyConflict> {
        let mut out = Vec::new();
        let exists = Requirement::exists();
        let owned = constraints.owned.iter().map(|&g| (g, false));
        let inverse = constraints.inverse.iter().map(|&g| (g, true));
        for (g, is_inverse) in owned.chain(inverse) {
            let group = if is_inverse { &self.inverse[g] } else { &self.groups[g] };
            let pod_domains = strict.get(group.key).unwrap_or(&exists);
            let node_domains = node.get(group.key).unwrap_or(&exists);
            let selection = if is_inverse { Selection::OthersOnly } else { self.selection(pod, g) };
            let allowed = group.allowed_domains(interner, selection, pod_domains, node_domains);
            if allowed.shape() == Shape::DoesNotExist {
                return Err(TopologyConflict { group: g, inverse: is_inverse });
            }
            out.push((group.key, allowed));
        }
        Ok(out)
    }

    /// Puts a conflict found by [`Topology::domain_requirements`] into words, given the same `strict` and `node`
    /// requirements: the group, its counts and what the pod and the node allow.
    pub(crate) fn explain(
        &self,
        interner: &Interner,
        conflict: &TopologyConflict,
        strict: &Requirements,
        node: &Requirements,
    ) -> String {
        let group =
            if conflict.inverse { &self.inverse[conflict.group] } else { &self.groups[conflict.group] };
        let exists = Requirement::exists();
        let pod_domains = strict.get(group.key).unwrap_or(&exists);
        let node_domains = node.get(group.key).unwrap_or(&exists);
        let hostnames: &[ValueId] = if group.hostname { &self.node_hostnames } else { &[] };
        let mut text = group.explain(interner, pod_domains, node_domains, hostnames);
        if conflict.inverse {
            text.push_str(" (required anti-affinity of pods already placed)");
        }
        text
    }

    /// `Record`: count `pod` in every group that selects it, given where it landed.
    pub(crate) fn record(
        &mut self,
        interner: &Interner,
        pod: PodId,
        taints: &[Taint],
        requirements: &Requirements,
    ) {
        let groups = &self.pods[pod.index()];
        for &g in &groups.selected_by {
            let group = &mut self.groups[g];
            if !group.filter_matches(interner, taints, requirements) {
                continue;
            }
            match requirements.get(group.key) {
                Some(domains) if group.kind == Kind::AntiAffinity => {
                    for &domain in domains.values() {
                        group.record(domain);
                    }
                }
                Some(domains) if domains.shape() == Shape::In && domains.values().len() == 1 => {
                    group.record(domains.values()[0]);
                }
                _ => {}
            }
        }
        for &g in &groups.inverse_owned {
            if let Some(domains) = requirements.get(self.inverse[g].key) {
                for &domain in domains.values() {
                    self.inverse[g].record(domain);
                }
            }
        }
    }

    /// A cheap early answer for a node whose hostname is its only possible domain: true when a hostname
    /// anti-affinity or spread constraint already rules it out. It decides exactly as
    /// [`Topology::domain_requirements`] would for these groups, so a node it refuses need not be checked further.
    pub(crate) fn refuses_hostname(&self, pod: PodId, constraints: &Constraints, hostname: ValueId) -> bool {
        let owned = constraints.owned.iter().any(|&g| {
            let group = &self.groups[g];
            group.hostname
                && match group.kind {
                    Kind::AntiAffinity => group.count(hostname) > 0,
                    Kind::Spread => {
                        group.count(hostname) + self.selection(pod, g).own_count() > group.max_skew
                    }
                    Kind::Affinity => false,
                }
        });
        owned
            || constraints
                .inverse
                .iter()
                .any(|&g| self.inverse[g].hostname && self.inverse[g].count(hostname) > 0)
    }

    /// Makes every hostname group aware of a new node's hostname.
    pub(crate) fn register_hostname(&mut self, hostname: ValueId) {
        let key = self.hostname_key;
        for group in self.groups.iter_mut().chain(self.inverse.iter_mut()) {
            if group.key == key {
                group.counts.slot(hostname);
            }
        }
    }

    /// Makes every hostname group aware of the hostnames of existing nodes (see [`Topology::node_hostnames`]).
    pub(crate) fn register_hostnames(&mut self, hostnames: Vec<ValueId>) {
        self.node_hostnames = hostnames;
    }
}

/// The domain of `key` on an existing node; hostname falls back to the node name, which compile always adds.
fn node_domain(node: &NodeData, key: KeyId) -> Option<ValueId> {
    node.requirements.get(key).and_then(|r| (r.values().len() == 1).then(|| r.values()[0]))
}

/// Pod counts per domain. Placeholder hostnames of new NodeClaims are dense, so they live in a vector; other
/// domains in a map keyed by the interned value.
#[derive(Debug, Clone, Default)]
struct DomainCounts {
    /// Interned ids are already well spread, so the Fx hash mixes them enough and costs far less than SipHash in
    /// the scheduler's innermost loops.
    known: FxHashMap<ValueId, i32>,
    /// Count per placeholder index; `None` for placeholders not registered in this group.
    placeholders: Vec<Option<i32>>,
}

impl DomainCounts {
    fn get(&self, domain: ValueId) -> Option<i32> {
        match domain.placeholder_claim() {
            Some(claim) => self.placeholders.get(claim.index()).copied().flatten(),
            None => self.known.get(&domain).copied(),
        }
    }

    fn contains(&self, domain: ValueId) -> bool {
        self.get(domain).is_some()
    }

    fn slot(&mut self, domain: ValueId) -> &mut i32 {
        match domain.placeholder_claim() {
            Some(claim) => {
                let i = claim.index();
                if self.placeholders.len() <= i {
                    self.placeholders.resize(i + 1, None);
                }
                self.placeholders[i].get_or_insert(0)
            }
            None => self.known.entry(domain).or_insert(0),
        }
    }

    fn iter(&self) -> impl Iterator<Item = (ValueId, i32)> + '_ {
        let known = self.known.iter().map(|(d, c)| (*d, *c));
        let placeholders = self
            .placeholders
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.map(|c| (ValueId::placeholder(ClaimId::new(i)), c)));
        known.chain(placeholders)
    }
}

impl Group {
    fn new(term: &Term, hostname_key: KeyId, tolerations: &[Toleration], prepared: &Prepared) -> Self {
        let mut counts = DomainCounts::default();
        // Spread groups honour taints only under nodeTaintsPolicy=Honor; affinity groups always do (upstream's
        // zero-value policy is not "Ignore").
        let honor_taints = term.filter.as_ref().is_none_or(|f| f.honor_taints);
        {
            let domains = prepared.domains(term.key);
            for (&domain, taint_sets) in domains.iter() {
                let open = !honor_taints
                    || taint_sets
                        .iter()
                        .any(|taints| taints::first_untolerated(taints, tolerations, None).is_none());
                if open {
                    counts.slot(domain);
                }
            }
        }
        Group {
            kind: term.kind,
            key: term.key,
            hostname: term.key == hostname_key,
            namespaces: term.namespaces.clone(),
            selector: term.selector.clone(),
            max_skew: term.max_skew,
            min_domains: term.min_domains,
            filter: term.filter.clone(),
            counts,
            occupied: Vec::new(),
            base: None,
            taken: FxHashMap::default(),
        }
    }

    /// Counts the group over every node of a what-if round, as a fresh round over those nodes would (counting
    /// their pods, or for an inverse group recording the domains of their pods' required anti-affinity terms),
    /// remembering how many times each domain was registered.
    fn count_base(&mut self, interner: &Interner, nodes: &[NodeData], inverse: Inverse<'_>) {
        let mut universe: Vec<ValueId> = self.counts.iter().map(|(d, _)| d).collect();
        universe.sort_unstable();
        let mut registrations: FxHashMap<ValueId, u32> = FxHashMap::default();
        for node in nodes {
            match inverse {
                Inverse::No => {
                    if self.filter_matches(interner, &node.taints, &node.requirements)
                        && let Some(domain) = node_domain(node, self.key)
                    {
                        if !self.hostname {
                            self.counts.slot(domain);
                            *registrations.entry(domain).or_insert(0) += 1;
                        }
                        for pod in node.pods.iter().filter(|p| p.counts_for_topology) {
                            if self.selects(&pod.namespace, &pod.labels) {
                                self.record(domain);
                            }
                        }
                    }
                }
                Inverse::Of(key) => {
                    for term in
                        node.pods.iter().flat_map(|p| &p.anti_required).filter(|t| t.group_key == *key)
                    {
                        if let Some(domain) = node_domain(node, term.key) {
                            self.record(domain);
                            *registrations.entry(domain).or_insert(0) += 1;
                        }
                    }
                }
            }
        }
        self.base = Some(Arc::new(BaseBook { registrations, universe }));
    }

    /// Takes back one registration of `domain`; the domain goes when nothing registers it any more and no NodePool
    /// offers it.
    fn deregister(&mut self, domain: ValueId) {
        let Some(book) = &self.base else { return };
        let total = book.registrations.get(&domain).copied().unwrap_or(0);
        let taken = self.taken.entry(domain).or_insert(0);
        *taken += 1;
        if *taken >= total && book.universe.binary_search(&domain).is_err() && self.count(domain) == 0 {
            self.counts.known.remove(&domain);
        }
    }

    /// Takes back one matching pod in `domain`.
    fn unrecord(&mut self, domain: ValueId) {
        if let Some(count) = self.counts.known.get_mut(&domain) {
            *count -= 1;
            if *count == 0 {
                self.occupied.retain(|d| *d != domain);
            }
        }
    }

    /// Undoes what [`Group::count_base`] did for `node`: the group as counted over every node but this one.
    fn remove_node(&mut self, interner: &Interner, node: &NodeData, inverse: Inverse<'_>) {
        match inverse {
            Inverse::No => {
                if self.filter_matches(interner, &node.taints, &node.requirements)
                    && let Some(domain) = node_domain(node, self.key)
                {
                    for pod in node.pods.iter().filter(|p| p.counts_for_topology) {
                        if self.selects(&pod.namespace, &pod.labels) {
                            self.unrecord(domain);
                        }
                    }
                    if !self.hostname {
                        self.deregister(domain);
                    }
                }
            }
            Inverse::Of(key) => {
                for term in node.pods.iter().flat_map(|p| &p.anti_required).filter(|t| t.group_key == *key) {
                    if let Some(domain) = node_domain(node, term.key) {
                        self.unrecord(domain);
                        self.deregister(domain);
                    }
                }
            }
        }
    }

    fn selects(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        self.namespaces.iter().any(|ns| ns == namespace) && self.selector.matches(labels)
    }

    /// `countDomains`: domains of existing nodes the filter admits, and the matching pods running there.
    fn count_existing(&mut self, c: &RoundView<'_>) {
        for node in c.nodes {
            if !self.filter_matches(c.interner, &node.taints, &node.requirements) {
                continue;
            }
            let Some(domain) = node_domain(node, self.key) else { continue };
            // A hostname group knows every existing node's hostname without an entry (`node_hostnames`).
            if !self.hostname {
                self.counts.slot(domain);
            }
            for pod in node.pods.iter().filter(|p| p.counts_for_topology) {
                if self.selects(&pod.namespace, &pod.labels) {
                    self.record(domain);
                }
            }
        }
    }

    fn record(&mut self, domain: ValueId) {
        let count = self.counts.slot(domain);
        if *count == 0 {
            self.occupied.push(domain);
        }
        *count += 1;
    }

    /// `TopologyNodeFilter.Matches`, with upstream's strict requirement check.
    fn filter_matches(&self, interner: &Interner, taints: &[Taint], requirements: &Requirements) -> bool {
        let Some(filter) = &self.filter else { return true };
        let affinity_ok = !filter.honor_affinity
            || filter.requirements.is_empty()
            || filter
                .requirements
                .iter()
                .any(|r| requirements.compatible(interner, r, Undefined::Refused).is_ok());
        let taints_ok =
            !filter.honor_taints || taints::first_untolerated(taints, &filter.tolerations, None).is_none();
        affinity_ok && taints_ok
    }

    fn count(&self, domain: ValueId) -> i32 {
        self.counts.get(domain).unwrap_or(0)
    }

    /// Candidate domains: the node's concrete values when it has them, else every known domain it allows.
    fn candidates<'a>(
        &'a self,
        interner: &'a Interner,
        node: &'a Requirement,
    ) -> Box<dyn Iterator<Item = ValueId> + 'a> {
        if node.shape() == Shape::In {
            Box::new(node.values().iter().copied().filter(|d| self.counts.contains(*d)))
        } else {
            Box::new(self.counts.iter().map(|(d, _)| d).filter(move |d| node.has(interner, *d)))
        }
    }

    fn allowed_domains(
        &self,
        interner: &Interner,
        selection: Selection,
        pod: &Requirement,
        node: &Requirement,
    ) -> Requirement {
        match self.kind {
            Kind::Spread => self.spread_domain(interner, selection, pod, node),
            Kind::Affinity => self.affinity_domains(interner, selection, pod, node),
            Kind::AntiAffinity => self.anti_affinity_domains(interner, pod, node),
        }
    }

    /// For a hostname group and a node with exactly one hostname (every new NodeClaim and existing node), that
    /// hostname: upstream's fast path, which need not look at any other domain.
    fn single_hostname(&self, node: &Requirement) -> Option<ValueId> {
        match node.values() {
            [host] if self.hostname && node.shape() == Shape::In => Some(*host),
            _ => None,
        }
    }

    /// `domainMinCount`: the least count over domains the pod may use; zero for hostname (a new node is always
    /// possible) or when fewer than minDomains domains are eligible.
    fn min_count(&self, interner: &Interner, pod: &Requirement) -> i32 {
        if self.hostname {
            return 0;
        }
        let mut min = i32::MAX;
        let mut eligible = 0;
        for (domain, count) in self.counts.iter() {
            if pod.has(interner, domain) {
                eligible += 1;
                min = min.min(count);
            }
        }
        if self.min_domains.is_some_and(|m| eligible < m) {
            return 0;
        }
        min
    }

    /// `nextDomainTopologySpread`: the least-filled domain within maxSkew of the global minimum.
    fn spread_domain(
        &self,
        interner: &Interner,
        selection: Selection,
        pod: &Requirement,
        node: &Requirement,
    ) -> Requirement {
        let extra = selection.own_count();
        if let Some(host) = self.single_hostname(node) {
            return if self.count(host) + extra <= self.max_skew {
                Requirement::in_values(vec![host])
            } else {
                Requirement::does_not_exist()
            };
        }
        let min = self.min_count(interner, pod);
        let mut best: Option<(i32, ValueId)> = None;
        for domain in self.candidates(interner, node) {
            let count = self.count(domain) + extra;
            if i64::from(count) - i64::from(min) > i64::from(self.max_skew) {
                continue;
            }
            let better = match best {
                None => true,
                Some((best_count, best_domain)) => {
                    count < best_count
                        || (count == best_count
                            && interner.value_name(domain) < interner.value_name(best_domain))
                }
            };
            if better {
                best = Some((count, domain));
            }
        }
        best.map_or_else(Requirement::does_not_exist, |(_, domain)| Requirement::in_values(vec![domain]))
    }

    /// True when some occupied domain is one the pod may use (`anyCompatiblePodDomain`).
    fn any_occupied_allowed(&self, interner: &Interner, pod: &Requirement) -> bool {
        self.occupied.iter().any(|d| pod.has(interner, *d))
    }

    /// The smallest-named known domain `allowed` accepts.
    fn first_domain(&self, interner: &Interner, allowed: impl Fn(ValueId) -> bool) -> Option<ValueId> {
        self.counts
            .iter()
            .map(|(d, _)| d)
            .filter(|d| allowed(*d))
            .min_by(|a, b| interner.value_name(*a).cmp(&interner.value_name(*b)))
    }

    /// `nextDomainAffinity`: domains that already hold a matching pod; a self-selecting pod may bootstrap a
    /// domain when none does.
    fn affinity_domains(
        &self,
        interner: &Interner,
        selection: Selection,
        pod: &Requirement,
        node: &Requirement,
    ) -> Requirement {
        let bootstrap = selection == Selection::Itself
            && (self.occupied.is_empty() || !self.any_occupied_allowed(interner, pod));
        if let Some(host) = self.single_hostname(node) {
            let ok = pod.has(interner, host) && (self.count(host) > 0 || bootstrap);
            return if ok { Requirement::in_values(vec![host]) } else { Requirement::does_not_exist() };
        }
        let options: Vec<ValueId> =
            self.candidates(interner, node).filter(|d| pod.has(interner, *d) && self.count(*d) > 0).collect();
        if !options.is_empty() {
            return Requirement::in_values(options);
        }
        if bootstrap {
            // Prefer a domain the node already allows; otherwise name one the pod allows, which the node's own
            // requirements will then refuse.
            let both = self.first_domain(interner, |d| pod.has(interner, d) && node.has(interner, d));
            let pod_only = self.first_domain(interner, |d| pod.has(interner, d));
            let chosen: Vec<ValueId> = both.into_iter().chain(pod_only).collect();
            if !chosen.is_empty() {
                return Requirement::in_values(chosen);
            }
        }
        Requirement::does_not_exist()
    }

    /// `nextDomainAntiAffinity`: only domains without a matching pod.
    fn anti_affinity_domains(
        &self,
        interner: &Interner,
        pod: &Requirement,
        node: &Requirement,
    ) -> Requirement {
        if let Some(host) = self.single_hostname(node) {
            return if self.count(host) == 0 {
                Requirement::in_values(vec![host])
            } else {
                Requirement::does_not_exist()
            };
        }
        let empty: Vec<ValueId> = self
            .candidates(interner, node)
            .filter(|d| self.count(*d) == 0 && pod.has(interner, *d))
            .collect();
        if empty.is_empty() { Requirement::does_not_exist() } else { Requirement::in_values(empty) }
    }

    /// Explains the group's refusal; `hostnames` are the existing nodes' hostnames a hostname group knows without
    /// keeping entries for them.
    fn explain(
        &self,
        interner: &Interner,
        pod: &Requirement,
        node: &Requirement,
        hostnames: &[ValueId],
    ) -> String {
        let mut counts: Vec<(String, i32)> =
            self.counts.iter().map(|(d, c)| (interner.value_name(d).to_string(), c)).collect();
        counts.extend(
            hostnames
                .iter()
                .filter(|h| !self.counts.contains(**h))
                .map(|h| (interner.value_name(*h).to_string(), 0)),
        );
        counts.sort();
        counts.dedup();
        let mut shown = String::new();
        for (i, (domain, count)) in counts.iter().take(25).enumerate() {
            if i > 0 {
                shown.push_str(", ");
            }
            let _ = write!(shown, "{domain}={count}");
        }
        if counts.len() > 25 {
            let _ = write!(shown, " and {} more", counts.len() - 25);
        }
        format!(
            "unsatisfiable {} constraint on {} (counts: {shown}; pod allows {}; node allows {})",
            self.kind.describe(),
            interner.key_name(self.key),
            pod.describe(interner),
            node.describe(interner)
        )
    }
}
