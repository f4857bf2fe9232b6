//! Finishing a round (`scheduler.go` `FinalizeScheduling`, `nodeclaimtemplate.go` `TruncateInstanceTypes`,
//! `ToNodeClaim`): each NodeClaim gets its DaemonSet overhead, its cheapest launch options and the capacity types
//! they offer; pods that found no place get their reasons.

use std::collections::HashMap;

use crate::MinValuesPolicy;
use crate::filter::{OfferingFilter, satisfies_min_values};
use crate::ids::{PodId, TypeId, ValueId};
use crate::labels;
use crate::model::NodeSelectorRequirement;
use crate::plan::{
    Check, ExistingNodePlacement, InstanceTypeOption, NewNodeClaim, Plan, PoolRejection, SolveStats,
    Unschedulable, UnschedulablePod,
};
use crate::requirements::{Interner, Requirement};
use crate::resources::{self, Res};

use super::Scheduler;
use super::claims::Claim;

impl Scheduler<'_> {
    /// The plan: placements on existing nodes, finalised NodeClaims, and every pod left over with its reason
    /// (malformed pods first, by name, then the others in queue order).
    pub(super) fn into_plan(
        self,
        order: &[PodId],
        mut errors: HashMap<PodId, Unschedulable>,
        stats: SolveStats,
    ) -> Plan {
        let c = self.c;
        let existing_nodes = self
            .nodes
            .iter()
            .filter(|n| !n.pods.is_empty())
            .map(|n| ExistingNodePlacement {
                node: n.data.name.clone(),
                pods: n.pods.iter().map(|&p| c.pod(p).reference.clone()).collect(),
            })
            .collect();
        let mut new_node_claims = Vec::new();
        for claim in &self.claims {
            match self.finalize(claim) {
                Ok(mut node_claim) => {
                    node_claim.pods = claim.pods.iter().map(|&p| c.pod(p).reference.clone()).collect();
                    new_node_claims.push(node_claim);
                }
                Err(message) => {
                    let rejection = PoolRejection {
                        node_pool: self.prepared.template(claim.pool).data.name.clone(),
                        failed: vec![Check::MinValues],
                        message,
                    };
                    for &pod in &claim.pods {
                        errors.insert(pod, Unschedulable::Rejected { node_pools: vec![rejection.clone()] });
                    }
                }
            }
        }
        let mut unschedulable: Vec<UnschedulablePod> = c
            .invalid_pods
            .iter()
            .map(|invalid| UnschedulablePod {
                pod: invalid.reference.clone(),
                reason: Unschedulable::InvalidPod {
                    field: invalid.error.field.clone(),
                    message: invalid.error.message.clone(),
                },
            })
            .collect();
        unschedulable.sort_by(|a, b| a.pod.cmp(&b.pod));
        for &pod in order {
            if let Some(reason) = errors.remove(&pod) {
                unschedulable.push(UnschedulablePod { pod: c.pod(pod).reference.clone(), reason });
            }
        }
        let mut input_errors: Vec<_> =
            self.prepared.input_errors.iter().chain(c.input_errors).cloned().collect();
        input_errors.sort();
        let stats = SolveStats {
            options: new_node_claims.iter().map(|claim| claim.instance_type_options.len()).sum(),
            ..stats
        };
        Plan { existing_nodes, new_node_claims, unschedulable, input_errors, stats }
    }

    /// `FinalizeScheduling` and `TruncateInstanceTypes`: drop the placeholder hostname, add the smallest DaemonSet
    /// overhead among the remaining options, keep the cheapest options, and pin the capacity types they offer.
    fn finalize(&self, claim: &Claim) -> Result<NewNodeClaim, String> {
        let c = self.c;
        let interner = &c.interner;
        let keys = c.keys();
        let types = self.types();
        let config = &self.prepared.config;
        let template = self.prepared.template(claim.pool);
        // Hostname placeholders only exist for hostname topologies, which NodeClaims never carry into a launch.
        let mut requirements = claim.requirements.clone();
        requirements.remove(keys.hostname);

        let mut requests = claim.requests.clone();
        let mut smallest_overhead: Option<Res> = None;
        let mut seen_groups: Vec<usize> =
            claim.instance_types.iter().filter_map(|&it| template.group_index(it)).collect();
        seen_groups.sort_unstable();
        seen_groups.dedup();
        for group in seen_groups {
            let overhead = &template.groups[group].overhead;
            smallest_overhead = Some(match smallest_overhead {
                None => overhead.clone(),
                Some(current) => current.iter().zip(overhead).map(|(a, b)| (*a).min(*b)).collect(),
            });
        }
        if let Some(overhead) = &smallest_overhead {
            resources::add_assign(&mut requests, overhead);
        }

        let offerings = OfferingFilter::new(types, &requirements);
        let mut options: Vec<(TypeId, f64)> =
            claim.instance_types.iter().map(|&it| (it, offerings.cheapest_price(types.get(it)))).collect();
        options
            .sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| types.get(a.0).name.cmp(&types.get(b.0).name)));
        options.truncate(config.max_instance_types);
        if requirements.has_min_values() && config.min_values_policy == MinValuesPolicy::Strict {
            let kept: Vec<TypeId> = options.iter().map(|o| o.0).collect();
            if let Err(unmet) = satisfies_min_values(types, &kept, &requirements) {
                let mut names: Vec<&str> = unmet.keys().map(|k| interner.key_name(*k)).collect();
                names.sort_unstable();
                return Err(format!(
                    "the cheapest {} instance types no longer meet minValues for label(s) {}",
                    config.max_instance_types,
                    names.join(", ")
                ));
            }
        }

        // Interned ids first: thousands of offerings name a handful of capacity types.
        let mut capacity_type_ids: Vec<ValueId> = options
            .iter()
            .flat_map(|(it, _)| offerings.compatible(types.get(*it)).map(|o| o.capacity_type))
            .collect();
        capacity_type_ids.sort_unstable();
        capacity_type_ids.dedup();
        let mut capacity_types: Vec<String> =
            capacity_type_ids.iter().map(|&v| interner.value_name(v).into_owned()).collect();
        capacity_types.sort_unstable();

        let mut selectors: Vec<NodeSelectorRequirement> = Vec::new();
        let mut labels_out = template.data.labels.clone();
        for (key, requirement) in requirements.iter() {
            let name = interner.key_name(key);
            if labels::is_simulation_only(name) || key == keys.instance_type || key == keys.capacity_type {
                continue;
            }
            // A key the instance types define gets its value from the launched type, not from the requirement.
            let defined_by_types =
                options.iter().any(|(it, _)| types.get(*it).requirements.get(key).is_some());
            if !labels::is_label_resolved_by_provider(name)
                && !defined_by_types
                && !labels_out.contains_key(name)
                && let Some(value) = requirement.any_value(interner)
            {
                labels_out.insert(name.to_string(), value);
            }
            push_selectors(&mut selectors, name, requirement, interner);
        }
        // The instance-type requirement is the list of options; `NewNodeClaim::node_selector_requirements` adds it
        // back, so thousands of NodeClaims do not each carry every name twice.
        let instance_type_min_values = requirements.get(keys.instance_type).and_then(|r| r.min_values);
        if !capacity_types.is_empty() {
            let existing_min = requirements.get(keys.capacity_type).and_then(|r| r.min_values);
            selectors.push(NodeSelectorRequirement {
                key: labels::CAPACITY_TYPE.to_string(),
                operator: "In".to_string(),
                values: capacity_types.iter().map(|s| s.to_string()).collect(),
                min_values: existing_min,
            });
        }
        selectors.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.operator.cmp(&b.operator)));

        let requests_out = (0..c.table.len())
            .filter(|&i| requests.get(i).is_some_and(|amount| *amount != 0))
            .map(|i| (c.table.name(i).to_string(), resources::format_amount(c.table.name(i), requests[i])))
            .collect();
        Ok(NewNodeClaim {
            node_pool: template.data.name.clone(),
            labels: labels_out,
            taints: template.data.model_taints.clone(),
            startup_taints: template.data.model_startup_taints.clone(),
            requirements: selectors,
            instance_type_min_values,
            instance_type_options: options
                .iter()
                .map(|(it, price)| InstanceTypeOption { name: types.get(*it).name.clone(), price: *price })
                .collect(),
            pods: Vec::new(),
            requests: requests_out,
            min_values_relaxed: claim.min_values_relaxed,
        })
    }
}

fn push_selectors(
    out: &mut Vec<NodeSelectorRequirement>,
    key: &str,
    requirement: &Requirement,
    interner: &Interner,
) {
    for (operator, values) in requirement.to_selector(interner) {
        out.push(NodeSelectorRequirement {
            key: key.to_string(),
            operator: operator.to_string(),
            values,
            min_values: requirement.min_values,
        });
    }
}
