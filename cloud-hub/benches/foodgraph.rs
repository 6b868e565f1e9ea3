//! `make bench-foodgraph`: FoodGraph on a generated supply chain (default 1,000,000 lots,
//! 10,000,000 events) side by side with PostgreSQL 15 recursive-CTE queries over the same flow
//! edges, loaded by this bench in the same run.
//!
//! Measures: building the index from EPCIS JSON (parse, validate, hash, insert); capture
//! through the hub's own path (store + audit chain + index) on a 200,000-event chain; 5-hop
//! forward and backward trace latency (full results: nodes, shipments, customers) for sample
//! lots; the same reach in PostgreSQL (answers compared, count printed); FSMA 204 export of
//! about 1,000,000 rows. Last line: one JSON object.
//!
//! Env: FOODFLOW_BENCH_LOTS (1000000), FOODFLOW_BENCH_QUERIES (1000); for profiling,
//! FOODFLOW_BENCH_REPEAT (1: how often the query loop runs before the timed pass) and
//! FOODFLOW_BENCH_PG=skip.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use foodflow_foodgraph::synth::{Plan, generate};
use foodflow_foodgraph::{Direction, Graph, TraceQuery, epcis, fsma};
use foodflow_hub::store::{EmbeddedStore, RecordStore};
use foodflow_hub::trace::Traceability;
use foodflow_transport::TenantId;

// The hub binary's allocator (see `src/main.rs`), so the figures are the server's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn psql(args: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new("runuser")
        .args([
            "-u",
            "postgres",
            "--",
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            "postgres",
        ])
        .args(args)
        .output()
}

/// Capture through the hub's path: parse a document, store events and audit entries in one
/// transaction, index them. Events per second.
fn capture_rate() -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("store");
    let trace = Traceability::new();
    let tenant = TenantId::new("bench").expect("tenant");
    let mut docs: Vec<Vec<u8>> = Vec::new();
    let mut chunk = Vec::new();
    generate(&Plan::new(20_000, 11), &mut |e| {
        chunk.push(e);
        if chunk.len() == 10_000 {
            docs.push(serde_json::to_vec(&serde_json::json!({"type": "EPCISDocument", "epcisBody": {"eventList": std::mem::take(&mut chunk)}})).unwrap_or_default());
        }
    });
    let t = Instant::now();
    let mut n = 0;
    for d in &docs {
        let events = foodflow_foodgraph::parse_capture(d, 10_000).expect("valid");
        n += trace
            .capture(&store, &tenant, events, "bench", "local")
            .expect("capture")
            .captured;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    eprintln!(
        "bench-foodgraph: capture through store + audit + index: {n} events, {rate:.0} events/s"
    );
    let _ = store.tenant(&tenant);
    rate
}

