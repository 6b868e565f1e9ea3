//! Mutual TLS 1.3 for both sync hops (rustls, aws-lc-rs). Servers require a client certificate
//! from the deployment's CA, checked against its CRL; clients trust only that CA. Nothing else
//! is negotiable: no TLS 1.2, no anonymous clients.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what} {path}: {why}; {fix}")]
    File {
        what: &'static str,
        path: String,
        why: String,
        fix: &'static str,
    },
    #[error("TLS configuration rejected: {0}")]
    Config(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

const PKI_FIX: &str = "create it with `foodflow-hub pki init` / `pki issue`";

fn file_err(what: &'static str, path: &Path, why: impl ToString) -> TlsError {
    TlsError::File {
        what,
        path: path.display().to_string(),
        why: why.to_string(),
        fix: PKI_FIX,
    }
}

pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err("certificate file", path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err("certificate file", path, e))?;
    if certs.is_empty() {
        return Err(file_err(
            "certificate file",
            path,
            "holds no PEM CERTIFICATE block",
        ));
    }
    Ok(certs)
}

pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_err("private key file", path, e))
}

fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in load_certs(path)? {
        roots
            .add(c)
            .map_err(|e| file_err("CA certificate file", path, e))?;
    }
    Ok(roots)
}

fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    CertificateRevocationListDer::pem_file_iter(path)
        .map_err(|e| file_err("CRL file", path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err("CRL file", path, e))
}

/// The files of one TLS endpoint.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Server side only: the CA's revocation list (re-read when it changes).
    pub crl: Option<PathBuf>,
}

impl TlsFiles {
    /// The conventional names in a PKI directory: `ca.pem`, `<name>.pem`, `<name>.key`, `crl.pem`.
    pub fn in_dir(dir: &Path, name: &str) -> Self {
        let crl = dir.join("crl.pem");
        Self {
            ca: dir.join("ca.pem"),
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}.key")),
            crl: crl.exists().then_some(crl),
        }
    }
}

/// The skew budget between the clocks of the tiers (docs/time.md): certificates are issued
/// backdated by it, a server accepts a client certificate that is not yet valid by at most
/// this much on its clock, and the hub checks a token's `nbf` with it. It covers a box or a hub
/// whose clock is up to this far behind the issuer's.
pub const CLOCK_SKEW_BUDGET: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// A server TLS configuration that follows changes of its CRL file, so a revocation takes
/// effect for the next connection without a restart.
pub struct ServerTls {
    files: TlsFiles,
    current: Mutex<Current>,
}

type Current = (
    Option<SystemTime>,
    Arc<ServerConfig>,
    Arc<dyn ClientCertVerifier>,
);

/// Lets the handshake complete with any client certificate whose key signature checks out,
/// and leaves the chain (CA, validity, revocation) to [`ServerTls::verify_chain`] right after
/// it. A client refused during the handshake only learns "connection closed" (in TLS 1.3 the
/// server's alert races the client's first request); refused after it, it gets an HTTP 401
/// that says what is wrong with its certificate. No request is served either way.
#[derive(Debug)]
struct DeferredChain(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for DeferredChain {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

impl ServerTls {
    pub fn load(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let current = Self::build(&files)?;
        Ok(Arc::new(Self {
            files,
            current: Mutex::new(current),
        }))
    }

    fn crl_stamp(files: &TlsFiles) -> Option<SystemTime> {
        let p = files.crl.as_ref()?;
        std::fs::metadata(p).and_then(|m| m.modified()).ok()
    }

    fn build(files: &TlsFiles) -> Result<Current, TlsError> {
        let stamp = Self::crl_stamp(files);
        let roots = Arc::new(load_roots(&files.ca)?);
        let mut vb = WebPkiClientVerifier::builder_with_provider(roots, provider());
        if let Some(crl) = &files.crl {
            vb = vb.with_crls(load_crls(crl)?);
        }
        let verifier = vb.build().map_err(|e| TlsError::Config(e.to_string()))?;
        let mut cfg = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_client_cert_verifier(Arc::new(DeferredChain(verifier.clone())))
            .with_single_cert(load_certs(&files.cert)?, load_key(&files.key)?)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok((stamp, Arc::new(cfg), verifier))
    }

    /// A configuration with the same server certificate that asks for no client certificate:
    /// the public listener, where people and services authenticate per request.
    pub fn public_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let mut cfg = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(load_certs(&self.files.cert)?, load_key(&self.files.key)?)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }

    /// Verifies a client's chain against the CA and the current CRL (after the handshake,
    /// see [`DeferredChain`]). The error explains itself (see [`explain_rustls`]).
    pub fn verify_chain(
        verifier: &dyn ClientCertVerifier,
        certs: &[CertificateDer<'_>],
    ) -> Result<(), rustls::Error> {
        let Some((ee, rest)) = certs.split_first() else {
            return Err(rustls::Error::NoCertificatesPresented);
        };
        let now = rustls_pki_types::UnixTime::now();
        match verifier.verify_client_cert(ee, rest, now) {
            Err(
                e @ rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidYet
                    | rustls::CertificateError::NotValidYetContext { .. },
                ),
            ) => {
                // This server's clock may be behind the issuer's, within the budget.
                let later =
                    rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                        now.as_secs().saturating_add(CLOCK_SKEW_BUDGET.as_secs()),
                    ));
                verifier
                    .verify_client_cert(ee, rest, later)
                    .map(|_| ())
                    .map_err(|_| e)
            }
            r => r.map(|_| ()),
        }
    }

    /// The configuration for the next handshake (rebuilt if the CRL changed; on a broken new
    /// CRL the previous configuration stays and the error is returned for logging).
    pub fn config(
        &self,
    ) -> (
        Arc<ServerConfig>,
        Arc<dyn ClientCertVerifier>,
        Option<TlsError>,
    ) {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let stamp = Self::crl_stamp(&self.files);
        if stamp != cur.0 {
            match Self::build(&self.files) {
                Ok(next) => *cur = next,
                Err(e) => {
                    cur.0 = stamp;
                    return (cur.1.clone(), cur.2.clone(), Some(e));
                }
            }
        }
        (cur.1.clone(), cur.2.clone(), None)
    }
}

