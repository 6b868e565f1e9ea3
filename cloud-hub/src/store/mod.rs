//! The hub's record store behind a trait. Tenant isolation lives here, not in the handlers:
//! the only way to reach records is through a [`TenantStore`] obtained for one tenant, and every
//! key the backends write starts with that tenant.

mod embedded;

pub use embedded::EmbeddedStore;

use foodflow_protocol::{DeviceId, PriorityClass, Record, Segment, StreamId, StreamMark};
use foodflow_transport::TenantId;
use serde::Serialize;

use crate::audit::chain::{Draft, Entry};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("hub store at {path}: {why}")]
    Open { path: String, why: String },
    #[error("hub store write failed (nothing of this batch was committed): {0}")]
    Write(String),
    #[error("hub store read failed: {0}")]
    Read(String),
    /// The disk failed a write (full, I/O error): nothing of the request was stored, and
    /// writes are refused until the store is reopened (it retries by itself).
    #[error("hub store disk error (nothing of this request was stored): {0}")]
    Io(String),
    /// The batch itself is refused (nothing of it was committed).
    #[error(transparent)]
    SeqJump(#[from] foodflow_protocol::SeqJump),
    #[error("stored record {device}/{stream}#{seq} is corrupt: {why}")]
    Corrupt {
        device: String,
        stream: String,
        seq: u64,
        why: String,
    },
}

/// What an ingest committed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    pub accepted: u64,
    pub duplicates: u64,
    /// High-water mark of every stream the batch touched, after the commit.
    pub marks: Vec<StreamMark>,
    /// Per segment of the batch, the mark before the commit: its entries above it were new.
    pub before: Vec<u64>,
}

/// One stream of a device, as listed by the query API.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StreamInfo {
    pub stream: StreamId,
    pub class: PriorityClass,
    /// Highest seq committed.
    pub high_water_mark: u64,
    pub records: u64,
    /// The latest edge time to believe (records with a suspect time never move it); `None`
    /// while there is none.
    pub last_ts_ns: Option<i64>,
    /// Records stored with a suspect time (`clock_suspect`, docs/time.md).
    pub clock_suspect: u64,
}

/// A seq range query: `from..=to`, at most `limit` records.
#[derive(Debug, Clone, Copy)]
pub struct SeqRange {
    pub from: u64,
    pub to: u64,
    pub limit: usize,
}

/// The store of all tenants.
pub trait RecordStore: Send + Sync + 'static {
    fn tenant(&self, tenant: &TenantId) -> Box<dyn TenantStore + '_>;
    /// Whether writes can succeed: `Err(why)` after a disk failure until the store is
    /// writable again (`/healthz` answers 503 with it).
    fn health(&self) -> Result<(), String> {
        Ok(())
    }
}

/// One tenant's view: everything it can reach.
pub trait TenantStore {
    /// Commits the new records of `segments` durably (one transaction): records at or below
    /// their stream's high-water mark are duplicates and skipped.
    fn ingest(&self, segments: &[Segment]) -> Result<Committed, StoreError>;
    /// As [`TenantStore::ingest`], and in the same transaction appends the EPCIS events the
    /// batch's `Trace` records carry, with one audit entry each (`audit` gets the event's
    /// seq): regulated writes never commit apart from the records they came from.
    fn ingest_regulated(
        &self,
        segments: &[Segment],
        events: &[Vec<u8>],
        audit: &mut dyn FnMut(u64) -> Draft,
        ts_ns: i64,
    ) -> Result<(Committed, Vec<Entry>), StoreError>;
    /// High-water marks of all streams of `device` (all devices when `None`).
    fn marks(&self, device: Option<&DeviceId>) -> Result<Vec<StreamMark>, StoreError>;
    fn devices(&self) -> Result<Vec<DeviceId>, StoreError>;
    fn streams(&self, device: &DeviceId) -> Result<Vec<StreamInfo>, StoreError>;
    fn records(
        &self,
        device: &DeviceId,
        stream: &StreamId,
        range: SeqRange,
    ) -> Result<Vec<Record>, StoreError>;
    /// Appends records the hub itself produces (alarm events) after the stream's mark;
    /// returns the first seq given.
    fn append(
        &self,
        device: &DeviceId,
        stream: &StreamId,
        class: PriorityClass,
        items: &[(i64, foodflow_protocol::Payload)],
    ) -> Result<u64, StoreError>;
    /// Appends EPCIS events (regulated records) and, in the same transaction, one audit entry
    /// per event (`audit` gets the event's seq). Returns the chained audit entries.
    fn capture_epcis(
        &self,
        events: &[Vec<u8>],
        audit: &mut dyn FnMut(u64) -> Draft,
        ts_ns: i64,
    ) -> Result<Vec<Entry>, StoreError>;
    /// Sets (`Some`) or deletes (`None`) a tenant setting that is a regulated record (users,
    /// roles, keys) together with its audit entry, in one transaction. Returns the entry.
    fn put_setting_audited(
        &self,
        key: &str,
        value: Option<&[u8]>,
        draft: Draft,
        ts_ns: i64,
    ) -> Result<Entry, StoreError>;
    /// Appends audit entries for other regulated writes.
    fn audit_append(&self, drafts: Vec<Draft>, ts_ns: i64) -> Result<Vec<Entry>, StoreError>;
    /// Stored EPCIS events from `from` (seq, bytes), at most `limit`.
    fn epcis_raw(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;
    /// Stored audit entries from `from` (seq, bytes) — raw, so verification can name an
    /// unreadable entry instead of failing.
    fn audit_raw(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;
    /// Tenant settings (alarm rules …) by key.
    fn put_setting(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    fn delete_setting(&self, key: &str) -> Result<bool, StoreError>;
    fn settings(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// The setting stored under exactly `key`.
    fn setting(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .settings(key)?
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v))
    }
    /// Calls `f` for every record of the stream observed at `from_ns <= t < to_ns`, in seq
    /// order, where `t` is [`Record::observed_time`] (the one time charts also bucket by).
    /// Returns how many records were left out because their time is suspect and uncorrected.
    fn scan_time(
        &self,
        device: &DeviceId,
        stream: &StreamId,
        from_ns: i64,
        to_ns: i64,
        f: &mut dyn FnMut(&Record),
    ) -> Result<u64, StoreError>;
}

/// The JSON setting stored under exactly `key`; `what` names it when it cannot be read.
pub fn json_setting<T: serde::de::DeserializeOwned>(
    view: &dyn TenantStore,
    key: &str,
    what: &str,
) -> Result<Option<T>, StoreError> {
    view.setting(key)?
        .map(|v| serde_json::from_slice(&v))
        .transpose()
        .map_err(|e| StoreError::Read(format!("{what} is unreadable: {e}")))
}
