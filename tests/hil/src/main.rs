//! `foodflow-sim`: the simulated food plant.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use foodflow_hil::mqtt_devices::{run_json_device, run_sparkplug_node, start_embedded_broker};
use foodflow_hil::opcua_server::{self, OpcUaSimConfig};
use foodflow_hil::plant::Plant;
use tokio_util::sync::CancellationToken;

/// Simulated food plant: an OPC UA PLC for line 1 (oven zones, belt, filler, counters, state,
/// alarms) plus N synthetic tags at R changes/s, an MQTT device publishing JSON with a unique id
/// per message, and a Sparkplug B edge node. Prints one JSON line with its endpoints when ready.
#[derive(Parser)]
#[command(
    name = "foodflow-sim",
    version,
    about,
    long_about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    plant: PlantArgs,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// A TCP fault proxy between two tiers: cut, blackhole, delay, throttle, reset — on
    /// command (POST a JSON mode to the control port's /mode) or on a schedule file.
    Proxy {
        /// Where the downstream tier connects.
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// The upstream tier.
        #[arg(long)]
        upstream: std::net::SocketAddr,
        /// HTTP control address (`curl -d '{"mode":"blackhole"}' -H 'content-type: application/json' http://ADDR/mode`).
        #[arg(long)]
        control: Option<std::net::SocketAddr>,
        /// YAML list of steps: `- { at_s: 10, mode: blackhole }`, `- { at_s: 20, mode: pass }`.
        #[arg(long)]
        schedule: Option<PathBuf>,
    },
    /// Run a scenario file: plant, edge, gateway and hub as processes with scripted faults;
    /// prints one JSON line (acked, delivered, lost, duplicated, reordered, gaps,
    /// max_recovery_s) and exits 1 on any loss, duplicate or reorder.
    /// A synthetic multi-tier supply chain (farms → mills → plants → DCs → stores) as EPCIS
    /// 2.0 documents of at most 10,000 events (the hub's capture limit), reproducible from the
    /// seed; a summary.json lists counts and sample lot ids for queries.
    Foodgraph {
        /// Lots in all (raw, ingredient and batch lots).
        #[arg(long, default_value_t = 10_000)]
        lots: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Events per lot on average (observations fill up to it).
        #[arg(long, default_value_t = 10)]
        events_per_lot: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Synthetic monthly sales for forecasting: products → SKUs, × locations, in
    /// StatsForecast's long format with the hierarchy columns (product, sku, location).
    Sales {
        #[arg(long, default_value_t = 4)]
        skus_per_product: usize,
        #[arg(long, default_value_t = 48)]
        months: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// The synthetic conveyor camera: `generate` makes frames of biscuits (defects injected) and
    /// of printed date codes (some wrong) with their ground truth, and the `cameras:` entries
    /// that play them to an edge; `score` compares what the edge journaled with the truth.
    Conveyor {
        #[command(subcommand)]
        cmd: ConveyorCmd,
    },
    Scenario {
        file: PathBuf,
        /// Keep logs and data here (default: a temporary directory, removed on success).
        #[arg(long)]
        work_dir: Option<PathBuf>,
    },
}

#[derive(clap::Subcommand)]
enum ConveyorCmd {
    Generate {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 60)]
        frames: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The batch's code, printed on the packs (some are misprinted).
        #[arg(long, default_value = "EXP 2027-03-15")]
        code: String,
        #[arg(long, default_value_t = 0.3)]
        defect_rate: f64,
        #[arg(long, default_value_t = 0.1)]
        wrong_code_rate: f64,
        /// Frames per second the cameras play at.
        #[arg(long, default_value_t = 4)]
        fps: u32,
        /// Tag that carries the batch's code on the line (for the label camera's check).
        #[arg(long)]
        expected_code_tag: Option<String>,
        /// Python with numpy and Pillow (`make deps` makes .venv).
        #[arg(long, default_value = ".venv/bin/python")]
        python: PathBuf,
    },
    Score {
        /// The directory `generate` wrote (its truth.jsonl).
        #[arg(long)]
        dir: PathBuf,
        /// The edge's data directory (the edge stopped).
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        device: String,
        #[arg(long, default_value = "EXP 2027-03-15")]
        code: String,
    },
}

