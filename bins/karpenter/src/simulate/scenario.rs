//! The scenario `karpenter simulate` plays: NodePools and EC2NodeClasses, workloads with a pod template and a
//! replica count over time (steps and a daily curve), spot interruptions, insufficient-capacity errors, the
//! duration and the delays of the parts of a cluster the simulation plays (the format is in `docs/simulate.md`).
//! There is no upstream counterpart: upstream has no simulator.
//!
//! A scenario is untrusted input: it is read with the same bounded YAML reader as `karpenter plan`'s manifests,
//! and every error names the file, the field (as a path such as `workloads[1].replicas[0].at`) and the reason.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::jiff::Timestamp;
use karpenter_api::{EC2NodeClass, NodePool};
use serde::Deserialize;

use crate::plan::input::{Format, MAX_FILE_BYTES, read_documents};

/// The built-in scenario: the seed's NodePool and `inflate`, then a day of a mixed service fleet.
pub(crate) const DEFAULT: &str = include_str!("default.yaml");

/// A duration written as Go and Kubernetes write them: `90s`, `5m`, `1h30m`, `26h` (units `ms`, `s`, `m`, `h`,
/// `d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Dur(pub(crate) Duration);

impl Dur {
    pub(crate) fn parse(text: &str) -> std::result::Result<Dur, String> {
        let bad = || format!("{text:?} is not a duration such as 90s, 5m or 1h30m");
        let mut total = Duration::ZERO;
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(bad());
        }
        if rest == "0" {
            return Ok(Dur(Duration::ZERO));
        }
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            if digits == 0 {
                return Err(bad());
            }
            let value: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
            let seconds = match &rest[..unit_len] {
                "ms" => {
                    total += Duration::from_millis(value);
                    rest = &rest[unit_len..];
                    continue;
                }
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86_400,
                _ => return Err(bad()),
            };
            total += Duration::from_secs(value.checked_mul(seconds).ok_or_else(bad)?);
            rest = &rest[unit_len..];
        }
        Ok(Dur(total))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&clock_time(self.0))
    }
}

/// `hh:mm:ss` of a simulated time since the start (hours run past 24).
pub(crate) fn clock_time(elapsed: Duration) -> String {
    let s = elapsed.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Dur::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A time of day, `HH:MM`, as minutes after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeOfDay(pub(crate) u32);

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bad = || serde::de::Error::custom(format!("{text:?} is not a time of day such as 14:00"));
        let (h, m) = text.split_once(':').ok_or_else(bad)?;
        let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 23 || m > 59 {
            return Err(bad());
        }
        Ok(TimeOfDay(h * 60 + m))
    }
}

/// A scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Scenario {
    /// The file it was read from, for errors.
    #[serde(skip)]
    pub(crate) source: String,
    /// A name for the output.
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// The simulated wall-clock time at the start (RFC 3339); time-of-day curves are read in UTC.
    #[serde(default = "default_start")]
    pub(crate) start: String,
    /// How long to simulate.
    pub(crate) duration: Dur,
    /// AWS region of the embedded catalog.
    #[serde(default = "default_region")]
    pub(crate) region: String,
    /// The seed of the scenario's random choices; `--seed` overrides it.
    #[serde(default)]
    pub(crate) seed: Option<u64>,
    /// Delays of the simulated cloud and cluster.
    #[serde(default)]
    pub(crate) delays: Delays,
    /// How often the timeline prints a sample of the cluster when nothing happens.
    #[serde(default = "default_sample")]
    pub(crate) sample: Dur,
    /// The NodePools (`karpenter.sh/v1` manifests).
    pub(crate) node_pools: Vec<NodePool>,
    /// EC2NodeClasses (`karpenter.k8s.aws/v1` manifests); a class a NodePool names and this list lacks is
    /// AL2023 with the catalog's defaults.
    #[serde(default)]
    pub(crate) node_classes: Vec<EC2NodeClass>,
    /// The workloads.
    #[serde(default)]
    pub(crate) workloads: Vec<Workload>,
    /// Spot interruptions.
    #[serde(default)]
    pub(crate) interruptions: Vec<Interruption>,
    /// Offerings that fail with insufficient capacity for a while.
    #[serde(default)]
    pub(crate) capacity_errors: Vec<CapacityError>,
}

fn default_start() -> String {
    "2026-01-05T00:00:00Z".to_string()
}

fn default_region() -> String {
    "us-east-1".to_string()
}

fn default_sample() -> Dur {
    Dur(Duration::from_secs(3600))
}

