//! Which devices a gateway uploads for. A gateway certificate proves which site system is
//! talking, not which boxes stand behind it: the tenant binds each gateway to its devices
//! (`PUT /v1/gateways/{id}/devices` or `foodflow-hub gateway bind`, audited), and the hub
//! refuses a gateway's records of any other device (`403 not_bound`). A stolen gateway
//! certificate writes for its own site's devices only, never for the whole tenant. A gateway
//! without a binding uploads nothing but its own `gateway/` streams.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use foodflow_protocol::{DeviceId, Segment};
use foodflow_transport::{Identity, Role};
use serde::{Deserialize, Serialize};

use crate::api::{ApiError, AppState, blocking, json_body, reply};
use crate::audit::chain::{Draft, Entry};
use crate::identity::principal::Principal;
use crate::store::{StoreError, TenantStore};

pub const KEY: &str = "gateway:devices:";
/// Devices one gateway may be bound to.
pub const MAX_DEVICES: usize = 10_000;
/// A binding's body: `MAX_DEVICES` ids of at most 64 bytes, quoted, fit; nothing larger is read.
const BODY_BYTES: usize = MAX_DEVICES * 80;
/// The permission that binds gateways (admins have it).
pub const PERMISSION: &str = "gateway:bind";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    pub devices: Vec<String>,
}

impl Binding {
    pub fn check(&self) -> Result<(), String> {
        if self.devices.is_empty() || self.devices.len() > MAX_DEVICES {
            return Err(format!("list 1 to {MAX_DEVICES} device ids"));
        }
        for d in &self.devices {
            DeviceId::new(d).map_err(|e| format!("device {d:?}: {e}"))?;
        }
        Ok(())
    }
}

/// The gateway's binding, if any.
pub fn binding(view: &dyn TenantStore, gateway: &str) -> Result<Option<Binding>, StoreError> {
    crate::store::json_setting(
        view,
        &format!("{KEY}{gateway}"),
        &format!("binding of gateway {gateway}"),
    )
}

