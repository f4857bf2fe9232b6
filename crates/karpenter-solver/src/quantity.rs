//! Kubernetes resource quantities ("100m", "1.5", "1Gi", "1e3", "500M"), parsed exactly.
//!
//! Behaviour follows `k8s.io/apimachinery/pkg/api/resource` (`quantity.go` `ParseQuantity`, read through
//! `Quantity.UnmarshalJSON`, which trims white space first): a signed decimal number followed by a binary-SI suffix
//! (`Ki` … `Ei`), a decimal-SI suffix (`n u m k M G T P E`) or a decimal exponent (`e3`, `E-2`). Kubernetes accepts
//! any number of digits and any 64-bit exponent, rounds a value up to a whole nanounit, and caps binary-SI values
//! at the largest 64-bit integer; so does this parser. Conversion to an integer rounds away from zero, as
//! `Quantity.Value()` and `Quantity.MilliValue()` do, so that a request of "0.5m" CPU still reserves one millicore.
//! `tools/quantity-oracle` runs apimachinery's own parser over a few thousand inputs, and the tests compare.
//!
//! Where Kubernetes' own arithmetic is unsound this parser keeps the mathematical value instead: an exponent
//! beyond 32 bits is used as written (apimachinery truncates it, so that `1e4294967297` is 10 there), and a value
//! that does not fit in 64 bits converts to `None` (`Value()` wraps around).

use std::fmt;

/// Nanounits in one unit: Kubernetes keeps no finer precision.
const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// Magnitudes at or beyond this many nanounits fit in 64 bits neither as units nor as thousandths (2^63 + 1 units);
/// every larger value is kept as this one.
const SATURATED: i128 = ((1i128 << 63) + 1) * NANOS_PER_UNIT;

/// Kubernetes caps a binary-SI quantity at the largest 64-bit integer (`maxAllowed`).
const BINARY_CAP: i128 = i64::MAX as i128 * NANOS_PER_UNIT;

/// A parsed quantity: its value in nanounits, rounded away from zero as Kubernetes rounds it, and saturated at
/// `SATURATED` in magnitude.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    nanos: i128,
}

/// Why a quantity string could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The string was empty.
    #[error("quantity is empty")]
    Empty,
    /// The numeric part was missing or malformed.
    #[error("quantity {0:?} does not start with a number")]
    InvalidNumber(String),
    /// The suffix was not one Kubernetes knows.
    #[error(
        "quantity {0:?} has an unknown suffix (expected one of Ki Mi Gi Ti Pi Ei n u m k M G T P E or an exponent)"
    )]
    InvalidSuffix(String),
}

/// What a suffix stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suffix {
    /// A power of ten: a decimal-SI suffix or an exponent.
    Decimal(i64),
    /// A power of two: a binary-SI suffix.
    Binary(u32),
}

impl Quantity {
    /// Parses a Kubernetes quantity string.
    pub fn parse(input: &str) -> Result<Self, QuantityError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(QuantityError::Empty);
        }
        let bytes = s.as_bytes();
        let mut pos = 0;
        let negative = match bytes[0] {
            b'-' => {
                pos += 1;
                true
            }
            b'+' => {
                pos += 1;
                false
            }
            _ => false,
        };
        let integer_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        let integer = &s[integer_start..pos];
        let mut fraction = "";
        if pos < bytes.len() && bytes[pos] == b'.' {
            pos += 1;
            let fraction_start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            fraction = &s[fraction_start..pos];
        }
        let has_digits = !integer.is_empty() || !fraction.is_empty();
        let suffix_text = &s[pos..];
        let suffix = match parse_suffix(suffix_text) {
            Some(suffix) => suffix,
            None if !has_digits && !suffix_shaped(suffix_text) => {
                return Err(QuantityError::InvalidNumber(input.to_string()));
            }
            None => return Err(QuantityError::InvalidSuffix(input.to_string())),
        };
        if !has_digits {
            // Without digits Kubernetes still reads zero wherever its integer fast path applies (`+`, `.`, `Gi`,
            // `m`), and refuses the number where it needs its decimal parser: exponents below -9 (after its
            // 32-bit truncation) and the `Pi` and `Ei` suffixes.
            let fast = match suffix {
                Suffix::Decimal(exponent) => exponent as i32 >= -9,
                Suffix::Binary(exp2) => exp2 <= 40,
            };
            return if fast {
                Ok(Quantity { nanos: 0 })
            } else {
                Err(QuantityError::InvalidNumber(input.to_string()))
            };
        }
        let (exp10, exp2) = match suffix {
            Suffix::Decimal(exponent) => (i128::from(exponent), 0),
            Suffix::Binary(exp2) => (0, exp2),
        };
        // value = digits * 10^(exp10 - len(fraction)) * 2^exp2; in nanounits, nine more powers of ten.
        let digits = integer.bytes().chain(fraction.bytes()).skip_while(|&c| c == b'0');
        let shift = exp10 - fraction.len() as i128 + 9;
        let mut magnitude = magnitude_in_nanos(digits, shift, exp2);
        if matches!(suffix, Suffix::Binary(_)) {
            magnitude = magnitude.min(BINARY_CAP);
        }
        Ok(Quantity { nanos: if negative { -magnitude } else { magnitude } })
    }

    /// The value in whole units, rounded away from zero (like `Quantity.Value()`); `None` when it does not fit
    /// in 64 bits.
    pub fn to_units(&self) -> Option<i64> {
        self.scaled(NANOS_PER_UNIT)
    }

    /// The value in thousandths, rounded away from zero (like `Quantity.MilliValue()`); `None` when it does not
    /// fit in 64 bits.
    pub fn to_milli(&self) -> Option<i64> {
        self.scaled(NANOS_PER_UNIT / 1000)
    }

    /// True when the quantity is below zero.
    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    fn scaled(&self, nanos_per_step: i128) -> Option<i64> {
        let magnitude = self.nanos.unsigned_abs().div_ceil(nanos_per_step.unsigned_abs());
        let signed = if self.nanos < 0 { -(magnitude as i128) } else { magnitude as i128 };
        i64::try_from(signed).ok()
    }
}

