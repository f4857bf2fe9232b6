//! What the provider needs to know about the cluster and itself, resolved by the controller at start-up
//! (`aws/karpenter-provider-aws: pkg/operator/operator.go`, `pkg/operator/options`).

use std::time::Duration;

use karpenter_catalog::Catalog;
use karpenter_catalog::spec::RegionOfferings;

use crate::unavailable::UNAVAILABLE_OFFERINGS_TTL;

/// The provider's settings. Build them with [`Settings::new`] and set the optional fields.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--cluster-name`: tags every resource and names the managed instance profiles.
    pub cluster_name: String,
    /// `--cluster-endpoint`: the API server's URL, written into user data.
    pub cluster_endpoint: String,
    /// The cluster's CA bundle (base64), written into user data and part of the node-class hash.
    pub ca_bundle: Option<String>,
    /// The cluster's service CIDR; AL2023 nodes need it.
    pub cluster_cidr: Option<String>,
    /// The kube-dns service IP, the kubelet's `clusterDNS` unless the EC2NodeClass sets one.
    pub cluster_dns: Option<String>,
    /// The AWS region.
    pub region: String,
    /// The Kubernetes minor version (`1.34`), for the EKS-optimized AMI parameters of aliases.
    pub kubernetes_version: String,
    /// `--interruption-queue`: the SQS queue EventBridge sends interruption events to, if any.
    pub interruption_queue: Option<String>,
    /// The instance-type catalog: the embedded one until [`crate::AwsProvider::refresh_catalog`] replaces
    /// it with live data, and again whenever a refresh fails.
    pub catalog: Catalog,
    /// How long an offering that failed for capacity stays unavailable.
    pub unavailable_offerings_ttl: Duration,
    /// How many instance types one CreateFleet call may name.
    pub max_instance_types: usize,
}

impl Settings {
    /// Settings for a cluster, with the embedded catalog of the region (an empty one for a region the
    /// embedded data does not cover, to be filled by a catalog refresh), the 3-minute capacity TTL, 60
    /// instance types per fleet, and Kubernetes 1.36.
    pub fn new(cluster_name: &str, cluster_endpoint: &str, region: &str) -> Settings {
        let catalog = Catalog::embedded(region).unwrap_or_else(|_| {
            Catalog::new(
                region,
                Vec::new(),
                RegionOfferings { zones: Vec::new(), instance_types: Default::default() },
                Default::default(),
                Default::default(),
                Default::default(),
            )
        });
        Settings {
            cluster_name: cluster_name.to_string(),
            cluster_endpoint: cluster_endpoint.to_string(),
            ca_bundle: None,
            cluster_cidr: None,
            cluster_dns: None,
            region: region.to_string(),
            kubernetes_version: "1.36".to_string(),
            interruption_queue: None,
            catalog,
            unavailable_offerings_ttl: UNAVAILABLE_OFFERINGS_TTL,
            max_instance_types: 60,
        }
    }
}
