//! The crash-safe local journal: append-only per stream, gap-free `seq` assigned at append,
//! group commit before anything is acknowledged, retention by age (on the journal's own clock,
//! which wall-clock steps cannot move) and byte quota per priority class, bounded by what the
//! next hop confirmed, with a `Gap` record for every knowing drop. The journal knows no
//! protocol.

pub mod clock;
pub mod retention;
mod store;
mod writer;

pub use clock::JournalClock;
pub use store::{
    AppendReq, Durable, Entry, JournalError, JournalReader, Pruned, Store, StreamStats,
};
pub use writer::{AppendResult, Journal};