/// `ceil(digits * 10^shift * 2^exp2)`, saturated at [`SATURATED`]. `digits` has no leading zeros; an empty list is
/// zero. The work is linear in the number of digits whatever the exponent.
fn magnitude_in_nanos(digits: impl Iterator<Item = u8> + Clone, shift: i128, exp2: u32) -> i128 {
    let count = digits.clone().count() as i128;
    if count == 0 {
        return 0;
    }
    // The value is at least 10^(count - 1 + shift): from 10^28 nanounits on, it is beyond every 64-bit result.
    if count - 1 + shift >= 28 {
        return SATURATED;
    }
    let factor = 1i128 << exp2;
    if shift >= 0 {
        // At most 28 digits in all, so the decimal part fits; the power of two may not.
        let mut value: i128 = 0;
        for digit in digits {
            value = value * 10 + i128::from(digit - b'0');
        }
        for _ in 0..shift {
            value *= 10;
        }
        return value.checked_mul(factor).map_or(SATURATED, |v| v.min(SATURATED));
    }
    // The last `places` digits are a fraction. Below 10^-19 times the power of two (at most 2^60) the whole value
    // is under one nanounit, and a non-zero value rounds up to one.
    let places = -shift;
    if places > count + 19 {
        return 1;
    }
    let places = places as usize;
    let count = count as usize;
    let whole_digits = count.saturating_sub(places);
    let mut whole: i128 = 0;
    for digit in digits.clone().take(whole_digits) {
        whole = whole * 10 + i128::from(digit - b'0');
    }
    // fraction * 2^exp2: multiply the fraction's digits by the power of two from the last one up; the carry out
    // of the first is the whole part it adds, and any non-zero digit left behind means rounding up.
    let fraction: Vec<u8> = digits.skip(whole_digits).collect();
    let leading_zeros = places - fraction.len();
    let mut carry: u128 = 0;
    let mut remainder = false;
    for &digit in fraction.iter().rev() {
        let product = u128::from(digit - b'0') * factor as u128 + carry;
        remainder |= !product.is_multiple_of(10);
        carry = product / 10;
    }
    for _ in 0..leading_zeros {
        if carry == 0 {
            break;
        }
        remainder |= !carry.is_multiple_of(10);
        carry /= 10;
    }
    let Some(scaled_whole) = whole.checked_mul(factor) else { return SATURATED };
    scaled_whole.saturating_add(carry as i128 + i128::from(remainder)).min(SATURATED)
}

/// The suffix's meaning, or `None` when Kubernetes does not know it. An exponent is any 64-bit integer, optionally
/// signed, as Go's `strconv.ParseInt` reads it.
fn parse_suffix(suffix: &str) -> Option<Suffix> {
    let known = match suffix {
        "" => Suffix::Decimal(0),
        "Ki" => Suffix::Binary(10),
        "Mi" => Suffix::Binary(20),
        "Gi" => Suffix::Binary(30),
        "Ti" => Suffix::Binary(40),
        "Pi" => Suffix::Binary(50),
        "Ei" => Suffix::Binary(60),
        "n" => Suffix::Decimal(-9),
        "u" => Suffix::Decimal(-6),
        "m" => Suffix::Decimal(-3),
        "k" => Suffix::Decimal(3),
        "M" => Suffix::Decimal(6),
        "G" => Suffix::Decimal(9),
        "T" => Suffix::Decimal(12),
        "P" => Suffix::Decimal(15),
        "E" => Suffix::Decimal(18),
        _ => {
            let rest = suffix.strip_prefix('e').or_else(|| suffix.strip_prefix('E'))?;
            let unsigned = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if unsigned.is_empty() || !unsigned.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            Suffix::Decimal(rest.parse().ok()?)
        }
    };
    Some(known)
}