#[derive(clap::Args)]
struct PlantArgs {
    /// OPC UA port (0 picks a free one).
    #[arg(long, default_value_t = 4855)]
    opcua_port: u16,
    /// Extra synthetic OPC UA tags (ns=2;s=Extra.Tag00001 …).
    #[arg(long, default_value_t = 0)]
    extra_tags: usize,
    /// Changes per second of each synthetic tag.
    #[arg(long, default_value_t = 1.0)]
    extra_rate: f64,
    /// An existing broker (mqtt://host:port); without it an embedded broker is started.
    #[arg(long)]
    mqtt_broker: Option<String>,
    /// Port of the embedded broker (used when --mqtt-broker is not given).
    #[arg(long, default_value_t = 1884)]
    embedded_broker_port: u16,
    /// Period of the MQTT devices' publications, in milliseconds.
    #[arg(long, default_value_t = 500)]
    mqtt_period_ms: u64,
    /// No MQTT devices (and no embedded broker).
    #[arg(long)]
    no_mqtt: bool,
    /// Where the simulated PLC keeps its certificates.
    #[arg(long, default_value = ".run/sim-pki")]
    pki_dir: PathBuf,
    /// Seed of the plant model.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.cmd {
        Some(Cmd::Proxy {
            listen,
            upstream,
            control,
            schedule,
        }) => run_proxy(listen, upstream, control, schedule).await,
        Some(Cmd::Scenario { file, work_dir }) => run_scenario(file, work_dir).await,
        Some(Cmd::Conveyor { cmd }) => run_conveyor(cmd),
        Some(Cmd::Foodgraph {
            lots,
            seed,
            events_per_lot,
            out,
        }) => foodgraph(lots, seed, events_per_lot, &out),
        Some(Cmd::Sales {
            skus_per_product,
            months,
            seed,
            out,
        }) => sales(skus_per_product, months, seed, &out),
        None => run_plant(cli.plant).await,
    }
}

async fn run_proxy(
    listen: std::net::SocketAddr,
    upstream: std::net::SocketAddr,
    control: Option<std::net::SocketAddr>,
    schedule: Option<PathBuf>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let cancel = CancellationToken::new();
    let h = foodflow_hil::proxy::start(listen, upstream, cancel.clone())
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    if let Some(path) = schedule {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let steps: Vec<foodflow_hil::proxy::Step> = serde_yaml::from_str(&text)
            .with_context(|| format!("{}: not a list of proxy steps", path.display()))?;
        h.play(steps, cancel.clone());
    }
    let mut control_addr = None;
    if let Some(addr) = control {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        control_addr = Some(l.local_addr()?);
        let app = foodflow_hil::proxy::control_router(h.clone());
        tokio::spawn(async move { axum::serve(l, app).await });
    }
    println!(
        "{}",
        serde_json::json!({"ready": "proxy", "listen": h.listen, "upstream": upstream, "control": control_addr})
    );
    tokio::signal::ctrl_c().await.ok();
    cancel.cancel();
    Ok(())
}

async fn run_scenario(file: PathBuf, work_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let spec = foodflow_hil::scenario::spec::Scenario::load(&file).map_err(anyhow::Error::msg)?;
    let tmp = tempfile::tempdir()?;
    let work = work_dir.clone().unwrap_or_else(|| tmp.path().to_owned());
    eprintln!(
        "scenario {}: {} (work dir {})",
        spec.name,
        spec.description.trim(),
        work.display()
    );
    let report = foodflow_hil::scenario::run(spec, &work)
        .await
        .map_err(anyhow::Error::msg)?;
    let ok = report.ok();
    if !ok && work_dir.is_none() {
        // Keep the evidence of a failure.
        let keep = tmp.keep();
        eprintln!("scenario failed; logs and data kept in {}", keep.display());
    }
    println!("{}", serde_json::to_string(&report)?);
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

async fn run_plant(cli: PlantArgs) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let plant = Arc::new(Mutex::new(Plant::new(cli.seed)));
    let server = opcua_server::start(
        OpcUaSimConfig {
            port: cli.opcua_port,
            extra_tags: cli.extra_tags,
            extra_rate_hz: cli.extra_rate,
            pki_dir: cli.pki_dir.clone(),
        },
        plant.clone(),
        cancel.clone(),
    )
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot start the simulated OPC UA server on port {}: {e}",
            cli.opcua_port
        )
    })?;

    let mut mqtt_url = None;
    if !cli.no_mqtt {
        let (host, port) = match &cli.mqtt_broker {
            Some(url) => foodflow_edge::connectors::mqtt::parse_broker_url(url)
                .map_err(anyhow::Error::msg)?,
            None => {
                start_embedded_broker(cli.embedded_broker_port)?;
                ("127.0.0.1".to_owned(), cli.embedded_broker_port)
            }
        };
        mqtt_url = Some(format!("mqtt://{host}:{port}"));
        let period = Duration::from_millis(cli.mqtt_period_ms.max(10));
        tokio::spawn(run_json_device(
            host.clone(),
            port,
            plant.clone(),
            period,
            cancel.clone(),
        ));
        tokio::spawn(run_sparkplug_node(
            host,
            port,
            "foodflow".into(),
            "line1-sim".into(),
            plant.clone(),
            period,
            cancel.clone(),
        ));
    }
    println!(
        "{}",
        serde_json::json!({
            "ready": true,
            "opcua": server.endpoint(),
            "opcua_namespace_index": server.namespace_index,
            "mqtt": mqtt_url,
            "extra_tags": cli.extra_tags,
        })
    );
    tokio::signal::ctrl_c().await.ok();
    cancel.cancel();
    server.stop().await;
    Ok(())
}

