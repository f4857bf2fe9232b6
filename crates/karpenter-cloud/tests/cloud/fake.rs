//! The fake provider: the trait's contract, then what only the fake does (call records, injected errors,
//! capacity limits, drift marks, deterministic ids).

use std::sync::Arc;

use expect_test::expect;
use karpenter_cloud::contract::{self, Harness};
use karpenter_cloud::fake::{Call, FakeProvider};
use karpenter_cloud::{
    CloudProvider, Deletion, DriftQuery, DriftReason, Error, InstanceTypes, LaunchRequest, Method,
    OfferingKey,
};
use karpenter_solver::labels;
use karpenter_solver::model::{InstanceType, NodeClassRef, NodePool, NodeSelectorRequirement, Offering};

fn offering(zone: &str, capacity_type: &str, price: f64) -> Offering {
    Offering {
        zone: zone.into(),
        capacity_type: capacity_type.into(),
        price,
        available: true,
        ..Offering::default()
    }
}

/// Three small types in two zones, spot cheaper than on-demand.
fn catalog() -> Vec<InstanceType> {
    [("small", "2", 0.04), ("medium", "4", 0.08), ("large", "8", 0.16)]
        .into_iter()
        .map(|(name, cpu, price)| InstanceType {
            name: name.into(),
            requirements: vec![
                NodeSelectorRequirement::new(labels::INSTANCE_TYPE, "In", &[name]),
                NodeSelectorRequirement::new(labels::ARCH, "In", &["amd64"]),
                NodeSelectorRequirement::new(labels::OS, "In", &["linux"]),
            ],
            capacity: [("cpu", cpu), ("memory", "8Gi"), ("pods", "32")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            offerings: vec![
                offering("zone-1", "spot", price * 0.5),
                offering("zone-2", "spot", price * 0.5),
                offering("zone-1", "on-demand", price),
            ],
            ..InstanceType::default()
        })
        .collect()
}

struct FakeHarness {
    fake: FakeProvider,
}

impl Harness for FakeHarness {
    type Provider = FakeProvider;

    fn provider(&self) -> &FakeProvider {
        &self.fake
    }

    fn node_pool(&self) -> NodePool {
        let kind = karpenter_cloud::fake::node_class_kind();
        NodePool {
            name: "default".into(),
            node_class_ref: Some(NodeClassRef { group: kind.group, kind: kind.kind, name: "default".into() }),
            ..NodePool::default()
        }
    }

    fn node_claim_name(&self, purpose: &str) -> String {
        format!("default-{purpose}")
    }

    fn unknown_provider_id(&self) -> String {
        "fake:///zone-1/i-ffffffffffffffff".into()
    }

    fn exhaust(&self, offerings: &[OfferingKey]) {
        for offering in offerings {
            self.fake.set_capacity(offering.clone(), 0);
        }
    }
}

fn harness() -> FakeHarness {
    FakeHarness { fake: FakeProvider::new(catalog()) }
}

#[tokio::test]
async fn contract_create_then_get_and_list_find_it() {
    contract::create_then_get_and_list_find_it(&harness()).await;
}

#[tokio::test]
async fn contract_delete_twice_is_fine() {
    contract::delete_twice_is_fine(&harness()).await;
}

#[tokio::test]
async fn contract_delete_of_an_unknown_id_is_not_found_as_success() {
    contract::delete_of_an_unknown_id_is_not_found_as_success(&harness()).await;
}

#[tokio::test]
async fn contract_insufficient_capacity_names_the_failed_offerings_and_the_next_create_avoids_them() {
    let harness = harness();
    contract::insufficient_capacity_names_the_failed_offerings_and_the_next_create_avoids_them(&harness)
        .await;
    // The fake's own view of the same story: the failed offering is remembered, and its limit was never used.
    let failed = OfferingKey::new("small", "zone-1", "spot");
    assert_eq!(harness.fake.unavailable_offerings(), std::slice::from_ref(&failed));
    assert_eq!(harness.fake.capacity(&failed), Some(0));
}

#[tokio::test]
async fn contract_as_one_run_leaves_nothing_behind() {
    let harness = harness();
    contract::all(&harness).await;
    assert!(harness.fake.instances().is_empty(), "{:?}", harness.fake.instances());
}

async fn offered(fake: &FakeProvider) -> InstanceTypes {
    fake.instance_types(&NodePool { name: "default".into(), ..NodePool::default() }).await.unwrap()
}

fn request(name: &str, types: &InstanceTypes, requirements: Vec<NodeSelectorRequirement>) -> LaunchRequest {
    LaunchRequest {
        node_claim: name.into(),
        node_pool: "default".into(),
        node_class: NodeClassRef {
            group: "karpenter.test.sh".into(),
            kind: "TestNodeClass".into(),
            name: "default".into(),
        },
        labels: Default::default(),
        taints: vec![],
        startup_taints: vec![],
        requirements,
        requests: [("cpu".to_string(), "1".to_string())].into_iter().collect(),
        instance_types: types.to_vec(),
    }
}

#[tokio::test]
async fn ids_are_deterministic_and_launches_follow_the_launch_order() {
    let fake = FakeProvider::new(catalog());
    let types = offered(&fake).await;
    let mut launched = Vec::new();
    for (name, requirements) in [
        ("a", vec![]),
        ("b", vec![NodeSelectorRequirement::new(labels::ZONE, "In", &["zone-2"])]),
        ("c", vec![NodeSelectorRequirement::new(labels::CAPACITY_TYPE, "In", &["on-demand"])]),
    ] {
        let instance = fake.create(&request(name, &types, requirements)).await.unwrap();
        launched.push(format!(
            "{} {} {}",
            instance.provider_id,
            instance.offering(),
            instance.allocatable["cpu"]
        ));
    }
    expect![[r#"
        fake:///zone-1/i-0000000000000001 small/zone-1/spot 2
        fake:///zone-2/i-0000000000000002 small/zone-2/spot 2
        fake:///zone-1/i-0000000000000003 small/zone-1/on-demand 2"#]]
    .assert_eq(&launched.join("\n"));
    let listed: Vec<String> = fake.list().await.unwrap().into_iter().map(|i| i.provider_id).collect();
    assert_eq!(listed.len(), 3);
}

#[tokio::test]
async fn capacity_limits_run_out_and_launches_fall_through_to_the_next_offering() {
    let fake = FakeProvider::new(catalog());
    let types = offered(&fake).await;
    let cheapest = OfferingKey::new("small", "zone-1", "spot");
    fake.set_capacity(cheapest.clone(), 1);

    let first = fake.create(&request("one", &types, vec![])).await.unwrap();
    assert_eq!(first.offering(), cheapest, "the limit allows one launch");
    assert_eq!(fake.capacity(&cheapest), Some(0));
    let second = fake.create(&request("two", &types, vec![])).await.unwrap();
    assert_eq!(
        second.offering(),
        OfferingKey::new("small", "zone-2", "spot"),
        "the next offering takes over"
    );
    assert_eq!(fake.unavailable_offerings(), std::slice::from_ref(&cheapest));
    assert!(!types_offering(&offered(&fake).await, &cheapest).available, "reported unavailable since");

    // Raising the limit makes it available again.
    fake.set_capacity(cheapest.clone(), 5);
    assert!(fake.unavailable_offerings().is_empty());
    assert!(types_offering(&offered(&fake).await, &cheapest).available);
    assert_eq!(fake.create(&request("three", &types, vec![])).await.unwrap().offering(), cheapest);
}

fn types_offering(types: &InstanceTypes, key: &OfferingKey) -> Offering {
    let it = types.iter().find(|t| t.name == key.instance_type).unwrap();
    it.offerings.iter().find(|o| o.zone == key.zone && o.capacity_type == key.capacity_type).unwrap().clone()
}

#[tokio::test]
async fn when_every_offering_is_exhausted_the_error_names_all_of_them_in_order() {
    let fake = FakeProvider::new(catalog());
    let only_small = Arc::new(catalog().remove(0));
    for offering in &only_small.offerings {
        fake.set_capacity(OfferingKey::new("small", &offering.zone, &offering.capacity_type), 0);
    }
    let error = fake.create(&request("x", &vec![only_small].into(), vec![])).await.unwrap_err();
    expect!["insufficient capacity for small/zone-1/spot, small/zone-2/spot, small/zone-1/on-demand"]
        .assert_eq(&error.to_string());
}

#[tokio::test]
async fn nothing_compatible_is_insufficient_capacity_without_offerings() {
    let fake = FakeProvider::new(catalog());
    let types = offered(&fake).await;
    let arm = vec![NodeSelectorRequirement::new(labels::ARCH, "In", &["arm64"])];
    assert_eq!(
        fake.create(&request("arm", &types, arm)).await,
        Err(Error::InsufficientCapacity { offerings: vec![] })
    );
}

#[tokio::test]
async fn every_call_is_recorded_and_injected_errors_are_used_once_each() {
    let fake = FakeProvider::new(catalog());
    let types = offered(&fake).await;
    fake.fail_next(Method::Create, Error::Throttled { message: "slow down".into() });
    fake.fail_next(Method::Create, Error::NodeClassNotReady { reason: "not yet".into() });
    let req = request("a", &types, vec![]);
    assert_eq!(fake.create(&req).await.unwrap_err().kind(), "ThrottledError");
    assert_eq!(fake.create(&req).await.unwrap_err().kind(), "NodeClassNotReadyError");
    let instance = fake.create(&req).await.unwrap();
    fake.fail_next(Method::Delete, Error::Api { message: "boom".into(), retryable: true });
    assert!(fake.delete(&instance.provider_id).await.is_err());
    assert_eq!(fake.delete(&instance.provider_id).await, Ok(Deletion::Gone));
    let methods: Vec<&str> = fake.calls().iter().map(|c| c.method().as_str()).collect();
    assert_eq!(methods, ["GetInstanceTypes", "Create", "Create", "Create", "Delete", "Delete"]);
    assert_eq!(fake.create_calls(), vec![req.clone(), req.clone(), req]);
    assert!(matches!(&fake.calls()[5], Call::Delete(id) if *id == instance.provider_id));
    fake.clear_calls();
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn drift_is_marked_per_machine() {
    let fake = FakeProvider::new(catalog());
    let types = offered(&fake).await;
    let a = fake.create(&request("a", &types, vec![])).await.unwrap();
    let b = fake.create(&request("b", &types, vec![])).await.unwrap();
    let query = |instance: &karpenter_cloud::Instance| DriftQuery {
        node_claim: instance.node_claim.clone().unwrap(),
        provider_id: instance.provider_id.clone(),
        node_pool: "default".into(),
        node_class: NodeClassRef::default(),
        image_id: None,
        labels: instance.labels.clone(),
        annotations: Default::default(),
    };
    fake.set_drifted(&a.provider_id, DriftReason::new("AMIDrift"));
    assert_eq!(fake.is_drifted(&query(&a)).await, Ok(Some(DriftReason::new("AMIDrift"))));
    assert_eq!(fake.is_drifted(&query(&b)).await, Ok(None));
    fake.clear_drifted(&a.provider_id);
    assert_eq!(fake.is_drifted(&query(&a)).await, Ok(None));
}

#[tokio::test]
async fn node_pools_can_have_their_own_instance_types_sharing_the_table() {
    let fake = FakeProvider::new(catalog());
    let shared: InstanceTypes = catalog().into_iter().take(1).map(Arc::new).collect();
    fake.set_pool_instance_types("gpu", shared.clone());
    let gpu = fake.instance_types(&NodePool { name: "gpu".into(), ..NodePool::default() }).await.unwrap();
    assert!(Arc::ptr_eq(&gpu, &shared), "an unchanged list is handed out, not copied");
    assert_eq!(offered(&fake).await.len(), 3);
    assert_eq!(fake.name(), "fake");
    assert_eq!(fake.repair_policies()[0].condition_type, "BadNode");
}
