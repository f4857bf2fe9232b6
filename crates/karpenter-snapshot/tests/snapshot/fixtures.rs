//! The mapping, object kind by object kind, over the manifests in `tests/fixtures` and the api crate's example
//! manifests. Each test prints what the solver receives and every report; `UPDATE_EXPECT=1 cargo test` rewrites
//! the snapshots.

use std::collections::BTreeMap;

use super::common::{api_manifest, fixture, load, options, render, render_reports};
use expect_test::{Expect, expect};
use karpenter_snapshot::{
    PdbLimits, ProviderFlags, do_not_disrupt, is_evictable, is_provisionable, node_class_settings,
    volume_topology,
};

/// The round over the fixture files: the solver's input and the reports, in one rendering.
fn check_round(files: &[&str], show: impl Fn(&karpenter_solver::model::Problem) -> String, expect: Expect) {
    let (snapshot, mut reports) = load(&files.iter().map(|f| fixture(f)).collect::<Vec<_>>());
    let round = snapshot.provisioning_round(BTreeMap::new(), &options());
    reports.extend(round.reports);
    expect.assert_eq(&format!("{}{}", show(&round.problem), render_reports(&reports)));
}

fn pods(problem: &karpenter_solver::model::Problem) -> String {
    problem.pods.iter().map(|p| render(&format!("pod {}/{}", p.namespace, p.name), p)).collect()
}

/// Nodes with their bound pods by name only (the pods' own mapping is `pods_carry_every_scheduling_field`'s).
fn nodes(problem: &karpenter_solver::model::Problem) -> String {
    let mut out = String::new();
    for node in &problem.nodes {
        let names: Vec<&str> = node.pods.iter().map(|p| p.name.as_str()).collect();
        let bare = karpenter_solver::model::ExistingNode { pods: Vec::new(), ..node.clone() };
        out.push_str(&render(&format!("node {}", node.name), &bare));
        if !names.is_empty() {
            out.push_str(&format!("  bound pods: {}\n", names.join(" ")));
        }
    }
    out
}

