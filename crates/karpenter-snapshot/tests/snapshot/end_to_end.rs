//! The seed's cluster from manifests to a plan: its NodePool and EC2NodeClass
//! (`crates/karpenter-api/tests/manifests/seed.yaml`), a tainted bootstrap node, the VPC CNI and kube-proxy
//! DaemonSets and five pending `inflate` pods, solved over the embedded AWS catalog.

use super::common::{api_manifest, fixture, load, options};
use expect_test::expect;
use karpenter_catalog::Catalog;
use karpenter_snapshot::ProviderFlags;
use karpenter_solver::solve;

#[test]
fn the_seed_cluster_scales_inflate_onto_one_graviton_node() {
    let (snapshot, reports) = load(&[api_manifest("seed.yaml"), fixture("inflate.yaml")]);
    assert!(reports.is_empty(), "{reports:?}");
    let catalog = Catalog::embedded("us-east-1").unwrap();
    let (instance_types, type_reports) = snapshot.catalog_instance_types(&catalog, &ProviderFlags::default());
    assert!(type_reports.is_empty(), "{type_reports:?}");
    let round = snapshot.provisioning_round(instance_types, &options());
    assert!(round.reports.is_empty(), "{:?}", round.reports);
    assert_eq!(round.problem.pods.len(), 5);
    assert_eq!(round.problem.daemon_set_pods.len(), 2);
    let config = karpenter_catalog::solver_config();
    let plan = solve(&round.problem, &config);
    assert_eq!(plan.scheduled_pods(), 5, "{}", plan.render());
    expect![[r#"
        nodeclaim 0 pool=default: inflate-66fb68585c-4xk2p inflate-66fb68585c-9zq7w inflate-66fb68585c-c2m8d inflate-66fb68585c-h5t3n inflate-66fb68585c-r8v6b
          options: t4g.small($0.0168) t4g.medium($0.0336) c6g.medium($0.034) c7g.medium($0.0363) c6gd.medium($0.0384) and 181 more
          requests: cpu=125m pods=7
          require karpenter.k8s.aws/ec2nodeclass In default
          require karpenter.k8s.aws/instance-category In c,m,t
          require karpenter.k8s.aws/instance-generation Gte 4
          require karpenter.sh/capacity-type In on-demand
          require karpenter.sh/nodepool In default
          require kubernetes.io/arch In arm64
          label karpenter.k8s.aws/ec2nodeclass=default
          label karpenter.sh/nodepool=default
    "#]].assert_eq(&plan.render());
}
