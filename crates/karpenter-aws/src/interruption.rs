//! Interruption events: the EventBridge messages an SQS queue receives about instances (spot interruption
//! warnings, rebalance recommendations, state changes, scheduled health events, capacity-reservation
//! interruptions), parsed into typed events (`aws/karpenter-provider-aws: pkg/controllers/interruption/
//! {controller.go,parser.go,messages/*}`, `pkg/providers/sqs/sqs.go`).
//!
//! What the controller does about each kind is provider-neutral and lives in [`karpenter_cloud::interruption`];
//! [`AwsInterruptionQueue`] delivers the queue's messages to that controller as [`Notice`]s and marks the spot
//! offering of an interrupted instance unavailable in the [`AwsProvider`].

use std::sync::Arc;
use std::time::SystemTime;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use karpenter_cloud::{Notice, NoticeHandle, NoticeKind, OfferingKey};
use serde::Deserialize;
use tokio::sync::OnceCell;

pub use karpenter_cloud::NoticeAction as Action;

use crate::AwsProvider;
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
    /// The provider-neutral kind the controller acts on.
    pub fn notice_kind(self) -> NoticeKind {
        match self {
            EventKind::SpotInterrupted => NoticeKind::SpotInterrupted,
            EventKind::RebalanceRecommendation => NoticeKind::RebalanceRecommendation,
            EventKind::InstanceStopped => NoticeKind::InstanceStopped,
            EventKind::InstanceTerminated => NoticeKind::InstanceTerminated,
            EventKind::ScheduledChange => NoticeKind::ScheduledChange,
            EventKind::CapacityReservationInterrupted => NoticeKind::CapacityReservationInterrupted,
        }
    }

    /// The kind's name as upstream's metrics label it.
    pub fn as_str(self) -> &'static str {
        self.notice_kind().message_type()
    }

    /// What the controller does about it.
    pub fn action(self) -> Action {
        self.notice_kind().action()
    }
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
    /// When EventBridge says the event happened; `None` when the message has no readable `time`.
    pub time: Option<SystemTime>,
}

impl InterruptionEvent {
    /// What the controller does about it.
    pub fn action(&self) -> Action {
        self.kind.action()
    }