fn main() {
    let lots = env("FOODFLOW_BENCH_LOTS", 1_000_000);
    let queries = env("FOODFLOW_BENCH_QUERIES", 1_000);
    let capture_events_per_s = capture_rate();

    // The index from EPCIS JSON.
    let mut g = Graph::new();
    let t = Instant::now();
    let mut done = 0usize;
    let summary = generate(&Plan::new(lots, 42), &mut |v| {
        if let Ok(e) = epcis::parse_event(&v) {
            g.insert(e);
        }
        done += 1;
        if done.is_multiple_of(1_000_000) {
            eprintln!(
                "bench-foodgraph: {done} events indexed, {:.0} s, RSS {:.0} MiB",
                t.elapsed().as_secs_f64(),
                rss_mib()
            );
        }
    });
    let build_s = t.elapsed().as_secs_f64();
    eprintln!(
        "bench-foodgraph: {} lots, {} events ({} indexed) generated and indexed in {build_s:.1} s ({:.0} events/s), {} nodes, RSS {:.0} MiB",
        summary.lots,
        summary.events,
        g.event_count(),
        summary.events as f64 / build_s,
        g.node_count(),
        rss_mib()
    );

    // Queries: forward from raw lots, backward from batches, five hops.
    let fwd_q = TraceQuery {
        max_depth: 5,
        ..Default::default()
    };
    let bwd_q = TraceQuery {
        direction: Direction::Backward,
        max_depth: 5,
        ..Default::default()
    };
    let starts_f: Vec<&String> = summary.sample_raw.iter().take(queries).collect();
    let starts_b: Vec<&String> = summary.sample_batches.iter().take(queries).collect();
    // Every query once untimed first (PostgreSQL gets the same warm-up).
    for s in &starts_f {
        let _ = g.trace(s, &fwd_q);
    }
    for s in &starts_b {
        let _ = g.trace(s, &bwd_q);
    }
    let time = |starts: &[&String], q: &TraceQuery| -> (Vec<f64>, Vec<usize>, usize) {
        let mut lat = Vec::new();
        let mut counts = Vec::new();
        let mut nodes = 0;
        for s in starts {
            let t = Instant::now();
            let r = g.trace(s, q).expect("sample lot");
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            nodes += r.nodes.len() + r.movements.len();
            counts.push(g.reach_count(s, q).unwrap_or(0));
        }
        (lat, counts, nodes)
    };
    for _ in 1..env("FOODFLOW_BENCH_REPEAT", 1) {
        let _ = time(&starts_f, &fwd_q);
    }
    let (mut fwd, fwd_counts, fwd_size) = time(&starts_f, &fwd_q);
    let (mut bwd, bwd_counts, bwd_size) = time(&starts_b, &bwd_q);
    let (fwd_p50, fwd_p95, bwd_p95) =
        (pct(&mut fwd, 0.5), pct(&mut fwd, 0.95), pct(&mut bwd, 0.95));
    eprintln!(
        "bench-foodgraph: trace 5 hops, {} forward (p50 {fwd_p50:.3} ms, p95 {fwd_p95:.3} ms, {:.1} nodes+shipments each), {} backward (p95 {bwd_p95:.3} ms, {:.1} each)",
        starts_f.len(),
        fwd_size as f64 / starts_f.len().max(1) as f64,
        starts_b.len(),
        bwd_size as f64 / starts_b.len().max(1) as f64
    );

    // FSMA 204: all rows once, then a window of about 1,000,000 rows.
    let t = Instant::now();
    let all = fsma::rows(&g, &fsma::Filter::default());
    let all_s = t.elapsed().as_secs_f64();
    let (start, end) = (
        all.first().map_or(0, |r| r.event_time_ns),
        all.last().map_or(0, |r| r.event_time_ns),
    );
    let total = all.len();
    drop(all);
    let window = if total > 1_000_000 {
        ((end - start) as f64 * 1_000_000.0 / total as f64) as i64
    } else {
        end - start + 1
    };
    let t = Instant::now();
    let rows = fsma::rows(
        &g,
        &fsma::Filter {
            from_ns: Some(start),
            to_ns: Some(start + window),
            ..Default::default()
        },
    );
    let mut csv = Vec::with_capacity(rows.len() * 400);
    fsma::write_csv(&rows, &mut csv).expect("csv");
    let fsma_export_s = t.elapsed().as_secs_f64();
    eprintln!(
        "bench-foodgraph: FSMA 204: {total} rows in all ({all_s:.1} s to select); export of {} rows as CSV ({} MiB) in {fsma_export_s:.2} s",
        rows.len(),
        csv.len() >> 20
    );
    let fsma_rows = rows.len();
    drop(rows);
    drop(csv);

    // PostgreSQL: the same edges, recursive CTEs with the same time rule and depth.
    let pg = if std::env::var("FOODFLOW_BENCH_PG").as_deref() == Ok("skip") {
        None
    } else {
        postgres(&g, &starts_f, &starts_b, &fwd_counts, &bwd_counts)
    };
    let (pg_fwd_p95, pg_bwd_p95) = pg.unwrap_or((f64::NAN, f64::NAN));
    let speedup = pg_fwd_p95 / fwd_p95;
    println!(
        "{}",
        serde_json::json!({
            "bench": "foodgraph",
            "lots": summary.lots,
            "events": summary.events,
            "fwd_p50_ms": (fwd_p50 * 1000.0).round() / 1000.0,
            "fwd_p95_ms": (fwd_p95 * 1000.0).round() / 1000.0,
            "bwd_p95_ms": (bwd_p95 * 1000.0).round() / 1000.0,
            "pg_p95_ms": (pg_fwd_p95 * 1000.0).round() / 1000.0,
            "pg_bwd_p95_ms": (pg_bwd_p95 * 1000.0).round() / 1000.0,
            "speedup_vs_pg": (speedup * 10.0).round() / 10.0,
            "fsma_export_rows": fsma_rows,
            "fsma_export_s": (fsma_export_s * 100.0).round() / 100.0,
            "capture_events_per_s": capture_events_per_s.round(),
            "index_build_events_per_s": (summary.events as f64 / build_s).round(),
        })
    );
}

