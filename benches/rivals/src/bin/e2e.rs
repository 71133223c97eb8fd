//! The end-to-end workloads (see `src/e2e.rs`) as one markdown table of
//! medians and ratios to the best rival, from interleaved runs: each round
//! runs every workload with every implementation once, in a rotating order,
//! over connections opened once at the start (one per workload and
//! implementation), so background load hits all of them alike.
//!
//! ```text
//! cargo run --profile rivals -p wsmachine-rivals --bin e2e [-- --runs N] [--only rt64,pipe64] [--impls ID,ID]
//! E2E_RUNTIME=multi cargo run --profile rivals -p wsmachine-rivals --bin e2e   # two worker threads
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use wsmachine_rivals::e2e::{E2eWorkload, Pair, Peer, cpu_time, multi_thread, runtime};
use wsmachine_rivals::{fmt_rate, fmt_time};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut runs: usize = 11;
    let mut workloads = E2eWorkload::ALL.to_vec();
    let mut peers = Peer::ALL.to_vec();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--only" => {
                let list = args.next().expect("--only rt64,pipe64");
                workloads = list
                    .split(',')
                    .map(|n| E2eWorkload::by_name(n).unwrap_or_else(|| panic!("unknown workload {n}")))
                    .collect();
            }
            "--impls" => {
                let list = args.next().expect("--impls ID,ID");
                peers = list
                    .split(',')
                    .map(|n| *Peer::ALL.iter().find(|p| p.id() == n).unwrap_or_else(|| panic!("unknown {n}")))
                    .collect();
            }
            "--help" | "-h" => {
                let names: Vec<&str> = E2eWorkload::ALL.iter().map(|w| w.name).collect();
                let ids: Vec<&str> = Peer::ALL.iter().map(|p| p.id()).collect();
                eprintln!(
                    "e2e [--runs N] [--only W,W] [--impls ID,ID]\n  workloads: {names:?}\n  implementations: {ids:?}"
                );
                return;
            }
            other => panic!("unknown argument {other:?} (try --help)"),
        }
    }
    assert!(runs >= 1);
    let rt = runtime();
    let started = Instant::now();
    // One connection per workload and implementation, all open at once.
    let mut pairs: Vec<Vec<Pair>> =
        workloads.iter().map(|_| peers.iter().map(|&p| rt.block_on(Pair::open(p))).collect()).collect();
    let payloads: Vec<_> = workloads.iter().map(E2eWorkload::payload).collect();
    for (pi, peer) in peers.iter().enumerate() {
        for (wi, w) in workloads.iter().enumerate() {
            rt.block_on(pairs[wi][pi].verify(w));
            // One untimed run: buffers grown, caches warm.
            rt.block_on(pairs[wi][pi].run(w, &payloads[wi]));
        }
        eprintln!("{}: checked", peer.id());
    }
    // times[workload][peer], wall clock and CPU
    let mut times = vec![vec![Vec::with_capacity(runs); peers.len()]; workloads.len()];
    let mut cpu = times.clone();
    for round in 0..runs {
        eprint!("\rround {}/{runs}", round + 1);
        for (wi, w) in workloads.iter().enumerate() {
            for k in 0..peers.len() {
                let pi = (k + round) % peers.len();
                let (t, c) = (Instant::now(), cpu_time());
                black_box(rt.block_on(pairs[wi][pi].run(w, &payloads[wi])));
                times[wi][pi].push(t.elapsed());
                cpu[wi][pi].push(cpu_time() - c);
            }
        }
    }
    eprintln!();
    for pair in pairs.into_iter().flatten() {
        rt.block_on(pair.close());
    }

    let flavour = if multi_thread() { "a multi-thread runtime with 2 workers" } else { "a current-thread runtime" };
    println!(
        "Median of {runs} interleaved runs on {flavour}, loopback TCP with TCP_NODELAY, one process. Wall: elapsed \
         time; CPU: the process's CPU time (user + system), steadier when other work shares the cores. Spread: the \
         interquartile range of the wall times as a share of their median. \"vs best rival\": the best rival's \
         median ÷ this row's (> 1 is faster).\n"
    );
    println!(
        "| Workload | Implementation | wall | CPU | CPU per message | msg/s (wall) | MiB/s (wall) | spread | vs best rival: wall | CPU |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (wi, w) in workloads.iter().enumerate() {
        let walls: Vec<f64> = times[wi].iter_mut().map(|t| quantile(t, 0.5).as_secs_f64()).collect();
        let cpus: Vec<f64> = cpu[wi].iter_mut().map(|t| quantile(t, 0.5).as_secs_f64()).collect();
        let best =
            |m: &[f64]| peers.iter().zip(m).filter(|(p, _)| p.is_rival()).map(|(_, &m)| m).min_by(f64::total_cmp);
        let (best_wall, best_cpu) = (best(&walls), best(&cpus));
        for (pi, peer) in peers.iter().enumerate() {
            let (m, c) = (walls[pi], cpus[pi]);
            let iqr =
                quantile(&mut times[wi][pi], 0.75).as_secs_f64() - quantile(&mut times[wi][pi], 0.25).as_secs_f64();
            let label = if pi == 0 { format!("{} ({}, {} per run)", w.name, w.desc, w.count) } else { String::new() };
            let name = if peer.is_rival() { peer.id().to_string() } else { format!("**{}**", peer.id()) };
            let ratio = |best: Option<f64>, x: f64| best.map_or("—".into(), |b| format!("{:.2}×", b / x));
            println!(
                "| {label} | {name} | {} | {} | {} | {} | {:.0} | {:.0}% | {} | {} |",
                fmt_time(m),
                fmt_time(c),
                fmt_time(c / w.count as f64),
                fmt_rate(w.count as f64 / m),
                w.payload_bytes() as f64 / m / (1 << 20) as f64,
                100.0 * iqr / m,
                ratio(best_wall, m),
                ratio(best_cpu, c),
            );
        }
    }
    eprintln!("total {:.1} s", started.elapsed().as_secs_f64());
}

/// The `q` quantile (nearest rank) of `v`.
fn quantile(v: &mut [Duration], q: f64) -> Duration {
    v.sort();
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i]
}
