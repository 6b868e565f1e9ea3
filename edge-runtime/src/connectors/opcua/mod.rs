//! OPC UA client source on async-opcua: subscriptions with sampling interval and absolute
//! deadband per tag, reconnect with backoff (the session event loop), a re-read of every tag
//! after a reconnect, and an outage recorded as an event when it starts and a `Gap` when it ends.

mod browse;
mod client;
mod convert;

pub use browse::browse;
pub use client::run;
pub use convert::{datetime_to_ns, variant_to_value};
