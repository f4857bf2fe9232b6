//! Go's `time.ParseDuration`, for annotation values such as `karpenter.sh/do-not-disrupt: 30m`.

/// Nanoseconds in each unit Go accepts.
const UNITS: [(&str, f64); 8] =
    [("ns", 1.0), ("us", 1e3), ("µs", 1e3), ("μs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)];

/// Parses a Go duration (`1h30m`, `1.5h`, `-2s`, `0`) into nanoseconds.
pub(crate) fn parse_go_duration(text: &str) -> Result<i128, String> {
    let invalid = || format!("{text:?} is not a duration");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(invalid)?;
        let number = &rest[..number_len];
        if number.is_empty() || number == "." {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let (_, scale) = UNITS.iter().find(|(name, _)| *name == unit).ok_or_else(invalid)?;
        total += value * scale;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > i64::MAX as f64 {
        return Err(invalid());
    }
    let nanos = total.round() as i128;
    Ok(if negative { -nanos } else { nanos })
}

/// Parses a non-negative Go duration (`30s`, `1h30m`), as NodePools and NodeClaims write
/// `terminationGracePeriod` and `expireAfter`, for the controller.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let nanos = parse_go_duration(text)?;
    let nanos = u64::try_from(nanos).map_err(|_| format!("{text:?} is negative"))?;
    Ok(std::time::Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_reads_them() {
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("30m"), Ok(1_800_000_000_000));
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("-2s"), Ok(-2_000_000_000));
        assert_eq!(parse_go_duration("300ms"), Ok(300_000_000));
        assert!(parse_go_duration("true").is_err());
        assert!(parse_go_duration("5").is_err(), "a number without a unit is not a duration");
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("1d").is_err(), "Go has no day unit");
    }
}
