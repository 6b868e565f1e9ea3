//! `foodflow-edge`: the FoodFlow OS edge runtime.

mod app;
mod journal_cmd;
mod operator_cmd;
mod view;
mod vision_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// FoodFlow OS edge runtime: ingests OPC UA, MQTT (JSON, Sparkplug B) into a crash-safe journal.
///
/// Logs go to stderr (RUST_LOG=debug for more); `/healthz` and `/metrics` are served on the
/// profile's `http.listen` address.
#[derive(Parser)]
#[command(name = "foodflow-edge", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs the edge with a device profile until SIGINT/SIGTERM (flushes and acknowledges what is
    /// durable before it exits).
    Run {
        /// The device profile (YAML), e.g. device-profiles/line-sim.yaml.
        #[arg(long, env = "FOODFLOW_PROFILE")]
        profile: PathBuf,
        /// Journal directory; overrides the profile's journal.data_dir.
        #[arg(long, env = "FOODFLOW_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// HTTP listen address for /healthz and /metrics; overrides the profile's http.listen.
        #[arg(long, env = "FOODFLOW_HTTP")]
        http: Option<String>,
        /// Shows a live table of sources, rates, last values and gaps in the terminal.
        #[arg(long)]
        view: bool,
        /// Endpoint overrides for OPC UA sources, as NAME=opc.tcp://host:port (repeatable).
        #[arg(long = "opcua-endpoint", value_name = "NAME=URL")]
        opcua_endpoints: Vec<String>,
        /// Broker overrides for MQTT sources, as NAME=mqtt://host:port (repeatable).
        #[arg(long = "mqtt-broker", value_name = "NAME=URL")]
        mqtt_brokers: Vec<String>,
        /// Overrides uplink.gateway (https://host:port of the gateway or hub).
        #[arg(long, value_name = "URL")]
        uplink: Option<String>,
    },
    /// Validates device profiles without starting anything; exits 1 on the first bad one.
    CheckProfile {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Inspects a journal (the edge must not be running on it).
    Journal {
        #[command(subcommand)]
        cmd: journal_cmd::JournalCmd,
    },
    /// Vision: runs or benchmarks a detection model on image files.
    Vision {
        #[command(subcommand)]
        cmd: vision_cmd::VisionCmd,
    },
    /// Operators who may acknowledge alarms on this box (name and PIN).
    Operator {
        #[command(subcommand)]
        cmd: operator_cmd::OperatorCmd,
    },
    /// OPC UA tools.
    Opcua {
        #[command(subcommand)]
        cmd: OpcuaCmd,
    },
}

#[derive(Subcommand)]
enum OpcuaCmd {
    /// Browses a server's address space from the Objects folder and prints a tag-map skeleton
    /// (YAML) for the variables found.
    Browse {
        /// e.g. opc.tcp://127.0.0.1:4840
        endpoint: String,
        /// How deep to descend below Objects.
        #[arg(long, default_value_t = 6)]
        depth: usize,
    },
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,opcua=warn,async_opcua=warn,ort=warn")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs();
    let result = match cli.cmd {
        Cmd::CheckProfile { files } => check_profiles(&files),
        Cmd::Journal { cmd } => journal_cmd::run(cmd),
        Cmd::Vision { cmd } => vision_cmd::run(cmd),
        Cmd::Operator { cmd } => operator_cmd::run(cmd),
        cmd => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| {
                rt.block_on(async move {
                    match cmd {
                        Cmd::Run {
                            profile,
                            data_dir,
                            http,
                            view,
                            opcua_endpoints,
                            mqtt_brokers,
                            uplink,
                        } => {
                            app::run(app::RunOptions {
                                profile,
                                data_dir,
                                http,
                                view,
                                opcua_endpoints,
                                mqtt_brokers,
                                uplink,
                            })
                            .await
                        }
                        Cmd::Opcua {
                            cmd: OpcuaCmd::Browse { endpoint, depth },
                        } => {
                            let yaml =
                                foodflow_edge::connectors::opcua::browse(&endpoint, depth).await?;
                            print!("{yaml}");
                            Ok(())
                        }
                        _ => Ok(()),
                    }
                })
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("foodflow-edge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check_profiles(files: &[PathBuf]) -> anyhow::Result<()> {
    let mut bad = 0;
    for f in files {
        match foodflow_edge::profile::load(f) {
            Ok(p) => println!(
                "{}: ok (device {}, {} OPC UA source(s), {} MQTT source(s), {} camera(s))",
                f.display(),
                p.device.id,
                p.opcua.len(),
                p.mqtt.len(),
                p.cameras.len()
            ),
            Err(e) => {
                eprintln!("{e}");
                bad += 1;
            }
        }
    }
    if bad > 0 {
        anyhow::bail!("{bad} of {} profile(s) failed validation", files.len());
    }
    Ok(())
}
