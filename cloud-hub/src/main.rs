//! `foodflow-hub`: the cloud hub service and its development PKI.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use foodflow_hub::api::{self, AppState};
use foodflow_hub::store::EmbeddedStore;
use foodflow_protocol::{DeviceId, Limits};
use foodflow_transport::metrics::Metrics;
use foodflow_transport::pki::{IssueRequest, Pki};
use foodflow_transport::tls::TlsFiles;
use foodflow_transport::{Identity, Role, ServerTls, TenantId};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "foodflow-hub",
    version,
    about = "FoodFlow OS cloud hub: multi-tenant ingest (exactly once per (device, stream, seq)) \
             over mutual TLS, record and series queries, and the development PKI."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the hub: the mTLS API on --listen, /healthz and /metrics on --admin.
    Serve(ServeArgs),
    /// Development PKI: a CA, server and device certificates, revocation.
    #[command(subcommand)]
    Pki(PkiCmd),
    /// Recompute analytics over stored history (stop the hub first).
    #[command(subcommand)]
    Analytics(AnalyticsCmd),
}

#[derive(Args)]
struct Scope {
    #[arg(long, env = "FOODFLOW_HUB_DATA", default_value = ".run/hub-data")]
    data_dir: PathBuf,
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    device: String,
    /// The stream of readings, e.g. opcua/line1.
    #[arg(long)]
    stream: String,
}

#[derive(Subcommand)]
enum AnalyticsCmd {
    /// 1 s / 1 min / 1 h rollups of a stream's numeric readings, as JSON lines on stdout
    /// (progress on stderr).
    Replay {
        #[command(flatten)]
        scope: Scope,
        /// Start (RFC 3339 or UTC ns); default: the beginning.
        #[arg(long)]
        from: Option<String>,
        /// End, exclusive (RFC 3339 or UTC ns); default: the end.
        #[arg(long)]
        to: Option<String>,
        /// Timely worker threads.
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// How far event time may be out of order in storage before windows close.
        #[arg(long, default_value_t = 60_000)]
        watermark_delay_ms: i64,
    },
    /// The OEE report of one shift (JSON, or CSV with --csv).
    Oee {
        #[command(flatten)]
        scope: Scope,
        /// Line name for the report.
        #[arg(long)]
        line: String,
        #[arg(long, default_value = "shift")]
        shift: String,
        /// Shift start and end (RFC 3339).
        #[arg(long)]
        start: String,
        #[arg(long)]
        end: String,
        /// Ideal rate, units per minute.
        #[arg(long)]
        ideal_per_min: f64,
        /// The tag with the line state (running, stopped, fault, break, changeover …).
        #[arg(long)]
        state_tag: String,
        /// Cumulative good and reject counters.
        #[arg(long)]
        good_tag: String,
        #[arg(long)]
        reject_tag: String,
        #[arg(long)]
        csv: bool,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address of the mutual-TLS API (port 0 picks a free port; the ready line says which).
    #[arg(long, env = "FOODFLOW_HUB_LISTEN", default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Plain-HTTP address of /healthz and /metrics (keep it on loopback).
    #[arg(long, env = "FOODFLOW_HUB_ADMIN", default_value = "127.0.0.1:9300")]
    admin: SocketAddr,
    /// Where the embedded store keeps its data.
    #[arg(long, env = "FOODFLOW_HUB_DATA", default_value = ".run/hub-data")]
    data_dir: PathBuf,
    /// The PKI directory: ca.pem, <name>.pem, <name>.key, crl.pem.
    #[arg(long, env = "FOODFLOW_HUB_PKI", default_value = ".run/pki")]
    pki_dir: PathBuf,
    /// The server certificate's name in the PKI directory.
    #[arg(long, default_value = "hub")]
    name: String,
}

#[derive(Subcommand)]
enum PkiCmd {
    /// Create a CA (ca.pem, ca.key), an empty CRL and the hub's server certificate (hub.pem).
    Init {
        #[arg(long, default_value = ".run/pki")]
        dir: PathBuf,
        /// Extra DNS names or IPs for the hub certificate (localhost and 127.0.0.1 always).
        #[arg(long = "host")]
        hosts: Vec<String>,
    },
    /// Issue a certificate with a FoodFlow identity: exactly one of --device, --gateway, --server.
    Issue {
        #[arg(long, default_value = ".run/pki")]
        dir: PathBuf,
        #[arg(long, group = "who")]
        device: Option<String>,
        #[arg(long, group = "who")]
        gateway: Option<String>,
        #[arg(long, group = "who")]
        server: Option<String>,
        #[arg(long)]
        tenant: String,
        /// DNS names or IPs (gateways and servers).
        #[arg(long = "host")]
        hosts: Vec<String>,
        #[arg(long, default_value_t = 365)]
        days: i64,
        /// Issue an already-expired certificate (for refusal tests).
        #[arg(long)]
        expired: bool,
    },
    /// Revoke every certificate issued to an id; servers pick up the new CRL at once.
    Revoke {
        #[arg(long, default_value = ".run/pki")]
        dir: PathBuf,
        #[arg(long)]
        id: String,
    },
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Serve(a) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(serve(a)),
        Cmd::Pki(p) => pki(p),
        Cmd::Analytics(a) => analytics(a),
    }
}

