//! `foodflow-edge journal stats|dump`: JSON lines on stdout.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use foodflow_edge::journal::Store;
use foodflow_protocol::{DeviceId, StreamId};

#[derive(Subcommand)]
pub enum JournalCmd {
    /// One JSON line per stream: class, first/last seq, records, bytes.
    Stats {
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// One JSON line per record, in seq order.
    Dump {
        #[arg(long)]
        data_dir: PathBuf,
        /// Only this stream (default: all).
        #[arg(long)]
        stream: Option<String>,
        /// Start at this seq.
        #[arg(long, default_value_t = 1)]
        from: u64,
    },
}

fn open(data_dir: &std::path::Path) -> anyhow::Result<Store> {
    let dir = data_dir.join("journal.redb");
    if !dir.exists() {
        anyhow::bail!(
            "no journal at {}; pass the --data-dir the edge ran with",
            dir.display()
        );
    }
    let device = match std::fs::read_to_string(data_dir.join("device-id"))
        .ok()
        .and_then(|s| DeviceId::new(s.trim()).ok())
    {
        Some(d) => d,
        None => DeviceId::new("unknown")?,
    };
    Ok(Store::open(&dir, device)?)
}

pub fn run(cmd: JournalCmd) -> anyhow::Result<()> {
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    match cmd {
        JournalCmd::Stats { data_dir } => {
            let store = open(&data_dir)?;
            for s in store.stats() {
                writeln!(out, "{}", serde_json::to_string(&s)?)?;
            }
            writeln!(
                out,
                "{}",
                serde_json::json!({"total": true, "size_on_disk": store.size_on_disk()})
            )?;
        }
        JournalCmd::Dump {
            data_dir,
            stream,
            from,
        } => {
            let store = open(&data_dir)?;
            let streams: Vec<StreamId> = match stream {
                Some(s) => vec![StreamId::new(s)?],
                None => {
                    let mut v: Vec<_> = store.streams.keys().cloned().collect();
                    v.sort();
                    v
                }
            };
            for s in streams {
                for r in store.read(&s, from)? {
                    let r = r?;
                    let mut j = serde_json::to_value(&r)?;
                    j["time"] =
                        serde_json::Value::String(foodflow_edge::time::format_rfc3339(r.ts_ns));
                    if let Err(e) = writeln!(out, "{j}") {
                        // A closed pipe (e.g. `| head`) ends the dump quietly.
                        if e.kind() == std::io::ErrorKind::BrokenPipe {
                            return Ok(());
                        }
                        return Err(e.into());
                    }
                }
            }
        }
    }
    out.flush().ok();
    Ok(())
}
