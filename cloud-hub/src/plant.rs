//! Plant data for people (public listener, `data:read`): every device of the tenant with its
//! streams' sync health, and downsampled readings — what the portal's plant view plots. The
//! device-facing routes stay on the mTLS listener; these answer the same questions for people.

use axum::Router;
use axum::extract::{Extension, Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use foodflow_protocol::{DeviceId, StreamId};

use crate::api::{ApiError, AppState, DataQuery, bad_request, blocking, reply};
use crate::identity::principal::Principal;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/plant/devices", get(devices))
        .route(
            "/v1/plant/devices/{id}/streams/{stream}/series",
            get(series),
        )
}

/// Devices with their streams: class, high-water mark, records and the last record's time.
async fn devices(State(s): State<AppState>, Extension(who): Extension<Principal>) -> Response {
    let r = async {
        who.require("data:read")?;
        let tenant = who.tenant.clone();
        blocking(move || {
            let view = s.store.tenant(&tenant);
            let mut out = Vec::new();
            for d in view.devices()? {
                let streams = view.streams(&d)?;
                out.push(serde_json::json!({"device": d, "streams": streams}));
            }
            Ok::<_, ApiError>(out)
        })
        .await
    }
    .await;
    reply(r)
}

async fn series(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((id, stream)): Path<(String, String)>,
    Query(q): Query<DataQuery>,
) -> Response {
    if let Err(e) = who.require("data:read") {
        return axum::response::IntoResponse::into_response(e);
    }
    let (device, stream) = match (DeviceId::new(&id), StreamId::new(&stream)) {
        (Ok(d), Ok(st)) => (d, st),
        (Err(e), _) | (_, Err(e)) => {
            return axum::response::IntoResponse::into_response(bad_request(e.to_string()));
        }
    };
    crate::api::series(s.store.clone(), who.tenant.clone(), device, stream, &q).await
}
