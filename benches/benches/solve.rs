// Criterion's macros generate undocumented items, so the lint is relaxed for this bench target only.
#![allow(missing_docs)]
//! Criterion benches of `solve` over upstream's ladder (1 … 20,000 pods, 400 synthetic instance types).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use karpenter_benches::{LADDER, Mix, problem};
use karpenter_solver::{SolverConfig, solve};

fn ladder(c: &mut Criterion) {
    let config = SolverConfig::default();
    for mix in [Mix::Generic] {
        let mut group = c.benchmark_group(format!("solve/{}", mix.name()));
        group.sample_size(10);
        for pods in LADDER {
            let problem = problem(mix, pods);
            group.throughput(Throughput::Elements(pods as u64));
            group.bench_with_input(BenchmarkId::from_parameter(pods), &problem, |b, problem| {
                b.iter(|| solve(problem, &config))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, ladder);
criterion_main!(benches);
