//! How AWS errors become the cloud boundary's [`karpenter_cloud::Error`] taxonomy: the codes that mean "not
//! found", "throttled" and "no capacity", and the reason words a failed launch is reported with
//! (`aws/karpenter-provider-aws: pkg/errors/errors.go`, `ToReasonMessage` and the unfulfillable-capacity
//! codes).

use std::fmt;

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use karpenter_cloud::Error;

/// Codes AWS answers with when a resource does not exist.
const NOT_FOUND_CODES: [&str; 9] = [
    "InvalidCapacityReservationId.NotFound",
    "InvalidInstanceID.NotFound",
    "InvalidLaunchTemplateName.NotFoundException",
    "InvalidLaunchTemplateId.NotFound",
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
    "NoSuchEntity",
    "ParameterNotFound",
    "InvalidParameterName",
];

/// Codes AWS services answer with when they rate-limit the caller. The SDK retries them with backoff first;
/// what reaches us has exhausted those retries.
const THROTTLING_CODES: [&str; 11] = [
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestThrottled",
    "SlowDown",
    "EC2ThrottledException",
];

/// Per-override CreateFleet error codes that mean "no capacity for this offering right now": the offering
/// goes into the unavailable-offerings cache and the launch falls through to the others.
pub const INSUFFICIENT_CAPACITY_CODES: [&str; 8] = [
    "InsufficientInstanceCapacity",
    "MaxSpotInstanceCountExceeded",
    "VcpuLimitExceeded",
    "UnfulfillableCapacity",
    "Unsupported",
    "InsufficientFreeAddressesInSubnet",
    "MaxFleetCountExceeded",
    "ReservationCapacityExceeded",
];

/// The per-override code that means spot cannot be used at all: the service-linked role for spot is missing
/// and may not be created.
pub const SPOT_SERVICE_LINKED_ROLE_CODE: &str = "AuthFailure.ServiceLinkedRoleCreationNotPermitted";

/// The per-override code that means a subnet has no free address left.
pub const NO_FREE_ADDRESSES_CODE: &str = "InsufficientFreeAddressesInSubnet";

/// The code of a launch template that disappeared between its lookup and the fleet request.
pub const LAUNCH_TEMPLATE_NOT_FOUND_CODE: &str = "InvalidLaunchTemplateName.NotFoundException";

/// One failed AWS call, reduced to what decides what happens next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The API call, such as `CreateFleet`.
    pub operation: &'static str,
    /// The AWS error code, when the service answered with one.
    pub code: Option<String>,
    /// The message.
    pub message: String,
    /// Whether the failure is on the way there or back (a timeout, a dropped connection, a 5xx), so that the
    /// same call may succeed later.
    pub transient: bool,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{}: {code}: {}", self.operation, self.message),
            None => write!(f, "{}: {}", self.operation, self.message),
        }
    }
}

