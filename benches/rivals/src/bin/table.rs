//! Runs every workload with every implementation a few times and prints one
//! markdown table of median throughputs.
//!
//! ```text
//! cargo run --profile rivals -p wsmachine-rivals --bin table [-- --runs N] [--only W1,W3]
//! ```
//!
//! Rounds are interleaved (each round runs every implementation once), so
//! background load hits all of them alike. Before timing, each
//! implementation's output is checked once in full (every message's bytes
//! and type, or every frame written decoded and unmasked); every timed run
//! asserts the message count and byte total.
//!
//! Callgrind mode runs one wsmachine workload exactly once, inside
//! `callgrind_region`, for instruction counts:
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='*callgrind_region*' \
//!     target/rivals/table --callgrind W1
//! ```
//!
//! (`WSM_CALLGRIND=W1` works as well as `--callgrind W1`.) See
//! `benches/rivals/README.md` and `callgrind.sh`.
//!
//! Each implementation also runs each workload once more, untimed, with the
//! allocator counting: the table's "allocs/msg" column (W6: per handshake).

// The counting allocator below is the one `unsafe` here: it forwards every
// call to `System` unchanged.
#![deny(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use wsmachine_rivals::limits::{Limit, Limits};
use wsmachine_rivals::{Dir, Impl, NAMES, READ, Workload, fmt_rate, fmt_time, run_counted, runtime, verify};

thread_local! {
    /// Allocation calls (alloc, alloc_zeroed, realloc) on this thread while
    /// counting is on; `None` while it is off.
    static ALLOCS: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Forwards to `System`; counts the calls on a thread that asked for it
/// ([`allocations`]), so the timed runs pay one thread-local read per call.
struct Counting;

#[allow(unsafe_code)]
// SAFETY: every call is forwarded to `System` unchanged; the counter is a
// const-initialised thread local without a destructor and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[inline]
fn count() {
    let _ = ALLOCS.try_with(|c| {
        if let Some(n) = c.get() {
            c.set(Some(n + 1));
        }
    });
}

/// The allocation calls `f` makes on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, u64) {
    ALLOCS.with(|c| c.set(Some(0)));
    let out = f();
    let n = ALLOCS.with(|c| c.take()).unwrap_or(0);
    (out, n)
}

struct Row {
    workload: String,
    desc: String,
    name: String,
    kind: RowKind,
    median: Duration,
    messages: u64,
    bytes: u64,
    /// Allocation calls in one run (implementations only).
    allocs: Option<u64>,
}

