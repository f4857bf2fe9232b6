//! A programmable provider for tests and for `karpenter simulate`: it launches nothing, remembers what it
//! "runs", records every call, and fails on demand (upstream's `kubernetes-sigs/karpenter:
//! pkg/cloudprovider/fake/cloudprovider.go`).
//!
//! It differs from upstream's fake in four ways, each to make it a faithful stand-in for a real provider: it
//! launches from the request's own instance types in [`launch_order`], falling through offerings that have no
//! capacity the way a fleet request does, instead of the cheapest type of its whole catalogue; capacity is
//! limited per offering, and an exhausted offering fails with [`Error::InsufficientCapacity`] naming it and
//! is reported unavailable afterwards, as the AWS provider's unavailable-offerings cache does; ids are a
//! counter, not random; and drift is marked per machine instead of for all of them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use karpenter_solver::SolverConfig;
use karpenter_solver::model::{InstanceType, NodePool};

use crate::CloudProvider;
use crate::error::{Error, Result};
use crate::metered::Method;
use crate::order::{instance_labels, launch_order, with_unavailable};
use crate::types::{
    ConditionStatus, Deletion, DriftQuery, DriftReason, Instance, InstanceTypes, LaunchRequest,
    NodeClassKind, OfferingKey, RepairPolicy,
};

/// A call the fake received, with its argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// `create(request)`.
    Create(LaunchRequest),
    /// `delete(provider_id)`.
    Delete(String),
    /// `get(provider_id)`.
    Get(String),
    /// `list()`.
    List,
    /// `instance_types(node_pool)`, by NodePool name.
    InstanceTypes(String),
    /// `is_drifted(query)`.
    IsDrifted(DriftQuery),
}

impl Call {
    /// The method called.
    pub fn method(&self) -> Method {
        match self {
            Call::Create(_) => Method::Create,
            Call::Delete(_) => Method::Delete,
            Call::Get(_) => Method::Get,
            Call::List => Method::List,
            Call::InstanceTypes(_) => Method::InstanceTypes,
            Call::IsDrifted(_) => Method::IsDrifted,
        }
    }
}

#[derive(Debug)]
struct State {
    instance_types: InstanceTypes,
    pool_instance_types: BTreeMap<String, InstanceTypes>,
    calls: Vec<Call>,
    next_errors: BTreeMap<Method, VecDeque<Error>>,
    capacity: BTreeMap<OfferingKey, u32>,
    unavailable: BTreeSet<OfferingKey>,
    drifted: BTreeMap<String, DriftReason>,
    instances: BTreeMap<String, Instance>,
    launched: u64,
    repair_policies: Vec<RepairPolicy>,
}

/// The fake provider. Every knob takes `&self`, so a test can keep a handle (`Arc<FakeProvider>` or `&`) on
/// the provider it gave the code under test.
///
/// ```
/// use karpenter_cloud::fake::FakeProvider;
/// use karpenter_cloud::{CloudProvider, Error, Method};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let fake = FakeProvider::new(Vec::new());
/// fake.fail_next(Method::Get, Error::Throttled { message: "slow down".into() });
/// assert_eq!(fake.get("fake:///a/i-1").await.unwrap_err().kind(), "ThrottledError");
/// assert!(fake.get("fake:///a/i-1").await.unwrap_err().is_not_found(), "an injected error is used once");
/// assert_eq!(fake.calls().len(), 2, "failed calls are recorded too");
/// # });
/// ```
#[derive(Debug)]
pub struct FakeProvider {
    config: SolverConfig,
    state: Mutex<State>,
}

/// The node-class kind the fake launches from (upstream's test node class).
pub fn node_class_kind() -> NodeClassKind {
    NodeClassKind::new("karpenter.test.sh", "v1alpha1", "TestNodeClass")
}

