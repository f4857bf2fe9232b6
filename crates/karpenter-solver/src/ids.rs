//! Dense ids for what a solve indexes: interned label keys and values, compiled instance types, pending pods,
//! NodeClaims opened in a round, and NodePool templates. Each is a distinct type so that an instance-type index
//! cannot be passed where a pod index is meant.

macro_rules! dense_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub(crate) struct $name(pub(crate) u32);

        impl $name {
            /// The id of the `index`th entry of its table.
            pub(crate) fn new(index: usize) -> Self {
                $name(u32::try_from(index).expect(concat!(stringify!($name), " fits in 32 bits")))
            }

            /// The position in its table.
            pub(crate) fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

dense_id!(
    /// An interned label key.
    KeyId
);
dense_id!(
    /// An interned label value, or the placeholder hostname of a NodeClaim opened in a round.
    ValueId
);
dense_id!(
    /// A compiled instance type of a [`crate::Prepared`].
    TypeId
);
dense_id!(
    /// A pending pod of a round.
    PodId
);
dense_id!(
    /// A NodeClaim opened in a round, in the order it was opened.
    ClaimId
);
dense_id!(
    /// A NodePool template of a [`crate::Prepared`], in the order pools are tried (weight, then name descending).
    PoolId
);

/// First value id used for hostname placeholders; interned values never reach it.
const PLACEHOLDER_BASE: u32 = 1 << 31;

impl ValueId {
    /// The placeholder hostname of the `n`th NodeClaim opened in a round. Placeholders live above every interned
    /// value, so they need no interning while the interner is shared read-only.
    pub(crate) fn placeholder(claim: ClaimId) -> ValueId {
        ValueId(PLACEHOLDER_BASE + claim.0)
    }

    /// The claim whose placeholder hostname this is, if it is one.
    pub(crate) fn placeholder_claim(self) -> Option<ClaimId> {
        self.0.checked_sub(PLACEHOLDER_BASE).map(ClaimId)
    }
}
