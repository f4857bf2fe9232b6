//! AMI selection, the pure part: the SSM public parameters an alias names, the node requirements each image
//! variant serves, and which image wins for each set of requirements (`aws/karpenter-provider-aws:
//! pkg/providers/amifamily/{ami.go,al2.go,al2023.go,bottlerocket.go,windows.go,types.go}`).

use std::collections::BTreeMap;

use karpenter_api::{Ami, AmiFamily, AmiRequirement};
use karpenter_catalog::labels::{INSTANCE_ACCELERATOR_COUNT, INSTANCE_GPU_COUNT};
use karpenter_solver::labels::{ARCH, OS, WINDOWS_BUILD};

/// An image flavour of an alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Variant {
    /// No GPU and no accelerator.
    Standard,
    /// NVIDIA GPUs.
    Nvidia,
    /// AWS Neuron accelerators.
    Neuron,
    /// Windows Server of a given build.
    Windows(&'static str),
}

impl Variant {
    /// The requirements an instance type must meet to run this variant (the architecture comes from the image).
    pub fn requirements(self) -> Vec<AmiRequirement> {
        let requirement = |key: &str, operator: &str, values: Option<Vec<String>>| AmiRequirement {
            key: key.to_string(),
            operator: operator.to_string(),
            values,
        };
        match self {
            Variant::Standard => vec![
                requirement(INSTANCE_GPU_COUNT, "DoesNotExist", None),
                requirement(INSTANCE_ACCELERATOR_COUNT, "DoesNotExist", None),
            ],
            Variant::Nvidia => vec![requirement(INSTANCE_GPU_COUNT, "Exists", None)],
            Variant::Neuron => vec![requirement(INSTANCE_ACCELERATOR_COUNT, "Exists", None)],
            Variant::Windows(build) => vec![
                requirement(OS, "In", Some(vec!["windows".to_string()])),
                requirement(WINDOWS_BUILD, "In", Some(vec![build.to_string()])),
            ],
        }
    }
}

/// One SSM parameter an alias reads, and the variants its image serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasParameter {
    /// The parameter's name.
    pub name: String,
    /// The variants the image behind it serves.
    pub variants: Vec<Variant>,
}

/// Why an alias names no parameters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    /// The alias is not `family@version`.
    #[error("alias {0:?} is not of the form family@version")]
    Malformed(String),
    /// The family is unknown, or is not an alias family.
    #[error("alias {0:?} names no known AMI family")]
    UnknownFamily(String),
    /// The family does not support this Kubernetes version.
    #[error("alias {alias:?} is not supported on Kubernetes {kubernetes}: {why}")]
    Unsupported {
        /// The alias.
        alias: String,
        /// The cluster's version.
        kubernetes: String,
        /// Why.
        why: &'static str,
    },
}

