//! The CRDs on the real API server of the test cluster (`cargo xtask cluster up`): upstream-style manifests are
//! accepted and defaulted as upstream's CRDs default them, and each class of bad object is rejected by the API
//! server with a message that names the field.
#![cfg(feature = "cluster-tests")]

use std::time::Duration;

use super::common::{Document, documents};
use expect_test::{Expect, expect};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

/// A client for the test cluster, with the generated CRDs installed (server-side apply, so every test may do it;
/// a client is not shared between tests because each test has its own runtime).
async fn client() -> kube::Client {
    let client = karpenter_test_support::cluster().await.unwrap_or_else(|error| panic!("{error}"));
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let apply = PatchParams::apply("karpenter-api-tests").force();
    for crd in karpenter_api::crds::all().unwrap() {
        let name = crd.metadata.name.clone().unwrap();
        crds.patch(&name, &apply, &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|e| panic!("installing {name}: {e}"));
        established(&crds, &name).await;
    }
    client
}

/// Waits (up to 30 s) for a CRD's `Established` condition.
async fn established(crds: &Api<CustomResourceDefinition>, name: &str) {
    for _ in 0..300 {
        let crd = crds.get(name).await.unwrap();
        let conditions = crd.status.and_then(|status| status.conditions).unwrap_or_default();
        if conditions.iter().any(|c| c.type_ == "Established" && c.status == "True") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("CRD {name} was not established within 30 s");
}

/// An untyped API for the kind of `object` (in its namespace, for a namespaced kind), so that objects our types
/// would refuse can still be sent.
fn api_for(client: &kube::Client, object: &Value) -> Api<DynamicObject> {
    let (group, version) = object["apiVersion"].as_str().unwrap().split_once('/').unwrap();
    let kind = object["kind"].as_str().unwrap();
    let plural = format!("{}s", kind.to_lowercase()).replace("sss", "sses");
    let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), &plural);
    match object["metadata"]["namespace"].as_str() {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

/// Creates `object` as a dry run: the API server defaults and validates it, stores nothing, and answers with
/// the object as it would have stored it, or with its refusal.
async fn dry_run_create(client: &kube::Client, object: &Value) -> Result<Value, String> {
    let dynamic: DynamicObject = serde_json::from_value(object.clone()).unwrap();
    let params = PostParams { dry_run: true, field_manager: Some("karpenter-api-tests".into()) };
    match api_for(client, object).create(&params, &dynamic).await {
        Ok(created) => Ok(serde_json::to_value(created).unwrap()),
        Err(kube::Error::Api(status)) => Err(status.message),
        Err(other) => panic!("API server unreachable: {other}"),
    }
}

/// The fields the API server added to `sent`, as `path = value` lines (metadata it always adds left out).
fn added_fields(path: &str, stored: &Value, sent: &Value, out: &mut Vec<String>) {
    match (stored, sent) {
        (Value::Object(stored), Value::Object(sent)) => {
            for (key, value) in stored {
                let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                if here == "metadata" {
                    continue;
                }
                match sent.get(key) {
                    None => out.push(format!("{here} = {value}")),
                    Some(original) => added_fields(&here, value, original, out),
                }
            }
        }
        (Value::Array(stored), Value::Array(sent)) if stored.len() == sent.len() => {
            for (index, (a, b)) in stored.iter().zip(sent).enumerate() {
                added_fields(&format!("{path}[{index}]"), a, b, out);
            }
        }
        (stored, sent) => assert_eq!(stored, sent, "the API server changed {path}"),
    }
}

fn without_status(document: &Document) -> Value {
    let mut object = document.value.clone();
    object.as_object_mut().unwrap().remove("status");
    object
}

/// The object of `kind` in the manifest file `file`, without its status (which a create ignores).
fn manifest(documents: &[Document], file: &str, kind: &str) -> Value {
    let document = documents.iter().find(|d| d.file == file && d.kind() == kind);
    without_status(document.unwrap_or_else(|| panic!("no {kind} in {file}")))
}

/// A refusal without the API server's leading "<Kind> \"<name>\" is invalid" clause, so that it starts at the field.
fn refusal_detail(message: &str) -> &str {
    message.split_once(": ").map_or(message, |(_, rest)| rest)
}

#[tokio::test]
async fn every_manifest_is_accepted_and_defaulted_as_upstream() {
    let client = client().await;
    let mut report = Vec::new();
    for document in documents() {
        let sent = without_status(&document);
        let stored = dry_run_create(&client, &sent)
            .await
            .unwrap_or_else(|message| panic!("{}: {} refused: {message}", document.file, document.name()));
        let mut added = Vec::new();
        added_fields("", &stored, &sent, &mut added);
        report.push(format!(
            "{} {}/{}: {}",
            document.file,
            document.kind(),
            document.name(),
            if added.is_empty() { "-".into() } else { added.join(", ") }
        ));
        // What the API server stores decodes into our types.
        let decoded = match document.kind() {
            "NodePool" => serde_json::from_value::<karpenter_api::NodePool>(stored).map(drop),
            "NodeClaim" => serde_json::from_value::<karpenter_api::NodeClaim>(stored).map(drop),
            "KWOKNodeClass" => serde_json::from_value::<karpenter_api::KWOKNodeClass>(stored).map(drop),
            "NodeOverlay" => serde_json::from_value::<karpenter_api::NodeOverlay>(stored).map(drop),
            "CapacityBuffer" => serde_json::from_value::<karpenter_api::CapacityBuffer>(stored).map(drop),
            _ => serde_json::from_value::<karpenter_api::EC2NodeClass>(stored).map(drop),
        };
        decoded.unwrap_or_else(|e| panic!("{}: the stored object does not decode: {e}", document.file));
    }
    expect![[r#"
        capacitybuffer.yaml CapacityBuffer/batch-headroom: -
        capacitybuffer.yaml CapacityBuffer/web-headroom: spec.provisioningStrategy = "buffer.x-k8s.io/active-capacity"
        ec2nodeclass-al2-kubelet.yaml EC2NodeClass/al2-kubelet: spec.metadataOptions = {"httpEndpoint":"enabled","httpProtocolIPv6":"disabled","httpPutResponseHopLimit":1,"httpTokens":"required"}
        ec2nodeclass-bottlerocket.yaml EC2NodeClass/bottlerocket: spec.metadataOptions = {"httpEndpoint":"enabled","httpProtocolIPv6":"disabled","httpPutResponseHopLimit":1,"httpTokens":"required"}
        ec2nodeclass-custom.yaml EC2NodeClass/custom: spec.metadataOptions = {"httpEndpoint":"enabled","httpProtocolIPv6":"disabled","httpPutResponseHopLimit":1,"httpTokens":"required"}
        ec2nodeclass-every-field.yaml EC2NodeClass/every-field: -
        ec2nodeclass-status.yaml EC2NodeClass/resolved: spec.metadataOptions = {"httpEndpoint":"enabled","httpProtocolIPv6":"disabled","httpPutResponseHopLimit":1,"httpTokens":"required"}
        ec2nodeclass-windows.yaml EC2NodeClass/windows: spec.metadataOptions = {"httpEndpoint":"enabled","httpProtocolIPv6":"disabled","httpPutResponseHopLimit":1,"httpTokens":"required"}
        kwoknodeclass.yaml KWOKNodeClass/every-field: status = {"conditions":[{"lastTransitionTime":"2024-01-01T01:01:01Z","message":"","reason":"Ready","status":"True","type":"Ready"}]}
        nodeclaim-minimal.yaml NodeClaim/by-hand: spec.expireAfter = "720h"
        nodeclaim.yaml NodeClaim/default-x7k2p: -
        nodeoverlay.yaml NodeOverlay/gpu-discount: -
        nodeoverlay.yaml NodeOverlay/m7g-large-price: -
        nodepool-every-field.yaml NodePool/every-field: -
        nodepool-minimal.yaml NodePool/minimal: spec.disruption = {"budgets":[{"nodes":"10%"}],"consolidateAfter":"0s","consolidationPolicy":"WhenEmptyOrUnderutilized"}, spec.template.spec.expireAfter = "720h"
        nodepool-never.yaml NodePool/never: spec.disruption.consolidationPolicy = "WhenEmptyOrUnderutilized"
        nodepool-spot-gpu.yaml NodePool/spot-gpu: -
        nodepool-static.yaml NodePool/static: spec.disruption = {"budgets":[{"nodes":"10%"}],"consolidateAfter":"0s","consolidationPolicy":"WhenEmptyOrUnderutilized"}, spec.template.spec.expireAfter = "720h"
        seed.yaml EC2NodeClass/default: -
        seed.yaml NodePool/default: spec.disruption.budgets = [{"nodes":"10%"}], spec.template.spec.expireAfter = "720h""#]].assert_eq(&report.join("\n"));
}

/// One bad object: a good manifest with one change, and the field the refusal must name.
struct Bad {
    what: &'static str,
    base: (&'static str, &'static str),
    change: fn(&mut Value),
}

fn bad_objects() -> Vec<Bad> {
    fn requirement(object: &mut Value, requirement: Value) {
        object["spec"]["template"]["spec"]["requirements"].as_array_mut().unwrap().push(requirement);
    }
    fn overlay_requirement(object: &mut Value, requirement: Value) {
        object["spec"]["requirements"].as_array_mut().unwrap().push(requirement);
    }
    const POOL: (&str, &str) = ("seed.yaml", "NodePool");
    const CLASS: (&str, &str) = ("seed.yaml", "EC2NodeClass");
    const CLAIM: (&str, &str) = ("nodeclaim.yaml", "NodeClaim");
    const OVERLAY: (&str, &str) = ("nodeoverlay.yaml", "NodeOverlay");
    const BUFFER: (&str, &str) = ("capacitybuffer.yaml", "CapacityBuffer");
    vec![
        Bad {
            what: "unknown requirement operator",
            base: POOL,
            change: |o| requirement(o, json!({"key": "a", "operator": "Like", "values": ["b"]})),
        },
        Bad {
            what: "In without values",
            base: POOL,
            change: |o| requirement(o, json!({"key": "a", "operator": "In"})),
        },
        Bad {
            what: "Gt with two values",
            base: POOL,
            change: |o| requirement(o, json!({"key": "a", "operator": "Gt", "values": ["1", "2"]})),
        },
        Bad {
            what: "Lt with a negative value",
            base: POOL,
            change: |o| requirement(o, json!({"key": "a", "operator": "Lt", "values": ["-1"]})),
        },
        Bad {
            what: "minValues above the value count",
            base: POOL,
            change: |o| {
                requirement(o, json!({"key": "a", "operator": "In", "values": ["b"], "minValues": 2}))
            },
        },
        Bad {
            what: "minValues above 50",
            base: POOL,
            change: |o| requirement(o, json!({"key": "a", "operator": "Exists", "minValues": 51})),
        },
        Bad {
            what: "requirement on a karpenter.sh label",
            base: POOL,
            change: |o| requirement(o, json!({"key": "karpenter.sh/foo", "operator": "Exists"})),
        },
        Bad {
            what: "requirement on the hostname",
            base: POOL,
            change: |o| requirement(o, json!({"key": "kubernetes.io/hostname", "operator": "Exists"})),
        },
        Bad {
            what: "requirement on an unknown karpenter.k8s.aws label",
            base: POOL,
            change: |o| {
                requirement(o, json!({"key": "karpenter.k8s.aws/instance-colour", "operator": "Exists"}))
            },
        },
        Bad {
            what: "template label in the karpenter.k8s.aws domain",
            base: POOL,
            change: |o| {
                o["spec"]["template"]["metadata"] = json!({"labels": {"team.karpenter.k8s.aws/x": "y"}})
            },
        },
        Bad {
            what: "unknown budget reason",
            base: POOL,
            change: |o| o["spec"]["disruption"]["budgets"] = json!([{"nodes": "1", "reasons": ["Expired"]}]),
        },
        Bad {
            what: "NodeClaim requirement on an unknown karpenter.k8s.aws label",
            base: CLAIM,
            change: |o| {
                o["spec"]["requirements"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"key": "karpenter.k8s.aws/custom", "operator": "Exists"}))
            },
        },
        Bad {
            what: "template label in the karpenter.sh domain",
            base: POOL,
            change: |o| o["spec"]["template"]["metadata"] = json!({"labels": {"karpenter.sh/nodepool": "x"}}),
        },
        Bad {
            what: "budget above 100%",
            base: POOL,
            change: |o| o["spec"]["disruption"]["budgets"] = json!([{"nodes": "101%"}]),
        },
        Bad {
            what: "budget schedule without duration",
            base: POOL,
            change: |o| o["spec"]["disruption"]["budgets"] = json!([{"nodes": "1", "schedule": "@daily"}]),
        },
        Bad {
            what: "budget duration in seconds",
            base: POOL,
            change: |o| {
                o["spec"]["disruption"]["budgets"] =
                    json!([{"nodes": "1", "schedule": "@daily", "duration": "30s"}])
            },
        },
        Bad {
            what: "unknown consolidation policy",
            base: POOL,
            change: |o| o["spec"]["disruption"]["consolidationPolicy"] = json!("Always"),
        },
        Bad {
            what: "expireAfter in days",
            base: POOL,
            change: |o| o["spec"]["template"]["spec"]["expireAfter"] = json!("30d"),
        },
        Bad { what: "weight above 100", base: POOL, change: |o| o["spec"]["weight"] = json!(101) },
        Bad {
            what: "empty nodeClassRef name",
            base: POOL,
            change: |o| o["spec"]["template"]["spec"]["nodeClassRef"]["name"] = json!(""),
        },
        Bad {
            what: "static pool with a cpu limit",
            base: POOL,
            change: |o| o["spec"]["replicas"] = json!(2),
        },
        Bad {
            what: "alias family beside another amiFamily",
            base: CLASS,
            change: |o| o["spec"]["amiFamily"] = json!("AL2023"),
        },
        Bad {
            what: "no alias and no amiFamily",
            base: CLASS,
            change: |o| o["spec"]["amiSelectorTerms"] = json!([{"id": "ami-0123"}]),
        },
        Bad {
            what: "unknown alias family",
            base: CLASS,
            change: |o| o["spec"]["amiSelectorTerms"] = json!([{"alias": "ubuntu@latest"}]),
        },
        Bad {
            what: "alias beside another term",
            base: CLASS,
            change: |o| o["spec"]["amiSelectorTerms"] = json!([{"alias": "al2@latest"}, {"id": "ami-0123"}]),
        },
        Bad {
            what: "subnet id with tags",
            base: CLASS,
            change: |o| o["spec"]["subnetSelectorTerms"] = json!([{"id": "subnet-1", "tags": {"a": "b"}}]),
        },
        Bad {
            what: "empty security group terms",
            base: CLASS,
            change: |o| o["spec"]["securityGroupSelectorTerms"] = json!([]),
        },
        Bad {
            what: "role and instanceProfile",
            base: CLASS,
            change: |o| o["spec"]["instanceProfile"] = json!("profile"),
        },
        Bad {
            what: "neither role nor instanceProfile",
            base: CLASS,
            change: |o| {
                o["spec"].as_object_mut().unwrap().remove("role");
            },
        },
        Bad {
            what: "restricted tag key",
            base: CLASS,
            change: |o| o["spec"]["tags"] = json!({"kubernetes.io/cluster/other": "owned"}),
        },
        Bad { what: "empty tag key", base: CLASS, change: |o| o["spec"]["tags"] = json!({"": "x"}) },
        Bad {
            what: "hop limit above 64",
            base: CLASS,
            change: |o| o["spec"]["metadataOptions"]["httpPutResponseHopLimit"] = json!(65),
        },
        Bad {
            what: "two root volumes",
            base: CLASS,
            change: |o| o["spec"]["blockDeviceMappings"] = json!([{"rootVolume": true, "ebs": {"volumeSize": "20Gi"}}, {"rootVolume": true, "ebs": {"volumeSize": "20Gi"}}]),
        },
        Bad {
            what: "volume too large",
            base: CLASS,
            change: |o| o["spec"]["blockDeviceMappings"] = json!([{"ebs": {"volumeSize": "70000Gi"}}]),
        },
        Bad {
            what: "no primary network interface",
            base: CLASS,
            change: |o| {
                o["spec"]["networkInterfaces"] =
                    json!([{"networkCardIndex": 1, "deviceIndex": 0, "interfaceType": "efa-only"}])
            },
        },
        Bad {
            what: "enclaveOptions without enabled",
            base: CLASS,
            change: |o| o["spec"]["enclaveOptions"] = json!({}),
        },
        Bad {
            what: "overlay without requirements",
            base: OVERLAY,
            change: |o| {
                o["spec"].as_object_mut().unwrap().remove("requirements");
            },
        },
        Bad {
            what: "overlay with price and priceAdjustment",
            base: OVERLAY,
            change: |o| o["spec"]["price"] = json!("0.5"),
        },
        Bad {
            what: "overlay price with a sign",
            base: OVERLAY,
            change: |o| {
                o["spec"].as_object_mut().unwrap().remove("priceAdjustment");
                o["spec"]["price"] = json!("+0.5");
            },
        },
        Bad {
            what: "overlay adjustment without a sign",
            base: OVERLAY,
            change: |o| o["spec"]["priceAdjustment"] = json!("10%"),
        },
        Bad {
            what: "overlay adjustment below -100%",
            base: OVERLAY,
            change: |o| o["spec"]["priceAdjustment"] = json!("-150%"),
        },
        Bad {
            what: "overlay capacity naming cpu",
            base: OVERLAY,
            change: |o| o["spec"]["capacity"] = json!({"cpu": "2"}),
        },
        Bad { what: "overlay weight 0", base: OVERLAY, change: |o| o["spec"]["weight"] = json!(0) },
        Bad {
            what: "overlay weight above 10000",
            base: OVERLAY,
            change: |o| o["spec"]["weight"] = json!(10001),
        },
        Bad {
            what: "overlay NotIn with no values",
            base: OVERLAY,
            change: |o| overlay_requirement(o, json!({"key": "a", "operator": "NotIn", "values": []})),
        },
        Bad {
            what: "overlay In with no values",
            base: OVERLAY,
            change: |o| overlay_requirement(o, json!({"key": "a", "operator": "In", "values": []})),
        },
        Bad {
            what: "overlay Gte with a word",
            base: OVERLAY,
            change: |o| overlay_requirement(o, json!({"key": "a", "operator": "Gte", "values": ["x1"]})),
        },
        Bad {
            what: "overlay requirement on a karpenter.sh label",
            base: OVERLAY,
            change: |o| overlay_requirement(o, json!({"key": "karpenter.sh/capacity", "operator": "Exists"})),
        },
        Bad {
            what: "overlay requirement on the hostname",
            base: OVERLAY,
            change: |o| {
                overlay_requirement(o, json!({"key": "kubernetes.io/hostname", "operator": "Exists"}))
            },
        },
        Bad {
            what: "overlay requirement on a reservation label",
            base: OVERLAY,
            change: |o| {
                overlay_requirement(
                    o,
                    json!({"key": "karpenter.k8s.aws/capacity-reservation-id", "operator": "Exists"}),
                )
            },
        },
        Bad {
            what: "buffer with podTemplateRef and scalableRef",
            base: BUFFER,
            change: |o| o["spec"]["scalableRef"] = json!({"kind": "Deployment", "name": "web"}),
        },
        Bad {
            what: "buffer podTemplateRef without replicas or limits",
            base: BUFFER,
            change: |o| {
                let spec = o["spec"].as_object_mut().unwrap();
                spec.remove("replicas");
                spec.remove("limits");
            },
        },
        Bad {
            what: "buffer with negative replicas",
            base: BUFFER,
            change: |o| o["spec"]["replicas"] = json!(-1),
        },
        Bad {
            what: "buffer with negative percentage",
            base: BUFFER,
            change: |o| o["spec"]["percentage"] = json!(-5),
        },
        Bad {
            what: "buffer podTemplateRef with an empty name",
            base: BUFFER,
            change: |o| o["spec"]["podTemplateRef"]["name"] = json!(""),
        },
        Bad {
            what: "buffer scalableRef without kind",
            base: BUFFER,
            change: |o| {
                let spec = o["spec"].as_object_mut().unwrap();
                spec.remove("podTemplateRef");
                spec.insert("scalableRef".into(), json!({"name": "web"}));
            },
        },
        Bad {
            what: "buffer without spec",
            base: BUFFER,
            change: |o| {
                o.as_object_mut().unwrap().remove("spec");
            },
        },
    ]
}

#[tokio::test]
async fn each_bad_object_is_rejected_with_a_message_naming_the_field() {
    let client = client().await;
    let manifests = documents();
    let mut report = Vec::new();
    for bad in bad_objects() {
        let mut object = manifest(&manifests, bad.base.0, bad.base.1);
        (bad.change)(&mut object);
        match dry_run_create(&client, &object).await {
            Ok(_) => panic!("{}: accepted", bad.what),
            Err(message) => {
                let detail = refusal_detail(&message);
                assert!(
                    detail.trim_start_matches('[').starts_with("spec"),
                    "{}: no field named in {message:?}",
                    bad.what
                );
                report.push(format!("{}: {detail}", bad.what));
            }
        }
    }
    let expected: Expect = expect![[r#"
        unknown requirement operator: [spec.template.spec.requirements[4].operator: Unsupported value: "Like": supported values: "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Gte", "Lte", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]
        In without values: spec.template.spec.requirements: Invalid value: "array": no such key: values evaluating rule: requirements with operator 'In' must have a value defined
        Gt with two values: spec.template.spec.requirements: Invalid value: requirements operator 'Gt', 'Lt', 'Gte', or 'Lte' must have a single positive integer value
        Lt with a negative value: spec.template.spec.requirements: Invalid value: requirements operator 'Gt', 'Lt', 'Gte', or 'Lte' must have a single positive integer value
        minValues above the value count: spec.template.spec.requirements: Invalid value: requirements with 'minValues' must have at least that many values specified in the 'values' field
        minValues above 50: spec.template.spec.requirements[4].minValues: Invalid value: 51: spec.template.spec.requirements[4].minValues in body should be less than or equal to 50
        requirement on a karpenter.sh label: spec.template.spec.requirements[4].key: Invalid value: "karpenter.sh/foo": label domain "karpenter.sh" is restricted
        requirement on the hostname: spec.template.spec.requirements[4].key: Invalid value: "kubernetes.io/hostname": label "kubernetes.io/hostname" is restricted
        requirement on an unknown karpenter.k8s.aws label: spec.template.spec.requirements[4].key: Invalid value: "karpenter.k8s.aws/instance-colour": label domain "karpenter.k8s.aws" is restricted
        template label in the karpenter.k8s.aws domain: spec.template.metadata.labels: Invalid value: label domain "karpenter.k8s.aws" is restricted
        unknown budget reason: [spec.disruption.budgets[0].reasons[0]: Unsupported value: "Expired": supported values: "Underutilized", "Empty", "Drifted", "Unhealthy", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]
        NodeClaim requirement on an unknown karpenter.k8s.aws label: spec.requirements[3].key: Invalid value: "karpenter.k8s.aws/custom": label domain "karpenter.k8s.aws" is restricted
        template label in the karpenter.sh domain: spec.template.metadata.labels: Invalid value: label "karpenter.sh/nodepool" is restricted
        budget above 100%: spec.disruption.budgets[0].nodes: Invalid value: "101%": spec.disruption.budgets[0].nodes in body should match '^((100|[0-9]{1,2})%|[0-9]+)$'
        budget schedule without duration: spec.disruption.budgets: Invalid value: 'schedule' must be set with 'duration'
        budget duration in seconds: spec.disruption.budgets[0].duration: Invalid value: "30s": spec.disruption.budgets[0].duration in body should match '^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$'
        unknown consolidation policy: [spec.disruption.consolidationPolicy: Unsupported value: "Always": supported values: "WhenEmpty", "WhenEmptyOrUnderutilized", "Balanced", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]
        expireAfter in days: spec.template.spec.expireAfter: Invalid value: "30d": spec.template.spec.expireAfter in body should match '^(([0-9]+(s|m|h))+|Never)$'
        weight above 100: spec.weight: Invalid value: 101: spec.weight in body should be less than or equal to 100
        empty nodeClassRef name: spec.template.spec.nodeClassRef.name: Invalid value: "": name may not be empty
        static pool with a cpu limit: spec: Invalid value: only 'limits.nodes' is supported on static NodePools
        alias family beside another amiFamily: spec: Invalid value: if set, amiFamily must be 'AL2' or 'Custom' when using an AL2 alias
        no alias and no amiFamily: spec: Invalid value: must specify amiFamily if amiSelectorTerms does not contain an alias
        unknown alias family: spec.amiSelectorTerms[0].alias: Invalid value: "ubuntu@latest": family is not supported, must be one of the following: 'al2', 'al2023', 'bottlerocket', 'windows2019', 'windows2022', 'windows2025'
        alias beside another term: spec.amiSelectorTerms: Invalid value: 'alias' is mutually exclusive, cannot be set with a combination of other amiSelectorTerms
        subnet id with tags: spec.subnetSelectorTerms: Invalid value: 'id' is mutually exclusive, cannot be set with a combination of other fields in a subnet selector term
        empty security group terms: [spec.securityGroupSelectorTerms: Invalid value: securityGroupSelectorTerms cannot be empty, spec.securityGroupSelectorTerms: Invalid value: 'id' is mutually exclusive, cannot be set with a combination of other fields in a security group selector term, spec.securityGroupSelectorTerms: Invalid value: 'name' is mutually exclusive, cannot be set with a combination of other fields in a security group selector term]
        role and instanceProfile: spec: Invalid value: must specify exactly one of ['role', 'instanceProfile']
        neither role nor instanceProfile: spec: Invalid value: must specify exactly one of ['role', 'instanceProfile']
        restricted tag key: spec.tags: Invalid value: tag contains a restricted tag matching kubernetes.io/cluster/
        empty tag key: spec.tags: Invalid value: empty tag keys aren't supported
        hop limit above 64: spec.metadataOptions.httpPutResponseHopLimit: Invalid value: 65: spec.metadataOptions.httpPutResponseHopLimit in body should be less than or equal to 64
        two root volumes: spec.blockDeviceMappings: Invalid value: must have only one blockDeviceMappings with rootVolume
        volume too large: spec.blockDeviceMappings[0].ebs.volumeSize: Invalid value: "70000Gi": spec.blockDeviceMappings[0].ebs.volumeSize in body should match '^((?:[1-9][0-9]{0,3}|[1-4][0-9]{4}|[5][0-8][0-9]{3}|59000)Gi|(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|[6][0-3][0-9]{3}|64000)G|([1-9]||[1-5][0-7]|58)Ti|([1-9]||[1-5][0-9]|6[0-3]|64)T)$'
        no primary network interface: spec.networkInterfaces: Invalid value: networkInterfaces must include a primary interface with interfaceType='interface'
        enclaveOptions without enabled: [spec.enclaveOptions.enabled: Required value, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]
        overlay without requirements: [spec.requirements: Required value, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]
        overlay with price and priceAdjustment: spec: Invalid value: cannot set both 'price' and 'priceAdjustment'
        overlay price with a sign: spec.price: Invalid value: "+0.5": spec.price in body should match '^\d+(\.\d+)?$'
        overlay adjustment without a sign: spec.priceAdjustment: Invalid value: "10%": spec.priceAdjustment in body should match '^(([+-]{1}(\d*\.?\d+))|(\+{1}\d*\.?\d+%)|(^(-\d{1,2}(\.\d+)?%)$)|(-100%))$'
        overlay adjustment below -100%: spec.priceAdjustment: Invalid value: "-150%": spec.priceAdjustment in body should match '^(([+-]{1}(\d*\.?\d+))|(\+{1}\d*\.?\d+%)|(^(-\d{1,2}(\.\d+)?%)$)|(-100%))$'
        overlay capacity naming cpu: spec.capacity: Invalid value: invalid resource restricted
        overlay weight 0: spec.weight: Invalid value: 0: spec.weight in body should be greater than or equal to 1
        overlay weight above 10000: spec.weight: Invalid value: 10001: spec.weight in body should be less than or equal to 10000
        overlay NotIn with no values: spec.requirements: Invalid value: requirements with operator 'NotIn' must have a value defined
        overlay In with no values: spec.requirements: Invalid value: requirements with operator 'In' must have a value defined
        overlay Gte with a word: spec.requirements: Invalid value: "array": type conversion error from 'string' to 'int' evaluating rule: requirements operator 'Gt', 'Lt', 'Gte' or 'Lte' must have a single positive integer value
        overlay requirement on a karpenter.sh label: spec.requirements[5].key: Invalid value: "karpenter.sh/capacity": label domain "karpenter.sh" is restricted
        overlay requirement on the hostname: spec.requirements[5].key: Invalid value: "kubernetes.io/hostname": label "kubernetes.io/hostname" is restricted
        overlay requirement on a reservation label: spec.requirements[5].key: Invalid value: "karpenter.k8s.aws/capacity-reservation-id": label domain "karpenter.k8s.aws" is restricted
        buffer with podTemplateRef and scalableRef: spec: Invalid value: You must define either PodTemplateRef or ScalableRef, but not both
        buffer podTemplateRef without replicas or limits: spec: Invalid value: If podTemplateRef is set, replicas or limits must also be set
        buffer with negative replicas: spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0
        buffer with negative percentage: spec.percentage: Invalid value: -5: spec.percentage in body should be greater than or equal to 0
        buffer podTemplateRef with an empty name: spec.podTemplateRef.name: Invalid value: "": spec.podTemplateRef.name in body should be at least 1 chars long
        buffer scalableRef without kind: [spec.scalableRef.kind: Required value, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]
        buffer without spec: [spec: Required value, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]"#]];
    expected.assert_eq(&report.join("\n"));
}

/// Creates `object` for real (after removing any leftover of an earlier run) and returns its API.
async fn create(client: &kube::Client, object: &Value) -> Api<DynamicObject> {
    let api = api_for(client, object);
    let name = object["metadata"]["name"].as_str().unwrap();
    let _ = api.delete(name, &DeleteParams::default()).await;
    for _ in 0..100 {
        if api.get_opt(name).await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dynamic: DynamicObject = serde_json::from_value(object.clone()).unwrap();
    api.create(&PostParams::default(), &dynamic).await.unwrap_or_else(|e| panic!("creating {name}: {e}"));
    api
}

/// The refusal of a merge patch to an existing object.
async fn patch_refusal(api: &Api<DynamicObject>, name: &str, patch: Value) -> String {
    match api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => "ACCEPTED".into(),
        Err(kube::Error::Api(status)) => refusal_detail(&status.message).to_owned(),
        Err(other) => panic!("API server unreachable: {other}"),
    }
}

#[tokio::test]
async fn immutable_fields_and_modes_cannot_change() {
    let client = client().await;
    let manifests = documents();

    let mut pool = manifest(&manifests, "seed.yaml", "NodePool");
    pool["metadata"]["name"] = json!("immutable-test");
    let pools = create(&client, &pool).await;
    let mut claim = manifest(&manifests, "nodeclaim.yaml", "NodeClaim");
    claim["metadata"]["name"] = json!("immutable-test");
    let claims = create(&client, &claim).await;

    let report = [
        (
            "nodeClassRef.group",
            patch_refusal(
                &pools,
                "immutable-test",
                json!({"spec": {"template": {"spec": {"nodeClassRef": {"group": "example.com"}}}}}),
            )
            .await,
        ),
        (
            "nodeClassRef.kind",
            patch_refusal(
                &pools,
                "immutable-test",
                json!({"spec": {"template": {"spec": {"nodeClassRef": {"kind": "Other"}}}}}),
            )
            .await,
        ),
        (
            "nodeClassRef.name",
            patch_refusal(
                &pools,
                "immutable-test",
                json!({"spec": {"template": {"spec": {"nodeClassRef": {"name": "other"}}}}}),
            )
            .await,
        ),
        (
            "dynamic to static",
            patch_refusal(&pools, "immutable-test", json!({"spec": {"replicas": 1, "limits": null}})).await,
        ),
        (
            "NodeClaim spec",
            patch_refusal(&claims, "immutable-test", json!({"spec": {"expireAfter": "1h"}})).await,
        ),
    ]
    .map(|(what, outcome)| format!("{what}: {outcome}"));
    pools.delete("immutable-test", &DeleteParams::default()).await.unwrap();
    claims.delete("immutable-test", &DeleteParams::default()).await.unwrap();
    expect![[r#"
        nodeClassRef.group: spec.template.spec.nodeClassRef: Invalid value: nodeClassRef.group is immutable
        nodeClassRef.kind: spec.template.spec.nodeClassRef: Invalid value: nodeClassRef.kind is immutable
        nodeClassRef.name: ACCEPTED
        dynamic to static: spec: Invalid value: Cannot transition NodePool between static (replicas set) and dynamic (replicas unset) provisioning modes
        NodeClaim spec: spec: Invalid value: spec is immutable"#]].assert_eq(&report.join("\n"));
}

#[tokio::test]
async fn status_round_trips_through_the_status_subresource() {
    let client = client().await;
    for document in documents().into_iter().filter(|d| d.value.get("status").is_some()) {
        let mut object = without_status(&document);
        let name = format!("status-{}", document.name());
        object["metadata"]["name"] = json!(name);
        let api = create(&client, &object).await;
        let patch = json!({"status": document.value["status"]});
        let stored = api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("{}: status refused: {e}", document.file));
        let stored = serde_json::to_value(stored).unwrap();
        let mut added = Vec::new();
        added_fields("status", &stored["status"], &document.value["status"], &mut added);
        api.delete(&name, &DeleteParams::default()).await.unwrap();
        // Only the schema's own status defaults may appear.
        assert!(added.iter().all(|line| line.contains("status.nodes = 0")), "{}: {added:?}", document.file);
    }
}

/// The API server's table view of a list, as `kubectl get` prints it: the column names, then each row's cells.
async fn table(client: &kube::Client, path: &str) -> String {
    let request = http::Request::get(path)
        .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .body(Vec::new())
        .unwrap();
    let table: Value = serde_json::from_str(&client.request_text(request).await.unwrap()).unwrap();
    let columns: Vec<&str> =
        table["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    let mut lines = vec![columns.join(" | ")];
    for row in table["rows"].as_array().unwrap() {
        let cells: Vec<String> = row["cells"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&columns)
            // Age changes from run to run.
            .map(|(cell, column)| if *column == "Age" { "<age>".into() } else { cell.to_string() })
            .collect();
        lines.push(cells.join(" | "));
    }
    lines.join("\n")
}

#[tokio::test]
async fn the_seed_objects_list_as_kubectl_get_shows_them() {
    let client = client().await;
    let manifests = documents();
    let mut pool = manifest(&manifests, "seed.yaml", "NodePool");
    pool["metadata"]["name"] = json!("seed-listing");
    let mut class = manifest(&manifests, "seed.yaml", "EC2NodeClass");
    class["metadata"]["name"] = json!("seed-listing");
    let pools = create(&client, &pool).await;
    let classes = create(&client, &class).await;
    let listing = format!(
        "{}\n{}",
        table(&client, "/apis/karpenter.sh/v1/nodepools?fieldSelector=metadata.name%3Dseed-listing").await,
        table(
            &client,
            "/apis/karpenter.k8s.aws/v1/ec2nodeclasses?fieldSelector=metadata.name%3Dseed-listing"
        )
        .await,
    );
    // `kubectl get ec2nc` works through the short names the discovery document lists.
    let discovery: Value = client
        .request(http::Request::get("/apis/karpenter.k8s.aws/v1").body(Vec::new()).unwrap())
        .await
        .unwrap();
    let short_names = discovery["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "ec2nodeclasses")
        .map(|r| r["shortNames"].clone())
        .unwrap();
    pools.delete("seed-listing", &DeleteParams::default()).await.unwrap();
    classes.delete("seed-listing", &DeleteParams::default()).await.unwrap();
    expect![[r#"
        Name | NodeClass | Nodes | Ready | Age | Weight | CPU | Memory
        "seed-listing" | "default" | null | null | <age> | null | null | null
        Name | Ready | Age | Role
        "seed-listing" | null | <age> | "KarpenterNodeRole-my-cluster"
        short names: ["ec2nc","ec2ncs"]"#]]
    .assert_eq(&format!("{listing}\nshort names: {short_names}"));
}

/// The short names a group version's discovery document lists for `resource`, as `kubectl get <short>` uses them.
async fn short_names(client: &kube::Client, group_version: &str, resource: &str) -> Value {
    let discovery: Value = client
        .request(http::Request::get(format!("/apis/{group_version}")).body(Vec::new()).unwrap())
        .await
        .unwrap();
    discovery["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == resource)
        .map(|r| r["shortNames"].clone())
        .unwrap()
}

#[tokio::test]
async fn the_alpha_kinds_list_as_kubectl_get_shows_them() {
    let client = client().await;
    let manifests = documents();
    let mut overlay = manifest(&manifests, "nodeoverlay.yaml", "NodeOverlay");
    overlay["metadata"]["name"] = json!("overlay-listing");
    let mut buffer = manifest(&manifests, "capacitybuffer.yaml", "CapacityBuffer");
    buffer["metadata"]["name"] = json!("buffer-listing");
    let overlays = create(&client, &overlay).await;
    let buffers = create(&client, &buffer).await;
    let listing = format!(
        "{}\n{}\nshort names: {} {}",
        table(&client, "/apis/karpenter.sh/v1alpha1/nodeoverlays?fieldSelector=metadata.name%3Doverlay-listing")
            .await,
        table(
            &client,
            "/apis/autoscaling.x-k8s.io/v1beta1/namespaces/default/capacitybuffers?fieldSelector=metadata.name%3Dbuffer-listing"
        )
        .await,
        short_names(&client, "karpenter.sh/v1alpha1", "nodeoverlays").await,
        short_names(&client, "autoscaling.x-k8s.io/v1beta1", "capacitybuffers").await,
    );
    overlays.delete("overlay-listing", &DeleteParams::default()).await.unwrap();
    buffers.delete("buffer-listing", &DeleteParams::default()).await.unwrap();
    expect![[r#"
        Name | Ready | Age | Weight
        "overlay-listing" | null | <age> | 20
        Name | Strategy | PodTemplate | Replicas | ConditionsType | ConditionsStatus | ConditionsReason | Age
        "buffer-listing" | "buffer.x-k8s.io/active-capacity" | null | null | null | null | null | <age>
        short names: ["overlays"] ["cb"]"#]]
    .assert_eq(&listing);
}

#[tokio::test]
async fn a_static_node_pool_scales_through_the_scale_subresource() {
    let client = client().await;
    let manifests = documents();
    let mut pool = manifest(&manifests, "nodepool-static.yaml", "NodePool");
    pool["metadata"]["name"] = json!("scale-test");
    let pools = create(&client, &pool).await;
    // What `kubectl scale nodepool scale-test --replicas=4` does.
    let scaled = pools
        .patch_scale("scale-test", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"replicas": 4}})))
        .await
        .unwrap();
    let stored = pools.get("scale-test").await.unwrap();
    pools.delete("scale-test", &DeleteParams::default()).await.unwrap();
    assert_eq!(scaled.spec.and_then(|spec| spec.replicas), Some(4));
    assert_eq!(stored.data["spec"]["replicas"], json!(4));
}
