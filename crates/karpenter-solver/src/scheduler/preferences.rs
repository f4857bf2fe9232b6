//! Preference relaxation (`preferences.go`, `Preferences.Relax`): a pod that fits nowhere gives up one preference
//! at a time, in upstream's order, and is tried again. Every pod starts each round fully constrained.

use crate::PreferencePolicy;
use crate::compile::PodData;
use crate::interner::Interner;
use crate::requirements::Requirements;
use crate::taints::Toleration;
use crate::topology::TopologyRelaxation;

/// How far a pod's soft constraints have been relaxed in the current attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Relaxation {
    required_terms_dropped: usize,
    preferred_terms_dropped: usize,
    tolerate_prefer_no_schedule: bool,
    pub(crate) topology: TopologyRelaxation,
}

/// Whether some NodePool taints with PreferNoSchedule, which the last relaxation step may then tolerate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PreferNoScheduleTaints {
    Present,
    Absent,
}

impl Relaxation {
    /// Every pod starts each attempt fully constrained.
    pub(crate) fn new(pod: &PodData) -> Self {
        Relaxation {
            required_terms_dropped: 0,
            preferred_terms_dropped: 0,
            tolerate_prefer_no_schedule: false,
            topology: TopologyRelaxation::new(pod),
        }
    }

    /// The pod's requirements for this attempt: node selector, the current required term, and (under Respect)
    /// the heaviest preferred term not yet dropped.
    pub(crate) fn requirements(
        &self,
        interner: &Interner,
        pod: &PodData,
        policy: PreferencePolicy,
    ) -> Requirements {
        let mut requirements = pod.node_selector.clone();
        if policy == PreferencePolicy::Respect
            && let Some(term) = pod.preferred_terms.get(self.preferred_terms_dropped)
        {
            requirements.add_all(interner, term);
        }
        if let Some(term) = pod.required_terms.get(self.required_terms_dropped) {
            requirements.add_all(interner, term);
        }
        requirements
    }

    /// Node selector plus the current required term, without preferences.
    pub(crate) fn strict_requirements(&self, interner: &Interner, pod: &PodData) -> Requirements {
        pod.strict_requirements(interner, self.required_terms_dropped)
    }

    /// The toleration relaxation has added, if any.
    pub(crate) fn extra_toleration(&self) -> Option<Toleration> {
        self.tolerate_prefer_no_schedule.then(Toleration::prefer_no_schedule)
    }

    /// One step of `Preferences.Relax`, in upstream order: the first of several required node-affinity terms, the
    /// heaviest preferred pod-affinity, pod-anti-affinity and node-affinity terms, one ScheduleAnyway spread
    /// constraint, and last a toleration of PreferNoSchedule taints. Under the Ignore policy preferences were never
    /// in force, so there is nothing to drop. False when nothing is left to relax.
    pub(crate) fn relax(
        &mut self,
        pod: &PodData,
        policy: PreferencePolicy,
        taints: PreferNoScheduleTaints,
    ) -> bool {
        let respect = policy == PreferencePolicy::Respect;
        if pod.required_terms.len().saturating_sub(self.required_terms_dropped) > 1 {
            self.required_terms_dropped += 1;
            return true;
        }
        let topology = &mut self.topology;
        if respect && topology.affinity_preferred_dropped < pod.affinity_preferred.len() {
            topology.affinity_preferred_dropped += 1;
            return true;
        }
        if respect && topology.anti_preferred_dropped < pod.anti_preferred.len() {
            topology.anti_preferred_dropped += 1;
            return true;
        }
        if respect && self.preferred_terms_dropped < pod.preferred_terms.len() {
            self.preferred_terms_dropped += 1;
            return true;
        }
        if respect && let Some(i) = self.topology.spread.iter().position(|&t| pod.spread[t].schedule_anyway) {
            // Upstream moves the last constraint into the dropped one's place; later drops follow that order.
            self.topology.spread.swap_remove(i);
            return true;
        }
        if taints == PreferNoScheduleTaints::Present
            && !self.tolerate_prefer_no_schedule
            && !pod.tolerations.contains(&Toleration::prefer_no_schedule())
        {
            self.tolerate_prefer_no_schedule = true;
            return true;
        }
        false
    }
}
