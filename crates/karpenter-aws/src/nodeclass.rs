//! EC2NodeClass resolution: the status the controller writes, with subnets, security groups, images, the
//! instance profile and the conditions that say what is missing (`aws/karpenter-provider-aws:
//! pkg/controllers/nodeclass/{subnet.go,securitygroup.go,ami.go,instanceprofile.go,readiness.go}`,
//! `pkg/providers/{subnet,securitygroup,instanceprofile}`, `pkg/providers/amifamily/ami.go`).
//!
//! A lookup that fails for a passing reason (throttling, a timeout) leaves its part of the previous status in
//! place and is reported in [`Resolution::api_errors`], so that a brief AWS hiccup does not stop launches; a
//! lookup that finds nothing makes its condition `False`, and `Ready` with it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use aws_sdk_ec2::types::{Filter, Image};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use karpenter_api::labels::condition;
use karpenter_api::{
    Ami, AmiSelectorTerm, Condition, EC2NodeClass, EC2NodeClassStatus, SecurityGroup,
    SecurityGroupSelectorTerm, Subnet, SubnetSelectorTerm,
};

use crate::ami::{self, ImageCandidate, Variant};
use crate::error::AwsError;
use crate::{Clients, Settings};

/// The tag every resource Karpenter makes carries with the cluster's name.
pub const EKS_CLUSTER_NAME_TAG: &str = "eks:eks-cluster-name";

/// What a resolution produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// The status to write, conditions included.
    pub status: EC2NodeClassStatus,
    /// Lookups that failed for a passing reason; their part of the status is the previous one. The controller
    /// should resolve again soon.
    pub api_errors: Vec<karpenter_cloud::Error>,
}

/// One condition's outcome before it gets its time and generation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    ready: bool,
    reason: String,
    message: String,
}

impl Outcome {
    fn ready(reason: &str) -> Self {
        Outcome { ready: true, reason: reason.to_string(), message: String::new() }
    }

    fn not_ready(reason: &str, message: impl Into<String>) -> Self {
        Outcome { ready: false, reason: reason.to_string(), message: message.into() }
    }
}

fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder().name(name).set_values(Some(values.into_iter().map(Into::into).collect())).build()
}

/// Filters for a tag map: `tag:<key>` equal to the value, or `tag-key` for the wildcard `*`.
pub fn tag_filters(tags: &BTreeMap<String, String>) -> Vec<Filter> {
    tags.iter()
        .map(|(key, value)| {
            if value == "*" {
                filter("tag-key", [key.clone()])
            } else {
                filter(&format!("tag:{key}"), [value.clone()])
            }
        })
        .collect()
}

/// The DescribeSubnets queries of the selector terms: one per tag term, and one for all ids together.
pub fn subnet_queries(terms: &[SubnetSelectorTerm]) -> Vec<Vec<Filter>> {
    let mut queries = Vec::new();
    let mut ids = Vec::new();
    for term in terms {
        match (&term.id, &term.tags) {
            (Some(id), _) => ids.push(id.clone()),
            (None, Some(tags)) if !tags.is_empty() => queries.push(tag_filters(tags)),
            _ => {}
        }
    }
    if !ids.is_empty() {
        queries.push(vec![filter("subnet-id", ids)]);
    }
    queries
}

/// The DescribeSecurityGroups queries of the selector terms: one per tag or name term, one for all ids.
pub fn security_group_queries(terms: &[SecurityGroupSelectorTerm]) -> Vec<Vec<Filter>> {
    let mut queries = Vec::new();
    let mut ids = Vec::new();
    for term in terms {
        if let Some(id) = &term.id {
            ids.push(id.clone());
        } else if let Some(name) = &term.name {
            queries.push(vec![filter("group-name", [name.clone()])]);
        } else if let Some(tags) = term.tags.as_ref().filter(|t| !t.is_empty()) {
            queries.push(tag_filters(tags));
        }
    }
    if !ids.is_empty() {
        queries.push(vec![filter("group-id", ids)]);
    }
    queries
}

/// One DescribeImages query: owners and filters, and the variants its images serve (alias images only).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageQuery {
    /// `Owners`.
    pub owners: Vec<String>,
    /// `Filters`.
    pub filters: Vec<Filter>,
    /// Variants by image id, for images an alias found.
    pub variants: BTreeMap<String, Vec<Variant>>,
}

