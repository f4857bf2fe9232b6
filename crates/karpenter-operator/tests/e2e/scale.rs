//! The scale run: N pods of mixed shapes (`KARPENTER_E2E_SCALE`, set by `cargo xtask e2e --scale N`; 100 by
//! default so that CI stays short) scaled up while no controller runs, so that all are pending; then the
//! controller starts, and the test reports seconds from its start to all running, the NodeClaims created, each
//! round's pod count and solve time, and the controller's peak resident memory; then back to 0.
#![cfg(feature = "cluster-tests")]

use std::time::{Duration, Instant};

use serde_json::json;

use super::common::{eventually, log_lines, with_world};

/// The pod shapes, one Deployment each: (name, CPU, memory).
const SHAPES: [(&str, &str, &str); 5] = [
    ("tiny", "250m", "256Mi"),
    ("small", "500m", "512Mi"),
    ("medium", "1", "1Gi"),
    ("large", "1500m", "2Gi"),
    ("xlarge", "2", "4Gi"),
];

#[tokio::test]
async fn scale_up_and_down() {
    #[allow(
        clippy::disallowed_methods,
        reason = "`cargo xtask e2e --scale N` passes the pod count to the test"
    )]
    let pods: usize = std::env::var("KARPENTER_E2E_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    with_world("scale", |world, slot| async move {
        // Nodes of at most 32 vCPUs, as upstream's perf suite limits its KWOK NodePool, so that the run makes many.
        world
            .node_pool(json!({
                "limits": {"cpu": "100000", "memory": "400000Gi"},
                "template": {"spec": {"requirements": [
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]},
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                    {"key": "karpenter.kwok.sh/instance-family", "operator": "In", "values": ["c", "m"]},
                    {"key": "karpenter.kwok.sh/instance-cpu", "operator": "Lt", "values": ["33"]}
                ]}}
            }))
            .await;
        for (name, cpu, memory) in SHAPES {
            world.deployment(name, 0, cpu, memory).await;
        }
        // All pods pending before the controller starts, so that its first round plans for all of them at once.
        let started = Instant::now();
        for (i, (name, _, _)) in SHAPES.iter().enumerate() {
            let replicas = pods / SHAPES.len() + usize::from(i < pods % SHAPES.len());
            world.scale(name, i32::try_from(replicas).unwrap()).await;
        }
        let timeout = Duration::from_secs(120 + pods as u64 / 2);
        eventually(&format!("{pods} pods are pending"), timeout, || async {
            let all = world.pods().await;
            let pending = all
                .iter()
                .filter(|p| {
                    p.status.as_ref().and_then(|s| s.conditions.as_ref()).into_iter().flatten().any(|c| {
                        c.type_ == "PodScheduled" && c.reason.as_deref() == Some("Unschedulable")
                    })
                })
                .count();
            (pending == pods, format!("{} pods, {pending} marked Unschedulable", all.len()))
        })
        .await;
        let pending_after = started.elapsed();
        let controller_started = Instant::now();
        *slot.lock().await = Some(world.controller("controller", None).await);
        world.wait_running(pods, timeout).await;
        let up = controller_started.elapsed();
        let claims = world.node_claims().await.len();
        let (rss, log) = {
            let slot = slot.lock().await;
            let controller = slot.as_ref().unwrap();
            (controller.peak_rss_kib(), controller.log_text())
        };
        let rounds = log_lines(&log, "computed new nodeclaim(s) to fit pod(s)");
        let solves: Vec<(u64, u64)> = rounds
            .iter()
            .filter_map(|l| Some((l["fields"]["pods"].as_u64()?, l["fields"]["solve_ms"].as_u64()?)))
            .collect();
        println!(
            "scale: {pods} pods pending {:.1} s after the scale-up (ReplicaSets and scheduler, no controller); \
             all running {:.1} s after the controller started; {claims} NodeClaims; rounds (pods, solve ms) {solves:?}; \
             controller peak RSS {:.1} MB",
            pending_after.as_secs_f64(),
            up.as_secs_f64(),
            rss as f64 / 1024.0
        );
        let down = Instant::now();
        for (name, _, _) in SHAPES {
            world.scale(name, 0).await;
        }
        world.wait_running(0, timeout).await;
        println!("scale: back to 0 pods in {:.1} s (nodes stay until emptiness lands in the controller)", down.elapsed().as_secs_f64());
        assert!(claims > 0 && claims <= pods, "between one node and one per pod: {claims}");
    })
    .await;
}
