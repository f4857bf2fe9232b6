//! Fuzz check `interruption`: any text as the body of an SQS message through the AWS interruption parser
//! (`karpenter_aws::interruption::parse`). It never panics; an event it returns names its instances, and a body
//! it accepts keeps its meaning when re-encoded as JSON (the parser reads the value, not the spelling).

use karpenter_aws::interruption::{Action, EventKind, parse};

/// Runs the check on one input.
pub fn check(data: &[u8]) {
    let Ok(body) = std::str::from_utf8(data) else { return };
    let first = parse("message", body);
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(body) {
        let respelled = serde_json::to_string_pretty(&value).expect("a JSON value encodes");
        // Only an accepted body must keep its meaning: a duplicate key, say, is refused by the parser but
        // silently collapsed by `Value`.
        if let Ok(read) = &first {
            let again = parse("message", &respelled);
            assert_eq!(again.as_ref(), Ok(read), "{body:?} and {respelled:?} are read differently");
        }
    }
    if let Ok(Some(event)) = first {
        assert_eq!(event.action() == Action::RecordEvent, event.kind == EventKind::RebalanceRecommendation);
        if event.kind != EventKind::ScheduledChange {
            assert_eq!(event.instance_ids.len(), 1, "{body:?}: {event:?}");
        }
    }
}
