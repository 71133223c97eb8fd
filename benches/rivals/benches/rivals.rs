//! wsmachine against tungstenite, tokio-websockets and fastwebsockets on the
//! same bytes, plus the machine's limits (memcpy, unmask, UTF-8 validation)
//! on the same volumes. See `src/lib.rs` for the workloads and drivers.
//!
//! ```text
//! cargo bench --profile rivals -p wsmachine-rivals                 # everything, ≈ 3–5 min on 2 cores
//! cargo bench --profile rivals -p wsmachine-rivals -- W4m/         # one workload
//! cargo bench --profile rivals -p wsmachine-rivals -- /wsmachine$  # one implementation
//! ```
//!
//! Benchmark ids are `WORKLOAD/IMPLEMENTATION` (e.g. `W1/tungstenite`,
//! `W3/limit_memcpy`). Every workload's drivers are first checked in full
//! (every message's bytes, or every frame written decoded), and every timed
//! iteration asserts the message count and byte total.

use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use wsmachine_rivals::limits::Limits;
use wsmachine_rivals::{Impl, NAMES, Workload, run_counted, runtime, verify};

fn rivals(c: &mut Criterion) {
    let rt = runtime();
    for name in NAMES {
        let w = Workload::by_name(name).expect("known");
        for &imp in Impl::for_dir(w.dir) {
            if let Err(e) = verify(imp, &w, &rt) {
                panic!("{} fails {name}: {e}", imp.name());
            }
        }
        let mut g = c.benchmark_group(name);
        // Every iteration is milliseconds to a tenth of a second: ten flat
        // samples are plenty and keep the whole run within minutes.
        g.sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        // Small messages are counted in messages, large ones in bytes.
        g.throughput(if w.payload.len() <= 1024 {
            Throughput::Elements(w.count as u64)
        } else {
            Throughput::Bytes(w.payload_bytes())
        });
        for &imp in Impl::for_dir(w.dir) {
            g.bench_function(imp.id(), |b| b.iter(|| run_counted(imp, &w, &rt)));
        }
        let mut limits = Limits::new(&w);
        for &l in limits.which() {
            g.bench_function(l.id(), |b| b.iter(|| limits.run(l, &w.wire)));
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = rivals
}
criterion_main!(benches);
