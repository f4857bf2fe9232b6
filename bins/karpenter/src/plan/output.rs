//! What `karpenter plan` prints: the [`PlanOutput`] document (`-o json` and `-o yaml`, schema in `docs/plan.md`)
//! and its table rendering (the default).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::input::Source;

/// The whole answer of `karpenter plan`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlanOutput {
    /// The settings the plan was made with.
    pub(crate) settings: Settings,
    /// NodeClaims a provisioning round would create for the pending pods.
    pub(crate) launch: Vec<Launch>,
    /// Pending pods a provisioning round would place on nodes that exist or are being launched.
    pub(crate) nominate: Vec<Nomination>,
    /// What one disruption pass would do.
    pub(crate) disrupt: Vec<Disrupt>,
    /// NodeClaims past their `expireAfter`, deleted at once outside budgets.
    pub(crate) expire: Vec<Expire>,
    /// Every pod left pending, with the reason.
    pub(crate) unschedulable: Vec<Unschedulable>,
    /// Every node that stays, with the reasons.
    pub(crate) kept: Vec<Kept>,
    /// Hourly cost before and after.
    pub(crate) cost: Cost,
    /// The lower bound on the hourly cost of any placement of the pods (karpenter-cost); `null` until that
    /// computation lands.
    pub(crate) lower_bound: Option<f64>,
    /// `cost.after` over `lowerBound`, minus one; `null` while the bound is.
    pub(crate) gap: Option<f64>,
    /// Objects left out for a reason that is not an error (a kind the plan does not read, a static NodePool).
    pub(crate) warnings: Vec<Diagnostic>,
    /// Objects and documents that could not be read; the plan covers the rest, and the exit status is 2.
    pub(crate) refused: Vec<Diagnostic>,
}

/// The settings of the plan.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Settings {
    /// `files` or `live`.
    pub(crate) source: String,
    /// The region of the embedded catalog.
    pub(crate) region: String,
    /// The time the plan is made for (RFC 3339).
    pub(crate) now: String,
    /// `Respect` or `Ignore`.
    pub(crate) preference_policy: String,
    /// `Strict` or `BestEffort`.
    pub(crate) min_values_policy: String,
    /// Every feature gate and its state.
    pub(crate) feature_gates: BTreeMap<String, bool>,
}

/// One NodeClaim to create.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Launch {
    /// The NodePool it comes from.
    pub(crate) node_pool: String,
    /// The cheapest launch option.
    pub(crate) instance_type: Option<String>,
    /// The zone of the cheapest offering of the cheapest option.
    pub(crate) zone: Option<String>,
    /// Its capacity type.
    pub(crate) capacity_type: Option<String>,
    /// Its hourly price.
    pub(crate) price: Option<f64>,
    /// Every launch option, cheapest first: any of them holds all the pods.
    pub(crate) instance_type_options: Vec<LaunchOption>,
    /// The pods it is for, `namespace/name`.
    pub(crate) pods: Vec<String>,
    /// The pods' requests plus DaemonSet overhead.
    pub(crate) requests: BTreeMap<String, String>,
    /// True when `--min-values-policy BestEffort` had to lower a minValues.
    pub(crate) min_values_relaxed: bool,
}

/// One launch option.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LaunchOption {
    /// Instance type.
    pub(crate) name: String,
    /// Its cheapest compatible offering's hourly price.
    pub(crate) price: f64,
}

/// Pending pods placed on an existing or in-flight node.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Nomination {
    /// The node (or in-flight NodeClaim).
    pub(crate) node: String,
    /// The pods, `namespace/name`.
    pub(crate) pods: Vec<String>,
}

/// One disruption command.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Disrupt {
    /// `emptiness`, `drift`, `multi-node consolidation`, `single-node consolidation`...
    pub(crate) method: String,
    /// The budget reason: `Empty`, `Drifted`, `Underutilized`, `Unhealthy`.
    pub(crate) reason: String,
    /// `delete`, `replace` or `reboot`.
    pub(crate) action: String,
    /// The nodes it removes.
    pub(crate) nodes: Vec<Candidate>,
    /// NodeClaims launched first.
    pub(crate) replacements: Vec<Launch>,
    /// Source price minus the replacements' cheapest prices.
    pub(crate) savings_per_hour: f64,
}

