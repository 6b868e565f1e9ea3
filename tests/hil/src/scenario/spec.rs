//! Scenario files (`tests/hil/scenarios/*.yaml`): what the plant sends, which faults hit which
//! tier when, and what must hold at the end.

use std::path::Path;

use foodflow_transport::units::ByteSize;
use serde::{Deserialize, Serialize};

use crate::proxy::ModeName;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// How long the plant publishes, in real seconds.
    pub publish_s: f64,
    /// Telemetry messages per real second (MQTT JSON, one reading each).
    pub rate: f64,
    /// Quality-check messages per real second (class `critical`: never dropped).
    #[serde(default)]
    pub critical_rate: f64,
    /// Extra bytes of padding per telemetry message (fills quotas faster).
    #[serde(default)]
    pub pad_bytes: usize,
    /// Simulated seconds per real second: message timestamps advance this much faster, so a
    /// 20 s outage at scale 30 carries the data of 10 minutes of plant time.
    #[serde(default = "one")]
    pub time_scale: f64,
    #[serde(default)]
    pub gateway_quotas: Option<Quotas>,
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// How long to wait after the last fault for the backlog to reach the hub.
    #[serde(default = "drain")]
    pub drain_timeout_s: f64,
    #[serde(default)]
    pub expect: Expect,
}

fn one() -> f64 {
    1.0
}
fn drain() -> f64 {
    120.0
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    pub critical: ByteSize,
    pub operational: ByteSize,
    pub telemetry: ByteSize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// At least this many telemetry records knowingly dropped (with Gap records).
    #[serde(default)]
    pub gaps_min: u64,
    /// At least this many SIGKILLs carried out.
    #[serde(default)]
    pub kills_min: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Edge,
    Gateway,
    Hub,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Edge => "edge",
            Target::Gateway => "gateway",
            Target::Hub => "hub",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkName {
    /// Between the edge and the gateway.
    EdgeGateway,
    /// Between the gateway and the hub.
    GatewayHub,
}

/// One fault, written `- { fault: kill, at_s: 5, target: hub, down_s: 20 }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// SIGKILL `target` at `at_s`, restart it `down_s` later.
    Kill {
        at_s: f64,
        target: Target,
        #[serde(default = "short")]
        down_s: f64,
    },
    /// `count` SIGKILLs at random moments in `[from_s, until_s)`, targets drawn from `targets`,
    /// each restarted after a random pause in `[0.2, max_down_s]`.
    RandomKills {
        from_s: f64,
        until_s: f64,
        count: u32,
        targets: Vec<Target>,
        #[serde(default = "short")]
        max_down_s: f64,
        #[serde(default)]
        seed: u64,
    },
    /// Put a link into `mode` at `at_s` for `for_s` seconds, then back to pass.
    Link {
        at_s: f64,
        link: LinkName,
        mode: ModeName,
        #[serde(default)]
        ms: u64,
        #[serde(default)]
        bytes_per_s: u64,
        for_s: f64,
    },
}

fn short() -> f64 {
    1.0
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let de = serde_yaml::Deserializer::from_str(&text);
        let s: Scenario = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let (l, c) = inner
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            format!("{}:{l}:{c}: field `{field}`: {inner}", path.display())
        })?;
        if s.publish_s <= 0.0 || s.rate <= 0.0 {
            return Err(format!(
                "{}: publish_s and rate must be > 0",
                path.display()
            ));
        }
        Ok(s)
    }
}