    /// Whether the spot offering of the instance should be marked unavailable (a spot interruption says there
    /// is no more capacity there).
    pub fn marks_spot_offering_unavailable(&self) -> bool {
        self.kind.notice_kind().marks_spot_offering_unavailable()
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
    #[serde(default)]
    time: String,
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
    // A time that cannot be read leaves only the queue-duration metric without a sample; the event itself
    // still matters, so it is not refused for that.
    let time =
        DateTime::from_str(&envelope.time, Format::DateTime).ok().and_then(|t| SystemTime::try_from(t).ok());
    let single = |kind: EventKind, detail: InstanceDetail, state: Option<String>| InterruptionEvent {
        kind,
        id: envelope.id.clone(),
        instance_ids: vec![detail.instance_id],
        state,
        time,
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
                time,
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
    url: Arc<OnceCell<String>>,
}

impl InterruptionQueue {
    /// The queue named `name` (as `--interruption-queue` gives it).
    pub fn new(sqs: aws_sdk_sqs::Client, name: &str) -> Self {
        InterruptionQueue { sqs, name: name.to_string(), url: Arc::default() }
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The queue's URL, looked up once: a failed lookup is tried again on the next call.
    async fn url(&self) -> Result<&str, AwsError> {
        let url = self
            .url
            .get_or_try_init(|| async {
                let answer = self
                    .sqs
                    .get_queue_url()
                    .queue_name(&self.name)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("GetQueueUrl", e))?;
                Ok::<_, AwsError>(answer.queue_url().unwrap_or_default().to_string())
            })
            .await?;
        Ok(url)
    }

    /// Long-polls for up to 10 messages (20 s wait, 20 s visibility), as upstream.
    pub async fn receive(&self) -> Result<Vec<Received>, AwsError> {
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
    pub async fn delete(&self, receipt_handle: &str) -> Result<(), AwsError> {
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

/// A received message as the neutral controller sees it. A message that cannot be read, or that names nothing
/// Karpenter acts on, becomes an unrecognised notice, which the controller only deletes, as upstream does: left
/// in the queue it would come back forever.
pub fn notice(received: Received) -> Notice {
    let handle = NoticeHandle::new(received.receipt_handle);
    match received.event {
        Ok(Some(event)) => {
            let notice = Notice::new(handle, event.kind.notice_kind(), event.instance_ids);
            match event.time {
                Some(time) => notice.sent_at(time),
                None => notice,
            }
        }
        Ok(None) => Notice::new(handle, NoticeKind::Unrecognised, Vec::<String>::new()),
        Err(error) => Notice::unreadable(handle, error.to_string()),
    }
}

/// The interruption queue the controller polls on AWS: the SQS queue, and the provider whose
/// unavailable-offerings cache learns of interrupted spot offerings.
pub struct AwsInterruptionQueue {
    queue: InterruptionQueue,
    provider: Arc<AwsProvider>,
}

impl AwsInterruptionQueue {
    /// The queue, telling `provider` about interrupted offerings.
    pub fn new(queue: InterruptionQueue, provider: Arc<AwsProvider>) -> Self {
        AwsInterruptionQueue { queue, provider }
    }
}

impl karpenter_cloud::InterruptionQueue for AwsInterruptionQueue {
    fn name(&self) -> &str {
        self.queue.name()
    }

    async fn receive(&self) -> karpenter_cloud::Result<Vec<Notice>> {
        let received = self.queue.receive().await.map_err(AwsError::into_api_error)?;
        Ok(received.into_iter().map(notice).collect())
    }

    async fn acknowledge(&self, handle: &NoticeHandle) -> karpenter_cloud::Result<()> {
        self.queue.delete(handle.as_str()).await.map_err(AwsError::into_api_error)
    }

    fn offering_interrupted(&self, offering: &OfferingKey) {
        self.provider.mark_unavailable(offering.clone());
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

    #[test]
    fn every_event_kind_maps_to_the_neutral_kind_of_the_same_label() {
        let kinds = [
            EventKind::SpotInterrupted,
            EventKind::RebalanceRecommendation,
            EventKind::InstanceStopped,
            EventKind::InstanceTerminated,
            EventKind::ScheduledChange,
            EventKind::CapacityReservationInterrupted,
        ];
        let table: Vec<String> = kinds
            .iter()
            .map(|k| format!("{k:?} -> {:?} {} {:?}", k.notice_kind(), k.as_str(), k.action()))
            .collect();
        expect![[r#"
            SpotInterrupted -> SpotInterrupted spot_interrupted DeleteNodeClaim
            RebalanceRecommendation -> RebalanceRecommendation rebalance_recommendation RecordEvent
            InstanceStopped -> InstanceStopped instance_stopped DeleteNodeClaim
            InstanceTerminated -> InstanceTerminated instance_terminated DeleteNodeClaim
            ScheduledChange -> ScheduledChange scheduled_change DeleteNodeClaim
            CapacityReservationInterrupted -> CapacityReservationInterrupted capacity_reservation_interrupted DeleteNodeClaim"#]]
        .assert_eq(&table.join("\n"));
        let neutral: std::collections::BTreeSet<NoticeKind> = kinds.iter().map(|k| k.notice_kind()).collect();
        assert_eq!(neutral.len(), kinds.len(), "no two AWS kinds collapse into one");
        assert!(!neutral.contains(&NoticeKind::Unrecognised), "only unreadable messages are unrecognised");
    }

    #[test]
    fn a_received_message_becomes_a_notice_and_an_unreadable_one_an_unrecognised_notice() {
        let received = |handle: &str, body: &str| Received {
            receipt_handle: handle.to_string(),
            event: parse(&format!("m-{handle}"), body),
        };
        let spot = notice(received(
            "h-1",
            r#"{"version":"0","id":"1","detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","time":"2026-11-24T10:00:00Z","detail":{"instance-id":"i-0b1"}}"#,
        ));
        assert_eq!(spot.handle.as_str(), "h-1");
        assert_eq!(spot.kind, NoticeKind::SpotInterrupted);
        assert_eq!(spot.instance_ids, ["i-0b1"]);
        let sent = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_514_400);
        assert_eq!(spot.sent_at, Some(sent), "2026-11-24T10:00:00Z");
        assert_eq!(spot.unreadable, None);

        let untimed = notice(received(
            "h-2",
            r#"{"version":"0","id":"2","detail-type":"EC2 Instance Rebalance Recommendation","source":"aws.ec2","time":"yesterday","detail":{"instance-id":"i-0b2"}}"#,
        ));
        assert_eq!(
            (untimed.kind, untimed.sent_at),
            (NoticeKind::RebalanceRecommendation, None),
            "an unreadable time does not lose the event"
        );

        let ignored =
            notice(received("h-3", r#"{"version":"0","id":"3","detail-type":"Other","source":"aws.s3"}"#));
        assert_eq!((ignored.kind, ignored.unreadable.as_deref()), (NoticeKind::Unrecognised, None));
        assert!(ignored.instance_ids.is_empty());

        let garbage = notice(received("h-4", "{not json"));
        assert_eq!(garbage.kind, NoticeKind::Unrecognised);
        assert_eq!(garbage.handle.as_str(), "h-4", "it can still be deleted");
        let why = garbage.unreadable.unwrap_or_default();
        assert!(why.contains("m-h-4") && why.contains("not a readable EventBridge event"), "{why}");
    }

    #[tokio::test]
    async fn the_sqs_queue_delivers_notices_deletes_them_and_marks_offerings_in_the_provider() {
        use aws_sdk_sqs::operation::delete_message::DeleteMessageOutput;
        use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlOutput;
        use aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput;
        use aws_sdk_sqs::types::Message;
        use aws_smithy_mocks::{RuleMode, mock, mock_client};
        use karpenter_cloud::InterruptionQueue as _;

        const URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/karpenter";
        let url = mock!(aws_sdk_sqs::Client::get_queue_url)
            .match_requests(|input| input.queue_name() == Some("karpenter"))
            .then_output(|| GetQueueUrlOutput::builder().queue_url(URL).build());
        let receive = mock!(aws_sdk_sqs::Client::receive_message)
            .match_requests(|input| {
                input.queue_url() == Some(URL)
                    && input.max_number_of_messages() == Some(10)
                    && input.wait_time_seconds() == Some(20)
            })
            .then_output(|| {
                ReceiveMessageOutput::builder()
                    .messages(
                        Message::builder()
                            .message_id("m-1")
                            .receipt_handle("r-1")
                            .body(r#"{"version":"0","id":"1","detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","detail":{"instance-id":"i-0b1"}}"#)
                            .build(),
                    )
                    .messages(Message::builder().message_id("m-2").receipt_handle("r-2").body("{not json").build())
                    .build()
            });
        let delete = mock!(aws_sdk_sqs::Client::delete_message)
            .match_requests(|input| input.queue_url() == Some(URL) && input.receipt_handle() == Some("r-2"))
            .then_output(|| DeleteMessageOutput::builder().build());
        let sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&url, &receive, &delete]);
        let config = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let mut clients = crate::Clients::new(&config);
        clients.sqs = sqs.clone();
        let provider =
            Arc::new(AwsProvider::from_clients(clients, crate::Settings::new("c", "https://k", "us-east-1")));
        let queue =
            AwsInterruptionQueue::new(InterruptionQueue::new(sqs, "karpenter"), Arc::clone(&provider));

        assert_eq!(queue.name(), "karpenter");
        let notices = queue.receive().await.unwrap();
        let kinds: Vec<(NoticeKind, Vec<String>)> =
            notices.iter().map(|n| (n.kind, n.instance_ids.clone())).collect();
        assert_eq!(
            kinds,
            [(NoticeKind::SpotInterrupted, vec!["i-0b1".to_string()]), (NoticeKind::Unrecognised, vec![])]
        );
        assert!(notices[1].unreadable.is_some(), "it says why it is unrecognised");
        queue.acknowledge(&notices[1].handle).await.unwrap();
        queue.receive().await.unwrap();
        assert_eq!(url.num_calls(), 1, "the URL is looked up once");
        assert_eq!((receive.num_calls(), delete.num_calls()), (2, 1));

        let offering = OfferingKey::new("m5.large", "us-east-1a", "spot");
        queue.offering_interrupted(&offering);
        assert_eq!(provider.unavailable_offerings(), [offering]);
    }
}
