//! The launch plan, the pure part of a launch: which offerings of a request to ask CreateFleet for, with
//! which capacity type (`aws/karpenter-provider-aws: pkg/providers/instance/instance.go` `filterInstanceTypes`,
//! `getCapacityType`, `pkg/providers/instance/filter/filter.go`).
//!
//! Offerings come from the cloud boundary's [`launch_order`] (the solver's own requirement matching). Then,
//! as upstream: GPU, accelerator and metal types are dropped unless the request asks for them or nothing else
//! is left; spot offerings pricier than the cheapest on-demand one are dropped; the capacity type is the first
//! of reserved, spot and on-demand that has an offering left; and the cheapest `max_types` instance types
//! are kept, with minValues checked on what is kept.

use std::collections::BTreeSet;
use std::sync::Arc;

use karpenter_catalog::labels::{INSTANCE_ACCELERATOR_COUNT, INSTANCE_GPU_COUNT, INSTANCE_SIZE};
use karpenter_cloud::{Candidate, LaunchRequest, OrderError, launch_order};
use karpenter_solver::SolverConfig;
use karpenter_solver::labels::{CAPACITY_TYPE_ON_DEMAND, CAPACITY_TYPE_RESERVED, CAPACITY_TYPE_SPOT};
use karpenter_solver::model::InstanceType;

/// What a launch asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchPlan {
    /// `reserved`, `spot` or `on-demand`.
    pub capacity_type: String,
    /// The offerings, cheapest first, all of that capacity type.
    pub candidates: Vec<Candidate>,
}

/// Whether a type is "exotic": GPUs, accelerators or bare metal.
fn exotic(instance_type: &InstanceType) -> bool {
    instance_type.requirements.iter().any(|r| {
        (r.key == INSTANCE_GPU_COUNT || r.key == INSTANCE_ACCELERATOR_COUNT) && r.operator == "In"
            || r.key == INSTANCE_SIZE && r.values.iter().any(|v| v.contains("metal"))
    })
}

/// Whether the request names GPUs, accelerators or sizes, so that exotic types are what it wants.
fn asks_for_exotic(request: &LaunchRequest) -> bool {
    let named = |key: &str| {
        key.starts_with("karpenter.k8s.aws/instance-gpu")
            || key.starts_with("karpenter.k8s.aws/instance-accelerator")
            || key == INSTANCE_SIZE
    };
    request.requirements.iter().any(|r| named(&r.key))
        || request.requests.keys().any(|r| r.contains("gpu") || r.contains("neuron") || r.contains("gaudi"))
}