fn time_arg(name: &str, v: &Option<String>, default: i64) -> Result<i64> {
    match v {
        None => Ok(default),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .or_else(|| foodflow_protocol::time::parse_rfc3339(s))
            .with_context(|| format!("--{name} {s:?} is neither RFC 3339 nor UTC ns")),
    }
}

fn analytics(cmd: AnalyticsCmd) -> Result<()> {
    use foodflow_hub::analytics_cmd;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cmd {
        AnalyticsCmd::Replay {
            scope,
            from,
            to,
            workers,
            watermark_delay_ms,
        } => analytics_cmd::replay(
            analytics_cmd::ReplayArgs {
                data_dir: &scope.data_dir,
                tenant: TenantId::new(scope.tenant)?,
                device: DeviceId::new(scope.device)?,
                stream: foodflow_protocol::StreamId::new(scope.stream)?,
                from_ns: time_arg("from", &from, i64::MIN)?,
                to_ns: time_arg("to", &to, i64::MAX)?,
                workers,
                watermark_delay_ms,
            },
            &mut out,
        ),
        AnalyticsCmd::Oee {
            scope,
            line,
            shift,
            start,
            end,
            ideal_per_min,
            state_tag,
            good_tag,
            reject_tag,
            csv,
        } => analytics_cmd::oee(
            analytics_cmd::OeeArgs {
                data_dir: &scope.data_dir,
                tenant: TenantId::new(scope.tenant)?,
                device: DeviceId::new(scope.device)?,
                stream: foodflow_protocol::StreamId::new(scope.stream)?,
                shift: foodflow_analytics::oee::Shift {
                    line,
                    name: shift,
                    start_ms: time_arg("start", &Some(start), 0)? / 1_000_000,
                    end_ms: time_arg("end", &Some(end), 0)? / 1_000_000,
                    ideal_per_min,
                },
                state_tag,
                good_tag,
                reject_tag,
                csv,
            },
            &mut out,
        ),
    }
}

fn pki(cmd: PkiCmd) -> Result<()> {
    match cmd {
        PkiCmd::Init { dir, hosts } => {
            let pki = Pki::init(&dir, "FoodFlow")?;
            let mut all = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
            all.extend(hosts);
            let path = pki.issue(&IssueRequest {
                identity: Identity {
                    role: Role::Server,
                    tenant: TenantId::new("system")?,
                    id: DeviceId::new("hub")?,
                },
                hosts: all,
                days: 825,
                expired: false,
            })?;
            println!(
                "CA created in {}; hub server certificate {}",
                dir.display(),
                path.display()
            );
        }
        PkiCmd::Issue {
            dir,
            device,
            gateway,
            server,
            tenant,
            hosts,
            days,
            expired,
        } => {
            let (role, id) = match (device, gateway, server) {
                (Some(d), None, None) => (Role::Device, d),
                (None, Some(g), None) => (Role::Gateway, g),
                (None, None, Some(s)) => (Role::Server, s),
                _ => {
                    anyhow::bail!("say who the certificate is for: --device, --gateway or --server")
                }
            };
            let pki = Pki::open(&dir)?;
            let identity = Identity {
                role,
                tenant: TenantId::new(tenant)?,
                id: DeviceId::new(id)?,
            };
            let path = pki.issue(&IssueRequest {
                identity: identity.clone(),
                hosts,
                days,
                expired,
            })?;
            println!("issued {} for {identity}", path.display());
        }
        PkiCmd::Revoke { dir, id } => {
            let serials = Pki::open(&dir)?.revoke(&id)?;
            println!("revoked {id}: serials {}", serials.join(", "));
        }
    }
    Ok(())
}

async fn serve(a: ServeArgs) -> Result<()> {
    let files = TlsFiles::in_dir(&a.pki_dir, &a.name);
    let tls = ServerTls::load(files).context("loading the hub's TLS files")?;
    let store = EmbeddedStore::open(&a.data_dir)?;
    let metrics = Metrics::new();
    let store: Arc<dyn foodflow_hub::store::RecordStore> = Arc::new(store);
    let state = AppState {
        alarms: Arc::new(foodflow_hub::alarms::HubAlarms::new(store.clone())),
        store,
        metrics: metrics.clone(),
        limits: Limits::default(),
    };
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("binding the API address {}", a.listen))?;
    let admin = tokio::net::TcpListener::bind(a.admin)
        .await
        .with_context(|| format!("binding the admin address {}", a.admin))?;
    let (api_addr, admin_addr) = (listener.local_addr()?, admin.local_addr()?);
    let shutdown = CancellationToken::new();
    foodflow_transport::server::spawn_admin(
        admin,
        api::admin_router(state.clone()),
        shutdown.clone(),
    );
    tracing::info!(api = %api_addr, admin = %admin_addr, data = %a.data_dir.display(), "hub serving");
    println!(
        "{}",
        serde_json::json!({ "ready": "foodflow-hub", "api": format!("https://{api_addr}"), "admin": format!("http://{admin_addr}") })
    );
    foodflow_transport::server::cancel_on_signal(shutdown.clone());
    foodflow_transport::server::serve(listener, tls, api::router(state), metrics, shutdown).await;
    Ok(())
}
