//! Durations as Kubernetes writes them: Go's `time.ParseDuration` syntax (`metav1.Duration`), and Karpenter's
//! `NillableDuration` that also accepts `Never` (`kubernetes-sigs/karpenter: pkg/apis/v1/duration.go`).

use std::fmt;

/// A signed span of time in nanoseconds, as Go's `time.Duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub i128);

impl Duration {
    /// Zero.
    pub const ZERO: Duration = Duration(0);

    /// A whole number of seconds.
    pub fn seconds(seconds: i64) -> Self {
        Duration(i128::from(seconds) * 1_000_000_000)
    }

    /// The span in seconds, as a float.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// The span in minutes, as a float.
    pub fn as_minutes_f64(self) -> f64 {
        self.as_secs_f64() / 60.0
    }

    /// Whole seconds, rounded towards negative infinity.
    pub fn whole_seconds(self) -> i64 {
        self.0.div_euclid(1_000_000_000) as i64
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for Duration {
    /// Prints like Go's `Duration.String` for whole seconds (`1h30m0s`, `45s`), with fractions of a second in
    /// milliseconds when there are any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0;
        if nanos == 0 {
            return f.write_str("0s");
        }
        let sign = if nanos < 0 { "-" } else { "" };
        let total = nanos.unsigned_abs();
        let seconds = total / 1_000_000_000;
        let fraction = total % 1_000_000_000;
        let (h, m, s) = (seconds / 3600, (seconds / 60) % 60, seconds % 60);
        let mut out = String::from(sign);
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        if fraction == 0 {
            out.push_str(&format!("{s}s"));
        } else {
            let millis = format!("{:03}", fraction / 1_000_000);
            out.push_str(&format!("{s}.{}s", millis.trim_end_matches('0')));
        }
        f.write_str(&out)
    }
}

/// Parses Go's duration syntax: an optional sign and a sequence of decimal numbers, each with an optional fraction
/// and a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), such as `300ms`, `1.5h` or `2h45m`. `0` needs no unit.
pub fn parse_go(text: &str) -> Result<Duration, String> {
    let original = text;
    let mut rest = text;
    let mut negative = false;
    if let Some(r) = rest.strip_prefix('-') {
        negative = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(format!("invalid duration {original:?}"));
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let whole = &rest[..digits];
        rest = &rest[digits..];
        let mut fraction = "";
        if let Some(r) = rest.strip_prefix('.') {
            let n = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            fraction = &r[..n];
            rest = &r[n..];
        }
        if whole.is_empty() && fraction.is_empty() {
            return Err(format!("invalid duration {original:?}"));
        }
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3600 * 1_000_000_000,
            "" => return Err(format!("missing unit in duration {original:?}")),
            other => return Err(format!("unknown unit {other:?} in duration {original:?}")),
        };
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| format!("invalid duration {original:?}"))?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(|| format!("invalid duration {original:?}"))?;
        let mut place = scale;
        for digit in fraction.bytes() {
            place /= 10;
            if place == 0 {
                break;
            }
            value += i128::from(digit - b'0') * place;
        }
        total = total.checked_add(value).ok_or_else(|| format!("invalid duration {original:?}"))?;
        if total > i128::from(i64::MAX) {
            return Err(format!("invalid duration {original:?}"));
        }
    }
    Ok(Duration(if negative { -total } else { total }))
}

/// Parses a `NillableDuration`: `Never` is `None`.
pub fn parse_nillable(text: &str) -> Result<Option<Duration>, String> {
    if text == "Never" { Ok(None) } else { parse_go(text).map(Some) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_syntax() {
        let cases = [
            ("0", Ok(0)),
            ("0s", Ok(0)),
            ("30s", Ok(30_000_000_000)),
            ("1h30m", Ok(5_400_000_000_000)),
            ("1.5h", Ok(5_400_000_000_000)),
            ("300ms", Ok(300_000_000)),
            ("-2m", Ok(-120_000_000_000)),
            ("720h", Ok(2_592_000_000_000_000)),
            ("10", Err(())),
            ("", Err(())),
            ("1d", Err(())),
            ("h", Err(())),
        ];
        for (text, want) in cases {
            let got = parse_go(text).map(|d| d.0 as i64).map_err(|_| ());
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn display_reads_like_go() {
        assert_eq!(Duration::seconds(5400).to_string(), "1h30m0s");
        assert_eq!(Duration::seconds(45).to_string(), "45s");
        assert_eq!(Duration(1_500_000_000).to_string(), "1.5s");
        assert_eq!(parse_nillable("Never"), Ok(None));
    }
}