/// The image queries of selector terms other than an alias: ids together in one `image-id` query, names
/// with owners `self,amazon` unless an owner is given, tags as tag filters. `ssm_images` are the ids read
/// from `ssmParameter` terms.
pub fn image_queries(terms: &[AmiSelectorTerm], ssm_images: &[String]) -> Vec<ImageQuery> {
    let mut queries = Vec::new();
    let mut ids: Vec<String> = ssm_images.to_vec();
    for term in terms {
        if let Some(id) = &term.id {
            ids.push(id.clone());
            continue;
        }
        if term.ssm_parameter.is_some() || term.alias.is_some() {
            continue;
        }
        let mut owners: Vec<String> = term.owner.iter().cloned().collect();
        let mut filters = Vec::new();
        if let Some(name) = &term.name {
            if owners.is_empty() {
                // Without an owner a name would match images anyone shared publicly.
                owners = vec!["self".to_string(), "amazon".to_string()];
            }
            filters.push(filter("name", [name.clone()]));
        }
        if let Some(tags) = &term.tags {
            filters.extend(tag_filters(tags));
        }
        queries.push(ImageQuery { owners, filters, variants: BTreeMap::new() });
    }
    if !ids.is_empty() {
        queries.push(ImageQuery {
            owners: Vec::new(),
            filters: vec![filter("image-id", ids)],
            variants: BTreeMap::new(),
        });
    }
    queries
}

/// Resolves an EC2NodeClass into its status. The previous status (`node_class.status`) keeps the transition
/// times of conditions that did not change and stands in for lookups that failed for a passing reason.
pub async fn resolve(
    clients: &Clients,
    settings: &Settings,
    node_class: &EC2NodeClass,
    now: SystemTime,
) -> Resolution {
    let previous = node_class.status.clone().unwrap_or_default();
    let mut status = previous.clone();
    let mut api_errors = Vec::new();
    let mut outcomes: BTreeMap<&'static str, Outcome> = BTreeMap::new();
    let spec = &node_class.spec;

    match resolve_subnets(clients, &spec.subnet_selector_terms).await {
        Ok(subnets) if subnets.is_empty() => {
            status.subnets = None;
            outcomes.insert(
                condition::SUBNETS_READY,
                Outcome::not_ready(
                    "SubnetsNotFound",
                    format!(
                        "no subnet matches spec.subnetSelectorTerms {}",
                        terms_text(&spec.subnet_selector_terms)
                    ),
                ),
            );
        }
        Ok(subnets) => {
            status.subnets = Some(subnets);
            outcomes.insert(condition::SUBNETS_READY, Outcome::ready(condition::SUBNETS_READY));
        }
        Err(error) => api_errors.push(error.into_api_error()),
    }

    match resolve_security_groups(clients, &spec.security_group_selector_terms).await {
        Ok(groups) if groups.is_empty() => {
            status.security_groups = None;
            outcomes.insert(
                condition::SECURITY_GROUPS_READY,
                Outcome::not_ready(
                    "SecurityGroupsNotFound",
                    format!(
                        "no security group matches spec.securityGroupSelectorTerms {}",
                        terms_text(&spec.security_group_selector_terms)
                    ),
                ),
            );
        }
        Ok(groups) => {
            status.security_groups = Some(groups);
            outcomes
                .insert(condition::SECURITY_GROUPS_READY, Outcome::ready(condition::SECURITY_GROUPS_READY));
        }
        Err(error) => api_errors.push(error.into_api_error()),
    }

    match resolve_amis(clients, settings, &spec.ami_selector_terms, now).await {
        Ok(Ok(amis)) if amis.is_empty() => {
            status.amis = None;
            outcomes.insert(
                condition::AMIS_READY,
                Outcome::not_ready(
                    "AMINotFound",
                    format!(
                        "no image matches spec.amiSelectorTerms {}",
                        terms_text(&spec.ami_selector_terms)
                    ),
                ),
            );
        }
        Ok(Ok(amis)) => {
            status.amis = Some(amis);
            outcomes.insert(condition::AMIS_READY, Outcome::ready(condition::AMIS_READY));
        }
        Ok(Err(refusal)) => {
            status.amis = None;
            outcomes.insert(condition::AMIS_READY, refusal);
        }
        Err(error) => api_errors.push(error.into_api_error()),
    }

    match resolve_instance_profile(clients, settings, node_class).await {
        Ok(Ok(profile)) => {
            status.instance_profile = Some(profile);
            outcomes
                .insert(condition::INSTANCE_PROFILE_READY, Outcome::ready(condition::INSTANCE_PROFILE_READY));
        }
        Ok(Err(refusal)) => {
            status.instance_profile = None;
            outcomes.insert(condition::INSTANCE_PROFILE_READY, refusal);
        }
        Err(error) => api_errors.push(error.into_api_error()),
    }

    let generation = node_class.metadata.generation;
    status.conditions =
        Some(conditions(previous.conditions.as_deref().unwrap_or_default(), &outcomes, generation, now));
    Resolution { status, api_errors }
}