#[test]
fn pods_carry_every_scheduling_field() {
    check_round(
        &["pods.yaml"],
        |p| format!("{}{}", pods(p), nodes(p)),
        expect![[r#"
            pod shop/every-field
              namespace: "shop"
              name: "every-field"
              uid: "0b5c6d2e-0000-4000-8000-000000000001"
              creationTimestamp: 1795514400
              labels.app: "web"
              labels.tier: "front"
              containers[0].name: "app"
              containers[0].requests.cpu: "500m"
              containers[0].requests.memory: "1Gi"
              containers[0].requests.nvidia.com/gpu: "1"
              containers[0].ports[0].containerPort: 8080
              containers[0].ports[0].hostPort: 0
              containers[0].ports[1].containerPort: 9090
              containers[0].ports[1].hostPort: 9090
              containers[0].ports[1].protocol: "UDP"
              containers[0].ports[1].hostIp: "10.0.0.1"
              containers[1].name: "limits-only"
              containers[1].requests.cpu: "250m"
              containers[1].requests.memory: "128Mi"
              initContainers[0].name: "setup"
              initContainers[0].requests.cpu: "2"
              initContainers[0].requests.memory: "512Mi"
              initContainers[1].name: "proxy"
              initContainers[1].requests.cpu: "100m"
              initContainers[1].requests.memory: "64Mi"
              initContainers[1].restartPolicy: "Always"
              overhead.cpu: "10m"
              overhead.memory: "20Mi"
              nodeSelector.kubernetes.io/os: "linux"
              nodeAffinity.required[0].matchExpressions[0].key: "topology.kubernetes.io/zone"
              nodeAffinity.required[0].matchExpressions[0].operator: "In"
              nodeAffinity.required[0].matchExpressions[0].values: ["us-east-1a","us-east-1b"]
              nodeAffinity.required[0].matchExpressions[1].key: "karpenter.k8s.aws/instance-generation"
              nodeAffinity.required[0].matchExpressions[1].operator: "Gt"
              nodeAffinity.required[0].matchExpressions[1].values: ["5"]
              nodeAffinity.required[1].matchExpressions[0].key: "karpenter.sh/capacity-type"
              nodeAffinity.required[1].matchExpressions[0].operator: "Exists"
              nodeAffinity.required[1].matchFields[0].key: "metadata.name"
              nodeAffinity.required[1].matchFields[0].operator: "In"
              nodeAffinity.required[1].matchFields[0].values: ["node-a"]
              nodeAffinity.preferred[0].weight: 40
              nodeAffinity.preferred[0].preference.matchExpressions[0].key: "karpenter.sh/capacity-type"
              nodeAffinity.preferred[0].preference.matchExpressions[0].operator: "In"
              nodeAffinity.preferred[0].preference.matchExpressions[0].values: ["spot"]
              tolerations[0].key: "dedicated"
              tolerations[0].operator: "Equal"
              tolerations[0].value: "web"
              tolerations[0].effect: "NoSchedule"
              tolerations[1].operator: "Exists"
              tolerations[2].key: "node.kubernetes.io/not-ready"
              tolerations[2].operator: "Exists"
              tolerations[2].effect: "NoExecute"
              topologySpreadConstraints[0].maxSkew: 1
              topologySpreadConstraints[0].topologyKey: "topology.kubernetes.io/zone"
              topologySpreadConstraints[0].whenUnsatisfiable: "DoNotSchedule"
              topologySpreadConstraints[0].labelSelector.matchLabels.app: "web"
              topologySpreadConstraints[0].minDomains: 3
              topologySpreadConstraints[0].matchLabelKeys: ["pod-template-hash"]
              topologySpreadConstraints[0].nodeAffinityPolicy: "Ignore"
              topologySpreadConstraints[0].nodeTaintsPolicy: "Honor"
              topologySpreadConstraints[1].maxSkew: 2
              topologySpreadConstraints[1].topologyKey: "kubernetes.io/hostname"
              topologySpreadConstraints[1].whenUnsatisfiable: "ScheduleAnyway"
              topologySpreadConstraints[1].labelSelector.matchExpressions[0].key: "app"
              topologySpreadConstraints[1].labelSelector.matchExpressions[0].operator: "NotIn"
              topologySpreadConstraints[1].labelSelector.matchExpressions[0].values: ["batch"]
              podAffinity.required[0].labelSelector.matchLabels.app: "cache"
              podAffinity.required[0].topologyKey: "topology.kubernetes.io/zone"
              podAffinity.preferred[0].weight: 10
              podAffinity.preferred[0].podAffinityTerm.labelSelector.matchExpressions[0].key: "app"
              podAffinity.preferred[0].podAffinityTerm.labelSelector.matchExpressions[0].operator: "In"
              podAffinity.preferred[0].podAffinityTerm.labelSelector.matchExpressions[0].values: ["db"]
              podAffinity.preferred[0].podAffinityTerm.namespaces: ["data"]
              podAffinity.preferred[0].podAffinityTerm.namespaceSelector.matchLabels.team: "shop"
              podAffinity.preferred[0].podAffinityTerm.topologyKey: "kubernetes.io/hostname"
              podAntiAffinity.required[0].labelSelector.matchLabels.app: "web"
              podAntiAffinity.required[0].topologyKey: "kubernetes.io/hostname"
              podAntiAffinity.preferred[0].weight: 5
              podAntiAffinity.preferred[0].podAffinityTerm.labelSelector.matchExpressions[0].key: "tier"
              podAntiAffinity.preferred[0].podAffinityTerm.labelSelector.matchExpressions[0].operator: "Exists"
              podAntiAffinity.preferred[0].podAffinityTerm.topologyKey: "topology.kubernetes.io/zone"
              resourceClaims: ["gpu"]
              daemonSet: false
              phase: "Pending"
              terminating: false
            pod shop/host-network
              namespace: "shop"
              name: "host-network"
              creationTimestamp: 0
              containers[0].name: "agent"
              containers[0].ports[0].containerPort: 8125
              containers[0].ports[0].hostPort: 8125
              containers[0].ports[0].protocol: "UDP"
              containers[0].ports[1].containerPort: 8126
              containers[0].ports[1].hostPort: 18126
              daemonSet: false
              phase: "Pending"
              terminating: false
            node worker-1
              name: "worker-1"
              labels.kubernetes.io/hostname: "worker-1"
              labels.topology.kubernetes.io/zone: "us-east-1a"
              capacity.cpu: "4"
              capacity.memory: "16Gi"
              capacity.pods: "58"
              allocatable.cpu: "3920m"
              allocatable.memory: "15Gi"
              allocatable.pods: "58"
              initialized: true
              markedForDeletion: false
              bound pods: logs-x7k2p leaving job-done
        "#]],
    );
}

#[test]
fn only_pods_the_scheduler_gave_up_on_are_pending() {
    let (snapshot, reports) = load(&[fixture("pending.yaml")]);
    assert!(reports.is_empty(), "{reports:?}");
    let verdicts: String = snapshot
        .pods
        .iter()
        .map(|p| format!("{}: {}\n", p.metadata.name.as_deref().unwrap(), is_provisionable(p)))
        .collect();
    let round = snapshot.provisioning_round(BTreeMap::new(), &options());
    let pending: Vec<&str> = round.problem.pods.iter().map(|p| p.name.as_str()).collect();
    expect![[r#"
        unschedulable: true
        unschedulable-no-status-phase: true
        not-yet-seen: false
        gated: false
        bound: false
        preempting: false
        daemon: false
        mirror: false
        foreign-owner: true
        deleted-while-pending: false
        failed: false
        round: unschedulable unschedulable-no-status-phase foreign-owner
    "#]]
    .assert_eq(&format!("{verdicts}round: {}\n", pending.join(" ")));
}

#[test]
fn volumes_give_topology_or_keep_the_pod_out() {
    let (snapshot, reports) = load(&[fixture("volumes.yaml")]);
    assert!(reports.is_empty(), "{reports:?}");
    let mut out = String::new();
    for pod in &snapshot.pods {
        out.push_str(pod.metadata.name.as_deref().unwrap());
        match volume_topology(pod, &snapshot) {
            Ok(terms) if terms.is_empty() => out.push_str(": anywhere\n"),
            Ok(terms) => {
                out.push('\n');
                for term in terms {
                    let expressions: Vec<String> = term
                        .match_expressions
                        .iter()
                        .map(|r| format!("{} {} {}", r.key, r.operator, r.values.join(",")))
                        .collect();
                    let shown = if expressions.is_empty() {
                        "(anything)".to_string()
                    } else {
                        expressions.join(" & ")
                    };
                    out.push_str(&format!("  or {shown}\n"));
                }
            }
            Err(error) => out.push_str(&format!(": {error}\n")),
        }
    }
    // The round agrees: the pods whose volumes fail are reported, the others are pending with their topology.
    let round = snapshot.provisioning_round(BTreeMap::new(), &options());
    let pending: Vec<&str> = round.problem.pods.iter().map(|p| p.name.as_str()).collect();
    out.push_str(&format!("round: {}\n", pending.join(" ")));
    out.push_str(&render_reports(&round.reports));
    expect![[r#"
        zonal
          or topology.kubernetes.io/zone In us-east-1a
          or topology.kubernetes.io/zone In us-east-1b
        local
          or (anything)
          or kubernetes.io/arch In arm64
        wait-for-consumer
          or topology.kubernetes.io/zone In us-east-1a,us-east-1b
          or topology.kubernetes.io/zone In us-east-1c
        anywhere: anywhere
        two-volumes
          or topology.kubernetes.io/zone In us-east-1a & topology.kubernetes.io/zone In us-east-1a,us-east-1b
          or topology.kubernetes.io/zone In us-east-1b & topology.kubernetes.io/zone In us-east-1a,us-east-1b
        scratch
          or topology.kubernetes.io/zone In us-east-1a,us-east-1b
          or topology.kubernetes.io/zone In us-east-1c
        missing-claim: spec.volumes[0]: PersistentVolumeClaim shop/nowhere not found
        immediate: spec.volumes[0]: PersistentVolumeClaim shop/unbound-immediate is unbound and StorageClass immediate binds Immediately; it must be bound first
        unset-mode: spec.volumes[0]: PersistentVolumeClaim shop/unbound-unset-mode is unbound and StorageClass unset-mode binds Immediately; it must be bound first
        no-class: spec.volumes[0]: PersistentVolumeClaim shop/no-class is unbound and names no StorageClass
        unknown-class: spec.volumes[0]: StorageClass nowhere not found
        binding: spec.volumes[0]: PersistentVolumeClaim shop/binding names pv-zonal but has no pv.kubernetes.io/bind-completed annotation yet
        lost-volume: spec.volumes[0]: PersistentVolume pv-gone not found
        deleting-volume: spec.volumes[0]: PersistentVolume pv-deleting is being deleted
        lost: spec.volumes[0]: PersistentVolumeClaim shop/lost is bound to a PersistentVolume that no longer exists
        deleting-claim: spec.volumes[1]: PersistentVolumeClaim shop/deleting is being deleted
        round: zonal local wait-for-consumer anywhere two-volumes scratch
        report Pod/shop/missing-claim spec.volumes[0]: PersistentVolumeClaim shop/nowhere not found
        report Pod/shop/immediate spec.volumes[0]: PersistentVolumeClaim shop/unbound-immediate is unbound and StorageClass immediate binds Immediately; it must be bound first
        report Pod/shop/unset-mode spec.volumes[0]: PersistentVolumeClaim shop/unbound-unset-mode is unbound and StorageClass unset-mode binds Immediately; it must be bound first
        report Pod/shop/no-class spec.volumes[0]: PersistentVolumeClaim shop/no-class is unbound and names no StorageClass
        report Pod/shop/unknown-class spec.volumes[0]: StorageClass nowhere not found
        report Pod/shop/binding spec.volumes[0]: PersistentVolumeClaim shop/binding names pv-zonal but has no pv.kubernetes.io/bind-completed annotation yet
        report Pod/shop/lost-volume spec.volumes[0]: PersistentVolume pv-gone not found
        report Pod/shop/deleting-volume spec.volumes[0]: PersistentVolume pv-deleting is being deleted
        report Pod/shop/lost spec.volumes[0]: PersistentVolumeClaim shop/lost is bound to a PersistentVolume that no longer exists
        report Pod/shop/deleting-claim spec.volumes[1]: PersistentVolumeClaim shop/deleting is being deleted
    "#]].assert_eq(&out);
}

#[test]
fn nodes_and_node_claims_join_as_cluster_state_joins_them() {
    check_round(
        &["nodes.yaml"],
        |p| format!("{}{}", nodes(p), pods(p)),
        expect![[r#"
            node bootstrap-1
              name: "bootstrap-1"
              labels.kubernetes.io/arch: "arm64"
              labels.kubernetes.io/hostname: "bootstrap-1"
              labels.topology.kubernetes.io/zone: "us-east-1a"
              taints[0].key: "CriticalAddonsOnly"
              taints[0].value: "true"
              taints[0].effect: "NoSchedule"
              capacity.cpu: "2"
              capacity.memory: "4Gi"
              capacity.pods: "17"
              allocatable.cpu: "1930m"
              allocatable.memory: "3Gi"
              allocatable.pods: "17"
              initialized: true
              markedForDeletion: false
            node ip-10-0-1-10
              name: "ip-10-0-1-10"
              labels.karpenter.sh/initialized: "true"
              labels.karpenter.sh/nodepool: "default"
              labels.karpenter.sh/registered: "true"
              labels.kubernetes.io/hostname: "ip-10-0-1-10"
              labels.node.kubernetes.io/instance-type: "m7g.large"
              startupTaints[0].key: "example.com/agent-not-ready"
              startupTaints[0].effect: "NoSchedule"
              capacity.cpu: "2"
              capacity.memory: "8Gi"
              capacity.pods: "29"
              allocatable.cpu: "1930m"
              allocatable.memory: "7Gi"
              allocatable.pods: "29"
              initialized: true
              markedForDeletion: false
              bound pods: on-ready
            node ip-10-0-1-20
              name: "ip-10-0-1-20"
              labels.karpenter.sh/nodepool: "default"
              labels.karpenter.sh/registered: "true"
              labels.kubernetes.io/hostname: "ip-10-0-1-20"
              labels.node.kubernetes.io/instance-type: "c7g.xlarge"
              taints[0].key: "example.com/agent-not-ready"
              taints[0].effect: "NoSchedule"
              taints[1].key: "node.kubernetes.io/not-ready"
              taints[1].effect: "NoSchedule"
              startupTaints[0].key: "example.com/agent-not-ready"
              startupTaints[0].effect: "NoSchedule"
              capacity.cpu: "4"
              capacity.ephemeral-storage: "20Gi"
              capacity.memory: "8Gi"
              capacity.pods: "58"
              allocatable.cpu: "3920m"
              allocatable.ephemeral-storage: "17Gi"
              allocatable.memory: "6Gi"
              allocatable.pods: "58"
              initialized: false
              markedForDeletion: false
            node default-unregistered
              name: "default-unregistered"
              labels.karpenter.sh/nodepool: "default"
              labels.team: "web"
              taints[0].key: "dedicated"
              taints[0].value: "web"
              taints[0].effect: "NoSchedule"
              capacity.cpu: "2"
              capacity.memory: "4Gi"
              capacity.pods: "17"
              allocatable.cpu: "1930m"
              allocatable.memory: "3Gi"
              allocatable.pods: "17"
              initialized: false
              markedForDeletion: false
            node ip-10-0-1-40
              name: "ip-10-0-1-40"
              labels.karpenter.sh/initialized: "true"
              labels.karpenter.sh/nodepool: "default"
              labels.karpenter.sh/registered: "true"
              labels.kubernetes.io/hostname: "ip-10-0-1-40"
              labels.node.kubernetes.io/instance-type: "m7g.large"
              taints[0].key: "karpenter.sh/disrupted"
              taints[0].effect: "NoSchedule"
              capacity.cpu: "2"
              capacity.memory: "8Gi"
              capacity.pods: "29"
              allocatable.cpu: "1930m"
              allocatable.memory: "7Gi"
              allocatable.pods: "29"
              initialized: true
              markedForDeletion: true
              bound pods: web-moves pinned-by-pdb do-not-disrupt grace-elapsed grace-running logs-abcde
            node old-worker
              name: "old-worker"
              capacity.cpu: "2"
              capacity.memory: "8Gi"
              capacity.pods: "29"
              allocatable.cpu: "1930m"
              allocatable.memory: "7Gi"
              allocatable.pods: "29"
              initialized: true
              markedForDeletion: true
              bound pods: on-old-worker
            node default-in-flight
              name: "default-in-flight"
              labels.karpenter.sh/nodepool: "default"
              labels.topology.kubernetes.io/zone: "us-east-1a"
              capacity.cpu: "4"
              capacity.memory: "16Gi"
              capacity.pods: "58"
              allocatable.cpu: "3920m"
              allocatable.memory: "14Gi"
              allocatable.pods: "58"
              initialized: false
              markedForDeletion: false
            node default-terminating
              name: "default-terminating"
              labels.karpenter.sh/nodepool: "default"
              capacity.cpu: "2"
              capacity.memory: "8Gi"
              capacity.pods: "29"
              allocatable.cpu: "1930m"
              allocatable.memory: "7Gi"
              allocatable.pods: "29"
              initialized: false
              markedForDeletion: true
            pod shop/web-moves
              namespace: "shop"
              name: "web-moves"
              creationTimestamp: 0
              labels.app: "web"
              containers[0].name: "app"
              containers[0].requests.cpu: "500m"
              containers[0].requests.memory: "512Mi"
              daemonSet: false
              phase: "Running"
              terminating: false
            pod shop/grace-elapsed
              namespace: "shop"
              name: "grace-elapsed"
              creationTimestamp: 0
              labels.app: "batch"
              containers[0].name: "app"
              containers[0].requests.cpu: "500m"
              containers[0].requests.memory: "512Mi"
              daemonSet: false
              phase: "Running"
              terminating: false
            pod shop/on-old-worker
              namespace: "shop"
              name: "on-old-worker"
              creationTimestamp: 0
              labels.app: "web"
              containers[0].name: "app"
              containers[0].requests.cpu: "500m"
              containers[0].requests.memory: "512Mi"
              daemonSet: false
              phase: "Running"
              terminating: false
            report NodeClaim/default-duplicate status.providerID: provider id aws:///us-east-1a/i-0ready is already NodeClaim default-ready's
            report Node/no-provider-id left out: the node has a NodePool label but no spec.providerID yet
            report Node/no-instance-type left out: the node is not initialized and has no instance-type label yet
            report NodeClaim/default-unlaunched left out: the NodeClaim has not launched (no status.providerID)
            report PodDisruptionBudget/shop/broken spec.selector.matchExpressions[0]: unknown operator "Like"
        "#]],
    );
}

#[test]
fn node_pools_map_their_template_weight_and_limits() {
    let manifests = [
        "nodepool-every-field.yaml",
        "nodepool-minimal.yaml",
        "nodepool-never.yaml",
        "nodepool-spot-gpu.yaml",
        "seed.yaml",
    ];
    let (snapshot, reports) = load(&manifests.map(api_manifest));
    assert!(reports.is_empty(), "{reports:?}");
    // Only the pool whose status says Ready takes part when readiness is required.
    let (ready, not_ready) = snapshot.round_node_pools(true);
    let ready: Vec<&str> = ready.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(ready, ["spot-gpu"]);
    assert_eq!(not_ready.len(), snapshot.node_pools.len() - 1);
    let (pools, reports) = snapshot.round_node_pools(false);
    assert!(reports.is_empty(), "{reports:?}");
    let rendered: String = pools.iter().map(|p| render(&format!("nodepool {}", p.name), p)).collect();
    expect![[r#"
        nodepool every-field
          name: "every-field"
          weight: 50
          labels.example.com/tier: "1"
          labels.team: "payments"
          requirements[0].key: "node.kubernetes.io/instance-type"
          requirements[0].operator: "In"
          requirements[0].values: ["m7g.large","m7g.xlarge","c7g.xlarge","r7g.large"]
          requirements[0].minValues: 2
          requirements[1].key: "karpenter.k8s.aws/instance-family"
          requirements[1].operator: "NotIn"
          requirements[1].values: ["t4g"]
          requirements[2].key: "example.com/gpu"
          requirements[2].operator: "DoesNotExist"
          requirements[3].key: "topology.kubernetes.io/zone"
          requirements[3].operator: "Exists"
          requirements[4].key: "karpenter.k8s.aws/instance-cpu"
          requirements[4].operator: "Lt"
          requirements[4].values: ["33"]
          requirements[5].key: "karpenter.k8s.aws/instance-memory"
          requirements[5].operator: "Gte"
          requirements[5].values: ["4096"]
          requirements[6].key: "karpenter.k8s.aws/instance-generation"
          requirements[6].operator: "Lte"
          requirements[6].values: ["8"]
          taints[0].key: "example.com/dedicated"
          taints[0].value: "payments"
          taints[0].effect: "NoSchedule"
          taints[1].key: "example.com/batch"
          taints[1].effect: "PreferNoSchedule"
          startupTaints[0].key: "node.cilium.io/agent-not-ready"
          startupTaints[0].value: "true"
          startupTaints[0].effect: "NoExecute"
          limits.cpu: "1000"
          limits.memory: "4000Gi"
          limits.nvidia.com/gpu: "8"
          nodeClassRef.group: "karpenter.k8s.aws"
          nodeClassRef.kind: "EC2NodeClass"
          nodeClassRef.name: "payments"
        nodepool minimal
          name: "minimal"
          nodeClassRef.group: "karpenter.k8s.aws"
          nodeClassRef.kind: "EC2NodeClass"
          nodeClassRef.name: "default"
        nodepool never
          name: "never"
          requirements[0].key: "karpenter.sh/capacity-type"
          requirements[0].operator: "In"
          requirements[0].values: ["on-demand","reserved"]
          nodeClassRef.group: "karpenter.k8s.aws"
          nodeClassRef.kind: "EC2NodeClass"
          nodeClassRef.name: "default"
        nodepool spot-gpu
          name: "spot-gpu"
          weight: 10
          labels.workload: "batch"
          requirements[0].key: "karpenter.sh/capacity-type"
          requirements[0].operator: "In"
          requirements[0].values: ["spot"]
          requirements[1].key: "karpenter.k8s.aws/instance-gpu-manufacturer"
          requirements[1].operator: "In"
          requirements[1].values: ["nvidia"]
          requirements[2].key: "karpenter.k8s.aws/instance-gpu-count"
          requirements[2].operator: "Gt"
          requirements[2].values: ["0"]
          requirements[3].key: "kubernetes.io/os"
          requirements[3].operator: "In"
          requirements[3].values: ["linux"]
          taints[0].key: "nvidia.com/gpu"
          taints[0].value: "true"
          taints[0].effect: "NoSchedule"
          limits.nvidia.com/gpu: "64"
          nodeClassRef.group: "karpenter.k8s.aws"
          nodeClassRef.kind: "EC2NodeClass"
          nodeClassRef.name: "gpu"
        nodepool default
          name: "default"
          requirements[0].key: "kubernetes.io/arch"
          requirements[0].operator: "In"
          requirements[0].values: ["arm64"]
          requirements[1].key: "karpenter.sh/capacity-type"
          requirements[1].operator: "In"
          requirements[1].values: ["on-demand"]
          requirements[2].key: "karpenter.k8s.aws/instance-category"
          requirements[2].operator: "In"
          requirements[2].values: ["c","m","t"]
          requirements[3].key: "karpenter.k8s.aws/instance-generation"
          requirements[3].operator: "Gt"
          requirements[3].values: ["3"]
          limits.cpu: "100"
          limits.memory: "200Gi"
          nodeClassRef.group: "karpenter.k8s.aws"
          nodeClassRef.kind: "EC2NodeClass"
          nodeClassRef.name: "default"
    "#]]
    .assert_eq(&rendered);
}

#[test]
fn node_pools_left_out_of_a_round_say_why() {
    let (snapshot, mut reports) = load(&[fixture("nodepools.yaml")]);
    let mut out = String::new();
    for require_ready in [true, false] {
        let (pools, round_reports) = snapshot.round_node_pools(require_ready);
        reports.extend(round_reports);
        let names: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
        out.push_str(&format!(
            "require ready {require_ready}: {}\n{}",
            names.join(" "),
            render_reports(&reports)
        ));
        reports.clear();
    }
    expect![[r#"
        require ready true: ready
        report NodePool/bad-operator does not read as its kind: unknown variant `Like`, expected one of `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`, `Gte`, `Lte`
        report NodePool/not-ready left out: the NodePool is not Ready
        report NodePool/from-file left out: the NodePool is not Ready
        report NodePool/deleting left out: the NodePool is being deleted
        report NodePool/static left out: a static NodePool (spec.replicas) is not provisioned for by pending pods
        report NodePool/negative-min-values left out: the NodePool is not Ready
        require ready false: ready not-ready from-file
        report NodePool/deleting left out: the NodePool is being deleted
        report NodePool/static left out: a static NodePool (spec.replicas) is not provisioned for by pending pods
        report NodePool/negative-min-values spec.template.spec.requirements[0].minValues: -1 is not a count
    "#]].assert_eq(&out);
}

#[test]
fn node_classes_become_catalog_settings() {
    let manifests = [
        "ec2nodeclass-al2-kubelet.yaml",
        "ec2nodeclass-bottlerocket.yaml",
        "ec2nodeclass-custom.yaml",
        "ec2nodeclass-every-field.yaml",
        "ec2nodeclass-status.yaml",
        "ec2nodeclass-windows.yaml",
        "seed.yaml",
    ];
    let (snapshot, reports) = load(&manifests.map(api_manifest));
    assert!(reports.is_empty(), "{reports:?}");
    let (bad, reports) = load(&[fixture("nodeclasses.yaml")]);
    assert!(reports.is_empty(), "{reports:?}");
    let flags = ProviderFlags { reserved_enis: 1, ..ProviderFlags::default() };
    let mut out = String::new();
    for class in snapshot.node_classes.iter().chain(&bad.node_classes) {
        let name = class.metadata.name.as_deref().unwrap();
        match node_class_settings(class, &flags) {
            Ok(settings) => out.push_str(&render(&format!("ec2nodeclass {name}"), &settings)),
            Err(error) => out.push_str(&format!("ec2nodeclass {name}: {error}\n")),
        }
    }
    expect![[r#"
        ec2nodeclass al2-kubelet
          amiFamily: "Custom"
          maxPods: 58
          kubeReserved.cpu: "90m"
          kubeReserved.memory: "893Mi"
          evictionHard.memory.available: "100Mi"
          evictionHard.nodefs.available: "10%"
          instanceStoreRaid0: false
          reservedEnis: 1
          vmMemoryOverheadPercent: 0.075
        ec2nodeclass bottlerocket
          amiFamily: "Bottlerocket"
          blockDeviceMappings[0].deviceName: "/dev/xvda"
          blockDeviceMappings[0].rootVolume: false
          blockDeviceMappings[0].volumeSize: "4Gi"
          blockDeviceMappings[1].deviceName: "/dev/xvdb"
          blockDeviceMappings[1].rootVolume: false
          blockDeviceMappings[1].volumeSize: "1Ti"
          instanceStoreRaid0: false
          reservedEnis: 1
          vmMemoryOverheadPercent: 0.075
        ec2nodeclass custom
          amiFamily: "Custom"
          blockDeviceMappings[0].deviceName: "/dev/sda1"
          blockDeviceMappings[0].rootVolume: true
          blockDeviceMappings[0].volumeSize: "64G"
          blockDeviceMappings[1].deviceName: "/dev/sdb"
          blockDeviceMappings[1].rootVolume: false
          blockDeviceMappings[1].volumeSize: "1000G"
          instanceStoreRaid0: false
          reservedEnis: 1
          vmMemoryOverheadPercent: 0.075
        ec2nodeclass every-field
          amiFamily: "AL2023"
          maxPods: 110
          podsPerCore: 4
          kubeReserved.cpu: "200m"
          kubeReserved.ephemeral-storage: "1Gi"
          systemReserved.cpu: "100m"
          systemReserved.memory: "100Mi"
          evictionHard.memory.available: "5%"
          blockDeviceMappings[0].deviceName: "/dev/xvda"
          blockDeviceMappings[0].rootVolume: true
          blockDeviceMappings[0].volumeSize: "100Gi"
          blockDeviceMappings[1].deviceName: "/dev/xvdb"
          blockDeviceMappings[1].rootVolume: false
          instanceStoreRaid0: true
          reservedEnis: 1
          vmMemoryOverheadPercent: 0.075
        ec2nodeclass resolved
          amiFamily: "AL2023"
          instanceStoreRaid0: false
          subnetZones: ["us-east-1a","us-east-1b"]
          reservedEnis: 1
          vmMemoryOverheadPercent: 0.075
        ec2nodeclass windows
          amiFamily: "Windows2022"
          blockDeviceMappings[0].deviceName: "/dev/sda1"
          blockDeviceMappings[0].rootVolume: true
          blockDeviceMappings[0].volumeSize: "2048Gi"
          instanceStoreRaid0: false
          reservedEnis: 1
          vmMemoryOverheadPercent: 0.075
        ec2nodeclass default
          amiFamily: "AL2"
          instanceStoreRaid0: false
          reservedEnis: 1
          vmMemoryOverheadPercent: 0.075
        ec2nodeclass cel-max-pods: spec.kubelet.maxPods: not supported yet: CEL expressions (the NodeClassCEL gate) are not evaluated
        ec2nodeclass reserved-list: spec.kubelet.kubeReserved: expected a map, found ["cpu","100m"]
        ec2nodeclass negative-pods-per-core: spec.kubelet.podsPerCore: -4 is not a count
    "#]].assert_eq(&out);
}

#[test]
fn daemon_sets_give_one_pod_each() {
    let (snapshot, reports) = load(&[fixture("daemonsets.yaml")]);
    assert!(reports.is_empty(), "{reports:?}");
    let (pods, reports) = snapshot.daemon_set_pods();
    let rendered: String =
        pods.iter().map(|p| render(&format!("daemon pod {}/{}", p.namespace, p.name), p)).collect();
    expect![[r#"
        daemon pod kube-system/node-agent
          namespace: "kube-system"
          name: "node-agent"
          creationTimestamp: 0
          containers[0].name: "agent"
          containers[0].requests.cpu: "100m"
          containers[0].requests.memory: "128Mi"
          containers[0].ports[0].containerPort: 61678
          containers[0].ports[0].hostPort: 61678
          nodeAffinity.required[0].matchExpressions[0].key: "kubernetes.io/os"
          nodeAffinity.required[0].matchExpressions[0].operator: "In"
          nodeAffinity.required[0].matchExpressions[0].values: ["linux"]
          tolerations[0].operator: "Exists"
          daemonSet: true
          terminating: false
        daemon pod kube-system/logs-new
          namespace: "kube-system"
          name: "logs-new"
          creationTimestamp: 1795132800
          labels.app: "logs"
          containers[0].name: "logs"
          containers[0].requests.cpu: "50m"
          containers[0].requests.memory: "64Mi"
          daemonSet: true
          terminating: false
        report DaemonSet/kube-system/empty spec.template.spec: missing
    "#]]
    .assert_eq(&format!("{rendered}{}", render_reports(&reports)));
}

#[test]
fn bad_objects_are_reported_and_the_rest_is_mapped() {
    check_round(
        &["bad.yaml"],
        |p| {
            let names: Vec<String> = p.pods.iter().map(|p| format!("{}/{}", p.namespace, p.name)).collect();
            let namespaces: Vec<&str> = p.namespaces.iter().map(|n| n.name.as_str()).collect();
            format!("pods: {}\nnamespaces: {}\n", names.join(" "), namespaces.join(" "))
        },
        expect![[r#"
            pods: shop/fine
            namespaces: shop
            report Pod/default/wrong-type does not read as its kind: invalid type: string "app", expected a sequence
            report Deployment/default/inflate left out: apps/v1 Deployment is not read by provisioning
            report Pod/default/ metadata.name: missing
            report Pod/default/no-spec spec: missing
            report Pod/default/pod-level-resources spec.resources: not supported yet: pod-level resource requests are not modelled by the solver
            report Namespace/ metadata.name: missing
        "#]],
    );
}

#[test]
fn budgets_and_do_not_disrupt_decide_which_pods_move() {
    let (snapshot, reports) = load(&[fixture("disruption.yaml")]);
    assert!(reports.is_empty(), "{reports:?}");
    let (limits, reports) = PdbLimits::new(snapshot.pod_disruption_budgets.iter().map(|p| &**p));
    assert!(reports.is_empty(), "{reports:?}");
    let now = options().now;
    let mut out = String::new();
    for pod in &snapshot.pods {
        let blocking: Vec<String> =
            limits.blocking_evictions([&**pod], now).iter().map(|o| o.to_string()).collect();
        out.push_str(&format!(
            "{}: evictable={} do-not-disrupt={:?} moves={} blocked-by=[{}]\n",
            pod.metadata.name.as_deref().unwrap(),
            is_evictable(pod, now),
            do_not_disrupt(pod, now),
            limits.is_currently_reschedulable(pod, now),
            blocking.join(" "),
        ));
    }
    expect![[r#"
        web: evictable=true do-not-disrupt=Absent moves=true blocked-by=[PodDisruptionBudget/shop/web]
        api-ready: evictable=true do-not-disrupt=Absent moves=true blocked-by=[PodDisruptionBudget/shop/web-unhealthy-ok]
        api-not-ready: evictable=true do-not-disrupt=Absent moves=true blocked-by=[]
        db: evictable=true do-not-disrupt=Absent moves=false blocked-by=[PodDisruptionBudget/shop/overlap-a PodDisruptionBudget/shop/overlap-b]
        free: evictable=true do-not-disrupt=Absent moves=true blocked-by=[]
        tolerates: evictable=false do-not-disrupt=Absent moves=true blocked-by=[]
        tolerates-all: evictable=false do-not-disrupt=Absent moves=true blocked-by=[]
        tolerates-other-effect: evictable=true do-not-disrupt=Absent moves=true blocked-by=[]
        protected: evictable=false do-not-disrupt=Active moves=false blocked-by=[]
        protected-for-1h: evictable=false do-not-disrupt=Active moves=false blocked-by=[]
        protected-for-10m: evictable=true do-not-disrupt=Elapsed moves=true blocked-by=[]
        protected-no-start: evictable=false do-not-disrupt=Active moves=false blocked-by=[]
        protected-badly: evictable=true do-not-disrupt=Invalid("\"forever\" is not a duration") moves=true blocked-by=[]
    "#]].assert_eq(&out);
}

#[test]
fn node_overlays_map_for_the_solver() {
    let (snapshot, reports) = load(&[api_manifest("nodeoverlay.yaml")]);
    assert!(reports.is_empty(), "{reports:?}");
    let (overlays, reports) = snapshot.node_overlays();
    assert!(reports.is_empty(), "{reports:?}");
    expect![[r#"
        [
          {
            "name": "gpu-discount",
            "weight": 20,
            "requirements": [
              {
                "key": "karpenter.sh/nodepool",
                "operator": "In",
                "values": [
                  "gpu"
                ]
              },
              {
                "key": "karpenter.k8s.aws/instance-gpu-manufacturer",
                "operator": "In",
                "values": [
                  "nvidia"
                ]
              },
              {
                "key": "karpenter.k8s.aws/instance-generation",
                "operator": "Gte",
                "values": [
                  "5"
                ]
              },
              {
                "key": "node.kubernetes.io/instance-type",
                "operator": "NotIn",
                "values": [
                  "p3.2xlarge"
                ]
              },
              {
                "key": "example.com/team",
                "operator": "Exists"
              }
            ],
            "price": null,
            "priceAdjustment": "-10%",
            "capacity": {
              "example.com/licence": "1",
              "hugepages-2Mi": "1Gi"
            }
          },
          {
            "name": "m7g-large-price",
            "weight": null,
            "requirements": [
              {
                "key": "node.kubernetes.io/instance-type",
                "operator": "In",
                "values": [
                  "m7g.large"
                ]
              }
            ],
            "price": "0.0512",
            "priceAdjustment": null,
            "capacity": {}
          }
        ]"#]]
    .assert_eq(&serde_json::to_string_pretty(&overlays).unwrap());
}
