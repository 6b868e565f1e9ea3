//! Who is on the other end of a mutual-TLS connection. Identities travel in the client
//! certificate as one URI subject alternative name:
//!
//! `urn:foodflow:<role>:tenant=<tenant>;id=<id>` — e.g. `urn:foodflow:device:tenant=acme;id=line-1`
//!
//! The certificate chain is verified by rustls before this module sees it; here the already
//! trusted certificate is only read.

use std::fmt;

use foodflow_protocol::{DeviceId, StreamId};
use serde::{Deserialize, Serialize};

const PREFIX: &str = "urn:foodflow:";

/// A tenant: the unit of isolation in the hub's storage.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn new(id: impl Into<String>) -> Result<Self, IdentityError> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok {
            Ok(Self(id))
        } else {
            Err(IdentityError::Tenant(id))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = IdentityError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> String {
        t.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a certificate may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An edge box: may upload records of its own device id only.
    Device,
    /// A site gateway: may forward records of any device of its tenant.
    Gateway,
    /// A server (gateway or hub listener); never accepted as a client.
    Server,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Device => "device",
            Role::Gateway => "gateway",
            Role::Server => "server",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "device" => Role::Device,
            "gateway" => Role::Gateway,
            "server" => Role::Server,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub role: Role,
    pub tenant: TenantId,
    /// The device id (for gateways and servers: their own name).
    pub id: DeviceId,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("tenant id {0:?} is invalid: use 1–64 of a-z 0-9 - _")]
    Tenant(String),
    #[error("certificate is not X.509 DER: {0}")]
    Der(String),
    #[error(
        "certificate carries no FoodFlow identity (a SAN URI urn:foodflow:<role>:tenant=T;id=D); \
         issue it with `foodflow-hub pki issue`"
    )]
    Missing,
    #[error("certificate identity {uri:?} is malformed: {why}")]
    Malformed { uri: String, why: String },
}

impl Identity {
    pub fn uri(&self) -> String {
        format!(
            "{PREFIX}{}:tenant={};id={}",
            self.role.as_str(),
            self.tenant,
            self.id
        )
    }

    pub fn parse_uri(uri: &str) -> Result<Self, IdentityError> {
        let bad = |why: &str| IdentityError::Malformed {
            uri: uri.to_owned(),
            why: why.to_owned(),
        };
        let rest = uri.strip_prefix(PREFIX).ok_or(IdentityError::Missing)?;
        let (role, attrs) = rest.split_once(':').ok_or_else(|| bad("no role"))?;
        let role = Role::parse(role).ok_or_else(|| bad("unknown role"))?;
        let (mut tenant, mut id) = (None, None);
        for kv in attrs.split(';') {
            match kv.split_once('=') {
                Some(("tenant", v)) => tenant = Some(TenantId::new(v)?),
                Some(("id", v)) => {
                    id = Some(DeviceId::new(v).map_err(|e| bad(&e.to_string()))?);
                }
                _ => return Err(bad("expected tenant=…;id=…")),
            }
        }
        Ok(Self {
            role,
            tenant: tenant.ok_or_else(|| bad("no tenant"))?,
            id: id.ok_or_else(|| bad("no id"))?,
        })
    }

    /// Reads the identity of a (verified) certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, IdentityError> {
        use x509_parser::prelude::*;
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| IdentityError::Der(e.to_string()))?;
        let san = cert
            .subject_alternative_name()
            .map_err(|e| IdentityError::Der(e.to_string()))?
            .ok_or(IdentityError::Missing)?;
        for name in &san.value.general_names {
            if let GeneralName::URI(uri) = name
                && uri.starts_with(PREFIX)
            {
                return Self::parse_uri(uri);
            }
        }
        Err(IdentityError::Missing)
    }

    /// May this identity upload records of `device` into `stream`? Besides the device rule,
    /// tiers own stream prefixes: `hub/` is written by the hub alone (alarms, rollups), and
    /// `gateway/` only by a gateway for its own id (its gap records).
    pub fn may_write(&self, device: &DeviceId, stream: &StreamId) -> Result<(), String> {
        if !self.may_send_for(device) {
            return Err(format!(
                "{self} may not upload records of device {device:?}"
            ));
        }
        let s = stream.as_str();
        if s.starts_with("hub/") {
            return Err(format!(
                "stream {s:?}: hub/ streams are written by the hub itself"
            ));
        }
        if s.starts_with("gateway/") && !(self.role == Role::Gateway && &self.id == device) {
            return Err(format!(
                "stream {s:?}: gateway/ streams are written only by a gateway for its own id"
            ));
        }
        Ok(())
    }

    /// May this identity upload records of `device`?
    pub fn may_send_for(&self, device: &DeviceId) -> bool {
        match self.role {
            Role::Device => &self.id == device,
            Role::Gateway => true,
            Role::Server => false,
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.role.as_str(), self.tenant, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_roundtrip_and_rules() {
        let i = Identity {
            role: Role::Device,
            tenant: TenantId::new("acme").unwrap(),
            id: DeviceId::new("line-1").unwrap(),
        };
        assert_eq!(i.uri(), "urn:foodflow:device:tenant=acme;id=line-1");
        assert_eq!(Identity::parse_uri(&i.uri()).unwrap(), i);
        assert!(i.may_send_for(&DeviceId::new("line-1").unwrap()));
        assert!(!i.may_send_for(&DeviceId::new("line-2").unwrap()));
        let (me, s) = (DeviceId::new("line-1").unwrap(), |x: &str| {
            StreamId::new(x).unwrap()
        });
        assert!(i.may_write(&me, &s("mqtt/json")).is_ok());
        assert!(i.may_write(&me, &s("hub/alarms")).is_err());
        assert!(i.may_write(&me, &s("gateway/gaps")).is_err());
        let gw = Identity {
            role: Role::Gateway,
            id: DeviceId::new("gw-1").unwrap(),
            ..i.clone()
        };
        assert!(
            gw.may_write(&me, &s("gateway/gaps")).is_err(),
            "not its own id"
        );
        assert!(gw.may_write(&me, &s("mqtt/json")).is_ok());
        assert!(gw.may_write(&gw.id, &s("gateway/gaps")).is_ok());
        assert!(gw.may_write(&gw.id, &s("hub/alarms")).is_err());
        assert!(matches!(
            Identity::parse_uri("urn:foodflow:root:tenant=a;id=b"),
            Err(IdentityError::Malformed { .. })
        ));
        assert!(Identity::parse_uri("urn:foodflow:device:tenant=A B;id=x").is_err());
        assert_eq!(
            Identity::parse_uri("https://x"),
            Err(IdentityError::Missing)
        );
    }
}