impl AwsError {
    /// Reduces an SDK error of any service.
    pub fn from_sdk<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match &error {
            SdkError::ServiceError(service) => {
                let inner = service.err();
                AwsError {
                    operation,
                    code: inner.code().map(str::to_string),
                    message: inner.message().map(str::to_string).unwrap_or_else(|| inner.to_string()),
                    transient: service.raw().status().is_server_error(),
                }
            }
            SdkError::ConstructionFailure(_) => {
                AwsError { operation, code: None, message: source_chain(&error), transient: false }
            }
            _ => AwsError { operation, code: None, message: source_chain(&error), transient: true },
        }
    }

    /// An error from a code and message, as a per-override fleet error or a test states it.
    pub fn new(operation: &'static str, code: &str, message: &str) -> AwsError {
        AwsError { operation, code: Some(code.to_string()), message: message.to_string(), transient: false }
    }

    /// The code, or an empty string.
    pub fn code(&self) -> &str {
        self.code.as_deref().unwrap_or("")
    }

    /// Whether the code means the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        NOT_FOUND_CODES.contains(&self.code())
    }

    /// Whether the service rate-limited the call.
    pub fn is_throttling(&self) -> bool {
        THROTTLING_CODES.contains(&self.code())
    }

    /// Whether a launch template named in the request was not found.
    pub fn is_launch_template_not_found(&self) -> bool {
        self.code() == LAUNCH_TEMPLATE_NOT_FOUND_CODE || self.code() == "InvalidLaunchTemplateId.NotFound"
    }

    /// Whether the code says the resource already exists (a concurrent create won the race).
    pub fn is_already_exists(&self) -> bool {
        matches!(self.code(), "EntityAlreadyExists" | "InvalidLaunchTemplateName.AlreadyExistsException")
    }

    /// The cloud error for a call that is not a launch: throttling, or an API failure.
    pub fn into_api_error(self) -> Error {
        if self.is_throttling() {
            return Error::Throttled { message: self.to_string() };
        }
        let retryable =
            self.transient || self.code().contains("InternalError") || self.code() == "Unavailable";
        Error::Api { message: self.to_string(), retryable }
    }

    /// The cloud error for a failed launch: throttling stays throttling; a transport failure is an API
    /// failure; anything EC2 refused is a launch error whose reason names the cause (see [`launch_reason`]).
    pub fn into_launch_error(self, context: &str) -> Error {
        if self.is_throttling() {
            return Error::Throttled { message: format!("{context}: {self}") };
        }
        if self.code.is_none() {
            return Error::Api { message: format!("{context}: {self}"), retryable: self.transient };
        }
        let (reason, summary) = launch_reason(self.code(), &self.message);
        Error::Launch { reason: reason.to_string(), message: format!("{context}: {summary} ({self})") }
    }
}

/// The error and its sources, one line.
fn source_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(next) = source {
        let text = next.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = next.source();
    }
    parts.join(": ")
}

/// The reason word and a summary for a launch that EC2 refused, from the error's code and message, checked
/// in upstream's order so that the same failures carry the same `Launched` condition reasons. Capacity codes
/// come last: a request that failed for several reasons is reported by the most actionable one.
pub fn launch_reason(code: &str, message: &str) -> (&'static str, &'static str) {
    let text = format!("{code}: {message}");
    let has = |needle: &str| text.contains(needle);
    if has(SPOT_SERVICE_LINKED_ROLE_CODE) {
        return (
            "SpotSLRCreationFailed",
            "not permitted to create the service-linked role that spot instances need",
        );
    }
    if has("UnauthorizedOperation") || has("AccessDenied") || has("AuthFailure") {
        if has("with an explicit deny in a permissions boundary") {
            return ("Unauthorized", "not authorized: denied by a permissions boundary");
        }
        if has("with an explicit deny in a service control policy") {
            return ("Unauthorized", "not authorized: denied by a service control policy");
        }
        if has("Not authorized for images") {
            return ("AMIAuthorizationFailure", "not authorized to launch from the AMI");
        }
        return ("Unauthorized", "not authorized: no identity-based policy allows the operation");
    }
    if has("InvalidParameter") && has("belong to different networks") {
        return (
            "SecurityGroupSubnetVPCMismatch",
            "the security groups and the subnets are in different VPCs",
        );
    }
    if has("iamInstanceProfile.name is invalid") || has("Invalid IAM Instance Profile name") {
        return (
            "InstanceProfileNameInvalid",
            "the instance profile of the EC2NodeClass status does not exist",
        );
    }
    if has("InvalidLaunchTemplateId.NotFound") || has(LAUNCH_TEMPLATE_NOT_FOUND_CODE) {
        return ("LaunchTemplateNotFound", "the launch template was not found");
    }
    if has("User data is limited to") {
        return ("UserDataSizeLimitExceeded", "the rendered user data exceeds the EC2 limit");
    }
    if has("InvalidAMIID.Malformed") {
        return ("InvalidAMIID", "the AMI id is malformed");
    }
    if has("InvalidAMIID.NotFound") {
        return ("AMINotFound", "the AMI does not exist or is not shared with the account");
    }
    if has("RequestLimitExceeded") {
        return ("RequestLimitExceeded", "the EC2 request rate limit was exceeded");
    }
    if has("InternalError") {
        return ("InternalError", "EC2 had an internal error");
    }
    if has("not eligible for Free Tier") {
        return ("FreeTierIneligible", "the instance type is not eligible for the Free Tier");
    }
    if has("MaxFleetCountExceeded") {
        return ("FleetQuotaExceeded", "the fleet request quota is exhausted");
    }
    if has("PendingVerification") {
        return ("AccountPendingVerification", "the account is still being verified for this region");
    }
    if has("MaxSpotInstanceCountExceeded") {
        return ("SpotQuotaExceeded", "the spot instance quota is exhausted");
    }
    if has("VcpuLimitExceeded") {
        return ("VCPULimitExceeded", "the vCPU quota is exhausted");
    }
    if has(NO_FREE_ADDRESSES_CODE) {
        return ("InsufficientFreeAddressesInSubnet", "the subnet has no free IP address");
    }
    if INSUFFICIENT_CAPACITY_CODES.contains(&code) {
        return ("InsufficientCapacity", "EC2 has no capacity for the offering");
    }
    ("LaunchFailed", "the instance launch failed")
}

