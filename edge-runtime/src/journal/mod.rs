//! The crash-safe local journal: append-only per stream, gap-free `seq` assigned at append,
//! group commit before anything is acknowledged, retention by age and byte quota per priority
//! class with a `Gap` record for every knowing drop. The journal knows no protocol.

pub mod retention;
mod store;
mod writer;

pub use store::{
    AppendReq, Durable, Entry, JournalError, JournalReader, Pruned, Store, StreamStats,
};
pub use writer::{AppendResult, Journal};