/// The SSM parameters of an alias for a Kubernetes minor version (`1.34`), in the order they are tried.
/// `latest` reads the recommended image; a pinned version reads that version's image.
pub fn alias_parameters(alias: &str, kubernetes: &str) -> Result<Vec<AliasParameter>, AliasError> {
    let (family_name, version) = alias.split_once('@').ok_or_else(|| AliasError::Malformed(alias.into()))?;
    if version.is_empty() {
        return Err(AliasError::Malformed(alias.into()));
    }
    let family = match family_name {
        "al2" => AmiFamily::AL2,
        "al2023" => AmiFamily::AL2023,
        "bottlerocket" => AmiFamily::Bottlerocket,
        "windows2019" => AmiFamily::Windows2019,
        "windows2022" => AmiFamily::Windows2022,
        "windows2025" => AmiFamily::Windows2025,
        _ => return Err(AliasError::UnknownFamily(alias.into())),
    };
    let minor: Option<u32> = kubernetes.split('.').nth(1).and_then(|m| m.parse().ok());
    let unsupported =
        |why| AliasError::Unsupported { alias: alias.to_string(), kubernetes: kubernetes.to_string(), why };
    let latest = version == "latest";
    let k = kubernetes;
    let parameter = |name: String, variants: &[Variant]| AliasParameter { name, variants: variants.to_vec() };
    Ok(match family {
        AmiFamily::AL2 => {
            if minor.is_some_and(|m| m >= 33) {
                return Err(unsupported("AL2 images are not published for Kubernetes 1.33 and later"));
            }
            let path = |flavour: &str, pinned: &str| {
                let leaf = if latest { "recommended".to_string() } else { format!("{pinned}-{k}-{version}") };
                format!("/aws/service/eks/optimized-ami/{k}/{flavour}/{leaf}/image_id")
            };
            vec![
                parameter(path("amazon-linux-2", "amazon-eks-node"), &[Variant::Standard]),
                parameter(path("amazon-linux-2-arm64", "amazon-eks-arm64-node"), &[Variant::Standard]),
                parameter(
                    path("amazon-linux-2-gpu", "amazon-eks-gpu-node"),
                    &[Variant::Nvidia, Variant::Neuron],
                ),
            ]
        }
        AmiFamily::AL2023 => {
            let mut parameters = Vec::new();
            for (arch, variants) in [
                (
                    "x86_64",
                    &[
                        ("standard", Variant::Standard),
                        ("nvidia", Variant::Nvidia),
                        ("neuron", Variant::Neuron),
                    ][..],
                ),
                ("arm64", &[("standard", Variant::Standard), ("nvidia", Variant::Nvidia)][..]),
            ] {
                for (name, variant) in variants {
                    let leaf = if latest {
                        "recommended".to_string()
                    } else {
                        format!("amazon-eks-node-al2023-{arch}-{name}-{k}-{version}")
                    };
                    parameters.push(parameter(
                        format!("/aws/service/eks/optimized-ami/{k}/amazon-linux-2023/{arch}/{name}/{leaf}/image_id"),
                        &[*variant],
                    ));
                }
            }
            parameters
        }
        AmiFamily::Bottlerocket => {
            let leaf = if latest { "latest" } else { version.trim_start_matches('v') };
            vec![
                parameter(
                    format!("/aws/service/bottlerocket/aws-k8s-{k}/x86_64/{leaf}/image_id"),
                    &[Variant::Standard, Variant::Neuron],
                ),
                parameter(
                    format!("/aws/service/bottlerocket/aws-k8s-{k}/arm64/{leaf}/image_id"),
                    &[Variant::Standard],
                ),
                parameter(
                    format!("/aws/service/bottlerocket/aws-k8s-{k}-nvidia/x86_64/{leaf}/image_id"),
                    &[Variant::Nvidia],
                ),
                parameter(
                    format!("/aws/service/bottlerocket/aws-k8s-{k}-nvidia/arm64/{leaf}/image_id"),
                    &[Variant::Nvidia],
                ),
            ]
        }
        AmiFamily::Windows2019 | AmiFamily::Windows2022 | AmiFamily::Windows2025 => {
            if !latest {
                return Err(unsupported("Windows aliases only take the version `latest`"));
            }
            let (year, build) = match family {
                AmiFamily::Windows2019 => ("2019", "10.0.17763"),
                AmiFamily::Windows2022 => ("2022", "10.0.20348"),
                _ => ("2025", "10.0.26100"),
            };
            if year == "2025" && minor.is_some_and(|m| m < 35) {
                return Err(unsupported("Windows Server 2025 images need Kubernetes 1.35 or later"));
            }
            vec![parameter(
                format!(
                    "/aws/service/ami-windows-latest/Windows_Server-{year}-English-Core-EKS_Optimized-{k}/image_id"
                ),
                &[Variant::Windows(build)],
            )]
        }
        AmiFamily::Custom => return Err(AliasError::UnknownFamily(alias.into())),
    })
}

/// An image DescribeImages returned, with the variants it was selected for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCandidate {
    /// `ImageId`.
    pub id: String,
    /// `Name`.
    pub name: String,
    /// The Kubernetes architecture (`amd64`, `arm64`).
    pub arch: String,
    /// `CreationDate`, RFC 3339.
    pub creation_date: String,
    /// Whether `DeprecationTime` is in the past.
    pub deprecated: bool,
    /// The variants the selector attached (alias images); empty for images selected by id, name or tags,
    /// which serve their architecture only.
    pub variants: Vec<Variant>,
}