#[derive(PartialEq)]
enum RowKind {
    Wsmachine,
    Rival,
    Limit,
    Floor,
    /// A hand-written decoder of the workload's frames alone: what it would
    /// take (compared with the rivals, not counted in the floor).
    Reference,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut runs: usize = std::env::var("RIVALS_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(7);
    let mut only: Option<Vec<String>> = None;
    let mut impl_filter: Option<Vec<String>> = None;
    let mut callgrind = std::env::var("WSM_CALLGRIND").ok();
    let mut imp = Impl::Wsmachine;
    let mut wire_offset: Option<usize> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--only" => only = Some(args.next().expect("--only W1,W2").split(',').map(String::from).collect()),
            "--wire-offset" => {
                wire_offset = Some(args.next().and_then(|v| v.parse().ok()).expect("--wire-offset 0..63"))
            }
            "--callgrind" => callgrind = Some(args.next().expect("--callgrind W1")),
            "--impls" => impl_filter = Some(args.next().expect("--impls ID,ID").split(',').map(String::from).collect()),
            "--impl" => {
                let id = args.next().expect("--impl ID");
                imp = *Impl::ALL
                    .iter()
                    .find(|i| i.id() == id)
                    .unwrap_or_else(|| panic!("unknown implementation {id}; known: {:?}", Impl::ALL.map(Impl::id)));
            }
            "--help" | "-h" => {
                eprintln!(
                    "table [--runs N] [--only W1,W4m] [--impls ID,ID] [--wire-offset 0..63] | --callgrind WORKLOAD [--impl ID]\n  workloads: {}\n  implementations: {:?}",
                    NAMES.join(" "),
                    Impl::ALL.map(Impl::id)
                );
                return;
            }
            other => panic!("unknown argument {other:?} (try --help)"),
        }
    }
    if let Some(name) = callgrind {
        return callgrind_mode(&name, imp);
    }
    assert!(runs >= 1);
    let names: Vec<&str> = match &only {
        Some(list) => {
            for n in list {
                assert!(NAMES.contains(&n.as_str()), "unknown workload {n}; known: {}", NAMES.join(" "));
            }
            NAMES.iter().copied().filter(|n| list.iter().any(|l| l == n)).collect()
        }
        None => NAMES.to_vec(),
    };
    let rt = runtime();
    let started = Instant::now();
    let mut rows = Vec::new();
    for name in names {
        let mut w = Workload::by_name(name).expect("known");
        if let Some(offset) = wire_offset {
            w.place_wire(offset);
        }
        eprintln!(
            "{name}: {} ({} wire bytes at {} past a cache line), verifying…",
            w.desc,
            w.wire.len(),
            w.wire.as_ptr() as usize % 64
        );
        let impls: Vec<Impl> = Impl::for_dir(w.dir)
            .iter()
            .copied()
            .filter(|i| impl_filter.as_ref().is_none_or(|f| f.iter().any(|id| id == i.id())))
            .collect();
        let mut allocs = Vec::new();
        for &imp in &impls {
            if let Err(e) = verify(imp, &w, &rt) {
                panic!("{} fails {name}: {e}", imp.name());
            }
            // The tokio runtime runs the async drivers on this thread.
            allocs.push(allocations(|| black_box(run_counted(imp, &w, &rt))).1);
        }
        let mut limits = Limits::new(&w);
        let which = limits.which();
        let mut impl_times: Vec<Vec<Duration>> = vec![Vec::new(); impls.len()];
        let mut limit_times: Vec<Vec<Duration>> = vec![Vec::new(); which.len()];
        // The reference decoder where it applies (W1's short text frames),
        // unless implementations were picked.
        let reference = (impl_filter.is_none() && w.dir == Dir::Recv && w.text && w.payload.len() <= 125)
            .then(|| vec![0u8; READ + 131]);
        let mut reference_times = Vec::new();
        for round in 0..runs {
            eprint!("\r{name}: round {}/{runs}", round + 1);
            for (i, &imp) in impls.iter().enumerate() {
                let t = Instant::now();
                black_box(run_counted(imp, &w, &rt));
                impl_times[i].push(t.elapsed());
            }
            if let Some(mut buf) = reference.clone() {
                let t = Instant::now();
                let n = wsmachine_rivals::limits::decode_short_frames(&w.wire, &mut buf, &mut |p| {
                    black_box(p);
                });
                reference_times.push(t.elapsed());
                assert_eq!(n, w.count, "the reference decoder's messages");
            }
            for (i, &l) in which.iter().enumerate() {
                let t = Instant::now();
                limits.run(l, &w.wire);
                limit_times[i].push(t.elapsed());
            }
        }
        eprintln!();
        let messages = w.count as u64;
        let bytes = w.payload_bytes();
        for (i, &imp) in impls.iter().enumerate() {
            rows.push(Row {
                workload: name.into(),
                desc: w.desc.into(),
                name: imp.name().into(),
                kind: if imp.is_rival() { RowKind::Rival } else { RowKind::Wsmachine },
                median: median(&mut impl_times[i]),
                messages,
                bytes,
                allocs: Some(allocs[i]),
            });
        }
        if !reference_times.is_empty() {
            rows.push(Row {
                workload: name.into(),
                desc: w.desc.into(),
                name: "reference: hand-written decoder of these frames alone".into(),
                kind: RowKind::Reference,
                median: median(&mut reference_times),
                messages,
                bytes,
                allocs: None,
            });
        }
        let mut floor = Duration::ZERO;
        for (i, &l) in which.iter().enumerate() {
            let m = median(&mut limit_times[i]);
            floor += m;
            let volume = if l == Limit::Memcpy { w.wire.len() as u64 } else { bytes };
            rows.push(Row {
                workload: name.into(),
                desc: w.desc.into(),
                name: l.name().into(),
                kind: RowKind::Limit,
                median: m,
                messages: 0,
                bytes: volume,
                allocs: None,
            });
        }
        let floor_name = match w.dir {
            // No limit applies to handshakes.
            Dir::Handshake => continue,
            Dir::Recv if w.text => "floor: memcpy + unmask + validate",
            _ => "floor: memcpy + unmask",
        };
        rows.push(Row {
            workload: name.into(),
            desc: w.desc.into(),
            name: floor_name.into(),
            kind: RowKind::Floor,
            median: floor,
            messages,
            bytes,
            allocs: None,
        });
    }
    print_table(&rows, runs);
    eprintln!("total {:.1} s", started.elapsed().as_secs_f64());
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2 }
}

