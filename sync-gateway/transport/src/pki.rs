//! The development PKI (rcgen): one CA per deployment, server and client certificates that
//! carry a FoodFlow identity, and a CRL. Production deployments bring their own CA; the file
//! layout (`ca.pem`, `<name>.pem`, `<name>.key`, `crl.pem`) stays the same.
//!
//! A directory holds `ca.key` (mode 0600), `issued.jsonl` (every certificate issued, by serial)
//! and `revoked.jsonl`; `crl.pem` is regenerated from the latter on every revocation.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, RevokedCertParams,
    SanType, SerialNumber,
};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::identity::{Identity, Role};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("{0}")]
    Usage(String),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One issued certificate, as recorded in `issued.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Issued {
    pub serial: String,
    pub identity: String,
    pub file: String,
    pub not_after: String,
}

/// What to issue.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    pub identity: Identity,
    /// DNS names or IP addresses the certificate serves (servers and gateways).
    pub hosts: Vec<String>,
    pub days: i64,
    /// Issue a certificate that expired yesterday (refusal tests and demos).
    pub expired: bool,
}

/// A file name for an id (ids may hold `/` and `:`).
pub fn file_stem(id: &str) -> String {
    id.chars()
        .map(|c| if c == '/' || c == ':' { '_' } else { c })
        .collect()
}

fn write_private(path: &Path, text: &str) -> Result<(), PkiError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io(path))?;
    // The mode above applies only to a new file: an existing key file is narrowed too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io(path))?;
    }
    f.write_all(text.as_bytes()).map_err(io(path))
}

fn write_public(path: &Path, text: &str) -> Result<(), PkiError> {
    std::fs::write(path, text).map_err(io(path))
}

fn random_serial() -> SerialNumber {
    let mut b: [u8; 16] = rand::random();
    b[0] &= 0x7f; // positive
    b[0] |= 0x01; // no leading zero byte
    SerialNumber::from_slice(&b)
}

fn hex(serial: &SerialNumber) -> String {
    serial.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    pub fn open(dir: &Path) -> Result<Self, PkiError> {
        if !dir.join("ca.pem").exists() || !dir.join("ca.key").exists() {
            return Err(PkiError::Usage(format!(
                "{} holds no CA (ca.pem + ca.key); run `foodflow-hub pki init --dir {}` first",
                dir.display(),
                dir.display()
            )));
        }
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a CA and an empty CRL in `dir`. Refuses to overwrite an existing CA: every
    /// certificate issued by it would stop working.
    pub fn init(dir: &Path, name: &str) -> Result<Self, PkiError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        // The directory holds the CA's private key: its owner alone lists and enters it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io(dir))?;
        }
        if dir.join("ca.key").exists() {
            return Err(PkiError::Usage(format!(
                "{} already holds a CA; remove it first if you really want a new one (every \
                 certificate it issued stops working)",
                dir.display()
            )));
        }
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        // A short random tag tells two development CAs apart in logs and certificate dumps.
        let tag: u16 = rand::random();
        dn.push(
            DnType::CommonName,
            format!("{name} development CA {tag:04x}"),
        );
        dn.push(DnType::OrganizationName, "FoodFlow OS");
        p.distinguished_name = dn;
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        p.not_before = now - Duration::days(1);
        p.not_after = now + Duration::days(3650);
        p.serial_number = Some(random_serial());
        let cert = p.self_signed(&key)?;
        write_private(&dir.join("ca.key"), &key.serialize_pem())?;
        write_public(&dir.join("ca.pem"), &cert.pem())?;
        let pki = Self {
            dir: dir.to_owned(),
        };
        pki.write_crl()?;
        Ok(pki)
    }

    fn issuer(&self) -> Result<Issuer<'static, KeyPair>, PkiError> {
        let kp = self.dir.join("ca.key");
        let key_pem = std::fs::read_to_string(&kp).map_err(io(&kp))?;
        let key = KeyPair::from_pem(&key_pem)?;
        let cp = self.dir.join("ca.pem");
        let ca_pem = std::fs::read_to_string(&cp).map_err(io(&cp))?;
        Ok(Issuer::from_ca_cert_pem(&ca_pem, key)?)
    }

    /// Issues a certificate + key as `<id>.pem` / `<id>.key`; returns the certificate path.
    pub fn issue(&self, req: &IssueRequest) -> Result<PathBuf, PkiError> {
        let issuer = self.issuer()?;
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, req.identity.id.as_str());
        dn.push(DnType::OrganizationName, req.identity.tenant.as_str());
        p.distinguished_name = dn;
        let uri = req
            .identity
            .uri()
            .try_into()
            .map_err(|_| PkiError::Usage("identity URI is not ASCII".into()))?;
        p.subject_alt_names.push(SanType::URI(uri));
        for h in &req.hosts {
            if let Ok(ip) = h.parse::<IpAddr>() {
                p.subject_alt_names.push(SanType::IpAddress(ip));
            } else {
                let dns = h
                    .clone()
                    .try_into()
                    .map_err(|_| PkiError::Usage(format!("host {h:?} is not a DNS name")))?;
                p.subject_alt_names.push(SanType::DnsName(dns));
            }
        }
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = match req.identity.role {
            Role::Device => vec![ExtendedKeyUsagePurpose::ClientAuth],
            Role::Gateway => vec![
                ExtendedKeyUsagePurpose::ClientAuth,
                ExtendedKeyUsagePurpose::ServerAuth,
            ],
            Role::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
        };
        let now = OffsetDateTime::now_utc();
        if req.expired {
            p.not_before = now - Duration::days(30);
            p.not_after = now - Duration::days(1);
        } else {
            // Valid on a clock up to the skew budget behind this one.
            let budget = i64::try_from(crate::tls::CLOCK_SKEW_BUDGET.as_secs()).unwrap_or(0);
            p.not_before = now - Duration::seconds(budget);
            p.not_after = now + Duration::days(req.days.max(1));
        }
        let serial = random_serial();
        p.serial_number = Some(serial.clone());
        p.use_authority_key_identifier_extension = true;
        let cert = p.signed_by(&key, &issuer)?;
        let stem = file_stem(req.identity.id.as_str());
        let cert_path = self.dir.join(format!("{stem}.pem"));
        write_private(&self.dir.join(format!("{stem}.key")), &key.serialize_pem())?;
        write_public(&cert_path, &cert.pem())?;
        let rec = Issued {
            serial: hex(&serial),
            identity: req.identity.uri(),
            file: format!("{stem}.pem"),
            not_after: p.not_after.to_string(),
        };
        self.append_jsonl("issued.jsonl", &rec)?;
        Ok(cert_path)
    }

    fn append_jsonl<T: Serialize>(&self, name: &str, v: &T) -> Result<(), PkiError> {
        let path = self.dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        let line = serde_json::to_string(v).map_err(|e| PkiError::Usage(e.to_string()))?;
        writeln!(f, "{line}").map_err(io(&path))
    }

    fn read_jsonl(&self, name: &str) -> Result<Vec<Issued>, PkiError> {
        let path = self.dir.join(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&path)(e)),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .map_err(|e| PkiError::Usage(format!("{}: {e}", path.display())))
            })
            .collect()
    }

    /// Revokes every certificate issued to `id` and rewrites `crl.pem`. Returns the serials.
    pub fn revoke(&self, id: &str) -> Result<Vec<String>, PkiError> {
        let issued = self.read_jsonl("issued.jsonl")?;
        let already: Vec<String> = self
            .read_jsonl("revoked.jsonl")?
            .into_iter()
            .map(|r| r.serial)
            .collect();
        let mut out = Vec::new();
        for rec in issued {
            let matches = Identity::parse_uri(&rec.identity)
                .map(|i| i.id.as_str() == id)
                .unwrap_or(false);
            if matches && !already.contains(&rec.serial) {
                self.append_jsonl("revoked.jsonl", &rec)?;
                out.push(rec.serial);
            }
        }
        if out.is_empty() {
            return Err(PkiError::Usage(format!(
                "no unrevoked certificate was issued to {id:?} from {}",
                self.dir.display()
            )));
        }
        self.write_crl()?;
        Ok(out)
    }

    fn write_crl(&self) -> Result<(), PkiError> {
        let issuer = self.issuer()?;
        let now = OffsetDateTime::now_utc();
        let mut revoked = Vec::new();
        for rec in self.read_jsonl("revoked.jsonl")? {
            let bytes: Vec<u8> = (0..rec.serial.len() / 2)
                .filter_map(|i| u8::from_str_radix(&rec.serial[2 * i..2 * i + 2], 16).ok())
                .collect();
            revoked.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&bytes),
                revocation_time: now,
                reason_code: None,
                invalidity_date: None,
            });
        }
        let params = CertificateRevocationListParams {
            this_update: now - Duration::minutes(5),
            next_update: now + Duration::days(30),
            crl_number: random_serial(),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&issuer)?;
        // Write-then-rename: a server re-reading the CRL never sees half a file.
        let tmp = self.dir.join("crl.pem.tmp");
        write_public(&tmp, &crl.pem()?)?;
        let dst = self.dir.join("crl.pem");
        std::fs::rename(&tmp, &dst).map_err(io(&dst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::TenantId;
    use foodflow_protocol::DeviceId;

    /// A client certificate issued on a clock ahead of the server's: accepted within the skew
    /// budget, refused as not valid yet beyond it.
    #[test]
    fn a_server_behind_the_issuer_accepts_certificates_within_the_skew_budget() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::init(dir.path(), "test").unwrap();
        pki.issue(&IssueRequest {
            identity: Identity {
                role: Role::Server,
                tenant: TenantId::new("hub").unwrap(),
                id: DeviceId::new("hub").unwrap(),
            },
            hosts: vec!["127.0.0.1".into()],
            days: 30,
            expired: false,
        })
        .unwrap();
        let tls =
            crate::tls::ServerTls::load(crate::tls::TlsFiles::in_dir(dir.path(), "hub")).unwrap();
        let (_, verifier, _) = tls.config();
        let issued_ahead = |minutes: i64| {
            let issuer = pki.issuer().unwrap();
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::default();
            p.distinguished_name.push(DnType::CommonName, "line-1");
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            let now = OffsetDateTime::now_utc();
            p.not_before = now + Duration::minutes(minutes);
            p.not_after = now + Duration::days(1);
            p.use_authority_key_identifier_extension = true;
            p.signed_by(&key, &issuer).unwrap().der().clone()
        };
        let budget = crate::tls::CLOCK_SKEW_BUDGET.as_secs() as i64 / 60;
        crate::tls::ServerTls::verify_chain(&*verifier, &[issued_ahead(budget - 2)]).unwrap();
        let e = crate::tls::ServerTls::verify_chain(&*verifier, &[issued_ahead(budget + 2)])
            .unwrap_err();
        assert!(
            crate::tls::explain_rustls(&e).contains("not valid yet by this server's clock"),
            "{e:?}"
        );
    }

    #[test]
    fn issues_certificates_that_carry_their_identity() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::init(dir.path(), "test").unwrap();
        assert!(
            Pki::init(dir.path(), "again").is_err(),
            "never overwrite a CA"
        );
        let identity = Identity {
            role: Role::Device,
            tenant: TenantId::new("acme").unwrap(),
            id: DeviceId::new("line/1").unwrap(),
        };
        let path = pki
            .issue(&IssueRequest {
                identity: identity.clone(),
                hosts: vec![],
                days: 30,
                expired: false,
            })
            .unwrap();
        assert!(path.ends_with("line_1.pem"));
        let der = crate::tls::load_certs(&path).unwrap();
        assert_eq!(Identity::from_der(&der[0]).unwrap(), identity);
        assert_eq!(pki.revoke("line/1").unwrap().len(), 1);
        assert!(pki.revoke("nobody").is_err());
        let crl = std::fs::read_to_string(dir.path().join("crl.pem")).unwrap();
        assert!(crl.contains("BEGIN X509 CRL"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("ca.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "private keys are not readable by others");
            let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the PKI directory is its owner's alone");
        }
    }
}
