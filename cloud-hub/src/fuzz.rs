//! Fuzz entry points for the bodies people send the hub: the login, and the JSON bodies of the
//! identity, trace, gateway, forecast and signing endpoints, each read and checked by the same
//! functions its handler uses before it touches a store. They must never panic, and every
//! refusal must be a 4xx. Run by `cloud-hub/tests/fuzz_smoke.rs` (`make test`) and the
//! coverage-guided targets in `cloud-hub/fuzz` (`make fuzz`).

use crate::api::ApiError;

fn refused_as_4xx(r: Result<(), ApiError>) {
    if let Err(e) = r {
        assert!(
            e.status.is_client_error(),
            "a body was answered {}",
            e.status
        );
    }
}

/// `POST /auth/login`.
pub fn login(data: &[u8]) {
    refused_as_4xx(crate::identity::api::login_body(data).map(drop));
}

/// Every other JSON body; the first byte picks the endpoint.
pub fn api_body(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let r = match pick % 5 {
        0 => crate::identity::api::admin_body(pick / 5, body),
        1 => crate::trace::api::trace_body(pick / 5, body),
        2 => crate::gateways::binding_body(body).map(drop),
        3 => crate::forecasting::fuzz_request(body),
        _ => crate::approvals::sign_body(body, "approval", crate::approvals::MEANINGS).map(drop),
    };
    refused_as_4xx(r);
}
