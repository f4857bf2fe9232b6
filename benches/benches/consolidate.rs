// Criterion's macros generate undocumented items, so the lint is relaxed for this bench target only.
#![allow(missing_docs)]
//! One disruption pass (`karpenter_disruption::decide`) over clusters of 10 to 1,000 nodes: upstream's workload file
//! rebuilt exactly, and real us-east-1 types with zonal spread and hostname anti-affinity, every candidate
//! evaluated (in parallel) with the greedy multi-node search.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use karpenter_benches::consolidation::{synthetic_view, workload_view};
use karpenter_disruption::{MultiNodeSearch, Options, decide};

fn consolidate(c: &mut Criterion) {
    let options = Options {
        explain_all: true,
        parallel: true,
        multi_node_search: MultiNodeSearch::GREEDY,
        ..Options::default()
    };
    let workload = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/consolidation-workload.json");
    let mut group = c.benchmark_group("consolidate");
    group.sample_size(10);
    for nodes in [10, 100, 1000] {
        let view = workload_view(&workload, nodes).expect("the workload file is in benches/data");
        group.bench_with_input(BenchmarkId::new("workload", nodes), &view, |b, view| {
            b.iter(|| decide(view, &options))
        });
    }
    for nodes in [10, 100, 300] {
        let view = synthetic_view(nodes).expect("the embedded catalog covers us-east-1");
        group.bench_with_input(BenchmarkId::new("real-catalog", nodes), &view, |b, view| {
            b.iter(|| decide(view, &options))
        });
    }
    group.finish();
}

criterion_group!(benches, consolidate);
criterion_main!(benches);