/// The CSV field for PostgreSQL's COPY.
fn field(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Loads the graph into PostgreSQL — flow edges, node names, and the shipping/receiving
/// movements of every node — checks that a recursive CTE reaches the same nodes as FoodGraph
/// for every sample, then times the full answer (reached nodes with names and depth, and their
/// shipments or receipts with parties, locations, documents and quantities), as a prepared
/// statement. Returns the p95 of forward and backward (ms, as psql's \timing reports it).
fn postgres(
    g: &Graph,
    fwd: &[&String],
    bwd: &[&String],
    fwd_counts: &[usize],
    bwd_counts: &[usize],
) -> Option<(f64, f64)> {
    if !psql(&["-c", "select 1"]).ok()?.status.success() {
        eprintln!(
            "bench-foodgraph: PostgreSQL is not reachable as user postgres; reference skipped"
        );
        return None;
    }
    let dir = tempfile::tempdir().ok()?;
    let (edges, nodes, moves) = (
        dir.path().join("edges.csv"),
        dir.path().join("nodes.csv"),
        dir.path().join("moves.csv"),
    );
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&edges).ok()?);
        for (a, b, t) in g.edges() {
            writeln!(f, "{a},{b},{t}").ok()?;
        }
        let mut f = std::io::BufWriter::new(std::fs::File::create(&nodes).ok()?);
        let mut seen = std::collections::HashSet::new();
        let mut m = std::io::BufWriter::new(std::fs::File::create(&moves).ok()?);
        for e in g.events_where(|m| matches!(m.biz_step, Some("shipping" | "receiving"))) {
            let step = e.biz_step.clone().unwrap_or_default();
            let refs = if step == "shipping" {
                &e.destinations
            } else {
                &e.sources
            };
            let party = refs
                .iter()
                .find(|r| r.kind.ends_with("party"))
                .map_or("", |r| r.id.as_str());
            let location = refs
                .iter()
                .find(|r| r.kind == "location")
                .map_or("", |r| r.id.as_str());
            let doc = e.biz_transactions.first().map_or("", |r| r.id.as_str());
            for obj in e
                .epcs
                .iter()
                .chain(e.quantities.iter().map(|q| &q.epc_class))
            {
                let Some(n) = g.node_id(obj) else { continue };
                let qty = e
                    .quantity_of(obj)
                    .map(|(q, _)| q.to_string())
                    .unwrap_or_default();
                writeln!(
                    m,
                    "{n},{},{step},{},{},{},{},{qty}",
                    e.time_ns,
                    field(&e.hash),
                    field(party),
                    field(location),
                    field(doc)
                )
                .ok()?;
            }
            for obj in e.objects() {
                if let Some(n) = g.node_id(obj) {
                    seen.insert(n);
                }
            }
        }
        for (a, b, _) in g.edges() {
            seen.insert(a);
            seen.insert(b);
        }
        for s in fwd.iter().chain(bwd) {
            if let Some(n) = g.node_id(s) {
                seen.insert(n);
            }
        }
        for n in seen {
            let name = g.node_name(n)?;
            writeln!(f, "{n},{}", field(name)).ok()?;
        }
    }
    let _ = Command::new("chmod")
        .args(["-R", "a+rx", dir.path().to_str()?])
        .status();
    let t = Instant::now();
    for sql in [
        "drop table if exists fg_edges, fg_nodes, fg_moves".to_owned(),
        "create unlogged table fg_edges (src int not null, dst int not null, t bigint not null)".to_owned(),
        "create unlogged table fg_nodes (id int primary key, name text not null)".to_owned(),
        "create unlogged table fg_moves (node int not null, t bigint not null, step text not null, event text, party text, location text, document text, quantity double precision)".to_owned(),
        format!("copy fg_edges from '{}' with (format csv)", edges.display()),
        format!("copy fg_nodes from '{}' with (format csv)", nodes.display()),
        format!("copy fg_moves from '{}' with (format csv)", moves.display()),
        "create index on fg_edges (src, t)".to_owned(),
        "create index on fg_edges (dst, t)".to_owned(),
        "create index on fg_moves (node, t)".to_owned(),
        "vacuum analyze fg_edges, fg_nodes, fg_moves".to_owned(),
    ] {
        let o = psql(&["-c", &sql]).ok()?;
        if !o.status.success() {
            eprintln!("bench-foodgraph: PostgreSQL failed at {sql:?}: {}", String::from_utf8_lossy(&o.stderr));
            return None;
        }
    }
    eprintln!(
        "bench-foodgraph: PostgreSQL loaded {} edges, nodes and movements and indexed them in {:.1} s",
        g.edges().count(),
        t.elapsed().as_secs_f64()
    );
    let script = |name: &str, body: String| -> Option<String> {
        let path = dir.path().join(name);
        std::fs::write(&path, body).ok()?;
        let _ = Command::new("chmod").args(["a+r", path.to_str()?]).status();
        let o = psql(&["-A", "-t", "-f", path.to_str()?]).ok()?;
        if !o.status.success() {
            eprintln!(
                "bench-foodgraph: PostgreSQL queries failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            return None;
        }
        Some(String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let run = |starts: &[&String], forward: bool, want: &[usize]| -> Option<Vec<f64>> {
        let (next, cmp) = if forward {
            ("dst", "src")
        } else {
            ("src", "dst")
        };
        let (rel, init, agg, step) = if forward {
            (">=", i64::MIN, "min", "shipping")
        } else {
            ("<=", i64::MAX, "max", "receiving")
        };
        let walk = format!(
            "with recursive r(node, t, depth) as (select $1, ({init})::bigint, 0 union \
             select e.{next}, e.t, r.depth + 1 from r join fg_edges e on e.{cmp} = r.node and e.t {rel} r.t \
             where r.depth < 5)"
        );
        let ids = starts
            .iter()
            .map(|s| g.node_id(s))
            .collect::<Option<Vec<u32>>>()?;
        // Same reach as FoodGraph?
        let mut check =
            format!("prepare reach(int) as {walk} select count(distinct node) from r;\n");
        for n in &ids {
            check.push_str(&format!("execute reach({n});\n"));
        }
        let counts: Vec<usize> = script(if forward { "fc.sql" } else { "bc.sql" }, check)?
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        let differ = counts.iter().zip(want).filter(|(a, b)| a != b).count();
        eprintln!(
            "bench-foodgraph: PostgreSQL {} walks: {} of {} reach the same nodes as FoodGraph",
            if forward { "forward" } else { "backward" },
            counts.len() - differ,
            counts.len()
        );
        // The full answer, prepared once; every query runs once untimed to warm the cache.
        let mut timed = format!(
            "\\timing on\nprepare answer(int) as {walk}, best as (select node, {agg}(t) as t, min(depth) as depth from r group by node) \
             select n.name, b.depth, m.event, m.t, m.party, m.location, m.document, m.quantity from best b \
             join fg_nodes n on n.id = b.node left join fg_moves m on m.node = b.node and m.step = '{step}' and m.t {rel} b.t;\n"
        );
        let warm = ids.len();
        for n in ids.iter().chain(&ids) {
            timed.push_str(&format!("execute answer({n});\n"));
        }
        let out = script(if forward { "fa.sql" } else { "ba.sql" }, timed)?;
        let times: Vec<f64> = out
            .lines()
            .filter_map(|l| {
                l.strip_prefix("Time: ")
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|x| x.parse().ok())
            })
            .collect();
        // The first time is the prepare's.
        times.get(1 + warm..).map(<[f64]>::to_vec)
    };
    let mut f = run(fwd, true, fwd_counts)?;
    let mut b = run(bwd, false, bwd_counts)?;
    let (pf50, pf95, pb95) = (pct(&mut f, 0.5), pct(&mut f, 0.95), pct(&mut b, 0.95));
    eprintln!(
        "bench-foodgraph: PostgreSQL 5-hop answers: forward p50 {pf50:.3} ms, p95 {pf95:.3} ms; backward p95 {pb95:.3} ms"
    );
    let _ = psql(&["-c", "drop table if exists fg_edges, fg_nodes, fg_moves"]);
    Some((pf95, pb95))
}
