//! The typed device profile: one YAML file per box type or site role.
//! Every struct denies unknown fields so that a misspelt key is an error, not a silent default.

use std::path::PathBuf;

use foodflow_protocol::{DeviceId, PriorityClass, StreamId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub device: DeviceSection,
    #[serde(default)]
    pub hardware: Hardware,
    #[serde(default)]
    pub journal: JournalSection,
    #[serde(default)]
    pub quotas: Quotas,
    #[serde(default)]
    pub opcua: Vec<OpcUaSource>,
    #[serde(default)]
    pub mqtt: Vec<MqttSource>,
    #[serde(default)]
    pub cameras: Vec<Camera>,
    /// The model manifest and engine settings for the cameras' models.
    #[serde(default)]
    pub vision: Option<VisionSection>,
    pub uplink: Option<Uplink>,
    #[serde(default)]
    pub analytics: Option<AnalyticsSection>,
    #[serde(default)]
    pub http: HttpSection,
    #[serde(default)]
    pub clock: ClockSection,
}

/// How the box judges its wall clock (docs/time.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSection {
    /// Trust the clock only while the kernel reports it synchronised (NTP, PTP). Off by
    /// default: a plant network without a time server must still run its shifts.
    #[serde(default)]
    pub require_sync: bool,
}

/// Stream analytics at the edge: rollups of every numeric reading and alarm rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsSection {
    /// 1 s / 1 min / 1 h rollups per tag into the stream `analytics/rollups`.
    #[serde(default = "yes")]
    pub rollups: bool,
    /// How far event time may run out of order before a window closes.
    #[serde(default = "default_watermark_delay")]
    pub watermark_delay_ms: u64,
    /// How long after closing a window late records still correct it (re-emitted).
    #[serde(default = "default_late_horizon")]
    pub late_horizon: Duration,
    /// Alarm rules (thresholds with hysteresis and delays, rate of change, robust z-score);
    /// their lifecycle events go to the critical stream `analytics/alarms`.
    #[serde(default)]
    pub alarms: Vec<foodflow_analytics::alarms::Rule>,
    /// Live OEE of the line per shift into the stream `analytics/oee`.
    #[serde(default)]
    pub oee: Option<OeeSection>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OeeSection {
    pub line: String,
    /// Tag of the line state (`running`, `stopped`, `fault`, `break`, `changeover` …).
    pub state_tag: String,
    /// Cumulative good and reject counters.
    pub good_tag: String,
    pub reject_tag: String,
    /// Ideal rate, units per minute.
    pub ideal_per_min: f64,
    /// The daily shift plan, `HH:MM` UTC.
    pub shifts: Vec<foodflow_analytics::oee::ShiftPlan>,
    /// How often the running shift's OEE so far is journaled (finished shifts: once, at the
    /// first report after their end).
    #[serde(default = "default_oee_every")]
    pub report_every: Duration,
    /// Which vision detections are rejected units (they enter quality).
    #[serde(default)]
    pub vision_rejects: Option<foodflow_analytics::oee::VisionRejectRule>,
    /// Tags carrying the running batch and lot codes (text), shown on the line screen.
    #[serde(default)]
    pub batch_tag: Option<String>,
    #[serde(default)]
    pub lot_tag: Option<String>,
}

fn default_oee_every() -> Duration {
    Duration(60)
}

fn yes() -> bool {
    true
}

fn default_watermark_delay() -> u64 {
    2_000
}