/// Every binding of the tenant, by gateway.
pub fn all(view: &dyn TenantStore) -> Result<Vec<(String, Binding)>, StoreError> {
    view.settings(KEY)?
        .into_iter()
        .map(|(k, v)| {
            let gateway = k.strip_prefix(KEY).unwrap_or(&k).to_owned();
            serde_json::from_slice(&v)
                .map(|b| (gateway, b))
                .map_err(|e| StoreError::Read(format!("{k} is unreadable: {e}")))
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("{0}")]
    Invalid(String),
    #[error("gateway {0:?} has no binding")]
    NotBound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Binds `gateway` to `binding`'s devices, or unbinds it (`None`), with its audit entry in the
/// same transaction. Returns the binding before and the audit entry.
pub fn write(
    view: &dyn TenantStore,
    gateway: &str,
    binding: Option<&Binding>,
    actor: &str,
    from: &str,
) -> Result<(Option<Binding>, Entry), BindError> {
    DeviceId::new(gateway).map_err(|e| BindError::Invalid(format!("gateway: {e}")))?;
    if let Some(b) = binding {
        b.check().map_err(BindError::Invalid)?;
    }
    let before = self::binding(view, gateway)?;
    if binding.is_none() && before.is_none() {
        return Err(BindError::NotBound(gateway.to_owned()));
    }
    let value = binding
        .map(serde_json::to_vec)
        .transpose()
        .map_err(|e| BindError::Invalid(e.to_string()))?;
    let draft = Draft {
        actor: actor.to_owned(),
        action: if binding.is_some() {
            "gateway.bind"
        } else {
            "gateway.unbind"
        }
        .into(),
        object: gateway.to_owned(),
        before: before.as_ref().map(|b| serde_json::json!(b)),
        after: binding.map(|b| serde_json::json!(b)),
        from: from.to_owned(),
        signature: None,
    };
    let entry = view.put_setting_audited(
        &format!("{KEY}{gateway}"),
        value.as_deref(),
        draft,
        foodflow_protocol::time::now_ns(),
    )?;
    Ok((before, entry))
}

/// Whether `who` may upload these segments' devices: a gateway its own id and the devices it
/// is bound to; devices and servers are judged by [`Identity::may_write`] alone.
pub fn check_upload(
    view: &dyn TenantStore,
    who: &Identity,
    segments: &[Segment],
) -> Result<Result<(), String>, StoreError> {
    if who.role != Role::Gateway {
        return Ok(Ok(()));
    }
    let foreign = || segments.iter().filter(|s| s.device != who.id);
    let Some(first) = foreign().next() else {
        return Ok(Ok(()));
    };
    let Some(b) = binding(view, who.id.as_str())? else {
        return Ok(Err(format!(
            "{who} is bound to no devices, so it may not upload records of {:?}; bind it with PUT /v1/gateways/{}/devices",
            first.device.as_str(),
            who.id.as_str()
        )));
    };
    Ok(
        match foreign().find(|s| !b.devices.iter().any(|d| d == s.device.as_str())) {
            Some(s) => Err(format!(
                "{who} is not bound to device {:?} (PUT /v1/gateways/{}/devices)",
                s.device.as_str(),
                who.id.as_str()
            )),
            None => Ok(()),
        },
    )
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/gateways", get(list)).route(
        "/v1/gateways/{id}/devices",
        axum::routing::put(put)
            .delete(delete)
            .layer(axum::extract::DefaultBodyLimit::max(BODY_BYTES)),
    )
}

async fn list(State(s): State<AppState>, Extension(who): Extension<Principal>) -> Response {
    let r = async {
        who.require(PERMISSION)?;
        let tenant = who.tenant.clone();
        blocking(move || {
            let out: serde_json::Map<String, serde_json::Value> =
                all(s.store.tenant(&tenant).as_ref())?
                    .into_iter()
                    .map(|(g, b)| (g, serde_json::json!(b)))
                    .collect();
            Ok(serde_json::Value::Object(out))
        })
        .await
    }
    .await;
    reply(r)
}

/// A binding body, read and checked as `PUT /v1/gateways/{id}/devices` does before the store.
/// For the fuzz target: every input is answered with `Ok` or a 400.
pub(crate) fn binding_body(body: &[u8]) -> Result<Binding, ApiError> {
    let b: Binding = json_body(body, "gateway binding")?;
    b.check()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid", e))?;
    Ok(b)
}

async fn put(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(gateway): Path<String>,
    body: Bytes,
) -> Response {
    let r = async {
        let b = binding_body(&body)?;
        change(s, who, gateway, Some(b)).await
    }
    .await;
    reply(r)
}

async fn delete(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(gateway): Path<String>,
) -> Response {
    reply(change(s, who, gateway, None).await)
}

async fn change(
    s: AppState,
    who: Principal,
    gateway: String,
    binding: Option<Binding>,
) -> Result<serde_json::Value, ApiError> {
    who.require(PERMISSION)?;
    blocking(move || {
        let view = s.store.tenant(&who.tenant);
        let (_, entry) = write(view.as_ref(), &gateway, binding.as_ref(), &who.actor, &who.from)
            .map_err(|e| match e {
                BindError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "invalid", m),
                BindError::NotBound(_) => {
                    ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
                }
                BindError::Store(e) => e.into(),
            })?;
        tracing::info!(%gateway, actor = %who.actor, bound = binding.is_some(), "gateway binding changed");
        Ok(serde_json::json!({"gateway": gateway, "binding": binding, "audit_seq": entry.seq}))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binding_lists_valid_device_ids() {
        assert!(Binding { devices: vec![] }.check().is_err());
        assert!(
            Binding {
                devices: vec!["line-1".into(), "bad id/x".into()]
            }
            .check()
            .is_err()
        );
        assert!(
            Binding {
                devices: vec!["line-1".into()]
            }
            .check()
            .is_ok()
        );
    }
}