/// The delays of the parts of a cluster the simulation plays.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Delays {
    /// From a NodeClaim's launch to its Node registering, Ready (the seed: about 30 s).
    #[serde(default = "default_node_ready")]
    pub(crate) node_ready: Dur,
    /// How often the simulated kube-scheduler binds pending pods and the workload controllers act.
    #[serde(default = "default_tick")]
    pub(crate) scheduler: Dur,
    /// From a spot interruption warning to the instance's termination (AWS gives two minutes).
    #[serde(default = "default_interruption_notice")]
    pub(crate) interruption_notice: Dur,
}

impl Default for Delays {
    fn default() -> Self {
        Delays {
            node_ready: default_node_ready(),
            scheduler: default_tick(),
            interruption_notice: default_interruption_notice(),
        }
    }
}

fn default_node_ready() -> Dur {
    Dur(Duration::from_secs(30))
}

fn default_tick() -> Dur {
    Dur(Duration::from_secs(1))
}

fn default_interruption_notice() -> Dur {
    Dur(Duration::from_secs(120))
}

/// A set of identical pods with a replica count over time, as a Deployment's ReplicaSet makes them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Workload {
    /// The name; pods are `<name>-<n>` and carry the label `app: <name>` unless the template sets labels.
    pub(crate) name: String,
    /// The namespace.
    #[serde(default = "default_namespace")]
    pub(crate) namespace: String,
    /// The pod template (a Deployment's `spec.template`).
    pub(crate) template: PodTemplateSpec,
    /// Replica counts from given times on.
    #[serde(default)]
    pub(crate) replicas: Vec<Step>,
    /// A daily curve that sets the replica count inside its window.
    #[serde(default)]
    pub(crate) daily: Option<Daily>,
}

fn default_namespace() -> String {
    "default".to_string()
}

/// `replicas` from `at` on.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Step {
    /// Time since the start.
    pub(crate) at: Dur,
    /// The replica count.
    pub(crate) replicas: u32,
}

/// A daily replica curve: `min` at the time of day opposite `peak`, `max` at `peak`, a cosine between, changed
/// every `every`, with a seeded relative jitter.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Daily {
    /// The start of the curve's window, since the start.
    #[serde(default)]
    pub(crate) from: Dur,
    /// The end of the window (the scenario's end by default).
    #[serde(default)]
    pub(crate) until: Option<Dur>,
    /// The fewest replicas.
    pub(crate) min: u32,
    /// The most replicas.
    pub(crate) max: u32,
    /// The time of day (UTC) of the most replicas.
    pub(crate) peak: TimeOfDay,
    /// How often the count changes.
    #[serde(default = "default_every")]
    pub(crate) every: Dur,
    /// Relative noise on each count, 0 to 1.
    #[serde(default)]
    pub(crate) jitter: f64,
}

fn default_every() -> Dur {
    Dur(Duration::from_secs(600))
}

/// A spot interruption: `count` running spot instances (of a type and zone, if given), picked with the seed, get
/// the two-minute warning at `at` and are terminated at its end.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Interruption {
    /// Time since the start.
    pub(crate) at: Dur,
    /// How many instances.
    #[serde(default = "one")]
    pub(crate) count: u32,
    /// Only instances of this type.
    #[serde(default)]
    pub(crate) instance_type: Option<String>,
    /// Only instances in this zone.
    #[serde(default)]
    pub(crate) zone: Option<String>,
}

fn one() -> u32 {
    1
}

/// An offering that has no capacity from `from` until `until`: launches on it fail with an
/// insufficient-capacity error naming it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CapacityError {
    /// The instance type.
    pub(crate) instance_type: String,
    /// The zone.
    pub(crate) zone: String,
    /// `on-demand` or `spot`.
    pub(crate) capacity_type: String,
    /// Since the start.
    #[serde(default)]
    pub(crate) from: Dur,
    /// Until (the end by default).
    #[serde(default)]
    pub(crate) until: Option<Dur>,
}