fn terms_text<T: serde::Serialize>(terms: &[T]) -> String {
    serde_json::to_string(terms).unwrap_or_default()
}

/// The dependents of `Ready`, in the order they are listed.
const DEPENDENTS: [&str; 4] = [
    condition::AMIS_READY,
    condition::SUBNETS_READY,
    condition::SECURITY_GROUPS_READY,
    condition::INSTANCE_PROFILE_READY,
];

/// The conditions: each dependent from its outcome (or the previous condition when its lookup failed, or
/// Unknown), and `Ready` rolled up from them with a message naming every dependent that is not ready.
fn conditions(
    previous: &[Condition],
    outcomes: &BTreeMap<&'static str, Outcome>,
    generation: Option<i64>,
    now: SystemTime,
) -> Vec<Condition> {
    let time = Time(k8s_openapi::jiff::Timestamp::try_from(now).unwrap_or_default());
    let make = |type_: &str, status: &str, reason: &str, message: &str| {
        let last = previous.iter().find(|c| c.type_ == type_);
        let unchanged = last.is_some_and(|c| c.status == status);
        Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            observed_generation: generation,
            last_transition_time: match last {
                Some(c) if unchanged => c.last_transition_time.clone(),
                _ => time.clone(),
            },
            reason: reason.to_string(),
            message: message.to_string(),
        }
    };
    let mut out = Vec::new();
    for type_ in DEPENDENTS {
        let condition = match outcomes.get(type_) {
            Some(outcome) => {
                make(type_, if outcome.ready { "True" } else { "False" }, &outcome.reason, &outcome.message)
            }
            None => match previous.iter().find(|c| c.type_ == type_) {
                Some(kept) => kept.clone(),
                None => make(type_, "Unknown", "AwaitingReconciliation", "the lookup failed; retrying"),
            },
        };
        out.push(condition);
    }
    let unhealthy: Vec<String> = out
        .iter()
        .filter(|c| c.status != "True")
        .map(|c| {
            if c.message.is_empty() {
                format!("{}={}", c.type_, c.status)
            } else {
                format!("{}={} ({})", c.type_, c.status, c.message)
            }
        })
        .collect();
    let ready = if unhealthy.is_empty() {
        make(condition::READY, "True", condition::READY, "")
    } else if out.iter().any(|c| c.status == "False") {
        make(condition::READY, "False", "UnhealthyDependents", &unhealthy.join("; "))
    } else {
        make(condition::READY, "Unknown", "ReconcilingDependents", &unhealthy.join("; "))
    };
    out.push(ready);
    out
}

async fn resolve_subnets(clients: &Clients, terms: &[SubnetSelectorTerm]) -> Result<Vec<Subnet>, AwsError> {
    // (free addresses, subnet) by id, so that terms that select the same subnet count it once.
    let mut found: BTreeMap<String, (i32, Subnet)> = BTreeMap::new();
    for filters in subnet_queries(terms) {
        let mut pages = clients.ec2.describe_subnets().set_filters(Some(filters)).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("DescribeSubnets", e))?;
            for subnet in page.subnets() {
                let Some(id) = subnet.subnet_id() else { continue };
                found.insert(
                    id.to_string(),
                    (
                        subnet.available_ip_address_count().unwrap_or(0),
                        Subnet {
                            id: id.to_string(),
                            zone: subnet.availability_zone().unwrap_or_default().to_string(),
                            zone_id: subnet.availability_zone_id().map(str::to_string),
                        },
                    ),
                );
            }
        }
    }
    let mut subnets: Vec<(i32, Subnet)> = found.into_values().collect();
    // Most free addresses first: a launch takes the first subnet of each zone.
    subnets.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
    Ok(subnets.into_iter().map(|(_, s)| s).collect())
}

async fn resolve_security_groups(
    clients: &Clients,
    terms: &[SecurityGroupSelectorTerm],
) -> Result<Vec<SecurityGroup>, AwsError> {
    let mut found: BTreeMap<String, SecurityGroup> = BTreeMap::new();
    for filters in security_group_queries(terms) {
        let mut pages =
            clients.ec2.describe_security_groups().set_filters(Some(filters)).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("DescribeSecurityGroups", e))?;
            for group in page.security_groups() {
                let Some(id) = group.group_id() else { continue };
                found.insert(
                    id.to_string(),
                    SecurityGroup { id: id.to_string(), name: group.group_name().map(str::to_string) },
                );
            }
        }
    }
    Ok(found.into_values().collect())
}

