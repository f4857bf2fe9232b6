//! The cloud contract (`karpenter_cloud::contract`), the one the fake and KWOK providers pass, against moto:
//! the catalog is refreshed from moto first (its spot prices make spot the cheapest offering everywhere), and
//! "no capacity" is made by taking offerings out of CreateFleet requests as EC2 would.
#![cfg(feature = "cluster-tests")]

use karpenter_api::AmiSelectorTerm;
use karpenter_aws::AwsProvider;
use karpenter_cloud::OfferingKey;
use karpenter_cloud::contract::{self, Harness};
use karpenter_solver::model::{NodeClassRef, NodePool};

use super::emulator::{CapacityInjector, Seeded, seed};
use super::support::{now, register};

struct MotoHarness {
    seeded: Seeded,
    provider: AwsProvider,
    injector: CapacityInjector,
}

impl Harness for MotoHarness {
    type Provider = AwsProvider;

    fn provider(&self) -> &AwsProvider {
        &self.provider
    }

    fn node_pool(&self) -> NodePool {
        NodePool {
            name: "contract".into(),
            node_class_ref: Some(NodeClassRef {
                group: "karpenter.k8s.aws".into(),
                kind: "EC2NodeClass".into(),
                name: "contract".into(),
            }),
            ..NodePool::default()
        }
    }

    fn node_claim_name(&self, purpose: &str) -> String {
        format!("{}-{purpose}", self.seeded.cluster)
    }

    fn unknown_provider_id(&self) -> String {
        "aws:///us-east-1a/i-0000000000000dead".into()
    }

    fn exhaust(&self, offerings: &[OfferingKey]) {
        self.injector.exhaust(offerings);
    }
}

async fn harness(purpose: &str) -> MotoHarness {
    let seeded = seed(purpose).await;
    let injector = CapacityInjector::default();
    let provider = seeded.provider(&injector);
    let report = provider.refresh_catalog(now()).await;
    assert!(report.spot_prices.is_some_and(|n| n > 0), "moto's spot prices were read: {report:?}");
    let mut class = seeded.node_class("contract");
    // Any type may be the cheapest: serve both architectures.
    class.spec.ami_selector_terms = vec![
        AmiSelectorTerm { id: Some(seeded.arm64_image.clone()), ..Default::default() },
        AmiSelectorTerm { id: Some(seeded.amd64_image.clone()), ..Default::default() },
    ];
    let resolution = provider.resolve_node_class(&class, now()).await;
    class.status = Some(resolution.status);
    register(&provider, &class);
    MotoHarness { seeded, provider, injector }
}

#[tokio::test]
async fn contract_create_then_get_and_list_find_it() {
    let harness = harness("contract-create").await;
    contract::create_then_get_and_list_find_it(&harness).await;
    assert!(harness.seeded.live_instances().await.is_empty());
}

#[tokio::test]
async fn contract_delete_twice_is_fine() {
    contract::delete_twice_is_fine(&harness("contract-delete").await).await;
}

#[tokio::test]
async fn contract_delete_of_an_unknown_id_is_not_found_as_success() {
    contract::delete_of_an_unknown_id_is_not_found_as_success(&harness("contract-unknown").await).await;
}

#[tokio::test]
async fn contract_insufficient_capacity_names_the_failed_offerings_and_the_next_create_avoids_them() {
    let harness = harness("contract-capacity").await;
    contract::insufficient_capacity_names_the_failed_offerings_and_the_next_create_avoids_them(&harness)
        .await;
    assert!(harness.seeded.live_instances().await.is_empty(), "no instance is left behind");
}