/// What a per-override CreateFleet error means for the unavailable-offerings cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetErrorKind {
    /// No capacity for the offering (type, zone, capacity type) now.
    InsufficientCapacity,
    /// Spot cannot be launched in this account at all.
    SpotServiceLinkedRole,
    /// Anything else: the launch is refused for a reason repeating will not fix.
    Other,
}

/// Classifies a per-override CreateFleet error code.
pub fn fleet_error_kind(code: &str) -> FleetErrorKind {
    if INSUFFICIENT_CAPACITY_CODES.contains(&code) {
        FleetErrorKind::InsufficientCapacity
    } else if code == SPOT_SERVICE_LINKED_ROLE_CODE {
        FleetErrorKind::SpotServiceLinkedRole
    } else {
        FleetErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn every_capacity_code_is_insufficient_capacity_and_reports_a_reason() {
        let table: Vec<String> = INSUFFICIENT_CAPACITY_CODES
            .iter()
            .chain([SPOT_SERVICE_LINKED_ROLE_CODE, "InvalidParameterValue"].iter())
            .map(|code| {
                let (reason, _) = launch_reason(code, "x");
                format!("{code:<50} {:?} {reason}", fleet_error_kind(code))
            })
            .collect();
        expect![[r#"
            InsufficientInstanceCapacity                       InsufficientCapacity InsufficientCapacity
            MaxSpotInstanceCountExceeded                       InsufficientCapacity SpotQuotaExceeded
            VcpuLimitExceeded                                  InsufficientCapacity VCPULimitExceeded
            UnfulfillableCapacity                              InsufficientCapacity InsufficientCapacity
            Unsupported                                        InsufficientCapacity InsufficientCapacity
            InsufficientFreeAddressesInSubnet                  InsufficientCapacity InsufficientFreeAddressesInSubnet
            MaxFleetCountExceeded                              InsufficientCapacity FleetQuotaExceeded
            ReservationCapacityExceeded                        InsufficientCapacity InsufficientCapacity
            AuthFailure.ServiceLinkedRoleCreationNotPermitted  SpotServiceLinkedRole SpotSLRCreationFailed
            InvalidParameterValue                              Other LaunchFailed"#]]
        .assert_eq(&table.join("\n"));
    }

    #[test]
    fn fleet_level_errors_map_to_upstreams_reasons() {
        let cases = [
            ("UnauthorizedOperation", "You are not authorized to perform this operation."),
            ("UnauthorizedOperation", "with an explicit deny in a service control policy"),
            ("AuthFailure", "Not authorized for images: [ami-1]"),
            ("InvalidParameter", "Security group sg-1 and subnet subnet-1 belong to different networks."),
            ("InvalidParameterValue", "Value (p) for parameter iamInstanceProfile.name is invalid."),
            ("InvalidLaunchTemplateName.NotFoundException", "The specified launch template does not exist"),
            ("InvalidUserData.Malformed", "User data is limited to 16384 bytes"),
            ("InvalidAMIID.Malformed", "Invalid id: \"ami-x\""),
            ("InvalidAMIID.NotFound", "The image id '[ami-1]' does not exist"),
            ("RequestLimitExceeded", "Request limit exceeded."),
            ("InternalError", "An internal error has occurred"),
            ("InvalidParameterCombination", "The instance type is not eligible for Free Tier"),
            ("PendingVerification", "Your request for accessing resources in this region is being validated"),
            ("Blocked", "something else"),
        ];
        let table: Vec<String> = cases
            .iter()
            .map(|(code, message)| format!("{code:<45} {}", launch_reason(code, message).0))
            .collect();
        expect![[r#"
            UnauthorizedOperation                         Unauthorized
            UnauthorizedOperation                         Unauthorized
            AuthFailure                                   AMIAuthorizationFailure
            InvalidParameter                              SecurityGroupSubnetVPCMismatch
            InvalidParameterValue                         InstanceProfileNameInvalid
            InvalidLaunchTemplateName.NotFoundException   LaunchTemplateNotFound
            InvalidUserData.Malformed                     UserDataSizeLimitExceeded
            InvalidAMIID.Malformed                        InvalidAMIID
            InvalidAMIID.NotFound                         AMINotFound
            RequestLimitExceeded                          RequestLimitExceeded
            InternalError                                 InternalError
            InvalidParameterCombination                   FreeTierIneligible
            PendingVerification                           AccountPendingVerification
            Blocked                                       LaunchFailed"#]]
        .assert_eq(&table.join("\n"));
    }

    #[test]
    fn launch_errors_keep_throttling_and_name_the_cause() {
        let throttled = AwsError::new("CreateFleet", "RequestLimitExceeded", "Request limit exceeded.");
        assert_eq!(throttled.clone().into_launch_error("creating the fleet").kind(), "ThrottledError");
        assert!(throttled.into_launch_error("x").retryable());
        let refused =
            AwsError::new("CreateFleet", "InvalidAMIID.NotFound", "The image id '[ami-1]' does not exist");
        expect![[r#"launch failed (AMINotFound): creating the fleet: the AMI does not exist or is not shared with the account (CreateFleet: InvalidAMIID.NotFound: The image id '[ami-1]' does not exist)"#]]
            .assert_eq(&refused.into_launch_error("creating the fleet").to_string());
        let transport = AwsError {
            operation: "CreateFleet",
            code: None,
            message: "connection refused".into(),
            transient: true,
        };
        let error = transport.into_launch_error("creating the fleet");
        assert_eq!((error.kind(), error.retryable()), ("ApiError", true));
    }

    #[test]
    fn not_found_and_already_exists_codes() {
        assert!(AwsError::new("GetInstanceProfile", "NoSuchEntity", "x").is_not_found());
        assert!(AwsError::new("DescribeInstances", "InvalidInstanceID.NotFound", "x").is_not_found());
        assert!(!AwsError::new("DescribeInstances", "InvalidInstanceID.Malformed", "x").is_not_found());
        assert!(AwsError::new("CreateInstanceProfile", "EntityAlreadyExists", "x").is_already_exists());
        assert!(
            AwsError::new("CreateFleet", LAUNCH_TEMPLATE_NOT_FOUND_CODE, "x").is_launch_template_not_found()
        );
    }
}