/// Reads SSM parameters, ten at a time; missing names are left out of the answer.
async fn ssm_values(clients: &Clients, names: &[String]) -> Result<BTreeMap<String, String>, AwsError> {
    let mut values = BTreeMap::new();
    for chunk in names.chunks(10) {
        let answer = clients
            .ssm
            .get_parameters()
            .set_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetParameters", e))?;
        for parameter in answer.parameters() {
            if let (Some(name), Some(value)) = (parameter.name(), parameter.value()) {
                values.insert(name.to_string(), value.to_string());
            }
        }
    }
    Ok(values)
}

/// The kubernetes architecture of an image, if Kubernetes runs it.
fn image_arch(image: &Image) -> Option<&'static str> {
    match image.architecture().map(|a| a.as_str()) {
        Some("x86_64") => Some("amd64"),
        Some("arm64") => Some("arm64"),
        _ => None,
    }
}

/// Resolves the AMIs: `Ok(Err(outcome))` when the terms cannot be resolved for a reason repeating will not
/// fix (an unsupported alias), `Err` for a failed API call.
async fn resolve_amis(
    clients: &Clients,
    settings: &Settings,
    terms: &[AmiSelectorTerm],
    now: SystemTime,
) -> Result<Result<Vec<Ami>, Outcome>, AwsError> {
    let mut queries = Vec::new();
    if let Some(alias) = terms.iter().find_map(|t| t.alias.as_deref()) {
        let parameters = match ami::alias_parameters(alias, &settings.kubernetes_version) {
            Ok(parameters) => parameters,
            Err(error) => return Ok(Err(Outcome::not_ready("UnsupportedAlias", error.to_string()))),
        };
        let names: Vec<String> = parameters.iter().map(|p| p.name.clone()).collect();
        let values = ssm_values(clients, &names).await?;
        let mut variants: BTreeMap<String, Vec<Variant>> = BTreeMap::new();
        for parameter in &parameters {
            if let Some(id) = values.get(&parameter.name) {
                variants.entry(id.clone()).or_default().extend(parameter.variants.iter().copied());
            }
        }
        if variants.is_empty() {
            return Ok(Err(Outcome::not_ready(
                "AMINotFound",
                format!("alias {alias}: none of the SSM parameters {names:?} exists"),
            )));
        }
        let ids: Vec<String> = variants.keys().cloned().collect();
        queries.push(ImageQuery { owners: Vec::new(), filters: vec![filter("image-id", ids)], variants });
    } else {
        let parameter_names: Vec<String> = terms.iter().filter_map(|t| t.ssm_parameter.clone()).collect();
        let values = ssm_values(clients, &parameter_names).await?;
        // A parameter whose value is not an image id selects nothing.
        let ssm_images: Vec<String> = values.into_values().filter(|v| v.starts_with("ami-")).collect();
        queries = image_queries(terms, &ssm_images);
    }
    let mut candidates = Vec::new();
    let now_text = k8s_openapi::jiff::Timestamp::try_from(now).unwrap_or_default();
    for query in queries {
        let mut pages = clients
            .ec2
            .describe_images()
            .set_owners(Some(query.owners.clone()).filter(|o| !o.is_empty()))
            .set_filters(Some(
                query.filters.iter().cloned().chain([filter("state", ["available"])]).collect(),
            ))
            .include_deprecated(true)
            .max_results(1000)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("DescribeImages", e))?;
            for image in page.images() {
                let (Some(id), Some(arch)) = (image.image_id(), image_arch(image)) else { continue };
                let variants = query.variants.get(id).cloned().unwrap_or_default();
                if !query.variants.is_empty() && variants.is_empty() {
                    continue;
                }
                let deprecated = image
                    .deprecation_time()
                    .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
                    .is_some_and(|t| t <= now_text);
                candidates.push(ImageCandidate {
                    id: id.to_string(),
                    name: image.name().unwrap_or_default().to_string(),
                    arch: arch.to_string(),
                    creation_date: image.creation_date().unwrap_or_default().to_string(),
                    deprecated,
                    variants,
                });
            }
        }
    }
    Ok(Ok(ami::select_images(&candidates)))
}

