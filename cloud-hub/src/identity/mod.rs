//! People and services of a tenant: users with argon2 password hashes, roles that grant
//! permissions, API keys for services, and the short-lived JWTs a login issues. Users, roles
//! and keys are tenant settings written together with their audit entry (regulated records);
//! password hashes and key secrets never leave the store, never reach a log or the trail.

pub mod api;
pub mod password;
pub mod principal;
pub mod throttle;
pub mod token;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::chain::Draft;
use crate::store::{StoreError, TenantStore};

/// Every permission the hub knows. Endpoints name the one they need.
pub const PERMISSIONS: &[&str] = &[
    "data:read",
    "batch:read",
    "batch:approve",
    "forecast:read",
    "forecast:run",
    "optimize:read",
    "optimize:run",
    "plan:approve",
    "trace:read",
    "trace:export",
    "epcis:capture",
    "trace:sources",
    "gateway:bind",
    "audit:read",
    "user:admin",
    "model:deploy",
];

/// Roles every tenant has; a tenant may define more (`PUT /v1/roles/{name}`), or redefine
/// these except `admin`.
pub fn builtin_roles() -> Vec<RoleDef> {
    let r = |name: &str, perms: &[&str]| RoleDef {
        name: name.into(),
        permissions: perms.iter().map(|p| p.to_string()).collect(),
        builtin: true,
    };
    vec![
        r("admin", PERMISSIONS),
        r(
            "quality_manager",
            &[
                "data:read",
                "batch:read",
                "batch:approve",
                "trace:read",
                "trace:export",
                "epcis:capture",
                "trace:sources",
                "audit:read",
            ],
        ),
        r(
            "auditor",
            &[
                "data:read",
                "batch:read",
                "trace:read",
                "trace:export",
                "audit:read",
            ],
        ),
        r(
            "planner",
            &[
                "data:read",
                "batch:read",
                "forecast:read",
                "forecast:run",
                "optimize:read",
                "optimize:run",
                "trace:read",
            ],
        ),
        // Signs production plans into force; runs none itself (two people per plan).
        r(
            "production_manager",
            &[
                "data:read",
                "batch:read",
                "forecast:read",
                "optimize:read",
                "plan:approve",
                "trace:read",
            ],
        ),
        r(
            "viewer",
            &[
                "data:read",
                "batch:read",
                "forecast:read",
                "optimize:read",
                "trace:read",
            ],
        ),
    ]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleDef {
    pub name: String,
    pub permissions: BTreeSet<String>,
    #[serde(default)]
    pub builtin: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub roles: Vec<String>,
    #[serde(default)]
    pub disabled: bool,
    pub created_ns: i64,
}

/// What the API shows of a user (never the hash).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserView {
    pub username: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub disabled: bool,
    pub created_ns: i64,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            roles: u.roles.clone(),
            disabled: u.disabled,
            created_ns: u.created_ns,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// SHA-256 (hex) of the secret part: a key is 128 random bits, no slow hash needed.
    pub secret_sha256: String,
    pub roles: Vec<String>,
    pub created_ns: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const USER: &str = "user:";
const ROLE: &str = "role:";
const KEY: &str = "apikey:";

pub fn valid_name(kind: &str, s: &str) -> Result<(), DirectoryError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(DirectoryError::Invalid(format!(
            "{kind} {s:?}: use 1 to 64 of a-z 0-9 . _ - @"
        )))
    }
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::fill(b.as_mut_slice());
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One tenant's users, roles and keys over its store view.
pub struct Directory<'a> {
    pub view: &'a dyn TenantStore,
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, v: &[u8]) -> Result<T, DirectoryError> {
    serde_json::from_slice(v).map_err(|e| {
        DirectoryError::Store(StoreError::Read(format!(
            "setting {key} is unreadable: {e}"
        )))
    })
}

