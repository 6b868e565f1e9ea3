//! Short-lived access tokens: JWTs signed with the hub's Ed25519 key (`alg: EdDSA`). Verified
//! strictly: the header must say EdDSA (no `none`, no algorithm confusion), the signature must
//! check, the issuer must be this hub, the audience this hub's API and the token must not be
//! expired.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "foodflow-hub";
/// The only audience access tokens are minted for: the hub's people API. Anything else this
/// key may sign one day (signing requests, links in e-mails) carries another audience and is
/// refused here.
pub const AUDIENCE: &str = "foodflow-hub/api";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user name.
    pub sub: String,
    /// The tenant.
    pub ten: String,
    /// Permissions at login, for clients to show; requests are authorised by the user's roles
    /// as they are now.
    pub perms: Vec<String>,
    pub iat: i64,
    /// Not before (Unix s); checked with the skew budget, so a token from a hub whose clock is
    /// ahead of this one's by more is refused. Tokens from before it existed have none.
    #[serde(default)]
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    #[error("not a JWT (three base64url parts expected)")]
    Malformed,
    #[error("token algorithm {0:?} is not accepted (EdDSA only)")]
    Algorithm(String),
    #[error("token signature does not verify")]
    Signature,
    #[error("token issued by {0:?}, not this hub")]
    Issuer(String),
    #[error("token meant for {0:?}, not this hub's API")]
    Audience(String),
    #[error("token expired; log in again")]
    Expired,
    #[error(
        "token not valid yet: it was issued on a clock ahead of this hub's by more than the skew budget"
    )]
    NotYetValid,
}

pub struct Keys {
    signing: SigningKey,
    /// Key id: the first 16 hex digits of the public key, so rotation can be told apart.
    pub kid: String,
}

impl Keys {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&seed);
        let kid = signing.verifying_key().as_bytes()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self { signing, kid }
    }

    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        Self::from_seed(seed)
    }

    /// Loads the key from `path`, creating it (mode 0600) on first use.
    pub fn load_or_create(path: &std::path::Path) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(b) if b.len() == 32 => {
                let mut seed = [0u8; 32];
                seed.copy_from_slice(&b);
                Ok(Self::from_seed(seed))
            }
            Ok(_) => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} is not a 32-byte Ed25519 seed; move it away to have a new key made \
                     (tokens signed with the old key stop working)",
                    path.display()
                ),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut seed = [0u8; 32];
                rand::fill(&mut seed);
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)?;
                f.write_all(&seed)?;
                f.sync_all()?;
                Ok(Self::from_seed(seed))
            }
            Err(e) => Err(e),
        }
    }

    pub fn public(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The public key as a JWK set (`/.well-known/jwks.json`).
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
            "kid": self.kid, "x": B64.encode(self.public().as_bytes()),
        }]})
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let header = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": self.kid});
        let msg = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(serde_json::to_vec(claims).unwrap_or_default())
        );
        let sig = self.signing.sign(msg.as_bytes());
        format!("{msg}.{}", B64.encode(sig.to_bytes()))
    }

    pub fn verify(&self, token: &str, now_s: i64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: serde_json::Value = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        let alg = header["alg"].as_str().unwrap_or_default();
        if alg != "EdDSA" {
            return Err(TokenError::Algorithm(alg.to_owned()));
        }
        let sig: [u8; 64] = B64
            .decode(s)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(TokenError::Malformed)?;
        let msg = &token[..h.len() + 1 + c.len()];
        self.public()
            .verify(msg.as_bytes(), &Signature::from_bytes(&sig))
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims = B64
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.iss != ISSUER {
            return Err(TokenError::Issuer(claims.iss));
        }
        if claims.aud != AUDIENCE {
            return Err(TokenError::Audience(claims.aud));
        }
        if claims.exp <= now_s {
            return Err(TokenError::Expired);
        }
        let budget =
            i64::try_from(foodflow_transport::tls::CLOCK_SKEW_BUDGET.as_secs()).unwrap_or(0);
        if claims.nbf > now_s.saturating_add(budget) {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: "ada".into(),
            ten: "acme".into(),
            perms: vec!["trace:read".into()],
            iat: 100,
            nbf: 100,
            exp,
            jti: "j1".into(),
        }
    }

    /// A token from a hub whose clock is ahead: accepted within the skew budget, refused
    /// beyond it.
    #[test]
    fn not_before_is_checked_with_the_skew_budget() {
        let k = Keys::generate();
        let budget = foodflow_transport::tls::CLOCK_SKEW_BUDGET.as_secs() as i64;
        let mut c = claims(1_000_000);
        c.nbf = 10_000;
        let t = k.sign(&c);
        assert!(k.verify(&t, 10_000 - budget).is_ok());
        assert_eq!(
            k.verify(&t, 10_000 - budget - 1),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn sign_verify_and_every_refusal() {
        let k = Keys::generate();
        let t = k.sign(&claims(1_000));
        assert_eq!(k.verify(&t, 500).unwrap(), claims(1_000));
        assert_eq!(k.verify(&t, 1_000), Err(TokenError::Expired));
        assert_eq!(Keys::generate().verify(&t, 500), Err(TokenError::Signature));
        // Claims swapped under the same signature.
        let mut forged = claims(9_999_999);
        forged.perms.push("user:admin".into());
        let other = k.sign(&forged);
        let parts: Vec<&str> = t.split('.').collect();
        let oparts: Vec<&str> = other.split('.').collect();
        let spliced = format!("{}.{}.{}", parts[0], oparts[1], parts[2]);
        assert_eq!(k.verify(&spliced, 500), Err(TokenError::Signature));
        // alg: none.
        let none = format!("{}.{}.", B64.encode(r#"{"alg":"none"}"#), parts[1]);
        assert_eq!(
            k.verify(&none, 500),
            Err(TokenError::Algorithm("none".into()))
        );
        assert_eq!(k.verify("abc", 500), Err(TokenError::Malformed));
        let mut foreign = claims(1_000);
        foreign.iss = "elsewhere".into();
        assert_eq!(
            k.verify(&k.sign(&foreign), 500),
            Err(TokenError::Issuer("elsewhere".into()))
        );
        let mut elsewhere = claims(1_000);
        elsewhere.aud = "foodflow-hub/sign".into();
        assert_eq!(
            k.verify(&k.sign(&elsewhere), 500),
            Err(TokenError::Audience("foodflow-hub/sign".into()))
        );
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("jwt.key");
        let a = Keys::load_or_create(&p).unwrap();
        let b = Keys::load_or_create(&p).unwrap();
        assert_eq!(a.public(), b.public());
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::write(&p, b"short").unwrap();
        assert!(Keys::load_or_create(&p).is_err());
    }
}
