//! The wire contract shared by every FoodFlow OS tier.
//!
//! Only what at least two tiers need lives here: the [`Record`] and its payload kinds, typed ids,
//! priority classes and the compact binary encoding. `(device, stream, seq)` is the idempotency key
//! of a record; `seq` is assigned by the edge journal at durable append and is gap-free per stream.

pub mod batch;
mod ids;
mod record;
pub mod seq;
pub mod stored;
pub mod time;

pub use batch::{Batch, BatchError, Limits, Segment, StreamMark, SyncAck, SyncRefusal};
pub use ids::{DeviceId, IdError, StreamId};
pub use record::{
    BoundingBox, ClockNote, DecodeError, Detection, Event, Gap, Kind, Payload, PriorityClass,
    Quality, Reading, Record, Rollup, Severity, Value,
};
pub use seq::{MAX_SEQ_JUMP, SeqJump};