fn default_late_horizon() -> Duration {
    Duration(3_600)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSection {
    pub id: DeviceId,
    pub site: String,
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hardware {
    #[serde(default)]
    pub arch: Option<String>,
    #[serde(default)]
    pub accelerators: Vec<String>,
    /// Execution providers in order of preference; `cpu` is always the last fallback.
    #[serde(default = "default_providers")]
    pub execution_providers: Vec<ExecutionProvider>,
}

fn default_providers() -> Vec<ExecutionProvider> {
    vec![ExecutionProvider::Cpu]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionProvider {
    Tensorrt,
    Cuda,
    Openvino,
    Rocm,
    Qnn,
    Cpu,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalSection {
    /// Where the journal lives; `--data-dir` overrides it.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Most appends made durable by one flush (group commit).
    #[serde(default = "default_group_commit")]
    pub group_commit_max: usize,
    /// How often retention runs (at least once a second; also once at start).
    #[serde(default = "default_retention_every")]
    pub retention_every: Duration,
}

fn default_group_commit() -> usize {
    8192
}

fn default_retention_every() -> Duration {
    Duration(30)
}

impl Default for JournalSection {
    fn default() -> Self {
        Self {
            data_dir: None,
            group_commit_max: default_group_commit(),
            retention_every: default_retention_every(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    #[serde(default = "Quota::critical")]
    pub critical: Quota,
    #[serde(default = "Quota::operational")]
    pub operational: Quota,
    #[serde(default = "Quota::telemetry")]
    pub telemetry: Quota,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            critical: Quota::critical(),
            operational: Quota::operational(),
            telemetry: Quota::telemetry(),
        }
    }
}

impl Quotas {
    /// The same quota for every class (tests and small tools).
    pub fn uniform(max_bytes: u64, max_age_s: u64) -> Self {
        let q = Quota {
            max_bytes: ByteSize(max_bytes),
            max_age: Duration(max_age_s),
        };
        Self {
            critical: q.clone(),
            operational: q.clone(),
            telemetry: q,
        }
    }

    pub fn get(&self, class: PriorityClass) -> &Quota {
        match class {
            PriorityClass::Critical => &self.critical,
            PriorityClass::Operational => &self.operational,
            PriorityClass::Telemetry => &self.telemetry,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Largest journal share of this class, e.g. `512MiB`.
    pub max_bytes: ByteSize,
    /// Oldest record kept, e.g. `7d`, `12h`.
    pub max_age: Duration,
}

impl Quota {
    fn critical() -> Self {
        Self {
            max_bytes: ByteSize(2 << 30),
            max_age: Duration(90 * 86_400),
        }
    }
    fn operational() -> Self {
        Self {
            max_bytes: ByteSize(1 << 30),
            max_age: Duration(30 * 86_400),
        }
    }
    fn telemetry() -> Self {
        Self {
            max_bytes: ByteSize(1 << 30),
            max_age: Duration(7 * 86_400),
        }
    }
}

pub use foodflow_transport::units::{ByteSize, Duration};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpcUaSource {
    pub name: String,
    /// `opc.tcp://host:port[/path]`
    pub endpoint: String,
    #[serde(default)]
    pub security: OpcUaSecurity,
    /// Where the client keeps its own certificate and the trusted/rejected server certificates.
    #[serde(default)]
    pub pki_dir: Option<PathBuf>,
    /// Trust the server certificate on first contact (commissioning only; off by default).
    #[serde(default)]
    pub trust_server_cert: bool,
    pub stream: StreamId,
    #[serde(default = "default_publishing_ms")]
    pub publishing_interval_ms: u64,
    #[serde(default = "default_sampling_ms")]
    pub default_sampling_interval_ms: u64,
    pub tags: Vec<OpcUaTag>,
}

fn default_publishing_ms() -> u64 {
    100
}
fn default_sampling_ms() -> u64 {
    100
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpcUaSecurity {
    #[serde(default)]
    pub policy: SecurityPolicy,
    #[serde(default)]
    pub mode: SecurityMode,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityPolicy {
    #[default]
    None,
    Basic256Sha256,
    Aes128Sha256RsaOaep,
    Aes256Sha256RsaPss,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityMode {
    #[default]
    None,
    Sign,
    SignAndEncrypt,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpcUaTag {
    /// OPC UA node id, e.g. `ns=2;s=Line1.Oven.Zone1.Temperature`.
    pub node: String,
    /// The tag name records carry, e.g. `line1.oven.zone1.temp`.
    pub name: String,
    #[serde(default)]
    pub unit: Option<String>,
    /// Overrides the source's `default_sampling_interval_ms`.
    #[serde(default)]
    pub sampling_interval_ms: Option<u64>,
    /// Absolute deadband in the tag's unit; 0 reports every change.
    #[serde(default)]
    pub deadband: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSource {
    pub name: String,
    /// `mqtt://host:port` (or `mqtts://` once TLS client certificates are configured).
    pub broker: String,
    /// Fixed client id: with a persistent session the broker keeps unacknowledged messages
    /// for this id across restarts.
    pub client_id: String,
    #[serde(default = "default_keep_alive")]
    pub keep_alive_s: u64,
    #[serde(default)]
    pub username: Option<String>,
    /// Name of the environment variable that holds the password (never the password itself).
    #[serde(default)]
    pub password_env: Option<String>,
    pub subscriptions: Vec<MqttSubscription>,
}

fn default_keep_alive() -> u64 {
    30
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSubscription {
    pub topic: String,
    pub codec: Codec,
    pub stream: StreamId,
    /// Only for `codec: json`.
    #[serde(default)]
    pub json: Option<JsonCodecConfig>,
    /// Only for `codec: sparkplug_b`: the host application id used in rebirth requests.
    #[serde(default)]
    pub sparkplug_host_id: Option<String>,
    /// Priority class of the stream (quotas, upload order): `telemetry` unless the topic
    /// carries quality or trace data that must never be dropped (`critical`).
    #[serde(default = "default_mqtt_class")]
    pub class: foodflow_protocol::PriorityClass,
}

fn default_mqtt_class() -> foodflow_protocol::PriorityClass {
    foodflow_protocol::PriorityClass::Telemetry
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    Json,
    SparkplugB,
}

/// Where the fields of a JSON payload are, as JSON pointers (RFC 6901).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonCodecConfig {
    /// The tag name; when absent the MQTT topic is the tag.
    #[serde(default)]
    pub tag_path: Option<String>,
    #[serde(default = "default_value_path")]
    pub value_path: String,
    #[serde(default)]
    pub timestamp_path: Option<String>,
    #[serde(default)]
    pub timestamp_format: TimestampFormat,
    #[serde(default)]
    pub quality_path: Option<String>,
    #[serde(default)]
    pub id_path: Option<String>,
}

fn default_value_path() -> String {
    "/value".into()
}

impl Default for JsonCodecConfig {
    fn default() -> Self {
        Self {
            tag_path: None,
            value_path: default_value_path(),
            timestamp_path: None,
            timestamp_format: TimestampFormat::default(),
            quality_path: None,
            id_path: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampFormat {
    #[default]
    UnixMs,
    UnixNs,
    Rfc3339,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Camera {
    pub name: String,
    /// `rtsp://…`, `v4l2:///dev/video0`, `file:///…`, `test:` (GStreamer videotestsrc).
    pub source: String,
    #[serde(default = "default_fps")]
    pub fps: u32,
    #[serde(default)]
    pub models: Vec<String>,
    /// For OCR models: the tag whose latest value is the code the packs in view must carry (set
    /// per batch by the line). A read that differs raises `vision.code_mismatch` in the critical
    /// stream `vision/<name>/codes`.
    #[serde(default)]
    pub expected_code_tag: Option<String>,
}

/// Vision at the edge: where the models are described and how their sessions run. Execution
/// providers come from `hardware.execution_providers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisionSection {
    /// The model manifest (models/models.yaml): file, digest, layouts and labels of each model.
    pub manifest: PathBuf,
    /// Threads per inference; 0 lets ONNX Runtime use one per core.
    #[serde(default)]
    pub intra_threads: usize,
    /// Fall back down the provider list (finally to CPU) when a provider cannot run.
    #[serde(default = "yes")]
    pub fallback: bool,
    /// ONNX Runtime IO binding: `auto` (on CUDA, TensorRT and ROCm: input in page-locked host
    /// memory, filled in place), `on`, `off`.
    #[serde(default)]
    pub io_binding: foodflow_vision::IoBindingMode,
    /// The ONNX Runtime library; default `$ORT_DYLIB_PATH`, then beside the executable.
    #[serde(default)]
    pub ort_library: Option<PathBuf>,
    /// Frames where something was found (a thumbnail and a crop per box) are kept in
    /// `<data dir>/vision/<camera>/`, within this quota and age.
    #[serde(default)]
    pub keep: KeepSection,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepSection {
    #[serde(default = "default_keep_bytes")]
    pub max_bytes: ByteSize,
    #[serde(default = "default_keep_age")]
    pub max_age: Duration,
}

impl Default for KeepSection {
    fn default() -> Self {
        Self {
            max_bytes: default_keep_bytes(),
            max_age: default_keep_age(),
        }
    }
}

fn default_keep_bytes() -> ByteSize {
    ByteSize(1 << 30)
}

fn default_keep_age() -> Duration {
    Duration(7 * 86_400)
}

fn default_fps() -> u32 {
    5
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uplink {
    /// `https://gateway:port` (or the hub's address: both speak the same sync contract)
    pub gateway: String,
    /// This box's certificate (role `device`, its id = `device.id`).
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// The deployment CA that issued the gateway's certificate.
    pub ca: PathBuf,
    /// Most records in one upload.
    #[serde(default = "default_uplink_records")]
    pub batch_max_records: usize,
    /// Most bytes (before compression) in one upload.
    #[serde(default = "default_uplink_bytes")]
    pub batch_max_bytes: ByteSize,
    /// How long a partial upload may wait for more records.
    #[serde(default = "default_uplink_wait")]
    pub batch_max_wait_ms: u64,
}

fn default_uplink_records() -> usize {
    20_000
}

fn default_uplink_bytes() -> ByteSize {
    ByteSize(8 << 20)
}

fn default_uplink_wait() -> u64 {
    50
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// `/healthz`, `/metrics` (and later the line screen).
    #[serde(default = "default_listen")]
    pub listen: String,
}

fn default_listen() -> String {
    "127.0.0.1:9100".into()
}

impl Default for HttpSection {
    fn default() -> Self {
        Self {
            listen: default_listen(),
        }
    }
}