/// The images of the status: for each distinct set of requirements the best image (non-deprecated first,
/// then the newest, then the greatest name), newest first, ties by id.
pub fn select_images(candidates: &[ImageCandidate]) -> Vec<Ami> {
    // Keyed by the requirements' text: the API type has no order of its own.
    let mut best: BTreeMap<String, (Vec<AmiRequirement>, &ImageCandidate)> = BTreeMap::new();
    for candidate in candidates {
        let arch = AmiRequirement {
            key: ARCH.to_string(),
            operator: "In".to_string(),
            values: Some(vec![candidate.arch.clone()]),
        };
        let sets: Vec<Vec<AmiRequirement>> = if candidate.variants.is_empty() {
            vec![vec![arch]]
        } else {
            candidate
                .variants
                .iter()
                .map(|v| std::iter::once(arch.clone()).chain(v.requirements()).collect())
                .collect()
        };
        for requirements in sets {
            let key = format!("{requirements:?}");
            match best.get(&key) {
                Some((_, current)) if !better(candidate, current) => {}
                _ => {
                    best.insert(key, (requirements, candidate));
                }
            }
        }
    }
    let mut amis: Vec<(String, Vec<AmiRequirement>, &ImageCandidate)> =
        best.into_iter().map(|(key, (requirements, image))| (key, requirements, image)).collect();
    amis.sort_by(|(ka, _, a), (kb, _, b)| {
        b.creation_date.cmp(&a.creation_date).then(a.id.cmp(&b.id)).then(ka.cmp(kb))
    });
    amis.into_iter()
        .map(|(_, requirements, image)| Ami {
            id: image.id.clone(),
            name: Some(image.name.clone()).filter(|n| !n.is_empty()),
            deprecated: image.deprecated.then_some(true),
            requirements,
        })
        .collect()
}