/// True when the text has the shape Kubernetes allows after the number (`[eEinumkKMGTP]*[-+]?[0-9]*`), known
/// suffix or not: a string that starts with anything else is not a number at all.
fn suffix_shaped(text: &str) -> bool {
    let rest = text.trim_start_matches(|c: char| "eEinumkKMGTP".contains(c));
    let rest = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    rest.bytes().all(|c| c.is_ascii_digit()) && !text.is_empty()
}

impl fmt::Display for Quantity {
    /// The exact decimal value, as many places as it needs; a saturated value shows as the bound it passed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let magnitude = self.nanos.unsigned_abs();
        let sign = if self.nanos < 0 { "-" } else { "" };
        if magnitude >= SATURATED.unsigned_abs() {
            return write!(f, "{sign}>={}", SATURATED / NANOS_PER_UNIT);
        }
        let whole = magnitude / NANOS_PER_UNIT as u128;
        let nanos = magnitude % NANOS_PER_UNIT as u128;
        if nanos == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let fraction = format!("{nanos:09}");
            write!(f, "{sign}{whole}.{}", fraction.trim_end_matches('0'))
        }
    }
}

/// Renders a CPU amount given in millicores the way Kubernetes users write it: `2`, `1500m`.
pub fn format_milli(milli: i64) -> String {
    if milli % 1000 == 0 { format!("{}", milli / 1000) } else { format!("{milli}m") }
}