/// A node a command removes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Candidate {
    /// Node name.
    pub(crate) node: String,
    /// NodeClaim name.
    pub(crate) node_claim: String,
    /// NodePool.
    pub(crate) node_pool: String,
    /// Instance type, zone and capacity type labels.
    pub(crate) instance_type: Option<String>,
    /// Zone label.
    pub(crate) zone: Option<String>,
    /// Capacity type label.
    pub(crate) capacity_type: Option<String>,
    /// Hourly price.
    pub(crate) price: f64,
    /// The pods that move, `namespace/name`.
    pub(crate) pods: Vec<String>,
}

/// An expired NodeClaim.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Expire {
    /// Node name.
    pub(crate) node: String,
    /// NodeClaim name.
    pub(crate) node_claim: String,
    /// When it expired (RFC 3339).
    pub(crate) expired_at: String,
}

/// A pod left pending.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Unschedulable {
    /// `namespace/name`.
    pub(crate) pod: String,
    /// Why, in words.
    pub(crate) reason: String,
}

/// A node that stays.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Kept {
    /// Node name.
    pub(crate) node: String,
    /// NodePool, for a managed node.
    pub(crate) node_pool: Option<String>,
    /// Every reason, `method: reason` for those particular to one method.
    pub(crate) reasons: Vec<String>,
}

/// Hourly cost, in the catalog's currency (USD).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Cost {
    /// Every node and in-flight NodeClaim whose price is known.
    pub(crate) before: f64,
    /// The NodeClaims to launch, at their cheapest options.
    pub(crate) launch: f64,
    /// What the disruption commands save.
    pub(crate) disruption_savings: f64,
    /// `before + launch - disruptionSavings`.
    pub(crate) after: f64,
    /// Nodes whose price is not known (no instance-type or zone label, or a type the catalog lacks); they count
    /// as zero.
    pub(crate) unpriced_nodes: Vec<String>,
}

/// An object left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) struct Diagnostic {
    /// `file:line` of its document (`-` for standard input, `cluster <apiVersion>` for `--live`), when known.
    #[serde(serialize_with = "as_text")]
    pub(crate) source: Option<Source>,
    /// `Kind/namespace/name` or `Kind/name`, when the object has one.
    pub(crate) object: Option<String>,
    /// The field at fault.
    pub(crate) field: Option<String>,
    /// Why.
    pub(crate) message: String,
}

fn as_text<S: serde::Serializer>(source: &Option<Source>, serializer: S) -> Result<S::Ok, S::Error> {
    match source {
        Some(source) => serializer.collect_str(source),
        None => serializer.serialize_none(),
    }
}

impl Diagnostic {
    /// One line for standard error: `file:line: Kind/ns/name: field: message`.
    pub(crate) fn line(&self) -> String {
        let mut text = String::new();
        if let Some(source) = &self.source {
            let _ = write!(text, "{source}: ");
        }
        for part in [&self.object, &self.field].into_iter().flatten() {
            let _ = write!(text, "{part}: ");
        }
        text.push_str(&self.message);
        text
    }
}

/// A price as the tables show it: four decimals, trailing zeros dropped.
pub(crate) fn price(value: f64) -> String {
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".to_string() } else { text.to_string() }
}

