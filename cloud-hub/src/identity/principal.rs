//! Who is calling, whatever the door: a tenant's system over mutual TLS (its certificate), a
//! person with a token from `/auth/login`, or a service with an API key. Handlers see only a
//! [`Principal`]: its tenant (never taken from the request) and its permissions.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use foodflow_transport::server::{Peer, RemoteAddr};
use foodflow_transport::{Role, TenantId};

use super::throttle::Throttles;
use super::{Directory, token};
use crate::api::ApiError;
use crate::store::RecordStore;

#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant: TenantId,
    /// For the audit trail: `urn:foodflow:gateway:…`, `user:ada`, `apikey:<id> (<name>)`.
    pub actor: String,
    pub permissions: BTreeSet<String>,
    /// The client address.
    pub from: String,
}

impl Principal {
    pub fn require(&self, permission: &str) -> Result<(), ApiError> {
        if self.permissions.contains(permission) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("{} lacks the permission {permission}", self.actor),
            ))
        }
    }
}

/// What a tenant's gateway certificate may do beyond sync: the plant's systems capture and
/// query traceability and read the trail. Device certificates get nothing here.
const GATEWAY_PERMISSIONS: &[&str] = &[
    "epcis:capture",
    "trace:read",
    "trace:export",
    "audit:read",
    "batch:read",
];

pub fn from_peer(peer: &Peer) -> Principal {
    let permissions = match peer.identity.role {
        Role::Gateway => GATEWAY_PERMISSIONS.iter().map(|p| p.to_string()).collect(),
        _ => BTreeSet::new(),
    };
    Principal {
        tenant: peer.identity.tenant.clone(),
        actor: peer.identity.uri(),
        permissions,
        from: peer.addr.to_string(),
    }
}

/// Middleware of the mutual-TLS listener: the certificate's identity is the principal.
pub async fn peer_principal(mut req: Request, next: Next) -> Response {
    let Some(peer) = req.extensions().get::<Peer>().cloned() else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "no client certificate",
        )
        .into_response();
    };
    req.extensions_mut().insert(from_peer(&peer));
    next.run(req).await
}

/// Token issuing and checking state.
pub struct Auth {
    pub keys: token::Keys,
    pub throttles: Throttles,
    /// Password hashes computed at once (one per core): argon2 is made to be slow, and a
    /// login flood must not take every core from ingest. Full: 429.
    pub hashing: Arc<tokio::sync::Semaphore>,
    pub store: Arc<dyn RecordStore>,
    /// Access token lifetime.
    pub ttl_s: i64,
}

fn unauthenticated(msg: impl Into<String>) -> Response {
    let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", msg).into_response();
    r.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    r
}

/// Middleware of the public listener: `Authorization: Bearer <JWT | API key>`.
pub async fn bearer_principal(
    State(auth): State<Arc<Auth>>,
    mut req: Request,
    next: Next,
) -> Response {
    let from = req
        .extensions()
        .get::<RemoteAddr>()
        .map(|a| a.0.to_string())
        .unwrap_or_default();
    let Some(bearer) = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
    else {
        return unauthenticated(
            "send Authorization: Bearer <token from POST /auth/login, or an API key>",
        );
    };
    let a = auth.clone();
    let resolved = tokio::task::spawn_blocking(move || resolve(&a, &bearer, &from)).await;
    match resolved {
        Ok(Ok(p)) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Ok(Err(msg)) => unauthenticated(msg),
        Err(e) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage", e.to_string()).into_response()
        }
    }
}

fn resolve(auth: &Auth, bearer: &str, from: &str) -> Result<Principal, String> {
    if let Some(rest) = bearer.strip_prefix("ffk.") {
        let mut parts = rest.splitn(3, '.');
        let (Some(tenant), Some(id), Some(secret)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("malformed API key".into());
        };
        let tenant = TenantId::new(tenant).map_err(|_| "malformed API key".to_string())?;
        let view = auth.store.tenant(&tenant);
        let dir = Directory {
            view: view.as_ref(),
        };
        let key = dir
            .key_for(id, secret)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "unknown or revoked API key".to_string())?;
        let permissions = dir.permissions_of(&key.roles).map_err(|e| e.to_string())?;
        return Ok(Principal {
            tenant,
            actor: format!("apikey:{} ({})", key.id, key.name),
            permissions,
            from: from.to_owned(),
        });
    }
    let now = foodflow_protocol::time::now_ns() / 1_000_000_000;
    let claims = auth.keys.verify(bearer, now).map_err(|e| e.to_string())?;
    let tenant = TenantId::new(claims.ten.clone()).map_err(|e| e.to_string())?;
    // A disabled or deleted user's tokens stop working at once, not at expiry, and a changed
    // role takes effect on the next request: authority is the user's roles now, never the
    // permissions written into the token at login.
    let view = auth.store.tenant(&tenant);
    let dir = Directory {
        view: view.as_ref(),
    };
    let user = dir.user(&claims.sub).map_err(|e| e.to_string())?;
    let Some(user) = user.filter(|u| !u.disabled) else {
        return Err(format!("user {} is disabled or gone", claims.sub));
    };
    let permissions = dir.permissions_of(&user.roles).map_err(|e| e.to_string())?;
    Ok(Principal {
        tenant,
        actor: format!("user:{}", claims.sub),
        permissions,
        from: from.to_owned(),
    })
}