/// Plans a launch. Offerings already marked unavailable in the request's types are never planned.
pub fn plan(
    request: &LaunchRequest,
    config: &SolverConfig,
    max_types: usize,
) -> Result<LaunchPlan, OrderError> {
    let all = launch_order(request, config, usize::MAX)?.candidates;
    let mut candidates: Vec<&Candidate> = all.iter().collect();
    if !asks_for_exotic(request) && candidates.iter().any(|c| !exotic(&c.instance_type)) {
        candidates.retain(|c| !exotic(&c.instance_type));
    }
    let cheapest_on_demand = candidates
        .iter()
        .filter(|c| c.offering().capacity_type == CAPACITY_TYPE_ON_DEMAND)
        .map(|c| c.price())
        .min_by(f64::total_cmp);
    if let Some(limit) = cheapest_on_demand {
        candidates.retain(|c| c.offering().capacity_type != CAPACITY_TYPE_SPOT || c.price() <= limit);
    }
    let capacity_type = [CAPACITY_TYPE_RESERVED, CAPACITY_TYPE_SPOT, CAPACITY_TYPE_ON_DEMAND]
        .into_iter()
        .find(|ct| candidates.iter().any(|c| c.offering().capacity_type == *ct))
        .ok_or(OrderError::NoOffering)?;
    // The cheapest types of that capacity type, in the request's order so that ties stay as they were.
    let mut kept: Vec<usize> = Vec::new();
    let mut seen = BTreeSet::new();
    for candidate in candidates.iter().filter(|c| c.offering().capacity_type == capacity_type) {
        if seen.insert(candidate.option) && kept.len() < max_types.max(1) {
            kept.push(candidate.option);
        }
    }
    kept.sort_unstable();
    let kept_types: Vec<Arc<InstanceType>> =
        kept.iter().map(|&i| request.instance_types[i].clone()).collect();
    let narrowed = LaunchRequest { instance_types: kept_types, ..request.clone() };
    // minValues are checked on the kept types, as upstream's Truncate does.
    let order = launch_order(&narrowed, config, usize::MAX)?;
    let candidates: Vec<Candidate> = order
        .candidates
        .into_iter()
        .filter(|c| c.offering().capacity_type == capacity_type)
        .filter(|c| {
            cheapest_on_demand.is_none_or(|limit| capacity_type != CAPACITY_TYPE_SPOT || c.price() <= limit)
        })
        .map(|mut c| {
            // Positions refer to the caller's request, not the narrowed one.
            c.option = kept[c.option];
            c
        })
        .collect();
    if candidates.is_empty() {
        return Err(OrderError::NoOffering);
    }
    Ok(LaunchPlan { capacity_type: capacity_type.to_string(), candidates })
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};
    use karpenter_solver::labels;
    use karpenter_solver::model::{NodeClassRef, NodeSelectorRequirement, Offering};

    use super::*;

    fn offering(zone: &str, capacity_type: &str, price: f64) -> Offering {
        Offering {
            zone: zone.into(),
            capacity_type: capacity_type.into(),
            price,
            available: true,
            ..Offering::default()
        }
    }

    fn instance_type(
        name: &str,
        extra: Vec<NodeSelectorRequirement>,
        offerings: Vec<Offering>,
    ) -> Arc<InstanceType> {
        let mut requirements = vec![
            NodeSelectorRequirement::new(labels::ARCH, "In", &["arm64"]),
            NodeSelectorRequirement::new(labels::OS, "In", &["linux"]),
            NodeSelectorRequirement::new(labels::INSTANCE_TYPE, "In", &[name]),
        ];
        requirements.extend(extra);
        Arc::new(InstanceType {
            name: name.into(),
            requirements,
            capacity: [("cpu", "4"), ("memory", "8Gi"), ("pods", "29")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            offerings,
            ..InstanceType::default()
        })
    }

    fn request(types: Vec<Arc<InstanceType>>, requirements: Vec<NodeSelectorRequirement>) -> LaunchRequest {
        LaunchRequest {
            node_claim: "default-x".into(),
            node_pool: "default".into(),
            node_class: NodeClassRef {
                group: "karpenter.k8s.aws".into(),
                kind: "EC2NodeClass".into(),
                name: "default".into(),
            },
            labels: Default::default(),
            taints: vec![],
            startup_taints: vec![],
            requirements,
            requests: [("cpu".to_string(), "1".to_string())].into_iter().collect(),
            instance_types: types,
        }
    }

    fn check(request: &LaunchRequest, max: usize, expect: Expect) {
        let shown = match plan(request, &SolverConfig::default(), max) {
            Ok(plan) => std::iter::once(plan.capacity_type.clone())
                .chain(
                    plan.candidates
                        .iter()
                        .map(|c| format!("{} ${} (option {})", c.key(), c.price(), c.option)),
                )
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => format!("error: {e}"),
        };
        expect.assert_eq(&shown);
    }

    /// The catalog says "no GPU" with `DoesNotExist`, so that `Exists` does not match.
    fn no_gpu() -> Vec<NodeSelectorRequirement> {
        vec![NodeSelectorRequirement::new(INSTANCE_GPU_COUNT, "DoesNotExist", &[])]
    }

    fn catalog() -> Vec<Arc<InstanceType>> {
        vec![
            instance_type(
                "m7g.large",
                no_gpu(),
                vec![
                    offering("a", "on-demand", 0.08),
                    offering("a", "spot", 0.03),
                    offering("b", "spot", 0.09),
                ],
            ),
            instance_type(
                "c7g.large",
                no_gpu(),
                vec![offering("a", "on-demand", 0.07), offering("b", "on-demand", 0.07)],
            ),
            instance_type(
                "g5g.xlarge",
                vec![NodeSelectorRequirement::new(INSTANCE_GPU_COUNT, "In", &["1"])],
                vec![offering("a", "spot", 0.01)],
            ),
        ]
    }

    #[test]
    fn spot_wins_when_allowed_and_spot_pricier_than_on_demand_is_dropped() {
        check(
            &request(catalog(), vec![]),
            60,
            expect![[r#"
                spot
                m7g.large/a/spot $0.03 (option 0)"#]],
        );
    }

    #[test]
    fn on_demand_when_spot_is_not_allowed_with_ties_in_request_order() {
        check(
            &request(
                catalog(),
                vec![NodeSelectorRequirement::new(labels::CAPACITY_TYPE, "In", &["on-demand"])],
            ),
            60,
            expect![[r#"
                on-demand
                c7g.large/a/on-demand $0.07 (option 1)
                c7g.large/b/on-demand $0.07 (option 1)
                m7g.large/a/on-demand $0.08 (option 0)"#]],
        );
    }

    #[test]
    fn gpu_types_only_when_asked_for_or_alone() {
        let gpu = request(catalog(), vec![NodeSelectorRequirement::new(INSTANCE_GPU_COUNT, "Exists", &[])]);
        check(
            &gpu,
            60,
            expect![[r#"
                spot
                g5g.xlarge/a/spot $0.01 (option 2)"#]],
        );
        check(
            &request(vec![catalog().remove(2)], vec![]),
            60,
            expect![[r#"
                spot
                g5g.xlarge/a/spot $0.01 (option 0)"#]],
        );
    }

    #[test]
    fn the_cheapest_types_are_kept_up_to_the_maximum() {
        check(
            &request(
                catalog(),
                vec![NodeSelectorRequirement::new(labels::CAPACITY_TYPE, "In", &["on-demand"])],
            ),
            1,
            expect![[r#"
                on-demand
                c7g.large/a/on-demand $0.07 (option 1)
                c7g.large/b/on-demand $0.07 (option 1)"#]],
        );
    }

    #[test]
    fn min_values_are_checked_on_what_is_kept() {
        let mut min_values = NodeSelectorRequirement::new(labels::INSTANCE_TYPE, "Exists", &[]);
        min_values.min_values = Some(2);
        check(
            &request(
                catalog(),
                vec![NodeSelectorRequirement::new(labels::CAPACITY_TYPE, "In", &["on-demand"]), min_values],
            ),
            1,
            expect![
                "error: minValues 2 of node.kubernetes.io/instance-type is not met: the instance types left span 1 value(s)"
            ],
        );
    }

    #[test]
    fn nothing_left_is_no_offering() {
        check(
            &request(catalog(), vec![NodeSelectorRequirement::new(labels::ARCH, "In", &["amd64"])]),
            60,
            expect![
                "error: no instance type of the request has an available offering that its requirements allow and room for its requests"
            ],
        );
    }
}