/// The name of the instance profile Karpenter manages for a role: the cluster's name and a hash of the
/// region, the node class and the role, so that the same role finds the same profile and a new role gets a
/// new one.
pub fn managed_instance_profile_name(cluster: &str, region: &str, node_class: &str, role: &str) -> String {
    let hash = crate::launch_template::fnv1a64(format!("{region}/{node_class}/{role}").as_bytes());
    let mut name = format!("{cluster}_{hash}");
    name.truncate(128);
    name
}

/// The role's name from a role name or ARN (`arn:aws:iam::1:role/path/Name` → `Name`).
fn role_name(role: &str) -> &str {
    role.rsplit('/').next().unwrap_or(role)
}

/// Resolves the instance profile: the given one must exist; for a role, Karpenter's profile is found or
/// created, tagged, and given the role.
async fn resolve_instance_profile(
    clients: &Clients,
    settings: &Settings,
    node_class: &EC2NodeClass,
) -> Result<Result<String, Outcome>, AwsError> {
    let spec = &node_class.spec;
    if let Some(profile) = spec.instance_profile.as_deref() {
        return match clients.iam.get_instance_profile().instance_profile_name(profile).send().await {
            Ok(_) => Ok(Ok(profile.to_string())),
            Err(e) => {
                let error = AwsError::from_sdk("GetInstanceProfile", e);
                if error.is_not_found() {
                    Ok(Err(Outcome::not_ready(
                        "InstanceProfileNotFound",
                        format!("spec.instanceProfile {profile:?} does not exist"),
                    )))
                } else {
                    Err(error)
                }
            }
        };
    }
    let Some(role) = spec.role.as_deref() else {
        return Ok(Err(Outcome::not_ready(
            "InstanceProfileNotFound",
            "neither spec.role nor spec.instanceProfile is set",
        )));
    };
    let name_of_class = node_class.metadata.name.as_deref().unwrap_or_default();
    let name = managed_instance_profile_name(&settings.cluster_name, &settings.region, name_of_class, role);
    let existing = match clients.iam.get_instance_profile().instance_profile_name(&name).send().await {
        Ok(answer) => answer.instance_profile().cloned(),
        Err(e) => {
            let error = AwsError::from_sdk("GetInstanceProfile", e);
            if !error.is_not_found() {
                return Err(error);
            }
            None
        }
    };
    let roles: BTreeSet<String> = existing
        .as_ref()
        .map(|p| p.roles().iter().map(|r| r.role_name().to_string()).collect())
        .unwrap_or_default();
    if existing.is_none() {
        let uid = node_class.metadata.uid.as_deref().unwrap_or(name_of_class);
        let path = format!("/karpenter/{}/{}/{}/", settings.region, settings.cluster_name, uid);
        let mut tags: BTreeMap<String, String> = spec.tags.clone().unwrap_or_default();
        tags.insert(format!("kubernetes.io/cluster/{}", settings.cluster_name), "owned".to_string());
        tags.insert(EKS_CLUSTER_NAME_TAG.to_string(), settings.cluster_name.clone());
        tags.insert(karpenter_api::labels::label::EC2_NODE_CLASS.to_string(), name_of_class.to_string());
        tags.insert(karpenter_solver::labels::REGION.to_string(), settings.region.clone());
        let iam_tags: Vec<aws_sdk_iam::types::Tag> = tags
            .iter()
            .filter_map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().ok())
            .collect();
        let created = clients
            .iam
            .create_instance_profile()
            .instance_profile_name(&name)
            .path(path)
            .set_tags(Some(iam_tags))
            .send()
            .await;
        if let Err(e) = created {
            let error = AwsError::from_sdk("CreateInstanceProfile", e);
            // Another replica made it first; use theirs.
            if !error.is_already_exists() {
                return Err(error);
            }
        }
    }
    let wanted = role_name(role);
    if !roles.contains(wanted) {
        for other in roles.iter() {
            // A profile holds one role; a different one (set by hand) is replaced.
            let _ = clients
                .iam
                .remove_role_from_instance_profile()
                .instance_profile_name(&name)
                .role_name(other)
                .send()
                .await;
        }
        if let Err(e) = clients
            .iam
            .add_role_to_instance_profile()
            .instance_profile_name(&name)
            .role_name(wanted)
            .send()
            .await
        {
            let error = AwsError::from_sdk("AddRoleToInstanceProfile", e);
            if error.is_not_found() {
                return Ok(Err(Outcome::not_ready(
                    "RoleNotFound",
                    format!("spec.role {role:?} does not exist, so instance profile {name} has no role"),
                )));
            }
            if !error.code().contains("LimitExceeded") {
                return Err(error);
            }
        }
    }
    Ok(Ok(name))
}
