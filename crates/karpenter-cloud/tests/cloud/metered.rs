//! The metrics decorator counts calls, errors by kind and time, and changes nothing else.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use expect_test::expect;
use karpenter_cloud::fake::FakeProvider;
use karpenter_cloud::{CloudProvider, Error, Metered, Method, Observer};
use karpenter_solver::model::NodePool;

#[tokio::test]
async fn calls_and_errors_are_counted_by_method_and_kind() {
    let fake = Arc::new(FakeProvider::new(Vec::new()));
    let metered = Metered::new(fake.clone());
    fake.fail_next(Method::Get, Error::Throttled { message: "slow down".into() });
    fake.fail_next(Method::List, Error::Api { message: "down".into(), retryable: true });

    assert!(metered.get("fake:///a/i-1").await.is_err(), "throttled");
    assert!(metered.get("fake:///a/i-1").await.is_err(), "not found");
    assert!(metered.list().await.is_err());
    assert!(metered.list().await.unwrap().is_empty());
    assert!(metered.delete("fake:///a/i-1").await.is_ok());
    let pool = NodePool { name: "default".into(), ..NodePool::default() };
    assert!(metered.instance_types(&pool).await.unwrap().is_empty());

    let counts: Vec<String> = metered
        .observer()
        .snapshot()
        .iter()
        .map(|(method, stats)| format!("{method}: {} calls, errors {:?}", stats.calls, stats.errors))
        .collect();
    expect![[r#"
        Delete: 1 calls, errors {}
        Get: 2 calls, errors {"NodeClaimNotFoundError": 1, "ThrottledError": 1}
        List: 2 calls, errors {"ApiError": 1}
        GetInstanceTypes: 1 calls, errors {}"#]]
    .assert_eq(&counts.join("\n"));
    assert_eq!(metered.observer().get(Method::Create).calls, 0);
    assert_eq!(fake.calls().len(), 6, "every call reached the provider once");
    assert_eq!(metered.name(), "fake", "the decorator keeps the provider's name");
}

/// One report: provider, method, time taken and error kind.
type Report = (String, Method, Duration, Option<&'static str>);

/// An observer that keeps every report, as the controller's Prometheus observer will receive them.
#[derive(Default)]
struct Recorder(Mutex<Vec<Report>>);

impl Observer for Recorder {
    fn observe(&self, provider: &str, method: Method, elapsed: Duration, error: Option<&Error>) {
        self.0.lock().unwrap().push((provider.to_string(), method, elapsed, error.map(Error::kind)));
    }
}

#[tokio::test]
async fn a_custom_observer_gets_the_provider_the_method_the_time_and_the_error() {
    let metered = Metered::with_observer(FakeProvider::new(Vec::new()), Recorder::default());
    let _ = metered.get("fake:///a/i-1").await;
    let reports = metered.observer().0.lock().unwrap().clone();
    assert_eq!(reports.len(), 1);
    let (provider, method, elapsed, error) = &reports[0];
    assert_eq!((provider.as_str(), *method, *error), ("fake", Method::Get, Some("NodeClaimNotFoundError")));
    assert!(*elapsed < Duration::from_secs(60), "a duration was measured: {elapsed:?}");
    let stats = Metered::new(FakeProvider::new(Vec::new()));
    let _ = stats.list().await;
    let list = stats.observer().get(Method::List);
    assert!(list.max_duration <= list.total_duration);
}

#[test]
fn method_labels_are_upstreams() {
    let labels: Vec<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
    assert_eq!(labels, ["Create", "Delete", "Get", "List", "GetInstanceTypes", "IsDrifted"]);
}
