//! `foodflow-edge run`: wires profile, journal, connectors, HTTP and the terminal view.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use foodflow_edge::analytics;
use foodflow_edge::connectors::stats::{SourceStats, Sources};
use foodflow_edge::connectors::{camera, mqtt, opcua};
use foodflow_edge::http::{HttpState, router};
use foodflow_edge::journal::{Journal, Store};
use foodflow_edge::metrics::Metrics;
use foodflow_edge::profile;
use foodflow_edge::uplink;
use foodflow_edge::wallclock::ClockWatch;
use foodflow_transport::SyncClient;
use foodflow_transport::tls::TlsFiles;
use tokio_util::sync::CancellationToken;

pub struct RunOptions {
    pub profile: PathBuf,
    pub data_dir: Option<PathBuf>,
    pub http: Option<String>,
    pub view: bool,
    pub opcua_endpoints: Vec<String>,
    pub mqtt_brokers: Vec<String>,
    pub uplink: Option<String>,
}

fn split_override(s: &str) -> anyhow::Result<(&str, &str)> {
    s.split_once('=')
        .with_context(|| format!("override {s:?} must be NAME=URL"))
}

pub async fn run(o: RunOptions) -> anyhow::Result<()> {
    let mut p = profile::load(&o.profile)?;
    for ov in &o.opcua_endpoints {
        let (name, url) = split_override(ov)?;
        let src = p
            .opcua
            .iter_mut()
            .find(|s| s.name == name)
            .with_context(|| {
                format!("--opcua-endpoint {name}: the profile has no OPC UA source named {name:?}")
            })?;
        if !url.starts_with("opc.tcp://") {
            anyhow::bail!(
                "--opcua-endpoint {name}: {url:?} is not an OPC UA endpoint; write it as opc.tcp://host:port"
            );
        }
        src.endpoint = url.to_owned();
    }
    for ov in &o.mqtt_brokers {
        let (name, url) = split_override(ov)?;
        let src = p
            .mqtt
            .iter_mut()
            .find(|s| s.name == name)
            .with_context(|| {
                format!("--mqtt-broker {name}: the profile has no MQTT source named {name:?}")
            })?;
        mqtt::parse_broker_url(url).map_err(anyhow::Error::msg)?;
        src.broker = url.to_owned();
    }
    let data_dir = o
        .data_dir
        .or(p.journal.data_dir.clone())
        .context("no journal directory: pass --data-dir or set journal.data_dir in the profile")?;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    std::fs::write(data_dir.join("device-id"), p.device.id.as_str())
        .with_context(|| format!("cannot write to {}", data_dir.display()))?;

    if let Some(url) = &o.uplink {
        let u = p.uplink.as_mut().context(
            "--uplink needs an uplink section in the profile (certificate, key and CA files)",
        )?;
        if !url.starts_with("https://") {
            anyhow::bail!("--uplink {url:?} must be an https:// URL (mutual TLS)");
        }
        u.gateway = url.clone();
    }

    let metrics = Metrics::new();
    let mut store = Store::open(&data_dir.join("journal.redb"), p.device.id.clone())?;
    if p.uplink.is_none() {
        // Nothing upstream will ever confirm a record: retention must not wait for it.
        store = store.without_upstream();
    }
    let reader = store.reader();
    // Watched before anything is journaled, so that the first record is already judged.
    let clock = ClockWatch::open(&data_dir, p.clock.require_sync, store.wall().clone());
    let (journal, writer) = Journal::start(
        store,
        p.journal.group_commit_max,
        p.quotas.clone(),
        metrics.clone(),
    )?;
    // The uplink is set up before any source runs: a journal behind its next hop must move its
    // seqs past the hop's marks before the first append.
    let mut uplink_task = None;
    if let Some(u) = &p.uplink {
        let files = TlsFiles {
            ca: u.ca.clone(),
            cert: u.client_cert.clone(),
            key: u.client_key.clone(),
            crl: None,
        };
        let client = SyncClient::new(&u.gateway, &files, Duration::from_secs(60))
            .with_context(|| format!("uplink to {}", u.gateway))?;
        uplink::align(&journal, &client, Duration::from_secs(5)).await;
        let limits = uplink::Limits {
            max_records: u.batch_max_records,
            max_bytes: u.batch_max_bytes.0 as usize,
            max_wait: Duration::from_millis(u.batch_max_wait_ms),
        };
        tracing::info!(next_hop = %u.gateway, "uplink enabled");
        uplink_task = Some((client, limits));
    } else {
        tracing::info!("no uplink in the profile: records stay on this box");
    }
    let sources = Arc::new(Sources::default());
    let cancel = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(clock.clone().run(metrics.clone(), cancel.clone()));

    for src in p.mqtt.clone() {
        let stats = SourceStats::new(&metrics, &src.name, "mqtt");
        sources.add(stats.clone());
        let (j, c) = (journal.clone(), cancel.clone());
        tasks.spawn(async move {
            let name = src.name.clone();
            if let Err(e) = mqtt::run(src, j, stats, c).await {
                tracing::error!(source = %name, error = %e, "MQTT source stopped");
            }
        });
    }
    for mut src in p.opcua.clone() {
        src.pki_dir
            .get_or_insert_with(|| data_dir.join("pki/opcua"));
        let stats = SourceStats::new(&metrics, &src.name, "opcua");
        sources.add(stats.clone());
        let (j, c) = (journal.clone(), cancel.clone());
        tasks.spawn(async move {
            let name = src.name.clone();
            if let Err(e) = opcua::run(src, j, stats, c).await {
                tracing::error!(source = %name, error = %e, "OPC UA source stopped");
            }
        });
    }
    let mut alarm_acks = None;
    let board = foodflow_edge::screen::shared(p.analytics.as_ref().and_then(|a| a.oee.as_ref()));
    if let Some(a) = p.analytics.clone() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        alarm_acks = Some(tx);
        tasks.spawn(analytics::run(
            journal.clone(),
            a,
            metrics.clone(),
            rx,
            board.clone(),
            clock.clone(),
            cancel.clone(),
        ));
    }
    if let Some((client, limits)) = uplink_task {
        tasks.spawn(uplink::run(
            reader,
            client,
            limits,
            metrics.clone(),
            cancel.clone(),
        ));
    } else {
        drop(reader);
    }
    let vision_board =
        (!p.cameras.is_empty()).then(foodflow_edge::screen::vision::VisionBoard::shared);
    for cam in p.cameras.clone() {
        let board = vision_board.clone();
        let stats = SourceStats::new(&metrics, &cam.name, "camera");
        sources.add(stats.clone());
        let counters = camera::runtime::CameraCounters::new(&metrics, &cam.name);
        let (j, c) = (journal.clone(), cancel.clone());
        let (vision, providers) = (p.vision.clone(), p.hardware.execution_providers.clone());
        let sources_for_codes = sources.clone();
        let keep = p.vision.as_ref().map(|v| {
            (
                data_dir.join("vision"),
                v.keep.max_bytes.0,
                v.keep.max_age.0,
            )
        });
        tasks.spawn(async move {
            let name = cam.name.clone();
            let names = cam.models.clone();
            let models = tokio::task::spawn_blocking(move || load_models(&names, vision.as_ref(), &providers)).await;
            let models = match models {
                Ok(Ok(m)) => m,
                                Ok(Err(e)) => {
                    let why = format!("{e:#}");
                    tracing::error!(camera = %name, error = %why, "camera not started: its models cannot load");
                    if let Some(b) = &board {
                        b.lock().unwrap_or_else(|p| p.into_inner()).fail(&cam.name, &cam.source, &why);
                    }
                    return;
                }
                Err(e) => {
                    tracing::error!(camera = %name, error = %e, "camera not started");
                    return;
                }
            };
            let expected = cam.expected_code_tag.clone().map(|tag| {
                let sources = sources_for_codes.clone();
                let f: camera::runtime::ExpectedCode = Arc::new(move || {
                    sources.latest(&tag).map(|v| match v {
                        foodflow_protocol::Value::Text(t) => t,
                        foodflow_protocol::Value::Int(i) => i.to_string(),
                        foodflow_protocol::Value::UInt(u) => u.to_string(),
                        foodflow_protocol::Value::Float(f) => f.to_string(),
                        foodflow_protocol::Value::Bool(b) => b.to_string(),
                    })
                });
                f
            });
            let keeper = match &keep {
                Some((dir, bytes, age)) => match camera::keep::FrameKeeper::open(dir, &cam.name, *bytes, *age) {
                    Ok(k) => Some(k),
                    Err(e) => {
                        tracing::warn!(camera = %name, dir = %dir.display(), error = %e, "frames with findings will not be kept on disk");
                        None
                    }
                },
                None => None,
            };
            let io = camera::runtime::CameraIo { journal: j, stats, counters, expected, board, keeper };
            if let Err(e) = camera::runtime::run(cam, models, io, c).await {
                tracing::error!(camera = %name, error = %e, "camera stopped");
            }
        });
    }

    {
        let j = journal.clone();
        let c = cancel.clone();
        let every = Duration::from_secs(p.journal.retention_every.0.max(1));
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = c.cancelled() => return,
                    _ = tick.tick() => j.run_retention().await,
                }
            }
        });
    }

    let listen = o.http.unwrap_or(p.http.listen.clone());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen} for /healthz and /metrics; pick a free address with --http"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, device = %p.device.id, data_dir = %data_dir.display(), "edge runtime started; /healthz and /metrics are served");
    // One line on stdout once the HTTP port is bound (port 0 picks one): what supervisors and
    // tests wait for instead of probing a port.
    println!(
        "{}",
        serde_json::json!({"ready": "foodflow-edge", "http": format!("http://{addr}")})
    );
    let app = router(HttpState {
        metrics: metrics.clone(),
        sources: sources.clone(),
        device: p.device.id.to_string(),
        alarm_acks,
        board: p.analytics.is_some().then_some(board),
        kept_frames: vision_board.as_ref().map(|_| data_dir.join("vision")),
        vision: vision_board,
        operators: Arc::new(foodflow_edge::operators::Gate::new(&data_dir)),
        journal: journal.reader().clone(),
        clock: clock.clone(),
    });
    let http_cancel = cancel.clone();
    tasks.spawn(async move {
        let r = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move { http_cancel.cancelled().await })
        .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    if o.view {
        tasks.spawn(crate::view::run(
            p.device.id.to_string(),
            sources.clone(),
            metrics.clone(),
            cancel.clone(),
        ));
    }

    shutdown_signal().await;
    tracing::info!("stopping: acknowledging what is durable, flushing the journal");
    cancel.cancel();
    while tasks.join_next().await.is_some() {}
    drop(journal);
    tokio::task::spawn_blocking(move || writer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the journal writer panicked"))?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Loads a camera's models from the profile's manifest, on the profile's execution providers.
fn load_models(
    names: &[String],
    vision: Option<&foodflow_edge::profile::VisionSection>,
    providers: &[foodflow_edge::profile::ExecutionProvider],
) -> anyhow::Result<Vec<camera::runtime::Analyzer>> {
    use foodflow_edge::profile::ExecutionProvider as P;
    use foodflow_vision::Provider;
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let v = vision.context("the camera lists models but the profile has no vision section")?;
    let runtime = foodflow_vision::Runtime::get(v.ort_library.as_deref())?;
    let manifest = foodflow_vision::Manifest::load(&v.manifest)?;
    let base = v.manifest.parent().unwrap_or(std::path::Path::new("."));
    let mut list = Vec::new();
    for p in providers {
        match p {
            P::Tensorrt => list.push(Provider::Tensorrt),
            P::Cuda => list.push(Provider::Cuda),
            P::Openvino => list.push(Provider::Openvino),
            P::Rocm => list.push(Provider::Rocm),
            P::Cpu => list.push(Provider::Cpu),
            P::Qnn => {
                tracing::warn!("execution provider qnn is not supported by this engine; skipped")
            }
        }
    }
    let opts = foodflow_vision::EngineOptions {
        providers: list,
        fallback: v.fallback,
        intra_threads: v.intra_threads,
        warmup: 1,
        io_binding: v.io_binding,
    };
    names
        .iter()
        .map(|n| {
            let spec = manifest
                .get(n)
                .with_context(|| format!("model `{n}` is not in {}", v.manifest.display()))?;
            Ok(
                if spec.output.layout == foodflow_vision::manifest::OutputLayout::PpocrDet {
                    camera::runtime::Analyzer::Reader(Box::new(foodflow_vision::Reader::load(
                        runtime, &manifest, n, base, &opts,
                    )?))
                } else {
                    camera::runtime::Analyzer::Detector(Box::new(foodflow_vision::Model::load(
                        runtime, spec, base, &opts,
                    )?))
                },
            )
        })
        .collect()
}
