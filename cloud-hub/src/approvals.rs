//! Batch approvals with electronic signatures (21 CFR Part 11): the signer re-enters their
//! password at signing (a token alone does not sign), states the meaning of the signature, and
//! the approval is stored with its signature in the same transaction as its audit entry.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::api::{ApiError, AppState, bad_request, blocking, created, json_body, reply};
use crate::audit::chain::{Draft, Signature};
use crate::identity::principal::{Auth, Principal};
use crate::identity::{Directory, password};
use crate::store::TenantStore;
use foodflow_transport::TenantId;

/// Meanings a signature may carry.
pub const MEANINGS: &[&str] = &["release", "reject", "hold", "review"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub lot: String,
    pub meaning: String,
    #[serde(default)]
    pub comment: String,
    pub signature: Signature,
    /// Where the approval is stored (the audit entry's `after.key` names it too).
    pub key: String,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/batches/{lot}/approve", post(approve))
        .route("/v1/batches/{lot}/approvals", get(list))
}

/// What a person sends to sign: the meaning, their password again, a comment.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignRequest {
    pub meaning: String,
    pub password: String,
    #[serde(default)]
    pub comment: String,
}

/// The first checks of any signing request: the permission, a person as the signer, a
/// readable body (`what` names it in errors) and a meaning from `meanings`.
pub(crate) fn signing_request(
    who: &Principal,
    permission: &str,
    body: &[u8],
    what: &str,
    meanings: &[&str],
) -> Result<(String, SignRequest), ApiError> {
    who.require(permission)?;
    let username = signer(who)?;
    Ok((username, sign_body(body, what, meanings)?))
}

/// A signing body: readable, and a meaning from `meanings`.
pub(crate) fn sign_body(
    body: &[u8],
    what: &str,
    meanings: &[&str],
) -> Result<SignRequest, ApiError> {
    let req: SignRequest = json_body(body, what)?;
    if !meanings.contains(&req.meaning.as_str()) {
        return Err(bad_request(format!(
            "meaning {:?}: use one of {}",
            req.meaning,
            meanings.join(", ")
        )));
    }
    Ok(req)
}

/// The person who may sign for `who`: users only (a key or a certificate is nobody's
/// signature).
pub(crate) fn signer(who: &Principal) -> Result<String, ApiError> {
    let Some(username) = who.actor.strip_prefix("user:") else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "an electronic signature is a person's: log in as a user (keys and certificates cannot sign)",
        ));
    };
    Ok(username.to_owned())
}

/// Signs as `username` with `meaning` once the password is re-entered correctly (a token alone
/// does not sign); failures count towards the signer's throttle (which no login reaches).
pub(crate) fn sign(
    view: &dyn TenantStore,
    auth: &Auth,
    tenant: &TenantId,
    username: &str,
    password: &str,
    meaning: &str,
) -> Result<Signature, ApiError> {
    let attempt = auth
        .throttles
        .signing
        .begin(format!("{tenant}\u{0}{username}"))
        .map_err(|wait| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                format!("too many failed signatures; try again in {wait} s"),
            )
        })?;
    let user = Directory { view }.user(username)?;
    let ok = password.len() <= password::MAX_BYTES
        && user
            .as_ref()
            .is_some_and(|u| !u.disabled && password::verify(password, &u.password_hash));
    if !ok {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "reauthentication",
            "the password does not match: the signature was not applied",
        ));
    }
    attempt.succeeded();
    Ok(Signature {
        signer: username.to_owned(),
        meaning: meaning.to_owned(),
        signed_at_ns: foodflow_protocol::time::now_ns(),
        reauthenticated: true,
    })
}

fn prefix(lot: &str) -> String {
    format!("approval:{lot}\u{1f}")
}

async fn approve(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(lot): Path<String>,
    body: Bytes,
) -> Response {
    let r = async {
        let (username, req) = signing_request(&who, "batch:approve", &body, "approval", MEANINGS)?;
        let (store, trace, auth) = (s.store.clone(), s.trace.clone(), s.auth.clone());
        let who2 = who.clone();
        blocking(move || {
            let tenant = &who2.tenant;
            // The lot must be one the tenant's FoodGraph knows.
            let graph = trace.graph(store.as_ref(), tenant)?;
            if graph.read().unwrap_or_else(|p| p.into_inner()).events_of(&lot).is_err() {
                return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no lot {lot:?} in this tenant's traceability records")));
            }
            let view = store.tenant(tenant);
            let signature = sign(view.as_ref(), &auth, tenant, &username, &req.password, &req.meaning)?;
            let now = signature.signed_at_ns;
            let key = format!("{}{now:020}", prefix(&lot));
            let approval = Approval { lot: lot.clone(), meaning: req.meaning.clone(), comment: req.comment.clone(), signature: signature.clone(), key: key.clone() };
            let entry = view.put_setting_audited(
                &key,
                Some(&serde_json::to_vec(&approval).map_err(|e| bad_request(e.to_string()))?),
                Draft {
                    actor: who2.actor.clone(),
                    action: "batch.approve".into(),
                    object: lot.clone(),
                    before: None,
                    after: Some(serde_json::json!({"meaning": req.meaning, "comment": req.comment, "key": key})),
                    from: who2.from.clone(),
                    signature: Some(signature),
                },
                now,
            )?;
            Ok(serde_json::json!({"approval": approval, "audit_seq": entry.seq}))
        })
        .await
    }
    .await;
    created(r)
}

async fn list(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(lot): Path<String>,
) -> Response {
    let r = async {
        who.require("batch:read")?;
        let (store, tenant) = (s.store.clone(), who.tenant.clone());
        blocking(move || {
            let rows = store.tenant(&tenant).settings(&prefix(&lot))?;
            let mut out = Vec::new();
            for (k, v) in rows {
                let a: Approval = serde_json::from_slice(&v).map_err(|e| {
                    crate::store::StoreError::Read(format!("approval {k} is unreadable: {e}"))
                })?;
                out.push(a);
            }
            Ok(out)
        })
        .await
    }
    .await;
    reply(r)
}