impl FakeProvider {
    /// A fake that offers these instance types to every NodePool, with unlimited capacity, no machines, no
    /// drift, and upstream's fake repair policy (`BadNode` False for 30 minutes).
    pub fn new(instance_types: impl IntoIterator<Item = InstanceType>) -> Self {
        FakeProvider {
            config: SolverConfig::default(),
            state: Mutex::new(State {
                instance_types: instance_types.into_iter().map(std::sync::Arc::new).collect(),
                pool_instance_types: BTreeMap::new(),
                calls: Vec::new(),
                next_errors: BTreeMap::new(),
                capacity: BTreeMap::new(),
                unavailable: BTreeSet::new(),
                drifted: BTreeMap::new(),
                instances: BTreeMap::new(),
                launched: 0,
                repair_policies: vec![RepairPolicy {
                    condition_type: "BadNode".to_string(),
                    condition_status: ConditionStatus::False,
                    toleration: Duration::from_secs(30 * 60),
                }],
            }),
        }
    }

    /// Uses `config` when matching requirements (its well-known labels) and checking minValues.
    pub fn with_config(mut self, config: SolverConfig) -> Self {
        self.config = config;
        self
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves consistent state behind: every update is one
        // step.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces the instance types offered to every NodePool without its own list.
    pub fn set_instance_types(&self, instance_types: impl Into<InstanceTypes>) {
        self.state().instance_types = instance_types.into();
    }

    /// Offers `instance_types` to the NodePool named `node_pool` only.
    pub fn set_pool_instance_types(&self, node_pool: &str, instance_types: impl Into<InstanceTypes>) {
        self.state().pool_instance_types.insert(node_pool.to_string(), instance_types.into());
    }

    /// Makes the next call of `method` fail with `error`. Errors queue up: each is used by one call.
    pub fn fail_next(&self, method: Method, error: Error) {
        self.state().next_errors.entry(method).or_default().push_back(error);
    }

    /// Limits the launches `offering` still takes; 0 means it has no capacity left. Raising a limit above 0
    /// makes an offering that failed available again.
    pub fn set_capacity(&self, offering: OfferingKey, launches: u32) {
        let mut state = self.state();
        if launches > 0 {
            state.unavailable.remove(&offering);
        }
        state.capacity.insert(offering, launches);
    }

    /// Removes the limit on `offering` (and forgets that it failed).
    pub fn clear_capacity(&self, offering: &OfferingKey) {
        let mut state = self.state();
        state.capacity.remove(offering);
        state.unavailable.remove(offering);
    }

    /// The launches `offering` still takes, if it is limited.
    pub fn capacity(&self, offering: &OfferingKey) -> Option<u32> {
        self.state().capacity.get(offering).copied()
    }

    /// The offerings that failed for lack of capacity, or were marked, and are reported unavailable since.
    pub fn unavailable_offerings(&self) -> Vec<OfferingKey> {
        self.state().unavailable.iter().cloned().collect()
    }

    /// Reports `offering` unavailable from now on, as an offering that ran out of capacity is (an interruption
    /// notice does this for a reclaimed spot offering). [`FakeProvider::set_capacity`] above 0 or
    /// [`FakeProvider::clear_capacity`] makes it available again.
    pub fn mark_unavailable(&self, offering: OfferingKey) {
        self.state().unavailable.insert(offering);
    }

    /// Offers `offering` again after it failed or was marked, unless its capacity is limited to nothing (as an
    /// unavailable-offerings cache entry expires while the capacity limit stays).
    pub fn forget_unavailable(&self, offering: &OfferingKey) {
        let mut state = self.state();
        if state.capacity.get(offering) != Some(&0) {
            state.unavailable.remove(offering);
        }
    }

    /// Makes `is_drifted` report `reason` for the machine `provider_id`.
    pub fn set_drifted(&self, provider_id: &str, reason: DriftReason) {
        self.state().drifted.insert(provider_id.to_string(), reason);
    }

    /// Makes the machine `provider_id` undrifted again.
    pub fn clear_drifted(&self, provider_id: &str) {
        self.state().drifted.remove(provider_id);
    }

    /// Replaces the repair policies.
    pub fn set_repair_policies(&self, policies: Vec<RepairPolicy>) {
        self.state().repair_policies = policies;
    }

    /// Every call since the fake was made or [`FakeProvider::clear_calls`], in order, failed ones included.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The requests of every `create` call, in order.
    pub fn create_calls(&self) -> Vec<LaunchRequest> {
        self.state()
            .calls
            .iter()
            .filter_map(|call| match call {
                Call::Create(request) => Some(request.clone()),
                _ => None,
            })
            .collect()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        self.state().calls.clear();
    }

    /// The machines the fake runs, by provider id.
    pub fn instances(&self) -> Vec<Instance> {
        self.state().instances.values().cloned().collect()
    }

    /// Records the call and takes the next injected error of its method, if any.
    fn begin(&self, call: Call) -> (MutexGuard<'_, State>, Result<()>) {
        let mut state = self.state();
        let method = call.method();
        state.calls.push(call);
        let injected = state.next_errors.get_mut(&method).and_then(VecDeque::pop_front);
        (state, injected.map_or(Ok(()), Err))
    }

    fn launch(&self, request: &LaunchRequest) -> Result<Instance> {
        let (mut state, injected) = self.begin(Call::Create(request.clone()));
        injected?;
        let order = launch_order(request, &self.config, usize::MAX)?;
        let mut failed = Vec::new();
        for candidate in &order.candidates {
            let key = candidate.key();
            if state.unavailable.contains(&key) {
                failed.push(key);
                continue;
            }
            if let Some(left) = state.capacity.get_mut(&key) {
                if *left == 0 {
                    state.unavailable.insert(key.clone());
                    failed.push(key);
                    continue;
                }
                *left -= 1;
            }
            let instance_type = &candidate.instance_type;
            let offering = candidate.offering();
            state.launched += 1;
            let provider_id = format!("fake:///{}/i-{:016x}", offering.zone, state.launched);
            let instance = Instance {
                provider_id: provider_id.clone(),
                node_claim: Some(request.node_claim.clone()),
                instance_type: instance_type.name.clone(),
                zone: offering.zone.clone(),
                capacity_type: offering.capacity_type.clone(),
                image_id: None,
                capacity: instance_type.capacity.clone(),
                // launch_order kept only types whose allocatable it could compute.
                allocatable: karpenter_solver::allocatable(instance_type).unwrap_or_default(),
                labels: instance_labels(request, instance_type, offering),
                launched_at: None,
            };
            state.instances.insert(provider_id, instance.clone());
            return Ok(instance);
        }
        Err(Error::InsufficientCapacity { offerings: failed })
    }
}

impl CloudProvider for FakeProvider {
    async fn create(&self, request: &LaunchRequest) -> Result<Instance> {
        self.launch(request)
    }