fn print_table(rows: &[Row], runs: usize) {
    println!(
        "Median of {runs} interleaved runs. Throughput counts message payload bytes (limit rows: the bytes they process; \
         memcpy copies the wire bytes). \"vs best rival\": throughput ÷ the best of tungstenite, tokio-websockets and \
         fastwebsockets on that workload (> 1 is faster). \"of floor\": the floor's time ÷ this row's time (the floor is \
         the sum of the limit rows: one memcpy of the wire, one unmask of the payload, one UTF-8 validation for text). \
         \"allocs/msg\": allocation calls per message in one more, untimed run. W6 counts handshakes as messages and \
         request bytes as bytes.\n"
    );
    if cfg!(feature = "avx512-utf8") {
        println!(
            "Built with feature avx512-utf8: wsmachine validates UTF-8 with simdutf8's AVX-512 kernel where the CPU \
             has it (the limit row stays simdutf8 0.1.5's).\n"
        );
    }
    if cfg!(feature = "simd-mask") {
        println!(
            "Built with feature simd-mask: wsmachine masks and unmasks with AVX-512 or AVX2 where the CPU has them \
             (the unmask limit row stays the safe word loop).\n"
        );
    }
    println!("| Workload | Implementation | Median time | msg/s | GiB/s | vs best rival | of floor | allocs/msg |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut i = 0;
    while i < rows.len() {
        let w = &rows[i].workload;
        let group: Vec<&Row> = rows[i..].iter().take_while(|r| &r.workload == w).collect();
        i += group.len();
        let best_rival = group.iter().filter(|r| r.kind == RowKind::Rival).map(|r| r.median).min();
        let floor = group.iter().find(|r| r.kind == RowKind::Floor).map(|r| r.median);
        for (j, r) in group.iter().enumerate() {
            let secs = r.median.as_secs_f64();
            let label = if j == 0 { format!("{} ({})", r.workload, r.desc) } else { String::new() };
            let msgs = if r.messages > 0 { fmt_rate(r.messages as f64 / secs) } else { "—".into() };
            let gib = r.bytes as f64 / secs / (1u64 << 30) as f64;
            let compared = matches!(r.kind, RowKind::Wsmachine | RowKind::Rival | RowKind::Reference);
            let vs = match (compared, best_rival) {
                (true, Some(b)) => format!("{:.2}×", b.as_secs_f64() / secs),
                _ => "—".into(),
            };
            let of_floor = match (compared, floor) {
                (true, Some(f)) => format!("{:.0}%", 100.0 * f.as_secs_f64() / secs),
                _ => "—".into(),
            };
            let allocs = match r.allocs {
                Some(n) if r.messages > 0 => fmt_allocs(n as f64 / r.messages as f64),
                _ => "—".into(),
            };
            let name = if r.kind == RowKind::Wsmachine { format!("**{}**", r.name) } else { r.name.clone() };
            println!(
                "| {label} | {name} | {} | {msgs} | {gib:.2} | {vs} | {of_floor} | {allocs} |",
                fmt_time(r.median.as_secs_f64())
            );
        }
    }
}

fn fmt_allocs(per_msg: f64) -> String {
    if per_msg >= 10.0 { format!("{per_msg:.0}") } else { format!("{per_msg:.2}") }
}

/// One run of `name` (with wsmachine unless `--impl` says otherwise), the only code callgrind collects (with
/// `--toggle-collect='*callgrind_region*'`).
fn callgrind_mode(name: &str, imp: Impl) {
    let w = Workload::by_name(name).unwrap_or_else(|| panic!("unknown workload {name}; known: {}", NAMES.join(" ")));
    let rt = runtime();
    let ((), allocs) = allocations(|| callgrind_region(imp, &w, &rt));
    // What to divide the collected instruction count by.
    eprintln!(
        "callgrind: {name} ran once with {}: messages={} payload_bytes={} wire_bytes={} allocations={allocs}",
        imp.id(),
        w.count,
        w.payload_bytes(),
        w.wire.len()
    );
}

#[inline(never)]
fn callgrind_region(imp: Impl, w: &Workload, rt: &tokio::runtime::Runtime) {
    black_box(run_counted(imp, black_box(w), rt));
}