/// Renders a byte count with the largest binary suffix that divides it exactly: `1Gi`, `1536Mi`, `1000`.
pub fn format_bytes(bytes: i64) -> String {
    const SUFFIXES: [(&str, i64); 5] =
        [("Pi", 1 << 50), ("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)];
    if bytes != 0 {
        for (suffix, size) in SUFFIXES {
            if bytes % size == 0 {
                return format!("{}{suffix}", bytes / size);
            }
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn milli(s: &str) -> Option<i64> {
        Quantity::parse(s).unwrap().to_milli()
    }

    fn units(s: &str) -> Option<i64> {
        Quantity::parse(s).unwrap().to_units()
    }

    #[test]
    fn parses_the_forms_users_write() {
        assert_eq!(milli("100m"), Some(100));
        assert_eq!(milli("1.5"), Some(1500));
        assert_eq!(milli("2"), Some(2000));
        assert_eq!(milli("0.5m"), Some(1), "rounds up like MilliValue");
        assert_eq!(units("1Gi"), Some(1 << 30));
        assert_eq!(units("1.5Gi"), Some(3 << 29));
        assert_eq!(units("1e3"), Some(1000));
        assert_eq!(units("1E3"), Some(1000));
        assert_eq!(units("500M"), Some(500_000_000));
        assert_eq!(units("128974848"), Some(128_974_848));
        assert_eq!(units("129e6"), Some(129_000_000));
        assert_eq!(units("123Mi"), Some(123 * (1 << 20)));
        assert_eq!(units("1k"), Some(1000));
        assert_eq!(units("100m"), Some(1), "a fraction of a unit rounds up to one");
        assert_eq!(units(".5"), Some(1));
        assert_eq!(units("+3"), Some(3));
        assert_eq!(units("-3"), Some(-3));
        assert_eq!(units("1e-3"), Some(1));
        assert_eq!(units("0"), Some(0));
    }

    #[test]
    fn rejects_malformed_quantities_with_a_reason() {
        assert_eq!(Quantity::parse(""), Err(QuantityError::Empty));
        assert_eq!(Quantity::parse("abc"), Err(QuantityError::InvalidNumber("abc".into())));
        assert_eq!(Quantity::parse("Ei"), Err(QuantityError::InvalidNumber("Ei".into())));
        assert_eq!(Quantity::parse("1Gb"), Err(QuantityError::InvalidSuffix("1Gb".into())));
        assert_eq!(Quantity::parse("1.2.3"), Err(QuantityError::InvalidSuffix("1.2.3".into())));
        assert_eq!(Quantity::parse("1e"), Err(QuantityError::InvalidSuffix("1e".into())));
        assert_eq!(Quantity::parse("1e+-2"), Err(QuantityError::InvalidSuffix("1e+-2".into())));
        assert_eq!(Quantity::parse("1 Gi"), Err(QuantityError::InvalidSuffix("1 Gi".into())));
        assert_eq!(
            Quantity::parse("1e9223372036854775808"),
            Err(QuantityError::InvalidSuffix("1e9223372036854775808".into())),
            "an exponent beyond 64 bits is not a number to Go's ParseInt"
        );
    }

    #[test]
    fn accepts_what_kubernetes_accepts_however_odd() {
        // Kubernetes reads a bare sign, a bare point and a suffix without digits as zero.
        for zero in ["+", "-", ".", "Gi", "m", "e5", "0e-400"] {
            assert_eq!(units(zero), Some(0), "{zero:?}");
        }
        // Any number of digits and any exponent: the cases, once refused as "too large" or a panic.
        assert_eq!(units(&format!("0.{}1", "0".repeat(39))), Some(1));
        assert_eq!(units("1.0000000000000000000000000000000Gi"), Some(1 << 30));
        assert_eq!(units("1.0000000000000000000000000000001Gi"), Some((1 << 30) + 1), "rounds up");
        assert_eq!(milli("1e-2147483648"), Some(1), "a tiny positive value is one thousandth");
        assert_eq!(milli("-1e-2147483648"), Some(-1));
        assert_eq!(units("1e-9223372036854775808"), Some(1));
        assert_eq!(units("1e400"), None, "far beyond 64 bits");
        assert_eq!(units("1234567890123456789012345678901234"), None);
        // Binary-SI values are capped at the largest 64-bit integer, decimal ones are not.
        assert_eq!(units("100Ei"), Some(i64::MAX));
        assert_eq!(units("-100Ei"), Some(-i64::MAX));
        assert_eq!(units("100E"), None);
        assert_eq!(milli("100Ei"), None, "the capped value does not fit as thousandths");
        assert_eq!(units("9223372036854775807"), Some(i64::MAX));
        assert_eq!(units("9223372036854775808"), None);
        assert_eq!(units("-9223372036854775808"), Some(i64::MIN));
        // Rounding is away from zero, as Value() rounds.
        assert_eq!(units("-1.5"), Some(-2));
        assert_eq!(milli("-0.1n"), Some(-1));
    }

    #[test]
    fn shows_the_exact_value() {
        assert_eq!(Quantity::parse("1.5Gi").unwrap().to_string(), "1610612736");
        assert_eq!(Quantity::parse("-100m").unwrap().to_string(), "-0.1");
        assert_eq!(Quantity::parse("0.1n").unwrap().to_string(), "0.000000001");
        assert_eq!(Quantity::parse("1e30").unwrap().to_string(), ">=9223372036854775809");
    }

    /// One line of `tests/quantity-golden.json`: what apimachinery made of an input (`tools/quantity-oracle`).
    #[derive(serde::Deserialize)]
    struct Golden {
        input: String,
        ok: bool,
        #[serde(default)]
        negative: bool,
        units: Option<i64>,
        milli: Option<i64>,
    }

    #[test]
    fn agrees_with_kubernetes_on_every_golden_input() {
        let text = include_str!("../tests/quantity-golden.json");
        let golden: Vec<Golden> = serde_json::from_str(text).unwrap();
        assert!(golden.len() > 2000, "the oracle's output is complete");
        // Kubernetes truncates an exponent to 32 bits (`1e4294967297` is 10 there); this parser keeps its value.
        const TRUNCATED_EXPONENTS: [&str; 5] = [
            "1e4294967296",
            "1e4294967297",
            "1e-4294967296",
            "1e9223372036854775807",
            "1e-9223372036854775808",
        ];
        let mut disagreements = Vec::new();
        for case in &golden {
            if TRUNCATED_EXPONENTS.contains(&case.input.as_str()) {
                let ours = Quantity::parse(&case.input).unwrap();
                assert_ne!((ours.to_units(), ours.to_milli()), (case.units, case.milli), "{}", case.input);
                continue;
            }
            let ours = Quantity::parse(&case.input);
            let agrees = match (&ours, case.ok) {
                (Ok(q), true) => {
                    q.is_negative() == case.negative
                        && q.to_units() == case.units
                        && q.to_milli() == case.milli
                }
                (Err(_), false) => true,
                _ => false,
            };
            if !agrees {
                disagreements.push(format!(
                    "{:?}: kubernetes ok={} units={:?} milli={:?}, ours {:?}",
                    case.input,
                    case.ok,
                    case.units,
                    case.milli,
                    ours.map(|q| (q.to_units(), q.to_milli()))
                ));
            }
        }
        assert!(
            disagreements.is_empty(),
            "{} disagreements:\n{}",
            disagreements.len(),
            disagreements.join("\n")
        );
    }

    #[test]
    fn formats_round_numbers_compactly() {
        assert_eq!(format_milli(1500), "1500m");
        assert_eq!(format_milli(2000), "2");
        assert_eq!(format_bytes(1 << 30), "1Gi");
        assert_eq!(format_bytes(1536 << 20), "1536Mi");
        assert_eq!(format_bytes(1000), "1000");
        assert_eq!(format_bytes(0), "0");
    }
}
