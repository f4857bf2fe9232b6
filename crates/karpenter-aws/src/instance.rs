//! EC2 instances as the provider reports them: provider ids, the facts read from DescribeInstances, and the
//! tags that tie an instance to its cluster, NodePool, EC2NodeClass and NodeClaim (`aws/karpenter-provider-aws:
//! pkg/providers/instance/types.go`, `pkg/cloudprovider/cloudprovider.go` `instanceToNodeClaim`,
//! `pkg/utils/utils.go` `ParseInstanceID`).

use std::collections::BTreeMap;
use std::time::SystemTime;

use karpenter_api::labels::label;

/// `karpenter.sh/nodepool`, on instances.
pub const NODE_POOL_TAG: &str = label::NODE_POOL;
/// `karpenter.k8s.aws/ec2nodeclass`, on instances.
pub const NODE_CLASS_TAG: &str = label::EC2_NODE_CLASS;
/// `karpenter.sh/nodeclaim`, on instances.
pub const NODE_CLAIM_TAG: &str = "karpenter.sh/nodeclaim";
/// `eks:eks-cluster-name`, on everything Karpenter makes.
pub const CLUSTER_NAME_TAG: &str = crate::nodeclass::EKS_CLUSTER_NAME_TAG;

/// `aws:///<zone>/<instance id>`.
pub fn provider_id(zone: &str, instance_id: &str) -> String {
    format!("aws:///{zone}/{instance_id}")
}

/// The instance id of an `aws:///<zone>/<instance id>` provider id; `None` for any other form.
pub fn instance_id(provider_id: &str) -> Option<&str> {
    let rest = provider_id.strip_prefix("aws:///")?;
    let (zone, id) = rest.rsplit_once('/')?;
    (!zone.is_empty() && id.starts_with("i-") && id.len() > 2).then_some(id)
}

/// What the provider reads of a DescribeInstances record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Instance {
    /// Instance id.
    pub id: String,
    /// Instance type.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
    /// State name (`pending`, `running`, `shutting-down`, ...).
    pub state: String,
    /// Image.
    pub image_id: Option<String>,
    /// Subnet.
    pub subnet_id: Option<String>,
    /// Security group ids, sorted.
    pub security_group_ids: Vec<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// `spot` when launched from a spot request, else `on-demand`.
    pub capacity_type: String,
    /// `default` or `dedicated`.
    pub tenancy: String,
    /// Launch time.
    pub launched_at: Option<SystemTime>,
}

impl Ec2Instance {
    /// Reads a DescribeInstances record.
    pub fn from_sdk(instance: &aws_sdk_ec2::types::Instance) -> Ec2Instance {
        let mut security_group_ids: Vec<String> =
            instance.security_groups().iter().filter_map(|g| g.group_id().map(str::to_string)).collect();
        security_group_ids.sort();
        Ec2Instance {
            id: instance.instance_id().unwrap_or_default().to_string(),
            instance_type: instance.instance_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
            zone: instance.placement().and_then(|p| p.availability_zone()).unwrap_or_default().to_string(),
            state: instance
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_string())
                .unwrap_or_default(),
            image_id: instance.image_id().map(str::to_string),
            subnet_id: instance.subnet_id().map(str::to_string),
            security_group_ids,
            tags: instance
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
                .collect(),
            capacity_type: if instance.spot_instance_request_id().is_some()
                || instance.instance_lifecycle() == Some(&aws_sdk_ec2::types::InstanceLifecycleType::Spot)
            {
                "spot"
            } else {
                "on-demand"
            }
            .to_string(),
            tenancy: instance
                .placement()
                .and_then(|p| p.tenancy())
                .map(|t| t.as_str().to_string())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "default".to_string()),
            launched_at: instance.launch_time().and_then(|t| SystemTime::try_from(*t).ok()),
        }
    }

    /// Whether the instance is on its way out.
    pub fn is_terminating(&self) -> bool {
        matches!(self.state.as_str(), "shutting-down" | "terminated")
    }

    /// Its provider id.
    pub fn provider_id(&self) -> String {
        provider_id(&self.zone, &self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_ids_round_trip_and_other_forms_are_not_ours() {
        let id = provider_id("us-east-1a", "i-0123456789abcdef0");
        assert_eq!(id, "aws:///us-east-1a/i-0123456789abcdef0");
        assert_eq!(instance_id(&id), Some("i-0123456789abcdef0"));
        for other in ["kwok://node", "aws:///i-1", "aws:///us-east-1a/", "fake:///a/i-1", "aws:///a/x-1"] {
            assert_eq!(instance_id(other), None, "{other}");
        }
    }
}
