//! Interruption events: the EventBridge messages an SQS queue receives about instances (spot interruption
//! warnings, rebalance recommendations, state changes, scheduled health events, capacity-reservation
//! interruptions), parsed into typed events with the action upstream takes (`aws/karpenter-provider-aws:
//! pkg/controllers/interruption/{controller.go,parser.go,messages/*}`).
//!
//! The controller polls with [`InterruptionQueue::receive`], acts on each event (deleting the NodeClaims of
//! [`InterruptionEvent::instance_ids`] when the action says so, and marking a spot offering unavailable on a
//! spot interruption), then deletes the message.

use serde::Deserialize;

use crate::error::AwsError;

/// What kind of event a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    /// EC2 Spot Instance Interruption Warning: the instance goes in two minutes.
    SpotInterrupted,
    /// EC2 Instance Rebalance Recommendation: the instance is at raised risk of interruption.
    RebalanceRecommendation,
    /// EC2 Instance State-change Notification to stopping or stopped.
    InstanceStopped,
    /// EC2 Instance State-change Notification to shutting-down or terminated.
    InstanceTerminated,
    /// AWS Health Event of service EC2, category scheduledChange.
    ScheduledChange,
    /// EC2 Capacity Reservation Instance Interruption Warning.
    CapacityReservationInterrupted,
}

impl EventKind {
    /// The kind's name as upstream's metrics label it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SpotInterrupted => "spot_interrupted",
            EventKind::RebalanceRecommendation => "rebalance_recommendation",
            EventKind::InstanceStopped => "instance_stopped",
            EventKind::InstanceTerminated => "instance_terminated",
            EventKind::ScheduledChange => "scheduled_change",
            EventKind::CapacityReservationInterrupted => "capacity_reservation_interrupted",
        }
    }

    /// What the controller does about it.
    pub fn action(self) -> Action {
        match self {
            EventKind::RebalanceRecommendation => Action::RecordEvent,
            _ => Action::DeleteNodeClaim,
        }
    }
}

/// What the controller does about an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Delete the NodeClaims of the instances (cordon and drain, then terminate).
    DeleteNodeClaim,
    /// Only record a Kubernetes event on the NodeClaims.
    RecordEvent,
}

/// A parsed interruption event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterruptionEvent {
    /// The kind.
    pub kind: EventKind,
    /// The EventBridge event id.
    pub id: String,
    /// The instances it is about.
    pub instance_ids: Vec<String>,
    /// For state changes, the new state.
    pub state: Option<String>,
}

impl InterruptionEvent {
    /// What the controller does about it.
    pub fn action(&self) -> Action {
        self.kind.action()
    }

    /// Whether the spot offering of the instance should be marked unavailable (a spot interruption says there
    /// is no more capacity there).
    pub fn marks_spot_offering_unavailable(&self) -> bool {
        self.kind == EventKind::SpotInterrupted
    }
}

/// Why a message could not be read; the controller deletes such messages too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("interruption message {message_id:?} is not a readable EventBridge event: {reason}")]
pub struct ParseError {
    /// The SQS message id.
    pub message_id: String,
    /// Why.
    pub reason: String,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    version: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    source: String,
    #[serde(rename = "detail-type", default)]
    detail_type: String,
    #[serde(default)]
    detail: serde_json::Value,
}

#[derive(Deserialize)]
struct InstanceDetail {
    #[serde(rename = "instance-id", default)]
    instance_id: String,
    #[serde(default)]
    state: String,
}

#[derive(Deserialize)]
struct HealthDetail {
    #[serde(default)]
    service: String,
    #[serde(rename = "eventTypeCategory", default)]
    event_type_category: String,
    #[serde(rename = "affectedEntities", default)]
    affected_entities: Vec<AffectedEntity>,
}

#[derive(Deserialize)]
struct AffectedEntity {
    #[serde(rename = "entityValue", default)]
    entity_value: String,
}

