// Criterion's macros generate undocumented items, so the lint is relaxed for this bench target only.
#![allow(missing_docs)]
//! Criterion benches of `solve` over upstream's ladder (1 … 20,000 pods, 400 synthetic instance types).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use karpenter_benches::{LADDER, Mix, Types, problem, problem_over};
use karpenter_solver::solve;

fn ladder(c: &mut Criterion) {
    for mix in [Mix::Generic, Mix::Diverse] {
        let config = mix.config();
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
    // The diverse mix over the real us-east-1 catalog under a broad NodePool.
    let mut group = c.benchmark_group("solve/diverse-aws");
    group.sample_size(10);
    for pods in [1000, 5000, 20000] {
        let (problem, config) = problem_over(Mix::Diverse, pods, Types::Aws);
        group.throughput(Throughput::Elements(pods as u64));
        group.bench_with_input(BenchmarkId::from_parameter(pods), &problem, |b, problem| {
            b.iter(|| solve(problem, &config))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("solve/preferences");
    group.sample_size(10);
    for mix in [Mix::Preferences, Mix::IgnorePreferences] {
        let config = mix.config();
        let problem = problem(mix, 4000);
        group.throughput(Throughput::Elements(4000));
        group.bench_with_input(BenchmarkId::new(mix.name(), 4000), &problem, |b, problem| {
            b.iter(|| solve(problem, &config))
        });
    }
    group.finish();
}

criterion_group!(benches, ladder);
criterion_main!(benches);
