//! What every [`CloudProvider`] must do, written once and run against each provider (the fake in this crate's
//! tests, KWOK against the local cluster, AWS against moto). Each check is an async function that panics with
//! a message when the provider breaks the contract, so a provider's test file calls them one `#[test]` each.
//!
//! The contract is upstream's interface comment (`kubernetes-sigs/karpenter: pkg/cloudprovider/types.go`)
//! made executable, plus what this project adds to it: launches follow [`launch_order`], delete is
//! idempotent, and an insufficient-capacity error names its offerings, which the provider then reports
//! unavailable.

use std::sync::Arc;

use karpenter_solver::SolverConfig;
use karpenter_solver::labels;
use karpenter_solver::model::{InstanceType, Labels, NodePool, NodeSelectorRequirement, Taint};

use crate::order::launch_order;
use crate::types::{Deletion, InstanceTypes, LaunchRequest, OfferingKey};
use crate::{CloudProvider, Error};

/// A provider under test, with what the contract needs around it.
pub trait Harness: Send + Sync {
    /// The provider type.
    type Provider: CloudProvider;

    /// The provider.
    fn provider(&self) -> &Self::Provider;

    /// A NodePool whose node class the provider can launch from (`node_class_ref` set).
    fn node_pool(&self) -> NodePool;

    /// A NodeClaim name no other test uses, made from `purpose` (lower-case words and dashes).
    fn node_claim_name(&self, purpose: &str) -> String;

    /// A provider id in the provider's own form that names no machine.
    fn unknown_provider_id(&self) -> String;

    /// Makes every launch of these offerings fail for lack of capacity from now on.
    fn exhaust(&self, offerings: &[OfferingKey]);
}

/// Create, then find the machine with `get` and `list`; the launch used the cheapest available compatible
/// offering of the request.
pub async fn create_then_get_and_list_find_it<H: Harness>(harness: &H) {
    let provider = harness.provider();
    let types = instance_types(harness).await;
    let request = request(harness, "create", cheapest(&types, 3), Vec::new());
    let expected = first_offering(&request);

    let instance = provider.create(&request).await.unwrap_or_else(|e| panic!("create failed: {e}"));
    assert_eq!(
        instance.offering(),
        expected,
        "the launch must use the cheapest available compatible offering"
    );
    assert_eq!(
        instance.node_claim.as_deref(),
        Some(request.node_claim.as_str()),
        "the NodeClaim is recorded"
    );
    for (key, value) in [
        (labels::INSTANCE_TYPE, &expected.instance_type),
        (labels::ZONE, &expected.zone),
        (labels::CAPACITY_TYPE, &expected.capacity_type),
        (labels::NODE_POOL, &request.node_pool),
    ] {
        assert_eq!(instance.labels.get(key), Some(value), "label {key} of {:?}", instance.labels);
    }
    for (key, value) in &request.labels {
        assert_eq!(instance.labels.get(key), Some(value), "the NodeClaim's label {key} is carried");
    }
    assert!(
        instance.capacity.contains_key("cpu") && instance.allocatable.contains_key("cpu"),
        "{instance:?}"
    );

    let got = provider.get(&instance.provider_id).await.unwrap_or_else(|e| panic!("get failed: {e}"));
    assert_eq!(got.provider_id, instance.provider_id);
    assert_eq!(got.offering(), instance.offering(), "get reports what create launched");
    assert_eq!(got.node_claim, instance.node_claim);
    assert_eq!(got.capacity, instance.capacity);

    let listed = provider.list().await.unwrap_or_else(|e| panic!("list failed: {e}"));
    assert!(
        listed.iter().any(|i| i.provider_id == instance.provider_id),
        "list must include {}; it has {:?}",
        instance.provider_id,
        listed.iter().map(|i| &i.provider_id).collect::<Vec<_>>()
    );
    terminate(provider, &instance.provider_id).await;
}

/// Deleting a machine twice is fine; afterwards it is neither found nor listed.
pub async fn delete_twice_is_fine<H: Harness>(harness: &H) {
    let provider = harness.provider();
    let types = instance_types(harness).await;
    let request = request(harness, "delete-twice", cheapest(&types, 1), Vec::new());
    let instance = provider.create(&request).await.unwrap_or_else(|e| panic!("create failed: {e}"));

    terminate(provider, &instance.provider_id).await;
    let again = provider.delete(&instance.provider_id).await;
    assert_eq!(again, Ok(Deletion::Gone), "deleting a terminated machine again is success");
    match provider.get(&instance.provider_id).await {
        Err(Error::NotFound { provider_id }) => assert_eq!(provider_id, instance.provider_id),
        other => panic!("get after delete must be NotFound, got {other:?}"),
    }
    let listed = provider.list().await.unwrap_or_else(|e| panic!("list failed: {e}"));
    assert!(!listed.iter().any(|i| i.provider_id == instance.provider_id), "a deleted machine is not listed");
}

/// Deleting a machine that never existed is success (NotFound is success); getting it is NotFound.
pub async fn delete_of_an_unknown_id_is_not_found_as_success<H: Harness>(harness: &H) {
    let provider = harness.provider();
    let unknown = harness.unknown_provider_id();
    assert_eq!(provider.delete(&unknown).await, Ok(Deletion::Gone));
    match provider.get(&unknown).await {
        Err(error) => assert!(error.is_not_found(), "get of an unknown id must be NotFound, got {error}"),
        Ok(instance) => panic!("get of an unknown id found {instance:?}"),
    }
}