impl Scenario {
    /// Reads a scenario file.
    pub(crate) fn read(path: &Path) -> Result<Scenario> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).with_context(|| format!("{name}: cannot be opened"))?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_FILE_BYTES + 1), &mut text)
            .with_context(|| format!("{name}: cannot be read as UTF-8 text"))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            bail!("{name}: larger than {} MiB, the most a scenario may be", MAX_FILE_BYTES / 1024 / 1024);
        }
        Scenario::parse(&name, &text)
    }

    /// Reads a scenario from its text; `name` is the file named in errors.
    pub(crate) fn parse(name: &str, text: &str) -> Result<Scenario> {
        let mut documents = read_documents(text, Format::Yaml);
        let value = match documents.len() {
            0 => bail!("{name}: empty: a scenario needs at least a duration and nodePools"),
            1 => match documents.remove(0) {
                Ok((_, value)) => value,
                Err((line, message)) => bail!("{name}:{line}: {message}"),
            },
            n => bail!("{name}: {n} YAML documents; a scenario is one document"),
        };
        let mut scenario: Scenario = serde_path_to_error::deserialize(value).map_err(|error| {
            let path = error.path().to_string();
            let field = if path == "." { String::new() } else { format!(" {path}:") };
            anyhow::anyhow!("{name}:{field} {}", error.into_inner())
        })?;
        scenario.check().map_err(|(field, reason)| anyhow::anyhow!("{name}: {field}: {reason}"))?;
        scenario.source = name.to_string();
        Ok(scenario)
    }

    /// The start time.
    pub(crate) fn start(&self) -> Timestamp {
        // `check` parsed it.
        self.start.parse().unwrap_or_default()
    }

    /// Checks what the types cannot: a field and a reason for the first problem found.
    fn check(&self) -> std::result::Result<(), (String, String)> {
        let err = |field: String, reason: &str| Err((field, reason.to_string()));
        if self.start.parse::<Timestamp>().is_err() {
            return err("start".into(), "not an RFC 3339 time such as 2026-01-05T00:00:00Z");
        }
        if self.duration.0.is_zero() {
            return err("duration".into(), "must be longer than 0s");
        }
        if self.duration.0 > Duration::from_secs(366 * 86_400) {
            return err("duration".into(), "at most a year");
        }
        if self.sample.0 < Duration::from_secs(1) {
            return err("sample".into(), "at least 1s");
        }
        if self.delays.scheduler.0 < Duration::from_millis(100) {
            return err("delays.scheduler".into(), "at least 100ms");
        }
        if self.node_pools.is_empty() {
            return err("nodePools".into(), "at least one NodePool is needed");
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, pool) in self.node_pools.iter().enumerate() {
            let Some(name) = pool.metadata.name.as_deref().filter(|n| !n.is_empty()) else {
                return err(format!("nodePools[{i}].metadata.name"), "missing");
            };
            if !names.insert(name) {
                return err(format!("nodePools[{i}].metadata.name"), "another NodePool has this name");
            }
        }
        for (i, class) in self.node_classes.iter().enumerate() {
            if class.metadata.name.as_deref().is_none_or(str::is_empty) {
                return err(format!("nodeClasses[{i}].metadata.name"), "missing");
            }
        }
        let mut workload_names = std::collections::BTreeSet::new();
        for (i, workload) in self.workloads.iter().enumerate() {
            let at = |field: &str| format!("workloads[{i}].{field}");
            if workload.name.is_empty()
                || !workload.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return err(at("name"), "a DNS label of letters, digits and -");
            }
            if !workload_names.insert((workload.namespace.as_str(), workload.name.as_str())) {
                return err(at("name"), "another workload of the namespace has this name");
            }
            if workload.template.spec.is_none() {
                return err(at("template.spec"), "missing: a pod template needs containers");
            }
            if workload.replicas.is_empty() && workload.daily.is_none() {
                return err(at("replicas"), "give replicas, daily, or both");
            }
            if workload.replicas.windows(2).any(|w| w[1].at < w[0].at) {
                return err(at("replicas"), "steps must be in time order");
            }
            if let Some(daily) = &workload.daily {
                if daily.min > daily.max {
                    return err(at("daily.min"), "larger than daily.max");
                }
                if !(0.0..=1.0).contains(&daily.jitter) {
                    return err(at("daily.jitter"), "between 0 and 1");
                }
                if daily.every.0 < Duration::from_secs(1) {
                    return err(at("daily.every"), "at least 1s");
                }
                if daily.until.is_some_and(|until| until <= daily.from) {
                    return err(at("daily.until"), "not after daily.from");
                }
            }
        }
        for (i, interruption) in self.interruptions.iter().enumerate() {
            if interruption.count == 0 {
                return err(format!("interruptions[{i}].count"), "at least 1");
            }
        }
        for (i, error) in self.capacity_errors.iter().enumerate() {
            if error.capacity_type != "on-demand" && error.capacity_type != "spot" {
                return err(format!("capacityErrors[{i}].capacityType"), "on-demand or spot");
            }
            if error.until.is_some_and(|until| until <= error.from) {
                return err(format!("capacityErrors[{i}].until"), "not after from");
            }
        }
        Ok(())
    }
}

