//! A decorator that measures every call to the cloud, whatever the provider: calls, errors by kind and
//! durations (upstream's `Decorate` in `kubernetes-sigs/karpenter:
//! pkg/cloudprovider/metrics/cloudprovider.go`, which feeds `karpenter_cloudprovider_duration_seconds` and
//! `karpenter_cloudprovider_errors_total`).
//!
//! The decorator reports to an [`Observer`]. [`Counters`] is the plain one kept here; the controller plugs in
//! an observer that records into its Prometheus registry, without a second decorator.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use karpenter_solver::model::NodePool;

use crate::CloudProvider;
use crate::error::{Error, Result};
use crate::types::{
    Deletion, DriftQuery, DriftReason, Instance, InstanceTypes, LaunchRequest, NodeClassKind, RepairPolicy,
};

/// A provider method that talks to the cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    /// [`CloudProvider::create`].
    Create,
    /// [`CloudProvider::delete`].
    Delete,
    /// [`CloudProvider::get`].
    Get,
    /// [`CloudProvider::list`].
    List,
    /// [`CloudProvider::instance_types`].
    InstanceTypes,
    /// [`CloudProvider::is_drifted`].
    IsDrifted,
}

impl Method {
    /// Every method, in declaration order.
    pub const ALL: [Method; 6] =
        [Method::Create, Method::Delete, Method::Get, Method::List, Method::InstanceTypes, Method::IsDrifted];

    /// The method's name as upstream's `method` metric label spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Create => "Create",
            Method::Delete => "Delete",
            Method::Get => "Get",
            Method::List => "List",
            Method::InstanceTypes => "GetInstanceTypes",
            Method::IsDrifted => "IsDrifted",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Receives one report per finished call.
pub trait Observer: Send + Sync {
    /// `provider` is [`CloudProvider::name`]; `error` is the call's error, if it failed.
    fn observe(&self, provider: &str, method: Method, elapsed: Duration, error: Option<&Error>);
}

/// What [`Counters`] knows about one method.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MethodStats {
    /// Finished calls, failed ones included.
    pub calls: u64,
    /// Failed calls by [`Error::kind`].
    pub errors: BTreeMap<&'static str, u64>,
    /// Time spent in all calls.
    pub total_duration: Duration,
    /// The longest call.
    pub max_duration: Duration,
}

/// Plain counters per method.
#[derive(Debug, Default)]
pub struct Counters {
    stats: Mutex<BTreeMap<Method, MethodStats>>,
}

impl Counters {
    /// The counts so far, for every method that was called.
    pub fn snapshot(&self) -> BTreeMap<Method, MethodStats> {
        self.stats.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// The counts of one method (zeros if it was never called).
    pub fn get(&self, method: Method) -> MethodStats {
        self.snapshot().remove(&method).unwrap_or_default()
    }
}

impl Observer for Counters {
    fn observe(&self, _provider: &str, method: Method, elapsed: Duration, error: Option<&Error>) {
        // A panic elsewhere while the lock was held cannot leave the counts inconsistent, so poisoning is
        // ignored.
        let mut stats = self.stats.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = stats.entry(method).or_default();
        entry.calls += 1;
        entry.total_duration += elapsed;
        entry.max_duration = entry.max_duration.max(elapsed);
        if let Some(error) = error {
            *entry.errors.entry(error.kind()).or_default() += 1;
        }
    }
}

/// Wraps a provider and reports every call that talks to the cloud to an observer. It is a provider itself,
/// so the controller holds a `Metered<P>` wherever it would hold a `P`. Decorate once: wrapping twice counts
/// twice.
#[derive(Debug)]
pub struct Metered<P, O = Counters> {
    inner: P,
    observer: O,
}

impl<P> Metered<P> {
    /// Wraps `inner`, counting into fresh [`Counters`].
    pub fn new(inner: P) -> Self {
        Metered { inner, observer: Counters::default() }
    }
}

impl<P, O> Metered<P, O> {
    /// Wraps `inner`, reporting to `observer`.
    pub fn with_observer(inner: P, observer: O) -> Self {
        Metered { inner, observer }
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The observer.
    pub fn observer(&self) -> &O {
        &self.observer
    }
}

impl<P: CloudProvider, O: Observer> Metered<P, O> {
    async fn measure<T>(&self, method: Method, call: impl Future<Output = Result<T>>) -> Result<T> {
        let started = Instant::now();
        let result = call.await;
        self.observer.observe(self.inner.name(), method, started.elapsed(), result.as_ref().err());
        result
    }
}

impl<P: CloudProvider, O: Observer> CloudProvider for Metered<P, O> {
    fn create(&self, request: &LaunchRequest) -> impl Future<Output = Result<Instance>> + Send {
        self.measure(Method::Create, self.inner.create(request))
    }

    fn delete(&self, provider_id: &str) -> impl Future<Output = Result<Deletion>> + Send {
        self.measure(Method::Delete, self.inner.delete(provider_id))
    }

    fn get(&self, provider_id: &str) -> impl Future<Output = Result<Instance>> + Send {
        self.measure(Method::Get, self.inner.get(provider_id))
    }

    fn list(&self) -> impl Future<Output = Result<Vec<Instance>>> + Send {
        self.measure(Method::List, self.inner.list())
    }

    fn instance_types(&self, node_pool: &NodePool) -> impl Future<Output = Result<InstanceTypes>> + Send {
        self.measure(Method::InstanceTypes, self.inner.instance_types(node_pool))
    }

    fn is_drifted(&self, query: &DriftQuery) -> impl Future<Output = Result<Option<DriftReason>>> + Send {
        self.measure(Method::IsDrifted, self.inner.is_drifted(query))
    }

    fn repair_policies(&self) -> Vec<RepairPolicy> {
        self.inner.repair_policies()
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn node_classes(&self) -> Vec<NodeClassKind> {
        self.inner.node_classes()
    }
}