/// Parses a message body. `Ok(None)` for events Karpenter does not act on (other sources, other states,
/// other health categories, an empty body).
pub fn parse(message_id: &str, body: &str) -> Result<Option<InterruptionEvent>, ParseError> {
    if body.trim().is_empty() {
        return Ok(None);
    }
    let bad = |reason: String| ParseError { message_id: message_id.to_string(), reason };
    let envelope: Envelope = serde_json::from_str(body).map_err(|e| bad(e.to_string()))?;
    if envelope.version != "0" {
        return Ok(None);
    }
    let instance = |detail: &serde_json::Value| -> Result<InstanceDetail, ParseError> {
        serde_json::from_value(detail.clone()).map_err(|e| bad(format!("detail: {e}")))
    };
    let single = |kind: EventKind, detail: InstanceDetail, state: Option<String>| InterruptionEvent {
        kind,
        id: envelope.id.clone(),
        instance_ids: vec![detail.instance_id],
        state,
    };
    let event = match (envelope.source.as_str(), envelope.detail_type.as_str()) {
        ("aws.ec2", "EC2 Spot Instance Interruption Warning") => {
            single(EventKind::SpotInterrupted, instance(&envelope.detail)?, None)
        }
        ("aws.ec2", "EC2 Instance Rebalance Recommendation") => {
            single(EventKind::RebalanceRecommendation, instance(&envelope.detail)?, None)
        }
        ("aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning") => {
            single(EventKind::CapacityReservationInterrupted, instance(&envelope.detail)?, None)
        }
        ("aws.ec2", "EC2 Instance State-change Notification") => {
            let detail = instance(&envelope.detail)?;
            let state = detail.state.to_ascii_lowercase();
            let kind = match state.as_str() {
                "stopping" | "stopped" => EventKind::InstanceStopped,
                "shutting-down" | "terminated" => EventKind::InstanceTerminated,
                _ => return Ok(None),
            };
            single(kind, detail, Some(state))
        }
        ("aws.health", "AWS Health Event") => {
            let detail: HealthDetail =
                serde_json::from_value(envelope.detail.clone()).map_err(|e| bad(format!("detail: {e}")))?;
            if detail.service != "EC2" || detail.event_type_category != "scheduledChange" {
                return Ok(None);
            }
            InterruptionEvent {
                kind: EventKind::ScheduledChange,
                id: envelope.id.clone(),
                instance_ids: detail.affected_entities.into_iter().map(|e| e.entity_value).collect(),
                state: None,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(event))
}

/// A message received from the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The handle to delete it with.
    pub receipt_handle: String,
    /// The event, nothing to act on, or why it could not be read.
    pub event: Result<Option<InterruptionEvent>, ParseError>,
}

/// The SQS queue EventBridge sends interruption events to.
#[derive(Debug, Clone)]
pub struct InterruptionQueue {
    sqs: aws_sdk_sqs::Client,
    name: String,
    url: Option<String>,
}

impl InterruptionQueue {
    /// The queue named `name` (as `--interruption-queue` gives it).
    pub fn new(sqs: aws_sdk_sqs::Client, name: &str) -> Self {
        InterruptionQueue { sqs, name: name.to_string(), url: None }
    }

    async fn url(&mut self) -> Result<String, AwsError> {
        if let Some(url) = &self.url {
            return Ok(url.clone());
        }
        let answer = self
            .sqs
            .get_queue_url()
            .queue_name(&self.name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetQueueUrl", e))?;
        let url = answer.queue_url().unwrap_or_default().to_string();
        self.url = Some(url.clone());
        Ok(url)
    }

    /// Long-polls for up to 10 messages (20 s wait, 20 s visibility), as upstream.
    pub async fn receive(&mut self) -> Result<Vec<Received>, AwsError> {
        let url = self.url().await?;
        let answer = self
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(20)
            .wait_time_seconds(20)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ReceiveMessage", e))?;
        Ok(answer
            .messages()
            .iter()
            .map(|m| Received {
                receipt_handle: m.receipt_handle().unwrap_or_default().to_string(),
                event: parse(m.message_id().unwrap_or_default(), m.body().unwrap_or_default()),
            })
            .collect())
    }

    /// Deletes a handled message.
    pub async fn delete(&mut self, receipt_handle: &str) -> Result<(), AwsError> {
        let url = self.url().await?;
        self.sqs
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DeleteMessage", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    fn show(body: &str) -> String {
        match parse("m-1", body) {
            Ok(Some(e)) => format!("{} {:?} {:?} {:?}", e.kind.as_str(), e.action(), e.instance_ids, e.state),
            Ok(None) => "ignored".to_string(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn each_eventbridge_message_becomes_its_event_with_upstreams_action() {
        let spot = r#"{"version":"0","id":"1","detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","account":"123456789012","time":"2026-11-24T10:00:00Z","region":"us-east-1","resources":["arn:aws:ec2:us-east-1b:instance/i-0b1"],"detail":{"instance-id":"i-0b1","instance-action":"terminate"}}"#;
        let rebalance = r#"{"version":"0","id":"2","detail-type":"EC2 Instance Rebalance Recommendation","source":"aws.ec2","detail":{"instance-id":"i-0b2"}}"#;
        let stopping = r#"{"version":"0","id":"3","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{"instance-id":"i-0b3","state":"stopping"}}"#;
        let terminated = r#"{"version":"0","id":"4","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{"instance-id":"i-0b4","state":"terminated"}}"#;
        let running = r#"{"version":"0","id":"5","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{"instance-id":"i-0b5","state":"running"}}"#;
        let scheduled = r#"{"version":"0","id":"6","detail-type":"AWS Health Event","source":"aws.health","detail":{"service":"EC2","eventTypeCategory":"scheduledChange","eventTypeCode":"AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED","affectedEntities":[{"entityValue":"i-0b6"},{"entityValue":"i-0b7"}]}}"#;
        let health_other = r#"{"version":"0","id":"7","detail-type":"AWS Health Event","source":"aws.health","detail":{"service":"RDS","eventTypeCategory":"scheduledChange","affectedEntities":[]}}"#;
        let reservation = r#"{"version":"0","id":"8","detail-type":"EC2 Capacity Reservation Instance Interruption Warning","source":"aws.ec2","detail":{"instance-id":"i-0b8"}}"#;
        let unknown =
            r#"{"version":"0","id":"9","detail-type":"Something Else","source":"aws.s3","detail":{}}"#;
        let table: Vec<String> = [
            spot,
            rebalance,
            stopping,
            terminated,
            running,
            scheduled,
            health_other,
            reservation,
            unknown,
            "",
            "{not json",
        ]
        .iter()
        .map(|b| show(b))
        .collect();
        expect![[r#"
            spot_interrupted DeleteNodeClaim ["i-0b1"] None
            rebalance_recommendation RecordEvent ["i-0b2"] None
            instance_stopped DeleteNodeClaim ["i-0b3"] Some("stopping")
            instance_terminated DeleteNodeClaim ["i-0b4"] Some("terminated")
            ignored
            scheduled_change DeleteNodeClaim ["i-0b6", "i-0b7"] None
            ignored
            capacity_reservation_interrupted DeleteNodeClaim ["i-0b8"] None
            ignored
            ignored
            error: interruption message "m-1" is not a readable EventBridge event: key must be a string at line 1 column 2"#]]
        .assert_eq(&table.join("\n"));
    }

    #[test]
    fn only_spot_interruptions_mark_the_offering() {
        let spot = parse("m", r#"{"version":"0","id":"1","detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","detail":{"instance-id":"i-1"}}"#)
            .unwrap()
            .unwrap();
        assert!(spot.marks_spot_offering_unavailable());
        let stop = parse("m", r#"{"version":"0","id":"1","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{"instance-id":"i-1","state":"stopped"}}"#)
            .unwrap()
            .unwrap();
        assert!(!stop.marks_spot_offering_unavailable());
    }
}
