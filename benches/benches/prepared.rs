// Criterion's macros generate undocumented items, so the lint is relaxed for this bench target only.
#![allow(missing_docs)]
//! The prepared form against a cold solve, over the real us-east-1 catalog under a broad NodePool: `solve` compiles
//! the 1,386 instance types every time; `Prepared::solve` compiles only the round's pods.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use karpenter_benches::{Mix, Types, problem_over};
use karpenter_solver::{Prepared, Round, solve};

fn prepared_against_cold(c: &mut Criterion) {
    let mut group = c.benchmark_group("aws-catalog");
    group.sample_size(20);
    for pods in [1, 10, 100] {
        let (problem, config) = problem_over(Mix::Diverse, pods, Types::Aws);
        group.bench_with_input(BenchmarkId::new("solve", pods), &problem, |b, problem| {
            b.iter(|| solve(problem, &config))
        });
        let prepared = Prepared::from_problem(&problem, &config);
        group.bench_with_input(BenchmarkId::new("prepared.solve", pods), &problem, |b, problem| {
            b.iter(|| prepared.solve(&Round::of(problem)))
        });
    }
    let (problem, config) = problem_over(Mix::Diverse, 1, Types::Aws);
    group.bench_function("Prepared::new", |b| b.iter(|| Prepared::from_problem(&problem, &config)));
    group.finish();
}

criterion_group!(benches, prepared_against_cold);
criterion_main!(benches);