    async fn delete(&self, provider_id: &str) -> Result<Deletion> {
        let (mut state, injected) = self.begin(Call::Delete(provider_id.to_string()));
        injected?;
        state.instances.remove(provider_id);
        Ok(Deletion::Gone)
    }

    async fn get(&self, provider_id: &str) -> Result<Instance> {
        let (state, injected) = self.begin(Call::Get(provider_id.to_string()));
        injected?;
        state
            .instances
            .get(provider_id)
            .cloned()
            .ok_or_else(|| Error::NotFound { provider_id: provider_id.to_string() })
    }

    async fn list(&self) -> Result<Vec<Instance>> {
        let (state, injected) = self.begin(Call::List);
        injected?;
        Ok(state.instances.values().cloned().collect())
    }

    async fn instance_types(&self, node_pool: &NodePool) -> Result<InstanceTypes> {
        let (state, injected) = self.begin(Call::InstanceTypes(node_pool.name.clone()));
        injected?;
        let types = state.pool_instance_types.get(&node_pool.name).unwrap_or(&state.instance_types);
        Ok(with_unavailable(types, |key| state.unavailable.contains(key)))
    }

    async fn is_drifted(&self, query: &DriftQuery) -> Result<Option<DriftReason>> {
        let (state, injected) = self.begin(Call::IsDrifted(query.clone()));
        injected?;
        Ok(state.drifted.get(&query.provider_id).cloned())
    }

    fn repair_policies(&self) -> Vec<RepairPolicy> {
        self.state().repair_policies.clone()
    }

    fn name(&self) -> &str {
        "fake"
    }

    fn node_classes(&self) -> Vec<NodeClassKind> {
        vec![node_class_kind()]
    }
}
