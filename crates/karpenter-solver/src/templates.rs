//! NodePool templates ready to open NodeClaims from (`nodeclaimtemplate.go`, `scheduler.go`
//! `NewScheduler`): each pool's instance types narrowed to those its own requirements allow, grouped by the
//! DaemonSet pods that would run on them (`buildDaemonOverheadGroups`, `isDaemonPodCompatible`).

use std::collections::BTreeMap;

use crate::compile::{PodData, TemplateData};
use crate::filter::{FilterFailure, MinValues, Query, RequirementsCheck, Types, filter_instance_types};
use crate::ids::TypeId;
use crate::podterms::HostPort;
use crate::resources::{self, Res, ResourceTable};
use crate::taints::{self, Toleration};

/// Instance types that share the same DaemonSet pods: their overhead and the host ports those pods take.
#[derive(Debug, Clone)]
pub(crate) struct DaemonGroup {
    pub(crate) overhead: Res,
    pub(crate) ports: Vec<HostPort>,
}

/// Marks an instance type a template does not offer in [`Template::group_of`].
const NO_GROUP: u32 = u32::MAX;

/// A NodePool template with its instance types narrowed to those its requirements allow.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub(crate) data: TemplateData,
    /// Instance types that survive the template's own requirements, by name.
    pub(crate) instance_types: Vec<TypeId>,
    /// DaemonSet group of each instance type, indexed by type; `NO_GROUP` for types the template does not offer.
    group_of: Vec<u32>,
    pub(crate) groups: Vec<DaemonGroup>,
}

impl Template {
    /// Narrows the template's instance types and groups them by DaemonSet overhead. A template that keeps no
    /// instance type is refused with the reason upstream logs.
    pub(crate) fn build(
        data: TemplateData,
        types: Types<'_>,
        daemons: &[PodData],
        table: &ResourceTable,
        min_values: MinValues,
    ) -> Result<Template, String> {
        let zero = table.zero();
        let mut requirements = data.requirements.clone();
        let query = Query {
            candidates: &data.instance_types,
            requirements: &mut requirements,
            requests: &zero,
            min_values,
            check: RequirementsCheck::Check,
        };
        let outcome = filter_instance_types(types, query, |_| Some(&zero));
        let instance_types = match outcome {
            Ok(filtered) => filtered.types,
            Err(failure) => return Err(refusal(&failure)),
        };
        let mut group_index: BTreeMap<Vec<usize>, usize> = BTreeMap::new();
        let mut groups = Vec::new();
        let size = instance_types.iter().map(|t| t.index() + 1).max().unwrap_or(0);
        let mut group_of = vec![NO_GROUP; size];
        for &id in &instance_types {
            let compatible: Vec<usize> =
                (0..daemons.len()).filter(|&d| daemon_runs_on(types, &data, id, &daemons[d])).collect();
            let next = groups.len();
            let group = *group_index.entry(compatible.clone()).or_insert(next);
            if group == next {
                let mut overhead = table.zero();
                for &d in &compatible {
                    resources::add_assign(&mut overhead, &daemons[d].requests);
                }
                if !compatible.is_empty() {
                    overhead[resources::PODS_INDEX] = compatible.len() as i64;
                }
                let ports = compatible.iter().flat_map(|&d| daemons[d].host_ports.iter().cloned()).collect();
                groups.push(DaemonGroup { overhead, ports });
            }
            group_of[id.index()] = group as u32;
        }
        Ok(Template { data, instance_types, group_of, groups })
    }

    /// The DaemonSet group of an instance type the template offers.
    pub(crate) fn group_index(&self, instance_type: TypeId) -> Option<usize> {
        let group = *self.group_of.get(instance_type.index())?;
        (group != NO_GROUP).then_some(group as usize)
    }

    pub(crate) fn group(&self, instance_type: TypeId) -> Option<&DaemonGroup> {
        self.group_index(instance_type).map(|g| &self.groups[g])
    }
}

/// Why a template keeps no instance type, in upstream's words.
fn refusal(failure: &FilterFailure) -> String {
    match &failure.min_values {
        Some(keys) => format!(
            "requirements filtered out all instance types: minValues requirement is not met for label(s) {}",
            keys.join(", ")
        ),
        None => "requirements filtered out all instance types".to_string(),
    }
}

/// `isDaemonPodCompatible`: the daemon tolerates the template's taints (PreferNoSchedule always), and one of its
/// required node-affinity terms is compatible with the template and intersects the instance type.
fn daemon_runs_on(types: Types<'_>, template: &TemplateData, id: TypeId, daemon: &PodData) -> bool {
    let prefer = Toleration::prefer_no_schedule();
    if taints::first_untolerated(&template.taints, &daemon.tolerations, Some(&prefer)).is_some() {
        return false;
    }
    let interner = types.interner;
    let it = types.get(id);
    let terms = daemon.required_terms.len().max(1);
    (0..terms).any(|term| {
        let strict = daemon.strict_requirements(interner, term);
        template.requirements.compatible(interner, &strict, crate::requirements::Undefined::Allowed).is_ok()
            && it.requirements.intersects(interner, &strict).is_ok()
    })
}
