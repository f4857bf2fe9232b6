//! Invariants of the drift hash and the types, over generated NodePools.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Taint;
use karpenter_api::{
    NodeClaimTemplate, NodeClaimTemplateSpec, NodeClassReference, NodePool, NodePoolSpec,
    NodeSelectorOperator, NodeSelectorRequirementWithMinValues, TemplateMetadata,
};
use proptest::prelude::*;

fn word() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,6}"
}

fn taint() -> impl Strategy<Value = Taint> {
    (word(), proptest::option::of(word()), prop_oneof!["NoSchedule", "PreferNoSchedule", "NoExecute"])
        .prop_map(|(key, value, effect)| Taint {
            key: format!("example.com/{key}"),
            value,
            effect: effect.to_owned(),
            time_added: None,
        })
}

fn requirement() -> impl Strategy<Value = NodeSelectorRequirementWithMinValues> {
    (word(), proptest::collection::vec(word(), 1..4), proptest::option::of(1i64..3)).prop_map(
        |(key, values, min)| NodeSelectorRequirementWithMinValues {
            key: format!("example.com/{key}"),
            operator: NodeSelectorOperator::In,
            min_values: min.filter(|m| *m as usize <= values.len()),
            values: Some(values),
        },
    )
}

prop_compose! {
    fn node_pool()(
        labels in proptest::option::of(proptest::collection::btree_map(word(), word(), 0..4)),
        taints in proptest::option::of(proptest::collection::vec(taint(), 0..5)),
        requirements in proptest::collection::vec(requirement(), 0..4),
        expire_after in proptest::option::of(prop_oneof![Just("Never".to_owned()), (1u32..1000).prop_map(|h| format!("{h}h"))]),
        class in word(),
    ) -> NodePool {
        NodePool::new("generated", NodePoolSpec {
            template: NodeClaimTemplate {
                metadata: labels.map(|labels| TemplateMetadata { labels: Some(labels), annotations: None }),
                spec: NodeClaimTemplateSpec {
                    taints,
                    requirements,
                    node_class_ref: NodeClassReference { group: "karpenter.k8s.aws".into(), kind: "EC2NodeClass".into(), name: class },
                    expire_after,
                    ..NodeClaimTemplateSpec::default()
                },
            },
            ..NodePoolSpec::default()
        })
    }
}

proptest! {
    #[test]
    fn a_node_pool_survives_json(pool in node_pool()) {
        let again: NodePool = serde_json::from_value(serde_json::to_value(&pool).unwrap()).unwrap();
        prop_assert_eq!(again.spec, pool.spec);
    }

    #[test]
    fn taint_order_and_requirements_do_not_change_the_hash(mut pool in node_pool(), other in proptest::collection::vec(requirement(), 0..4)) {
        let hash = pool.hash().unwrap();
        if let Some(taints) = pool.spec.template.spec.taints.as_mut() {
            taints.reverse();
        }
        pool.spec.template.spec.requirements = other;
        prop_assert_eq!(pool.hash().unwrap(), hash);
    }

    #[test]
    fn a_new_label_changes_the_hash(mut pool in node_pool(), value in word()) {
        let hash = pool.hash().unwrap();
        let metadata = pool.spec.template.metadata.get_or_insert_with(TemplateMetadata::default);
        let labels = metadata.labels.get_or_insert_with(BTreeMap::new);
        labels.insert("example.com/added-by-the-test".into(), value);
        prop_assert_ne!(pool.hash().unwrap(), hash);
    }
}
