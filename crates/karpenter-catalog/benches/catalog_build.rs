// Criterion's macros generate undocumented items, so the lint is relaxed for this bench target only.
#![allow(missing_docs)]
//! `catalog_build`: building the whole catalog for one region, and filtering it by a NodePool.

use criterion::{Criterion, criterion_group, criterion_main};
use karpenter_catalog::{Catalog, NodeClassSettings};
use karpenter_solver::InstanceTypeIndex;
use seed::seed_node_pool;

#[path = "../tests/seed/mod.rs"]
mod seed;

fn catalog_build(c: &mut Criterion) {
    let settings = NodeClassSettings::default();
    let mut group = c.benchmark_group("catalog_build");
    group.bench_function("build/us-east-1", |b| {
        b.iter(|| Catalog::embedded("us-east-1").unwrap().instance_types(&settings).unwrap())
    });
    let types = Catalog::embedded("us-east-1").unwrap().instance_types(&settings).unwrap();
    let config = karpenter_catalog::solver_config();
    group.bench_function("index/us-east-1", |b| b.iter(|| InstanceTypeIndex::new(&types, &config)));
    let index = InstanceTypeIndex::new(&types, &config);
    let pool = seed_node_pool();
    group.bench_function("filter/seed-node-pool", |b| b.iter(|| index.allowed(&pool).unwrap()));
    group.finish();
}

criterion_group!(benches, catalog_build);
criterion_main!(benches);
