//! The gateway's configuration file (YAML, typed, unknown fields refused). Errors name the
//! file, line and column. See `sync-gateway/gateway.example.yaml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use foodflow_protocol::DeviceId;
use foodflow_transport::units::ByteSize;
use serde::{Deserialize, Serialize};

use crate::queue::Quotas;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This gateway's id: must be the id in its certificate.
    pub id: DeviceId,
    /// The mutual-TLS API for edge boxes.
    pub listen: SocketAddr,
    /// Plain HTTP `/healthz`, `/metrics`, `/status` (keep on loopback).
    pub admin: SocketAddr,
    pub data_dir: PathBuf,
    pub tls: TlsSection,
    pub hub: HubSection,
    #[serde(default)]
    pub quotas: QuotaSection,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub ca: PathBuf,
    /// Certificate with role `gateway`: serves edges and authenticates to the hub.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CA's revocation list; re-read when it changes.
    #[serde(default)]
    pub crl: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSection {
    /// `https://hub:port`
    pub url: String,
    #[serde(default)]
    pub batch: BatchLimits,
}

/// Bounds of one upload: whichever is reached first.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchLimits {
    #[serde(default = "default_records")]
    pub max_records: usize,
    #[serde(default = "default_bytes")]
    pub max_bytes: ByteSize,
    /// How long a partial batch may wait for more records.
    #[serde(default = "default_wait")]
    pub max_wait_ms: u64,
}

fn default_records() -> usize {
    20_000
}
fn default_bytes() -> ByteSize {
    ByteSize(8 << 20)
}
fn default_wait() -> u64 {
    50
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            max_records: default_records(),
            max_bytes: default_bytes(),
            max_wait_ms: default_wait(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSection {
    pub critical: ByteSize,
    pub operational: ByteSize,
    pub telemetry: ByteSize,
}

impl Default for QuotaSection {
    fn default() -> Self {
        Self {
            critical: ByteSize(2 << 30),
            operational: ByteSize(1 << 30),
            telemetry: ByteSize(1 << 30),
        }
    }
}

impl QuotaSection {
    pub fn quotas(&self) -> Quotas {
        Quotas {
            critical: self.critical.0,
            operational: self.operational.0,
            telemetry: self.telemetry.0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {why}")]
    Read { path: String, why: String },
    #[error("{path}:{line}:{column}: {why}")]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        why: String,
    },
    #[error("{path}: {why}")]
    Check { path: String, why: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, path: &str) -> Result<Self, ConfigError> {
        let de = serde_yaml::Deserializer::from_str(text);
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let (line, column) = inner
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            ConfigError::Invalid {
                path: path.to_owned(),
                line,
                column,
                why: format!("field `{field}`: {inner}"),
            }
        })?;
        let check = |why: String| ConfigError::Check {
            path: path.to_owned(),
            why,
        };
        if !cfg.hub.url.starts_with("https://") {
            return Err(check(format!(
                "hub.url {:?} must be https:// (the hub is only reached over mutual TLS)",
                cfg.hub.url
            )));
        }
        let b = cfg.hub.batch;
        if b.max_records == 0 || b.max_bytes.0 < 1024 {
            return Err(check(
                "hub.batch: max_records must be ≥ 1 and max_bytes ≥ 1KiB".into(),
            ));
        }
        if b.max_bytes.0 > 48 << 20 {
            return Err(check(format!(
                "hub.batch.max_bytes {} is above the hub's 64 MiB body limit margin; use ≤ 48MiB",
                b.max_bytes.0
            )));
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "id: gw-1\nlisten: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndata_dir: /tmp/x\n\
        tls: { ca: ca.pem, cert: gw.pem, key: gw.key }\nhub: { url: https://127.0.0.1:8443 }\n\
        quotas: { critical: 1GiB, operational: 512MiB, telemetry: 64MiB }\n";

    #[test]
    fn parses_and_reports_positions() {
        let c = Config::parse(GOOD, "gw.yaml").unwrap();
        assert_eq!(c.quotas.quotas().telemetry, 64 << 20);
        assert_eq!(c.hub.batch.max_records, 20_000);
        let bad = GOOD.replace("telemetry: 64MiB", "telemetry: 64XB");
        let e = Config::parse(&bad, "gw.yaml").unwrap_err().to_string();
        assert!(e.starts_with("gw.yaml:7:"), "{e}");
        assert!(
            e.contains("quotas.telemetry") && e.contains("unknown byte unit"),
            "{e}"
        );
        let e = Config::parse(&GOOD.replace("https://", "http://"), "gw.yaml").unwrap_err();
        assert!(e.to_string().contains("must be https://"));
        let e = Config::parse(&format!("{GOOD}extra: 1\n"), "gw.yaml").unwrap_err();
        assert!(e.to_string().contains("unknown field `extra`"), "{e}");
    }
}
