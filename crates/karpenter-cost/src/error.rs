//! Why a bound could not be computed. None of these stops a plan from being returned: the engine falls back to the
//! first-fit plan and says why.

/// What failed while bounding or improving a batch.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// HiGHS failed on a master problem (numerical trouble, or a limit reached before any solution).
    #[error("the {stage} failed: {message}")]
    Lp {
        /// Which problem (`master LP`).
        stage: &'static str,
        /// HiGHS's answer.
        message: String,
    },
    /// A pod the first fit placed on a new NodeClaim has requests this crate cannot read.
    #[error("pod {pod}: {message}")]
    Pod {
        /// `namespace/name`.
        pod: String,
        /// The resource at fault.
        message: String,
    },
    /// No kind of node in the pod's NodePool can take a pod of the class the first fit placed: the probes and the
    /// first fit disagree, so no bound is claimed.
    #[error("pod {pod}: no instance type of NodePool {node_pool} takes it alone")]
    Unplaceable {
        /// `namespace/name` of a pod of the class.
        pod: String,
        /// Its NodePool.
        node_pool: String,
    },
}
