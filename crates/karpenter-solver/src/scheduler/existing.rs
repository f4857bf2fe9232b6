//! Existing and in-flight nodes (`existingnode.go`): what is left of each for pending pods once the DaemonSet
//! pods that will still start there are counted, and placing a pod on the first that takes it.

use crate::Prepared;
use crate::compile::{NodeData, RoundView};
use crate::podterms::HostPort;
use crate::requirements::{Requirements, Undefined};
use crate::resources::{self, Res};
use crate::taints;

use super::checks::{self, Attempt, Room, Target};

/// A node that can take pods in this round.
pub(crate) struct Node<'a> {
    pub(crate) data: &'a NodeData,
    /// What is left for pending pods.
    pub(crate) remaining: Res,
    /// Pending pods placed on it in this round.
    pub(crate) pods: Vec<crate::ids::PodId>,
    /// Host ports taken by the pods bound to it and placed on it.
    pub(crate) ports: Vec<HostPort>,
    /// Its hostname, for the one-lookup shortcut of hostname topologies.
    pub(crate) hostname: Option<crate::ids::ValueId>,
}

impl<'a> Node<'a> {
    pub(crate) fn new(prepared: &Prepared, c: &RoundView<'_>, data: &'a NodeData) -> Self {
        let ports = data.pods.iter().flat_map(|p| p.host_ports.iter().cloned()).collect();
        let hostname = data.requirements.get(c.keys().hostname).and_then(|r| r.values().first()).copied();
        Node { data, remaining: remaining(prepared, c, data), pods: Vec::new(), ports, hostname }
    }

    /// Checks 1 to 5 for this node. Returns the node's requirements narrowed by the pod's, for topology to
    /// record.
    pub(crate) fn admit(
        &self,
        c: &RoundView<'_>,
        topology: &crate::topology::Topology,
        attempt: &Attempt<'_>,
    ) -> Option<Requirements> {
        let interner = &c.interner;
        let target = Target {
            room: Room::Node(&self.remaining),
            taints: &self.data.taints,
            ports: &self.ports,
            requirements: &self.data.requirements,
            undefined: Undefined::Refused,
        };
        let narrowed = checks::admit(interner, &target, attempt).ok()?;
        checks::volume_alternatives(attempt.data).find_map(|volume| {
            checks::volumes_and_topology(
                interner,
                topology,
                narrowed.clone(),
                volume,
                attempt,
                Undefined::Refused,
            )
            .ok()
            .map(std::borrow::Cow::into_owned)
        })
    }
}

/// Available resources of an existing node minus DaemonSet pods that will still start there.
fn remaining(prepared: &Prepared, c: &RoundView<'_>, node: &NodeData) -> Res {
    let mut daemon_requests = c.table.zero();
    for daemon in &prepared.daemons {
        if taints::first_untolerated(&node.taints, &daemon.tolerations, None).is_some() {
            continue;
        }
        let strict = daemon.strict_requirements(c.interner, 0);
        if node.requirements.compatible(c.interner, &strict, Undefined::Refused).is_ok() {
            resources::add_assign(&mut daemon_requests, &daemon.requests);
        }
    }
    resources::sub_assign(&mut daemon_requests, &node.running_daemon_requests);
    for amount in &mut daemon_requests {
        *amount = (*amount).max(0);
    }
    let mut remaining = node.available.clone();
    resources::sub_assign(&mut remaining, &daemon_requests);
    remaining
}