/// A client TLS configuration: trusts the deployment CA only and presents its certificate.
pub struct ClientTls;

impl ClientTls {
    pub fn config(files: &TlsFiles) -> Result<ClientConfig, TlsError> {
        let roots = load_roots(&files.ca)?;
        let mut cfg = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(load_certs(&files.cert)?, load_key(&files.key)?)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        Ok(cfg)
    }
}

/// A human explanation of a handshake failure, for the server's log line.
pub fn explain_server_error(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(err) => explain_rustls(err),
        None => format!("{e}"),
    }
}

/// A human explanation of a certificate verdict.
pub fn explain_rustls(err: &rustls::Error) -> String {
    use rustls::{CertificateError, Error};
    match err {
        Error::NoCertificatesPresented => {
            "the client presented no certificate (mutual TLS is required)".into()
        }
        Error::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => format!(
                "the client certificate has expired by this server's clock ({c:?}); issue a new \
                 one, or check this server's clock if the certificate is recent"
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => format!(
                "the client certificate is not valid yet by this server's clock ({c:?}): this \
                 server's clock is behind (check its time sync)"
            ),
            CertificateError::Revoked => {
                "the client certificate is revoked (listed in the CA's CRL)".into()
            }
            CertificateError::UnknownIssuer => {
                "the client certificate was not issued by this deployment's CA".into()
            }
            CertificateError::BadSignature => {
                "the client certificate was not issued by this deployment's CA (its signature does not \
                 verify against it)"
                    .into()
            }
            other => format!("the client certificate is invalid: {other:?}"),
        },
        Error::PeerIncompatible(p) => format!("incompatible client (TLS 1.3 is required): {p:?}"),
        // rustls clients send this alert for a certificate outside its validity on *their*
        // clock, "not valid yet" included: most often the client's clock is wrong.
        Error::AlertReceived(rustls::AlertDescription::CertificateExpired) => {
            "the client refused this server's certificate as expired or not yet valid by the \
             client's clock: check the client's clock first (a box without RTC battery boots at \
             1970), then whether the server certificate really expired"
                .into()
        }
        other => format!("{other}"),
    }
}

/// A human explanation of a client-side failure, from the whole error chain.
pub fn explain_client_error(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut chain = String::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        chain.push_str(&format!("{e} | {e:?} | "));
        cur = e.source();
    }
    let hint = if chain.contains("NotValidYet") {
        "the server's certificate is not valid yet by this box's clock: this box's clock is \
         behind (not set since boot? check NTP); nothing is lost, uploads resume once it is set"
    } else if chain.contains("CertificateExpired") || chain.contains("certificate has expired") {
        "the server refused our client certificate as expired by its clock: issue a new one, \
         or check the server's clock if the certificate is recent"
    } else if chain.contains("CertificateRevoked") {
        "the server refused our client certificate: it is revoked"
    } else if chain.contains("UnknownCA") || chain.contains("BadCertificate") {
        "the server refused our client certificate: not issued by its CA"
    } else if chain.contains("CertificateRequired") {
        "the server requires a client certificate"
    } else if chain.contains("UnknownIssuer") {
        "the server's certificate is not issued by our CA (wrong `ca` file or wrong server)"
    } else if chain.contains("NotValidForName") {
        "the server's certificate does not name the host we connected to"
    } else if chain.contains("Expired") {
        "the server's certificate has expired by this box's clock: renew it, or check this \
         box's clock if the certificate is recent (a clock years ahead expires everything)"
    } else {
        return None;
    };
    Some(hint.to_owned())
}
