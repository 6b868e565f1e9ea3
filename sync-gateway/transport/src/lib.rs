//! What the sync hops share below the wire contract: mutual TLS 1.3 configurations, the device
//! identity carried in client certificates, the development PKI, the HTTP/2-over-TLS server
//! loop, the batch uploader with its backoff, and the Prometheus registry every service exposes.
//!
//! This crate knows no journal, queue or store: the edge, the gateway and the hub plug their
//! own storage into the handlers they serve.

pub mod backoff;
pub mod client;
pub mod identity;
pub mod metrics;
pub mod password;
pub mod pki;
pub mod server;
pub mod throttle;
pub mod tls;
pub mod units;

pub use backoff::Backoff;
pub use client::{SendError, SyncClient};
pub use identity::{Identity, Role, TenantId};
pub use tls::{ClientTls, ServerTls, TlsError};