/// Rows under a header, each column as wide as its widest cell, two spaces apart, indented by two.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut line = |cells: Vec<&str>| {
        let mut text = String::from(" ");
        for (cell, width) in cells.iter().zip(&widths) {
            let _ = write!(text, " {cell:<width$} ");
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

fn or_dash(value: Option<&String>) -> String {
    value.cloned().unwrap_or_else(|| "-".to_string())
}

fn launch_rows(launches: &[Launch]) -> Vec<Vec<String>> {
    launches
        .iter()
        .map(|l| {
            vec![
                l.node_pool.clone(),
                or_dash(l.instance_type.as_ref()),
                or_dash(l.zone.as_ref()),
                or_dash(l.capacity_type.as_ref()),
                l.price.map_or_else(|| "-".to_string(), price),
                l.instance_type_options.len().to_string(),
                l.pods.len().to_string(),
            ]
        })
        .collect()
}

const LAUNCH_HEADER: [&str; 7] =
    ["NODEPOOL", "INSTANCE TYPE", "ZONE", "CAPACITY TYPE", "PRICE/H", "OPTIONS", "PODS"];

/// The table rendering: one section per part of the answer that has something to say, then the cost.
pub(crate) fn render_table(plan: &PlanOutput) -> String {
    let mut out = String::new();
    if plan.launch.is_empty() {
        out.push_str("Launch: nothing\n");
    } else {
        let _ = writeln!(out, "Launch {} NodeClaim(s), +${}/h:", plan.launch.len(), price(plan.cost.launch));
        table(&mut out, &LAUNCH_HEADER, &launch_rows(&plan.launch));
        for (i, launch) in plan.launch.iter().enumerate() {
            let shown: Vec<String> = launch
                .instance_type_options
                .iter()
                .take(5)
                .map(|o| format!("{} ${}", o.name, price(o.price)))
                .collect();
            let more = launch.instance_type_options.len().saturating_sub(5);
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            let _ = writeln!(out, "  [{}] options: {}{more}", i + 1, shown.join(", "));
            let shown: Vec<&str> = launch.pods.iter().take(10).map(String::as_str).collect();
            let more = launch.pods.len().saturating_sub(10);
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            let _ = writeln!(out, "  [{}] pods: {}{more}", i + 1, shown.join(" "));
        }
    }
    for nomination in &plan.nominate {
        let shown: Vec<&str> = nomination.pods.iter().take(10).map(String::as_str).collect();
        let more = nomination.pods.len().saturating_sub(10);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        let _ = writeln!(out, "Place on {}: {}{more}", nomination.node, shown.join(" "));
    }
    out.push('\n');
    if plan.disrupt.is_empty() {
        out.push_str("Disrupt: nothing\n");
    }
    for command in &plan.disrupt {
        let _ = writeln!(
            out,
            "Disrupt ({}, {}): {} {}, saves ${}/h",
            command.method,
            command.reason,
            command.action,
            command.nodes.iter().map(|n| n.node.as_str()).collect::<Vec<_>>().join(" "),
            price(command.savings_per_hour)
        );
        let rows: Vec<Vec<String>> = command
            .nodes
            .iter()
            .map(|n| {
                vec![
                    n.node.clone(),
                    n.node_pool.clone(),
                    or_dash(n.instance_type.as_ref()),
                    or_dash(n.zone.as_ref()),
                    or_dash(n.capacity_type.as_ref()),
                    price(n.price),
                    n.pods.len().to_string(),
                ]
            })
            .collect();
        table(
            &mut out,
            &["NODE", "NODEPOOL", "INSTANCE TYPE", "ZONE", "CAPACITY TYPE", "PRICE/H", "PODS"],
            &rows,
        );
        if !command.replacements.is_empty() {
            out.push_str("  replaced by:\n");
            table(&mut out, &LAUNCH_HEADER, &launch_rows(&command.replacements));
        }
    }
    for expired in &plan.expire {
        let _ = writeln!(
            out,
            "Expire {} (NodeClaim {}, expired {})",
            expired.node, expired.node_claim, expired.expired_at
        );
    }
    if !plan.unschedulable.is_empty() {
        let _ = writeln!(out, "\nUnschedulable pods ({}):", plan.unschedulable.len());
        for pod in &plan.unschedulable {
            let _ = writeln!(out, "  {}: {}", pod.pod, pod.reason);
        }
    }
    if !plan.kept.is_empty() {
        let _ = writeln!(out, "\nKept nodes ({}):", plan.kept.len());
        for kept in &plan.kept {
            let pool = kept.node_pool.as_deref().map(|p| format!(" ({p})")).unwrap_or_default();
            let _ = writeln!(out, "  {}{pool}: {}", kept.node, kept.reasons.join(" | "));
        }
    }
    let cost = &plan.cost;
    let _ = writeln!(
        out,
        "\nCost per hour: ${} now, +${} launched, -${} disrupted, ${} after",
        price(cost.before),
        price(cost.launch),
        price(cost.disruption_savings),
        price(cost.after)
    );
    if !cost.unpriced_nodes.is_empty() {
        let _ = writeln!(out, "  not priced (counted as 0): {}", cost.unpriced_nodes.join(" "));
    }
    // LOWER BOUND: when karpenter-cost computes `lower_bound`, print it and the gap here.
    if let (Some(bound), Some(gap)) = (plan.lower_bound, plan.gap) {
        let _ = writeln!(out, "Lower bound: ${}/h (gap {:.1}%)", price(bound), gap * 100.0);
    }
    if !plan.refused.is_empty() || !plan.warnings.is_empty() {
        let _ = writeln!(
            out,
            "\n{} refused, {} skipped with a warning (listed on standard error)",
            plan.refused.len(),
            plan.warnings.len()
        );
    }
    out
}