/// A launch whose offerings have no capacity fails with an insufficient-capacity error that names them; the
/// provider then reports them unavailable, and the next launch goes to the next offering.
pub async fn insufficient_capacity_names_the_failed_offerings_and_the_next_create_avoids_them<H: Harness>(
    harness: &H,
) {
    let provider = harness.provider();
    let types = instance_types(harness).await;
    let options = cheapest(&types, 1);
    let order = launch_order(&request(harness, "probe", options.clone(), Vec::new()), &config(), usize::MAX)
        .unwrap_or_else(|e| panic!("no launch order for {}: {e}", options[0].name));
    assert!(order.candidates.len() >= 2, "the check needs a type with two usable offerings: {order:?}");
    let failing = order.candidates[0].key();
    let next = order.candidates[1].key();
    harness.exhaust(std::slice::from_ref(&failing));

    // A request that can only use the exhausted offering.
    let pinned = request(
        harness,
        "capacity",
        options.clone(),
        vec![
            NodeSelectorRequirement::new(labels::ZONE, "In", &[&failing.zone]),
            NodeSelectorRequirement::new(labels::CAPACITY_TYPE, "In", &[&failing.capacity_type]),
        ],
    );
    let error = provider.create(&pinned).await.expect_err("a launch with no capacity must fail");
    assert_eq!(error, Error::InsufficientCapacity { offerings: vec![failing.clone()] });
    assert_eq!(error.kind(), "InsufficientCapacityError");

    // Every type is still reported, with the failed offering unavailable.
    let after = instance_types(harness).await;
    let same = after
        .iter()
        .find(|it| it.name == failing.instance_type)
        .unwrap_or_else(|| panic!("{} is no longer reported", failing.instance_type));
    let offering = same
        .offerings
        .iter()
        .find(|o| o.zone == failing.zone && o.capacity_type == failing.capacity_type)
        .unwrap_or_else(|| panic!("the offering {failing} is no longer reported"));
    assert!(!offering.available, "{failing} must be reported unavailable after it failed");
    assert_eq!(after.len(), types.len(), "instance_types reports every type, available or not");

    // The next launch, from the fresh answer or from the stale one, goes to the next offering.
    let mut launched = Vec::new();
    for (purpose, option) in [("after-fresh", same.clone()), ("after-stale", options[0].clone())] {
        let request = request(harness, purpose, vec![option], Vec::new());
        let instance =
            provider.create(&request).await.unwrap_or_else(|e| panic!("{purpose}: create failed: {e}"));
        assert_eq!(instance.offering(), next, "{purpose}: the launch avoids {failing}");
        launched.push(instance.provider_id);
    }
    for provider_id in launched {
        terminate(provider, &provider_id).await;
    }
}

/// Every check, in order, for providers that want one test.
pub async fn all<H: Harness>(harness: &H) {
    create_then_get_and_list_find_it(harness).await;
    delete_twice_is_fine(harness).await;
    delete_of_an_unknown_id_is_not_found_as_success(harness).await;
    insufficient_capacity_names_the_failed_offerings_and_the_next_create_avoids_them(harness).await;
}

fn config() -> SolverConfig {
    SolverConfig::default()
}

async fn instance_types<H: Harness>(harness: &H) -> InstanceTypes {
    let types = harness
        .provider()
        .instance_types(&harness.node_pool())
        .await
        .unwrap_or_else(|e| panic!("instance_types failed: {e}"));
    assert!(!types.is_empty(), "the provider offers no instance type");
    types
}

/// The `n` instance types with the cheapest available offerings, cheapest first, ties in the provider's
/// order.
fn cheapest(types: &InstanceTypes, n: usize) -> Vec<Arc<InstanceType>> {
    let mut priced: Vec<(f64, usize)> = types
        .iter()
        .enumerate()
        .filter_map(|(i, it)| {
            it.offerings
                .iter()
                .filter(|o| o.available)
                .map(|o| o.price)
                .min_by(f64::total_cmp)
                .map(|p| (p, i))
        })
        .collect();
    priced.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    assert!(!priced.is_empty(), "no instance type has an available offering");
    priced.into_iter().take(n).map(|(_, i)| types[i].clone()).collect()
}

fn request<H: Harness>(
    harness: &H,
    purpose: &str,
    options: Vec<Arc<InstanceType>>,
    mut requirements: Vec<NodeSelectorRequirement>,
) -> LaunchRequest {
    let pool = harness.node_pool();
    let node_class = pool.node_class_ref.clone().expect("the harness's NodePool names a node class");
    let names: Vec<&str> = options.iter().map(|it| it.name.as_str()).collect();
    requirements.push(NodeSelectorRequirement::new(labels::INSTANCE_TYPE, "In", &names));
    LaunchRequest {
        node_claim: harness.node_claim_name(purpose),
        node_pool: pool.name.clone(),
        node_class,
        labels: Labels::from([("example.com/contract".to_string(), purpose.to_string())]),
        taints: vec![Taint {
            key: "example.com/contract".to_string(),
            value: purpose.to_string(),
            effect: "NoSchedule".to_string(),
        }],
        startup_taints: Vec::new(),
        requirements,
        requests: [("cpu".to_string(), "100m".to_string())].into_iter().collect(),
        instance_types: options,
    }
}

fn first_offering(request: &LaunchRequest) -> OfferingKey {
    let order =
        launch_order(request, &config(), usize::MAX).unwrap_or_else(|e| panic!("no launch order: {e}"));
    order.candidates[0].key()
}

/// Deletes until nothing is left, so that checks leave no machines behind.
async fn terminate<P: CloudProvider>(provider: &P, provider_id: &str) {
    for _ in 0..1000 {
        match provider.delete(provider_id).await {
            Ok(Deletion::Gone) => return,
            Ok(Deletion::Terminating) => {}
            Err(error) => panic!("delete of {provider_id} failed: {error}"),
        }
    }
    panic!("{provider_id} was still terminating after 1000 deletes");
}
