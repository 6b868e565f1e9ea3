//! `foodflow-gateway`: the site's store-and-forward hop between edge boxes and the hub.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use foodflow_gateway::api::{self, AppState};
use foodflow_gateway::config::Config;
use foodflow_gateway::queue::Queue;
use foodflow_gateway::status::{self, Link, Status};
use foodflow_protocol::Limits;
use foodflow_transport::metrics::Metrics;
use foodflow_transport::tls::{TlsFiles, load_certs};
use foodflow_transport::{Identity, Role, ServerTls, SyncClient};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "foodflow-gateway",
    version,
    about = "FoodFlow OS sync gateway: durable, quota-aware store-and-forward from the plant's \
             edge boxes to the cloud hub over mutual TLS (outbound connections only)."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the gateway.
    Run {
        /// The configuration file (see sync-gateway/gateway.example.yaml).
        #[arg(long, env = "FOODFLOW_GATEWAY_CONFIG")]
        config: PathBuf,
        /// Override `listen` (port 0 picks a free port; the ready line says which).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Override `admin`.
        #[arg(long)]
        admin: Option<SocketAddr>,
        /// Override `hub.url`.
        #[arg(long)]
        hub: Option<String>,
    },
    /// Show backlog per class, oldest record age, rates and time to drain.
    Status {
        /// The gateway's admin address.
        #[arg(long, default_value = "http://127.0.0.1:9200")]
        admin: String,
        #[arg(long)]
        json: bool,
    },
    /// Check a configuration file and exit.
    CheckConfig { config: PathBuf },
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match Cli::parse().cmd {
        Cmd::Run {
            config,
            listen,
            admin,
            hub,
        } => {
            let mut cfg = Config::load(&config)?;
            if let Some(l) = listen {
                cfg.listen = l;
            }
            if let Some(a) = admin {
                cfg.admin = a;
            }
            if let Some(h) = hub {
                cfg.hub.url = h;
            }
            rt.block_on(run(cfg))
        }
        Cmd::Status { admin, json } => rt.block_on(show_status(&admin, json)),
        Cmd::CheckConfig { config } => {
            Config::load(&config)?;
            println!("{}: ok", config.display());
            Ok(())
        }
    }
}

async fn show_status(admin: &str, json: bool) -> Result<()> {
    let url = format!("{}/status", admin.trim_end_matches('/'));
    let text = admin_get(&url).await.with_context(|| {
        format!("asking {url} (is the gateway running with this admin address?)")
    })?;
    if json {
        println!("{text}");
    } else {
        let s: Status = serde_json::from_str(&text)?;
        print!("{}", status::render(&s));
    }
    Ok(())
}

/// A minimal HTTP/1.1 GET for the loopback admin port (no TLS there by design).
async fn admin_get(url: &str) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url
        .strip_prefix("http://")
        .context("the admin address is plain http://host:port")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = tokio::net::TcpStream::connect(host).await?;
    s.write_all(
        format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP answer")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("{}", head.lines().next().unwrap_or(head));
    }
    Ok(body.to_owned())
}

async fn run(cfg: Config) -> Result<()> {
    let files = TlsFiles {
        ca: cfg.tls.ca.clone(),
        cert: cfg.tls.cert.clone(),
        key: cfg.tls.key.clone(),
        crl: cfg.tls.crl.clone(),
    };
    let own = load_certs(&files.cert)?;
    let me = Identity::from_der(&own[0])
        .with_context(|| format!("reading the identity of {}", files.cert.display()))?;
    if me.role != Role::Gateway || me.id != cfg.id {
        bail!(
            "{} is a certificate for {me}, not for gateway {:?}; issue one with `foodflow-hub pki issue --gateway {} --tenant T --host HOST`",
            files.cert.display(),
            cfg.id.as_str(),
            cfg.id.as_str()
        );
    }
    let tls = ServerTls::load(files.clone())?;
    let client = SyncClient::new(&cfg.hub.url, &files, Duration::from_secs(60))?;
    let queue = Arc::new(Queue::open(
        &cfg.data_dir,
        cfg.id.clone(),
        cfg.quotas.quotas(),
    )?);
    let metrics = Metrics::new();
    let state = AppState {
        me: me.clone(),
        hub_url: cfg.hub.url.clone(),
        queue,
        metrics: metrics.clone(),
        link: Arc::new(Link::default()),
        wake: Arc::new(Notify::new()),
        limits: Limits::default(),
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let admin = tokio::net::TcpListener::bind(cfg.admin)
        .await
        .with_context(|| format!("binding {}", cfg.admin))?;
    let (api_addr, admin_addr) = (listener.local_addr()?, admin.local_addr()?);
    let shutdown = CancellationToken::new();
    foodflow_transport::server::spawn_admin(
        admin,
        api::admin_router(state.clone()),
        shutdown.clone(),
    );
    tokio::spawn(api::gauges(state.clone()));
    let fwd = tokio::spawn(foodflow_gateway::forward::run(
        state.clone(),
        client,
        cfg.hub.batch,
        shutdown.clone(),
    ));
    foodflow_transport::server::cancel_on_signal(shutdown.clone());
    tracing::info!(gateway = %me, api = %api_addr, admin = %admin_addr, hub = %cfg.hub.url, "gateway serving");
    println!(
        "{}",
        serde_json::json!({ "ready": "foodflow-gateway", "api": format!("https://{api_addr}"), "admin": format!("http://{admin_addr}") })
    );
    foodflow_transport::server::serve(
        listener,
        tls,
        api::router(state),
        metrics,
        foodflow_transport::server::ListenerLimits::mtls(),
        shutdown,
    )
    .await;
    let _ = fwd.await;
    Ok(())
}
