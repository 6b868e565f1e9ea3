//! `/auth/login`, the JWKS, and the tenant's user, role and API key administration.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use foodflow_transport::TenantId;
use serde::Deserialize;

use super::principal::{Auth, Principal};
use super::{Directory, DirectoryError, UserView, password, token};
use crate::api::{ApiError, AppState, blocking, created, json_body, reply};
use foodflow_transport::server::RemoteAddr;

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "invalid", m),
            DirectoryError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", m),
            DirectoryError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            DirectoryError::Store(s) => s.into(),
        }
    }
}

/// Routes that need a principal (behind either listener's authentication).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/me", get(me))
        .route("/v1/users", get(list_users).post(create_user))
        .route("/v1/users/{name}", patch(update_user))
        .route("/v1/roles", get(list_roles))
        .route("/v1/roles/{name}", put(put_role))
        .route("/v1/api-keys", get(list_keys).post(create_key))
        .route("/v1/api-keys/{id}", axum::routing::delete(delete_key))
}

/// Routes open to anyone who reaches the public listener.
pub fn open_routes() -> Router<AppState> {
    Router::new()
        // A login is three short names: its own small body limit.
        .route(
            "/auth/login",
            post(login).layer(axum::extract::DefaultBodyLimit::max(LOGIN_BODY_BYTES)),
        )
        .route("/.well-known/jwks.json", get(jwks))
}

/// The largest login body: tenant and user names (64 bytes each), a password (1 KiB), JSON.
pub const LOGIN_BODY_BYTES: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    tenant: String,
    username: String,
    password: String,
}

/// A login body, read and checked before anything keeps or logs its names: names are checked
/// like every other name, the password's length is bounded.
pub(crate) fn login_body(body: &[u8]) -> Result<(TenantId, Login), ApiError> {
    let l: Login = json_body(body, "login")?;
    let tenant = TenantId::new(l.tenant.clone())
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid", format!("tenant: {e}")))?;
    super::valid_name("user name", &l.username)?;
    if l.password.len() > password::MAX_BYTES {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("a password has at most {} bytes", password::MAX_BYTES),
        ));
    }
    Ok((tenant, l))
}

async fn login(
    State(s): State<AppState>,
    addr: Option<Extension<RemoteAddr>>,
    body: Bytes,
) -> Response {
    let auth = s.auth.clone();
    let ip = addr.map(|a| a.0.0.ip().to_string()).unwrap_or_default();
    let metrics = s.metrics.clone();
    let r = async move {
        let (tenant, l) = login_body(&body)?;
        let wrong = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "wrong tenant, user name or password",
            )
        };
        let throttled = |wait: u64| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                format!("too many failed logins from this address; try again in {wait} s"),
            )
        };
        // Per source, and per user from that source: a stranger locks out only themselves.
        // A locked-out attempt is answered after the tarpit delay, so a flood of guesses
        // costs the hub sleeping requests, not CPU.
        let key = format!("{}\u{0}{}\u{0}{ip}", l.tenant, l.username);
        let begun = auth.throttles.source.begin(ip.clone()).and_then(|source| {
            let attempt = auth.throttles.login.begin(key)?;
            Ok((source, attempt))
        });
        let (source, attempt) = match begun {
            Ok(both) => both,
            Err(wait) => {
                tokio::time::sleep(foodflow_transport::throttle::TARPIT).await;
                return Err(throttled(wait));
            }
        };
        let Ok(permit) = auth.hashing.clone().try_acquire_owned() else {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                "the hub is checking as many passwords as it has cores; try again in a second",
            ));
        };
        let a = auth.clone();
        let (username, password) = (l.username.clone(), l.password.clone());
        let outcome = blocking(move || {
            let _permit = permit;
            let view = a.store.tenant(&tenant);
            let dir = Directory {
                view: view.as_ref(),
            };
            let user = dir.user(&username)?;
            // Verify against a dummy hash when the user does not exist, so timing does not
            // tell which user names exist.
            let phc = user
                .as_ref()
                .map(|u| u.password_hash.clone())
                .unwrap_or_else(|| DUMMY.clone());
            let ok =
                password::verify(&password, &phc) && user.as_ref().is_some_and(|u| !u.disabled);
            match (ok, user) {
                (true, Some(u)) => {
                    let perms = dir.permissions_of(&u.roles)?;
                    Ok(Some((u, perms)))
                }
                _ => Ok(None),
            }
        })
        .await?;
        let from = ip;
        let Some((user, perms)) = outcome else {
            metrics
                .counter("foodflow_hub_logins_failed_total", "Failed logins", &[])
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(tenant = %l.tenant, user = %l.username, %from, "login failed");
            return Err(wrong());
        };
        attempt.succeeded();
        source.succeeded();
        metrics
            .counter("foodflow_hub_logins_total", "Successful logins", &[])
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(tenant = %l.tenant, user = %user.username, %from, "login");
        let now = foodflow_protocol::time::now_ns() / 1_000_000_000;
        let claims = token::Claims {
            iss: token::ISSUER.into(),
            aud: token::AUDIENCE.into(),
            sub: user.username.clone(),
            ten: l.tenant.clone(),
            perms: perms.iter().cloned().collect(),
            iat: now,
            nbf: now,
            exp: now + auth.ttl_s,
            jti: super::random_hex(12),
        };
        Ok(serde_json::json!({
            "token": auth.keys.sign(&claims),
            "token_type": "Bearer",
            "expires_at": foodflow_protocol::time::format_rfc3339(claims.exp * 1_000_000_000),
            "tenant": l.tenant,
            "username": user.username,
            "permissions": perms,
        }))
    }
    .await;
    reply(r)
}