impl Directory<'_> {
    fn get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, DirectoryError> {
        match self.view.settings(key)?.into_iter().find(|(k, _)| k == key) {
            Some((k, v)) => Ok(Some(decode(&k, &v)?)),
            None => Ok(None),
        }
    }

    fn list<T: serde::de::DeserializeOwned>(&self, prefix: &str) -> Result<Vec<T>, DirectoryError> {
        self.view
            .settings(prefix)?
            .into_iter()
            .map(|(k, v)| decode(&k, &v))
            .collect()
    }

    pub fn user(&self, name: &str) -> Result<Option<User>, DirectoryError> {
        self.get(&format!("{USER}{name}"))
    }

    pub fn users(&self) -> Result<Vec<User>, DirectoryError> {
        self.list(USER)
    }

    /// Built-in roles overlaid with the tenant's own definitions.
    pub fn roles(&self) -> Result<Vec<RoleDef>, DirectoryError> {
        let mut by: std::collections::BTreeMap<String, RoleDef> = builtin_roles()
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
        for r in self.list::<RoleDef>(ROLE)? {
            if r.name != "admin" {
                by.insert(r.name.clone(), r);
            }
        }
        Ok(by.into_values().collect())
    }

    pub fn permissions_of(&self, roles: &[String]) -> Result<BTreeSet<String>, DirectoryError> {
        let defs = self.roles()?;
        Ok(roles
            .iter()
            .filter_map(|r| defs.iter().find(|d| &d.name == r))
            .flat_map(|d| d.permissions.iter().cloned())
            .collect())
    }

    fn check_roles(&self, roles: &[String]) -> Result<(), DirectoryError> {
        let defs = self.roles()?;
        for r in roles {
            if !defs.iter().any(|d| &d.name == r) {
                return Err(DirectoryError::Invalid(format!(
                    "no role {r:?} (roles: {})",
                    defs.iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        Ok(())
    }

    fn write(&self, key: &str, value: Option<Vec<u8>>, draft: Draft) -> Result<(), DirectoryError> {
        self.view.put_setting_audited(
            key,
            value.as_deref(),
            draft,
            foodflow_protocol::time::now_ns(),
        )?;
        Ok(())
    }

    pub fn create_user(
        &self,
        username: &str,
        display_name: &str,
        password: &str,
        roles: Vec<String>,
        actor: &str,
        from: &str,
    ) -> Result<UserView, DirectoryError> {
        valid_name("user name", username)?;
        password::check_policy(password).map_err(DirectoryError::Invalid)?;
        self.check_roles(&roles)?;
        if self.user(username)?.is_some() {
            return Err(DirectoryError::Conflict(format!(
                "user {username:?} exists"
            )));
        }
        let user = User {
            username: username.into(),
            display_name: display_name.into(),
            password_hash: password::hash(password).map_err(DirectoryError::Invalid)?,
            roles,
            disabled: false,
            created_ns: foodflow_protocol::time::now_ns(),
        };
        let view = UserView::from(&user);
        self.write(
            &format!("{USER}{username}"),
            Some(serde_json::to_vec(&user).map_err(|e| DirectoryError::Invalid(e.to_string()))?),
            Draft {
                actor: actor.into(),
                action: "user.create".into(),
                object: username.into(),
                before: None,
                after: Some(serde_json::to_value(&view).unwrap_or_default()),
                from: from.into(),
                signature: None,
            },
        )?;
        Ok(view)
    }

    /// Sets roles and the disabled flag of a user.
    pub fn update_user(
        &self,
        username: &str,
        roles: Option<Vec<String>>,
        disabled: Option<bool>,
        actor: &str,
        from: &str,
    ) -> Result<UserView, DirectoryError> {
        let mut user = self
            .user(username)?
            .ok_or_else(|| DirectoryError::NotFound(format!("no user {username:?}")))?;
        let before = UserView::from(&user);
        if let Some(r) = roles {
            self.check_roles(&r)?;
            user.roles = r;
        }
        if let Some(d) = disabled {
            user.disabled = d;
        }
        let after = UserView::from(&user);
        self.write(
            &format!("{USER}{username}"),
            Some(serde_json::to_vec(&user).map_err(|e| DirectoryError::Invalid(e.to_string()))?),
            Draft {
                actor: actor.into(),
                action: "user.update".into(),
                object: username.into(),
                before: Some(serde_json::to_value(&before).unwrap_or_default()),
                after: Some(serde_json::to_value(&after).unwrap_or_default()),
                from: from.into(),
                signature: None,
            },
        )?;
        Ok(after)
    }

    pub fn put_role(
        &self,
        name: &str,
        permissions: BTreeSet<String>,
        actor: &str,
        from: &str,
    ) -> Result<RoleDef, DirectoryError> {
        valid_name("role", name)?;
        if name == "admin" {
            return Err(DirectoryError::Invalid(
                "the admin role cannot be redefined".into(),
            ));
        }
        if let Some(p) = permissions
            .iter()
            .find(|p| !PERMISSIONS.contains(&p.as_str()))
        {
            return Err(DirectoryError::Invalid(format!(
                "no permission {p:?} (permissions: {})",
                PERMISSIONS.join(", ")
            )));
        }
        let before = self.roles()?.into_iter().find(|r| r.name == name);
        let role = RoleDef {
            name: name.into(),
            permissions,
            builtin: false,
        };
        self.write(
            &format!("{ROLE}{name}"),
            Some(serde_json::to_vec(&role).map_err(|e| DirectoryError::Invalid(e.to_string()))?),
            Draft {
                actor: actor.into(),
                action: "role.put".into(),
                object: name.into(),
                before: before.map(|b| serde_json::to_value(b).unwrap_or_default()),
                after: Some(serde_json::to_value(&role).unwrap_or_default()),
                from: from.into(),
                signature: None,
            },
        )?;
        Ok(role)
    }

    /// Creates a key; the returned token is shown once (only its hash is kept).
    pub fn create_key(
        &self,
        tenant: &str,
        name: &str,
        roles: Vec<String>,
        actor: &str,
        from: &str,
    ) -> Result<(ApiKey, String), DirectoryError> {
        self.check_roles(&roles)?;
        let id = random_hex(8);
        let secret = random_hex(16);
        let key = ApiKey {
            id: id.clone(),
            name: name.into(),
            secret_sha256: sha256_hex(&secret),
            roles,
            created_ns: foodflow_protocol::time::now_ns(),
        };
        let shown = serde_json::json!({"id": key.id, "name": key.name, "roles": key.roles});
        self.write(
            &format!("{KEY}{id}"),
            Some(serde_json::to_vec(&key).map_err(|e| DirectoryError::Invalid(e.to_string()))?),
            Draft {
                actor: actor.into(),
                action: "apikey.create".into(),
                object: id.clone(),
                before: None,
                after: Some(shown),
                from: from.into(),
                signature: None,
            },
        )?;
        Ok((key, format!("ffk.{tenant}.{id}.{secret}")))
    }

    pub fn delete_key(&self, id: &str, actor: &str, from: &str) -> Result<(), DirectoryError> {
        let key: ApiKey = self
            .get(&format!("{KEY}{id}"))?
            .ok_or_else(|| DirectoryError::NotFound(format!("no API key {id:?}")))?;
        self.write(
            &format!("{KEY}{id}"),
            None,
            Draft {
                actor: actor.into(),
                action: "apikey.delete".into(),
                object: id.into(),
                before: Some(
                    serde_json::json!({"id": key.id, "name": key.name, "roles": key.roles}),
                ),
                after: None,
                from: from.into(),
                signature: None,
            },
        )
    }

    pub fn keys(&self) -> Result<Vec<ApiKey>, DirectoryError> {
        self.list(KEY)
    }

    /// The key a token names, if its secret matches.
    pub fn key_for(&self, id: &str, secret: &str) -> Result<Option<ApiKey>, DirectoryError> {
        let key: Option<ApiKey> = self.get(&format!("{KEY}{id}"))?;
        Ok(key.filter(|k| {
            use subtle::ConstantTimeEq;
            k.secret_sha256
                .as_bytes()
                .ct_eq(sha256_hex(secret).as_bytes())
                .into()
        }))
    }
}