/// Whether `a` should replace `b`: not deprecated over deprecated, then newer, then the greater name.
fn better(a: &ImageCandidate, b: &ImageCandidate) -> bool {
    (!a.deprecated, &a.creation_date, &a.name) > (!b.deprecated, &b.creation_date, &b.name)
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    fn names(alias: &str, k: &str) -> String {
        match alias_parameters(alias, k) {
            Ok(parameters) => parameters
                .iter()
                .map(|p| format!("{} {:?}", p.name, p.variants))
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn alias_parameters_follow_the_published_paths() {
        expect![[r#"
            /aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/standard/recommended/image_id [Standard]
            /aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/nvidia/recommended/image_id [Nvidia]
            /aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/neuron/recommended/image_id [Neuron]
            /aws/service/eks/optimized-ami/1.34/amazon-linux-2023/arm64/standard/recommended/image_id [Standard]
            /aws/service/eks/optimized-ami/1.34/amazon-linux-2023/arm64/nvidia/recommended/image_id [Nvidia]"#]]
        .assert_eq(&names("al2023@latest", "1.34"));
        expect![[r#"
            /aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/standard/amazon-eks-node-al2023-x86_64-standard-1.34-v20261101/image_id [Standard]
            /aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/nvidia/amazon-eks-node-al2023-x86_64-nvidia-1.34-v20261101/image_id [Nvidia]
            /aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/neuron/amazon-eks-node-al2023-x86_64-neuron-1.34-v20261101/image_id [Neuron]
            /aws/service/eks/optimized-ami/1.34/amazon-linux-2023/arm64/standard/amazon-eks-node-al2023-arm64-standard-1.34-v20261101/image_id [Standard]
            /aws/service/eks/optimized-ami/1.34/amazon-linux-2023/arm64/nvidia/amazon-eks-node-al2023-arm64-nvidia-1.34-v20261101/image_id [Nvidia]"#]]
        .assert_eq(&names("al2023@v20261101", "1.34"));
        expect![[r#"
            /aws/service/eks/optimized-ami/1.32/amazon-linux-2/recommended/image_id [Standard]
            /aws/service/eks/optimized-ami/1.32/amazon-linux-2-arm64/recommended/image_id [Standard]
            /aws/service/eks/optimized-ami/1.32/amazon-linux-2-gpu/recommended/image_id [Nvidia, Neuron]"#]]
        .assert_eq(&names("al2@latest", "1.32"));
        expect![[r#"
            /aws/service/eks/optimized-ami/1.32/amazon-linux-2/amazon-eks-node-1.32-v20250101/image_id [Standard]
            /aws/service/eks/optimized-ami/1.32/amazon-linux-2-arm64/amazon-eks-arm64-node-1.32-v20250101/image_id [Standard]
            /aws/service/eks/optimized-ami/1.32/amazon-linux-2-gpu/amazon-eks-gpu-node-1.32-v20250101/image_id [Nvidia, Neuron]"#]]
        .assert_eq(&names("al2@v20250101", "1.32"));
        expect![[r#"
            /aws/service/bottlerocket/aws-k8s-1.34/x86_64/1.50.0/image_id [Standard, Neuron]
            /aws/service/bottlerocket/aws-k8s-1.34/arm64/1.50.0/image_id [Standard]
            /aws/service/bottlerocket/aws-k8s-1.34-nvidia/x86_64/1.50.0/image_id [Nvidia]
            /aws/service/bottlerocket/aws-k8s-1.34-nvidia/arm64/1.50.0/image_id [Nvidia]"#]]
        .assert_eq(&names("bottlerocket@v1.50.0", "1.34"));
        expect!["/aws/service/ami-windows-latest/Windows_Server-2022-English-Core-EKS_Optimized-1.34/image_id [Windows(\"10.0.20348\")]"]
            .assert_eq(&names("windows2022@latest", "1.34"));
    }

    #[test]
    fn unsupported_aliases_say_why() {
        expect!["error: alias \"al2@latest\" is not supported on Kubernetes 1.36: AL2 images are not published for Kubernetes 1.33 and later"]
            .assert_eq(&names("al2@latest", "1.36"));
        expect!["error: alias \"windows2025@latest\" is not supported on Kubernetes 1.34: Windows Server 2025 images need Kubernetes 1.35 or later"]
            .assert_eq(&names("windows2025@latest", "1.34"));
        expect!["error: alias \"windows2019@v1\" is not supported on Kubernetes 1.34: Windows aliases only take the version `latest`"]
            .assert_eq(&names("windows2019@v1", "1.34"));
        expect!["error: alias \"ubuntu@latest\" names no known AMI family"]
            .assert_eq(&names("ubuntu@latest", "1.34"));
        expect!["error: alias \"al2023\" is not of the form family@version"]
            .assert_eq(&names("al2023", "1.34"));
    }

    fn image(id: &str, arch: &str, created: &str, deprecated: bool, variants: &[Variant]) -> ImageCandidate {
        ImageCandidate {
            id: id.into(),
            name: format!("name-{id}"),
            arch: arch.into(),
            creation_date: created.into(),
            deprecated,
            variants: variants.to_vec(),
        }
    }

    #[test]
    fn the_newest_non_deprecated_image_wins_per_variant_and_architecture() {
        let amis = select_images(&[
            image("ami-old", "arm64", "2026-01-01T00:00:00.000Z", false, &[Variant::Standard]),
            image("ami-new-deprecated", "arm64", "2026-06-01T00:00:00.000Z", true, &[Variant::Standard]),
            image("ami-mid", "arm64", "2026-03-01T00:00:00.000Z", false, &[Variant::Standard]),
            image(
                "ami-x86",
                "amd64",
                "2026-02-01T00:00:00.000Z",
                false,
                &[Variant::Standard, Variant::Neuron],
            ),
            image("ami-gpu", "amd64", "2026-02-02T00:00:00.000Z", true, &[Variant::Nvidia]),
        ]);
        let shown: Vec<String> = amis
            .iter()
            .map(|a| {
                let requirements: Vec<String> = a
                    .requirements
                    .iter()
                    .map(|r| format!("{} {} {:?}", r.key, r.operator, r.values))
                    .collect();
                format!("{} deprecated={:?}: {}", a.id, a.deprecated, requirements.join("; "))
            })
            .collect();
        expect![[r#"
            ami-mid deprecated=None: kubernetes.io/arch In Some(["arm64"]); karpenter.k8s.aws/instance-gpu-count DoesNotExist None; karpenter.k8s.aws/instance-accelerator-count DoesNotExist None
            ami-gpu deprecated=Some(true): kubernetes.io/arch In Some(["amd64"]); karpenter.k8s.aws/instance-gpu-count Exists None
            ami-x86 deprecated=None: kubernetes.io/arch In Some(["amd64"]); karpenter.k8s.aws/instance-accelerator-count Exists None
            ami-x86 deprecated=None: kubernetes.io/arch In Some(["amd64"]); karpenter.k8s.aws/instance-gpu-count DoesNotExist None; karpenter.k8s.aws/instance-accelerator-count DoesNotExist None"#]]
        .assert_eq(&shown.join("\n"));
    }

    #[test]
    fn images_selected_by_id_serve_their_architecture() {
        let amis = select_images(&[image("ami-1", "arm64", "2026-01-01T00:00:00.000Z", false, &[])]);
        assert_eq!(amis.len(), 1);
        assert_eq!(amis[0].requirements.len(), 1);
        assert_eq!(amis[0].requirements[0].values, Some(vec!["arm64".to_string()]));
    }
}
