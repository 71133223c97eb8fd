//! End to end over loopback TCP, in one process: wsmachine-tokio against
//! tokio-tungstenite and tokio-websockets, each a client and its own
//! documented echo server (see `src/e2e.rs` for how each is driven).
//!
//! ```text
//! cargo bench --profile rivals -p wsmachine-rivals --bench e2e
//! cargo bench --profile rivals -p wsmachine-rivals --bench e2e -- pipe64/
//! cargo bench --profile rivals -p wsmachine-rivals --bench e2e -- --warm-up-time 1 --measurement-time 5
//! cargo run --profile rivals -p wsmachine-rivals --bin e2e        # interleaved runs, one table of ratios
//! ```
//!
//! Benchmark ids are `e2e_WORKLOAD/IMPLEMENTATION`: `rt64` (64 B messages
//! echoed one at a time), `pipe64` (64 B, 100 in flight), `rt1m` (1 MiB,
//! one at a time). One connection per implementation and workload is
//! opened, checked (numbered messages echoed byte for byte, in order), timed
//! and closed; the handshake is not timed.
//!
//! **The runtime is a current-thread tokio runtime, the same for all**
//! (client, server task and, for wsmachine-tokio, the connections' driver
//! tasks on one thread). On this 2-core machine, shared with other builds,
//! a multi-thread runtime's time depends on whether the scheduler gives both
//! workers a core at the same moment and on cross-thread wake-ups (futex
//! calls), so its spread swamps the differences between the crates; on one
//! thread the time is the CPU work of both ends plus the system calls, which
//! is what the implementations differ in. It is also the conservative choice
//! for wsmachine-tokio: its driver task cannot run beside the application's
//! task there. `E2E_RUNTIME=multi` runs everything on a multi-thread runtime
//! with two workers instead.

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use wsmachine_rivals::e2e::{E2eWorkload, Pair, Peer, runtime};

fn e2e(c: &mut Criterion) {
    let rt = runtime();
    for w in E2eWorkload::ALL {
        let payload = w.payload();
        let mut g = c.benchmark_group(format!("e2e_{}", w.name));
        g.sampling_mode(SamplingMode::Flat).sample_size(20);
        g.throughput(if w.size <= 1024 {
            Throughput::Elements(w.count as u64)
        } else {
            Throughput::Bytes(w.payload_bytes())
        });
        for peer in Peer::ALL {
            let mut pair = rt.block_on(Pair::open(peer));
            rt.block_on(pair.verify(&w));
            g.bench_function(peer.id(), |b| b.iter(|| rt.block_on(pair.run(&w, &payload))));
            rt.block_on(pair.close());
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = e2e
}
criterion_main!(benches);