static DUMMY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| password::hash("not a password of anyone").unwrap_or_default());

async fn jwks(State(s): State<AppState>) -> Response {
    axum::Json(s.auth.keys.jwks()).into_response()
}

async fn me(Extension(who): Extension<Principal>) -> Response {
    axum::Json(serde_json::json!({
        "tenant": who.tenant.as_str(),
        "actor": who.actor,
        "permissions": who.permissions,
    }))
    .into_response()
}

fn dir_call<T: Send + 'static>(
    s: &AppState,
    who: &Principal,
    f: impl FnOnce(&Directory<'_>) -> Result<T, ApiError> + Send + 'static,
) -> impl std::future::Future<Output = Result<T, ApiError>> {
    let (store, tenant) = (s.store.clone(), who.tenant.clone());
    blocking(move || {
        let view = store.tenant(&tenant);
        f(&Directory {
            view: view.as_ref(),
        })
    })
}

async fn list_users(State(s): State<AppState>, Extension(who): Extension<Principal>) -> Response {
    let r = async {
        who.require("user:admin")?;
        dir_call(&s, &who, |d| {
            Ok(d.users()?.iter().map(UserView::from).collect::<Vec<_>>())
        })
        .await
    }
    .await;
    reply(r)
}

/// The identity API's other bodies (`kind`: user, user update, role, API key) as their
/// handlers read them, with the checks the directory makes before it reads the store. For the
/// fuzz target: must answer every input with `Ok` or a 400.
pub(crate) fn admin_body(kind: u8, body: &[u8]) -> Result<(), ApiError> {
    match kind % 4 {
        0 => {
            let u: NewUser = json_body(body, "user")?;
            super::valid_name("user name", &u.username)?;
            password::check_policy(&u.password)
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid", e))?;
        }
        1 => {
            let _: UserPatch = json_body(body, "user update")?;
        }
        2 => {
            let _: RoleBody = json_body(body, "role")?;
        }
        _ => {
            let _: NewKey = json_body(body, "API key")?;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    username: String,
    #[serde(default)]
    display_name: String,
    password: String,
    roles: Vec<String>,
}

async fn create_user(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    body: Bytes,
) -> Response {
    let r = async {
        who.require("user:admin")?;
        let u: NewUser = json_body(&body, "user")?;
        let (actor, from) = (who.actor.clone(), who.from.clone());
        dir_call(&s, &who, move |d| {
            Ok(d.create_user(
                &u.username,
                &u.display_name,
                &u.password,
                u.roles,
                &actor,
                &from,
            )?)
        })
        .await
    }
    .await;
    created(r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    roles: Option<Vec<String>>,
    disabled: Option<bool>,
}

async fn update_user(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let r = async {
        who.require("user:admin")?;
        let p: UserPatch = json_body(&body, "user update")?;
        let (actor, from) = (who.actor.clone(), who.from.clone());
        dir_call(&s, &who, move |d| {
            Ok(d.update_user(&name, p.roles, p.disabled, &actor, &from)?)
        })
        .await
    }
    .await;
    reply(r)
}

async fn list_roles(State(s): State<AppState>, Extension(who): Extension<Principal>) -> Response {
    let r = async {
        who.require("user:admin")?;
        dir_call(&s, &who, |d| Ok(d.roles()?)).await
    }
    .await;
    reply(r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    permissions: BTreeSet<String>,
}

async fn put_role(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let r = async {
        who.require("user:admin")?;
        let b: RoleBody = json_body(&body, "role")?;
        let (actor, from) = (who.actor.clone(), who.from.clone());
        dir_call(&s, &who, move |d| {
            Ok(d.put_role(&name, b.permissions, &actor, &from)?)
        })
        .await
    }
    .await;
    reply(r)
}

async fn list_keys(State(s): State<AppState>, Extension(who): Extension<Principal>) -> Response {
    let r = async {
        who.require("user:admin")?;
        dir_call(&s, &who, |d| {
            Ok(d.keys()?
                .into_iter()
                .map(|k| serde_json::json!({"id": k.id, "name": k.name, "roles": k.roles, "created_ns": k.created_ns}))
                .collect::<Vec<_>>())
        })
        .await
    }
    .await;
    reply(r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: String,
    roles: Vec<String>,
}

async fn create_key(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    body: Bytes,
) -> Response {
    let r =
        async {
            who.require("user:admin")?;
            let k: NewKey = json_body(&body, "API key")?;
            let (actor, from, tenant) = (
                who.actor.clone(),
                who.from.clone(),
                who.tenant.as_str().to_owned(),
            );
            dir_call(&s, &who, move |d| {
            let (key, token) = d.create_key(&tenant, &k.name, k.roles, &actor, &from)?;
            Ok(serde_json::json!({"id": key.id, "name": key.name, "roles": key.roles, "key": token,
                "note": "shown once: only its hash is kept"}))
        })
        .await
        }
        .await;
    created(r)
}

async fn delete_key(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    let r = async {
        who.require("user:admin")?;
        let (actor, from) = (who.actor.clone(), who.from.clone());
        dir_call(&s, &who, move |d| Ok(d.delete_key(&id, &actor, &from)?)).await
    }
    .await;
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

pub fn auth_state(keys: token::Keys, store: Arc<dyn crate::store::RecordStore>) -> Arc<Auth> {
    Arc::new(Auth {
        keys,
        throttles: Default::default(),
        hashing: Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        )),
        store,
        ttl_s: 15 * 60,
    })
}
