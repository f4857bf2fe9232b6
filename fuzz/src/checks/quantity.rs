//! Fuzz check `quantity`: any text through `karpenter_solver::quantity` (after `k8s.io/apimachinery`'s
//! `resource.ParseQuantity`). Parsing never panics, and an accepted quantity is self-consistent: whole units and
//! thousandths round the same value away from zero, its sign agrees, and the formatters' output reads back.

use karpenter_solver::quantity::{Quantity, format_bytes, format_milli};

/// Runs the check on one input.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(quantity) = Quantity::parse(text) else { return };
    let units = quantity.to_units();
    let milli = quantity.to_milli();
    if milli.is_some() {
        assert!(units.is_some(), "{text:?}: thousandths fit in 64 bits but units do not");
    }
    if let Some(u) = units {
        assert_eq!(quantity.is_negative(), u < 0, "{text:?}: sign of {u}");
    }
    if let (Some(u), Some(m)) = (units, milli) {
        // ceil(|x|) * 1000 >= ceil(1000 |x|) > (ceil(|x|) - 1) * 1000, and both are zero together.
        let (u, m) = (i128::from(u).abs(), i128::from(m).abs());
        assert!(m <= u * 1000 && m > (u - 1) * 1000, "{text:?}: {u} units but {m} thousandths");
        assert_eq!(u == 0, m == 0, "{text:?}");
    }
    if let Some(m) = milli {
        let again = Quantity::parse(&format_milli(m)).expect("format_milli reads back");
        assert_eq!(again.to_milli(), Some(m), "{text:?}: format_milli({m})");
    }
    if let Some(u) = units.filter(|&u| u != i64::MIN) {
        let again = Quantity::parse(&format_bytes(u)).expect("format_bytes reads back");
        assert_eq!(again.to_units(), Some(u), "{text:?}: format_bytes({u})");
    }
    // The exact decimal Display shows reads back as the same value, unless it is beyond every 64-bit result.
    let shown = quantity.to_string();
    if !shown.contains('>') {
        assert_eq!(Quantity::parse(&shown), Ok(quantity), "{text:?} shown as {shown:?}");
    }
}
