//! Kubernetes resource quantities ("100m", "1.5", "1Gi", "1e3", "500M"), parsed exactly.
//!
//! Behaviour follows `k8s.io/apimachinery/pkg/api/resource`: a signed decimal number followed by a binary-SI suffix
//! (`Ki` … `Ei`), a decimal-SI suffix (`n u m k M G T P E`) or a decimal exponent (`e3`, `E-2`). Conversion to an
//! integer rounds up, as `Quantity.Value()` and `Quantity.MilliValue()` do, so that a request of "0.5m" CPU still
//! reserves one millicore.

use std::fmt;

/// A parsed quantity: `mantissa * 10^exp10 * 2^exp2`, kept exact until it is converted to an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    mantissa: i128,
    exp10: i32,
    exp2: u32,
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
    /// The value does not fit in 64 bits once scaled.
    #[error("quantity {0:?} is too large")]
    Overflow(String),
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
        let mut mantissa: i128 = 0;
        let mut exp10: i32 = 0;
        let mut digits = 0;
        let mut seen_point = false;
        while pos < bytes.len() {
            let c = bytes[pos];
            if c.is_ascii_digit() {
                // Leading zeros are free; beyond 30 significant digits the number is out of range for any resource.
                if mantissa != 0 || c != b'0' {
                    digits += 1;
                }
                if digits > 30 {
                    return Err(QuantityError::Overflow(input.to_string()));
                }
                mantissa = mantissa * 10 + i128::from(c - b'0');
                if seen_point {
                    exp10 -= 1;
                }
            } else if c == b'.' && !seen_point {
                seen_point = true;
            } else {
                break;
            }
            pos += 1;
        }
        let number_len = pos - usize::from(negative || bytes[0] == b'+');
        if number_len == 0 || (seen_point && number_len == 1) {
            return Err(QuantityError::InvalidNumber(input.to_string()));
        }
        let (suffix_exp10, exp2) =
            parse_suffix(&s[pos..]).ok_or_else(|| QuantityError::InvalidSuffix(input.to_string()))?;
        exp10 = exp10.checked_add(suffix_exp10).ok_or_else(|| QuantityError::Overflow(input.to_string()))?;
        if negative {
            mantissa = -mantissa;
        }
        Ok(Quantity { mantissa, exp10, exp2 })
    }

    /// The value in whole units, rounded up (like `Quantity.Value()`).
    pub fn to_units(&self) -> Option<i64> {
        self.scaled(0)
    }

    /// The value in thousandths, rounded up (like `Quantity.MilliValue()`).
    pub fn to_milli(&self) -> Option<i64> {
        self.scaled(3)
    }

    /// True when the quantity is below zero.
    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    fn scaled(&self, extra_exp10: i32) -> Option<i64> {
        let mut value = self.mantissa.checked_mul(1i128.checked_shl(self.exp2)?)?;
        let exp = self.exp10 + extra_exp10;
        if exp >= 0 {
            for _ in 0..exp {
                value = value.checked_mul(10)?;
                if value.unsigned_abs() > i64::MAX as u128 {
                    return None;
                }
            }
        } else {
            let divisor = 10i128.checked_pow(exp.unsigned_abs())?;
            let quotient = value.div_euclid(divisor);
            let rounded_up = if value.rem_euclid(divisor) != 0 { quotient + 1 } else { quotient };
            value = rounded_up;
        }
        i64::try_from(value).ok()
    }
}

fn parse_suffix(suffix: &str) -> Option<(i32, u32)> {
    let known = match suffix {
        "" => (0, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        _ => {
            let rest = suffix.strip_prefix('e').or_else(|| suffix.strip_prefix('E'))?;
            let valid = !rest.is_empty()
                && rest.trim_start_matches(['+', '-']).chars().all(|c| c.is_ascii_digit())
                && rest.len() - rest.trim_start_matches(['+', '-']).len() <= 1
                && !rest.trim_start_matches(['+', '-']).is_empty();
            if !valid {
                return None;
            }
            let exponent: i32 = rest.parse().ok()?;
            if exponent.abs() > 40 {
                return None;
            }
            (exponent, 0)
        }
    };
    Some(known)
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}e{}*2^{}", self.mantissa, self.exp10, self.exp2)
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
        assert_eq!(Quantity::parse("."), Err(QuantityError::InvalidNumber(".".into())));
        assert_eq!(Quantity::parse("1Gb"), Err(QuantityError::InvalidSuffix("1Gb".into())));
        assert_eq!(Quantity::parse("1.2.3"), Err(QuantityError::InvalidSuffix("1.2.3".into())));
        assert_eq!(Quantity::parse("1e"), Err(QuantityError::InvalidSuffix("1e".into())));
        assert_eq!(Quantity::parse("1e+-2"), Err(QuantityError::InvalidSuffix("1e+-2".into())));
        assert_eq!(Quantity::parse("1 Gi"), Err(QuantityError::InvalidSuffix("1 Gi".into())));
        assert!(matches!(
            Quantity::parse("1234567890123456789012345678901234"),
            Err(QuantityError::Overflow(_))
        ));
        assert_eq!(Quantity::parse("100Ei").unwrap().to_units(), None, "does not fit in 64 bits");
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
