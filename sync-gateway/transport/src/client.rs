//! The uploader's HTTP/2 client: one mutual-TLS connection to the next hop, batches out,
//! acknowledgements back. Errors are sorted into what to do next: retry later (the hop is
//! down or slow), slow down (back-pressure), or stop and tell a person (refused).

use std::time::Duration;

use foodflow_protocol::batch::CONTENT_TYPE;
use foodflow_protocol::{StreamMark, SyncAck, SyncRefusal};

use crate::tls::{ClientTls, TlsError, TlsFiles, explain_client_error};

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The next hop is unreachable, timed out or failed; nothing was committed by it.
    #[error("{url} unreachable: {why}")]
    Unavailable { url: String, why: String },
    /// The TLS handshake failed for a reason a person must fix (certificates).
    #[error("{url}: TLS refused: {why}")]
    Tls { url: String, why: String },
    /// The next hop is full: try again after the pause it asked for.
    #[error("{url} asks to slow down: {message}")]
    Backpressure {
        url: String,
        message: String,
        retry_after: Duration,
    },
    /// The next hop refused the request itself (HTTP 4xx): retrying will not help.
    #[error("{url} refused the upload ({status} {reason}): {message}")]
    Refused {
        url: String,
        status: u16,
        reason: String,
        message: String,
    },
}

impl SendError {
    pub fn is_retryable(&self) -> bool {
        !matches!(self, SendError::Refused { .. })
    }
}

pub struct SyncClient {
    http: reqwest::Client,
    base: String,
}

impl SyncClient {
    /// `base` is `https://host:port` of the next hop.
    pub fn new(base: &str, files: &TlsFiles, timeout: Duration) -> Result<Self, TlsError> {
        let cfg = ClientTls::config(files)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(cfg)
            .http2_prior_knowledge()
            .http2_initial_stream_window_size(8 << 20)
            .http2_initial_connection_window_size(16 << 20)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .http2_keep_alive_timeout(Duration::from_secs(10))
            .http2_keep_alive_while_idle(true)
            .connect_timeout(Duration::from_secs(5))
            .timeout(timeout)
            .no_proxy()
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn transport_error(&self, e: reqwest::Error) -> SendError {
        let url = self.base.clone();
        match explain_client_error(&e) {
            Some(why) => SendError::Tls { url, why },
            None => {
                let mut why = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    why.push_str(": ");
                    why.push_str(&s.to_string());
                    src = s.source();
                }
                SendError::Unavailable { url, why }
            }
        }
    }

    async fn refusal(&self, resp: reqwest::Response) -> SendError {
        let status = resp.status().as_u16();
        let url = self.base.clone();
        let text = resp.text().await.unwrap_or_default();
        let r: SyncRefusal = serde_json::from_str(&text).unwrap_or(SyncRefusal {
            reason: "http".into(),
            message: text.chars().take(300).collect(),
            retry_after_ms: None,
        });
        match status {
            429 | 503 => SendError::Backpressure {
                url,
                message: r.message,
                retry_after: Duration::from_millis(r.retry_after_ms.unwrap_or(500)),
            },
            401 => SendError::Tls {
                url,
                why: r.message,
            },
            s if s >= 500 => SendError::Unavailable {
                url,
                why: format!("{s}: {}", r.message),
            },
            _ => SendError::Refused {
                url,
                status,
                reason: r.reason,
                message: r.message,
            },
        }
    }

    /// Sends a request and reads a JSON answer of type `T` (`what` names it in errors).
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<T, SendError> {
        let resp = req.send().await.map_err(|e| self.transport_error(e))?;
        if !resp.status().is_success() {
            return Err(self.refusal(resp).await);
        }
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        serde_json::from_slice(&bytes).map_err(|e| SendError::Unavailable {
            url: self.base.clone(),
            why: format!("answer is not {what}: {e}"),
        })
    }

    /// Uploads one encoded batch; the answer says what the next hop has committed.
    pub async fn upload(&self, body: Vec<u8>) -> Result<SyncAck, SendError> {
        let req = self
            .http
            .post(format!("{}/v1/sync/batches", self.base))
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(body);
        self.json(req, "a sync acknowledgement").await
    }

    /// The next hop's committed high-water marks for the caller's streams.
    pub async fn marks(&self) -> Result<Vec<StreamMark>, SendError> {
        let req = self.http.get(format!("{}/v1/sync/marks", self.base));
        self.json(req, "a list of marks").await
    }

    /// A GET of any JSON endpoint of the next hop (queries, status).
    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value, SendError> {
        let req = self.http.get(format!("{}{path}", self.base));
        self.json(req, "JSON").await
    }
}

/// What an uploader does after a failed upload: the error's kind (a metric label) and how long
/// to wait. Back-pressure waits as long as the receiver asked; refusals (certificates,
/// authorisation) need a person and are retried slowly; the rest back off exponentially.
pub fn after_failure(e: &SendError, backoff: &mut crate::Backoff) -> (&'static str, Duration) {
    match e {
        SendError::Backpressure { retry_after, .. } => ("backpressure", *retry_after),
        SendError::Refused { .. } => {
            backoff.fail();
            ("refused", Duration::from_secs(10))
        }
        SendError::Tls { .. } => {
            backoff.fail();
            ("tls", Duration::from_secs(10))
        }
        SendError::Unavailable { .. } => ("unavailable", backoff.fail()),
    }
}