/// A seeded random stream (SplitMix64): small, fast and the same on every platform.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A stream of a seed and a purpose, so that one part's draws do not shift another's.
    pub(crate) fn new(seed: u64, stream: u64) -> Rng {
        let mut rng = Rng(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        rng.next();
        rng
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An index below `n` (n > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

impl Workload {
    /// The replica count at `elapsed` since the start, of a scenario starting at `start_minute` minutes after
    /// midnight UTC. `seed` and `index` make the jitter of each change of the curve.
    pub(crate) fn replicas_at(&self, elapsed: Duration, start_minute: u32, seed: u64, index: usize) -> u32 {
        if let Some(daily) = &self.daily
            && elapsed >= daily.from.0
            && daily.until.is_none_or(|until| elapsed < until.0)
        {
            // The curve changes at multiples of `every` from its window's start.
            let every = daily.every.0.as_secs().max(1);
            let step = (elapsed - daily.from.0).as_secs() / every;
            let at = daily.from.0.as_secs() + step * every;
            let minute_of_day = (u64::from(start_minute) + at / 60) % 1440;
            let from_peak = (minute_of_day as f64 - f64::from(daily.peak.0)) / 1440.0;
            let level = (1.0 + (2.0 * std::f64::consts::PI * from_peak).cos()) / 2.0;
            let (min, max) = (f64::from(daily.min), f64::from(daily.max));
            let mut count = min + (max - min) * level;
            if daily.jitter > 0.0 {
                let mut rng = Rng::new(seed, (index as u64) << 32 | step);
                count *= 1.0 + daily.jitter * (2.0 * rng.unit() - 1.0);
            }
            return count.round().clamp(0.0, f64::from(u32::MAX)) as u32;
        }
        self.replicas.iter().take_while(|s| s.at.0 <= elapsed).last().map_or(0, |s| s.replicas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_writes_them() {
        assert_eq!(Dur::parse("90s").unwrap().0, Duration::from_secs(90));
        assert_eq!(Dur::parse("1h30m").unwrap().0, Duration::from_secs(5400));
        assert_eq!(Dur::parse("1d2h").unwrap().0, Duration::from_secs(93_600));
        assert_eq!(Dur::parse("250ms").unwrap().0, Duration::from_millis(250));
        assert_eq!(Dur::parse("0").unwrap().0, Duration::ZERO);
        for bad in ["", "5", "m5", "5x", "1h-3m"] {
            assert!(Dur::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(clock_time(Duration::from_secs(26 * 3600 + 61)), "26:01:01");
    }

    #[test]
    fn the_default_scenario_reads() {
        let scenario = Scenario::parse("default", DEFAULT).unwrap();
        assert_eq!(scenario.node_pools.len(), 1);
        assert!(scenario.workloads.iter().any(|w| w.name == "inflate"));
    }

    #[test]
    fn errors_name_the_file_the_field_and_the_reason() {
        let base = "duration: 1h\nnodePools: [{apiVersion: karpenter.sh/v1, kind: NodePool, metadata: {name: a}, spec: {template: {spec: {requirements: [], nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}}}}}]\n";
        let check = |extra: &str| {
            Scenario::parse("s.yaml", &format!("{base}{extra}")).map(|_| ()).map_err(|e| e.to_string())
        };
        assert_eq!(check(""), Ok(()));
        let error = check(
            "workloads: [{name: web, template: {spec: {containers: []}}, replicas: [{at: 5x, replicas: 1}]}]",
        )
        .unwrap_err();
        assert!(error.starts_with("s.yaml: workloads[0].replicas[0].at:"), "{error}");
        assert!(error.contains("not a duration"), "{error}");
        let error = check("colour: blue").unwrap_err();
        assert!(error.contains("unknown field `colour`"), "{error}");
        let error = check("workloads: [{name: web, template: {spec: {containers: []}}}]").unwrap_err();
        assert_eq!(error, "s.yaml: workloads[0].replicas: give replicas, daily, or both");
        let error =
            check("capacityErrors: [{instanceType: m6g.large, zone: us-east-1a, capacityType: reserved}]")
                .unwrap_err();
        assert_eq!(error, "s.yaml: capacityErrors[0].capacityType: on-demand or spot");
    }

    #[test]
    fn replicas_follow_steps_and_the_daily_curve() {
        let workload: Workload = serde_json::from_value(serde_json::json!({
            "name": "web", "template": {"spec": {"containers": []}},
            "replicas": [{"at": "0s", "replicas": 0}, {"at": "1m", "replicas": 5}],
            "daily": {"from": "1h", "until": "25h", "min": 2, "max": 10, "peak": "12:00", "every": "1h"}
        }))
        .unwrap();
        let at = |s: u64| workload.replicas_at(Duration::from_secs(s), 0, 1, 0);
        assert_eq!(at(30), 0);
        assert_eq!(at(60), 5);
        assert_eq!(at(12 * 3600), 10, "the peak");
        assert_eq!(at(24 * 3600), 2, "midnight is opposite the peak");
        assert_eq!(at(25 * 3600), 5, "after the window the last step holds");
        assert_eq!(workload.replicas_at(Duration::from_secs(6 * 3600 + 59), 0, 1, 0), 6, "halfway");
    }
}