fn sales(skus: usize, months: usize, seed: u64, out: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    const PRODUCTS: [&str; 3] = ["pasta", "sauce", "pesto"];
    const LOCATIONS: [&str; 3] = ["north", "south", "east"];
    let panel = foodflow_forecast::synth::panel(&foodflow_forecast::synth::Plan {
        fanout: vec![PRODUCTS.len(), skus.max(1), LOCATIONS.len()],
        periods: months,
        season: 12,
        seed,
    });
    let mut csv = String::from("unique_id,ds,y,product,sku,location\n");
    for s in &panel.series {
        // Synthetic ids are L0-i/L1-j/L2-k: the indices name product, SKU and location.
        let idx: Vec<usize> =
            s.id.split('/')
                .filter_map(|p| p.rsplit('-').next()?.parse().ok())
                .collect();
        let (product, location) = (PRODUCTS[idx[0]], LOCATIONS[idx[2]]);
        let sku = format!("{product}-{}", idx[1] + 1);
        for (t, y) in s.values.iter().enumerate() {
            csv.push_str(&format!(
                "{sku}@{location},{},{:.0},{product},{sku},{location}\n",
                panel.calendar.format(s.start + t as i64),
                y
            ));
        }
    }
    std::fs::write(out, csv).with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "sales: {} series × {months} months written to {} (hierarchy product/sku*location)",
        panel.series.len(),
        out.display()
    );
    Ok(())
}

fn foodgraph(
    lots: usize,
    seed: u64,
    events_per_lot: usize,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut plan = foodflow_foodgraph::synth::Plan::new(lots, seed);
    plan.events_per_lot = events_per_lot;
    let expected = lots * events_per_lot;
    let started = std::time::Instant::now();
    let mut chunk: Vec<serde_json::Value> = Vec::with_capacity(10_000);
    let mut files = 0usize;
    let mut written = 0usize;
    let mut failure: Option<anyhow::Error> = None;
    let flush = |chunk: &mut Vec<serde_json::Value>, files: &mut usize| -> anyhow::Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        *files += 1;
        let path = out.join(format!("epcis-{:06}.json", *files));
        let doc = serde_json::json!({
            "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
            "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": foodflow_protocol::time::format_rfc3339(foodflow_protocol::time::now_ns()),
            "epcisBody": {"eventList": std::mem::take(chunk)},
        });
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
        );
        serde_json::to_writer(&mut f, &doc)?;
        f.flush()?;
        Ok(())
    };
    let summary = foodflow_foodgraph::synth::generate(&plan, &mut |e| {
        if failure.is_some() {
            return;
        }
        chunk.push(e);
        written += 1;
        if chunk.len() == 10_000 {
            if let Err(e) = flush(&mut chunk, &mut files) {
                failure = Some(e);
            }
            if files.is_multiple_of(20) {
                eprintln!(
                    "foodgraph: {written} of ~{expected} events ({:.0} %), {files} files, {:.1} s",
                    written as f64 * 100.0 / expected.max(1) as f64,
                    started.elapsed().as_secs_f64()
                );
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    flush(&mut chunk, &mut files)?;
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_vec_pretty(&summary)?,
    )?;
    eprintln!(
        "foodgraph: {} events of {} lots in {files} files under {} ({:.1} s)",
        summary.events,
        summary.lots,
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn run_conveyor(cmd: ConveyorCmd) -> anyhow::Result<()> {
    use foodflow_hil::conveyor;
    match cmd {
        ConveyorCmd::Generate {
            out,
            frames,
            seed,
            code,
            defect_rate,
            wrong_code_rate,
            fps,
            expected_code_tag,
            python,
        } => {
            std::fs::create_dir_all(&out)?;
            let out = out.canonicalize()?;
            let spec = conveyor::Spec {
                frames,
                seed,
                code,
                defect_rate,
                wrong_code_rate,
            };
            eprintln!("conveyor: rendering {frames} frames into {}", out.display());
            conveyor::generate(&python, &conveyor::repo_root(), &out, &spec)
                .map_err(anyhow::Error::msg)?;
            let yaml = conveyor::cameras_yaml(&out, fps, expected_code_tag.as_deref());
            std::fs::write(out.join("cameras.yaml"), &yaml)?;
            print!("{yaml}");
            Ok(())
        }
        ConveyorCmd::Score {
            dir,
            data_dir,
            device,
            code,
        } => {
            let truth =
                conveyor::read_truth(&dir.join("truth.jsonl")).map_err(anyhow::Error::msg)?;
            let obs = conveyor::read_journal(&data_dir, &device).map_err(anyhow::Error::msg)?;
            println!(
                "{}",
                serde_json::to_string(&conveyor::score(&truth, &obs, &code, 0.5))?
            );
            Ok(())
        }
    }
}
