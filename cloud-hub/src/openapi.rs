//! The OpenAPI 3.1 document of the hub (`GET /openapi.json` on both API listeners), built from
//! one table of operations so the document and the routes are reviewed side by side (a test
//! calls every documented operation and fails on an undocumented route's 404).

use serde_json::{Value, json};

/// Where an operation is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// Mutual TLS only (plants, gateways).
    Mtls,
    /// Both: mTLS principals and bearer principals on the public listener.
    Both,
    /// The public listener only, unauthenticated.
    Open,
}

pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// The permission the caller needs (none: any authenticated principal / see summary).
    pub permission: Option<&'static str>,
    pub door: Door,
}

const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    permission: Option<&'static str>,
    door: Door,
) -> Op {
    Op {
        method,
        path,
        summary,
        permission,
        door,
    }
}

/// Every operation of the hub's API listeners.
pub const OPERATIONS: &[Op] = &[
    op(
        "post",
        "/auth/login",
        "Log in with tenant, user name and password; returns a short-lived EdDSA JWT",
        None,
        Door::Open,
    ),
    op(
        "get",
        "/.well-known/jwks.json",
        "The public key tokens are signed with",
        None,
        Door::Open,
    ),
    op("get", "/openapi.json", "This document", None, Door::Open),
    op(
        "post",
        "/v1/sync/batches",
        "Upload a sync batch (FFSB v1 frame); answers accepted, duplicates and marks",
        None,
        Door::Mtls,
    ),
    op(
        "get",
        "/v1/sync/marks",
        "High-water marks of the caller's streams",
        None,
        Door::Mtls,
    ),
    op(
        "get",
        "/v1/devices",
        "Devices the caller may read",
        None,
        Door::Mtls,
    ),
    op(
        "get",
        "/v1/devices/{id}/streams",
        "Streams of a device",
        None,
        Door::Mtls,
    ),
    op(
        "get",
        "/v1/devices/{id}/streams/{stream}/records",
        "Records of a stream by seq range",
        None,
        Door::Mtls,
    ),
    op(
        "get",
        "/v1/devices/{id}/streams/{stream}/series",
        "Downsampled readings of a stream",
        None,
        Door::Mtls,
    ),
    op(
        "get",
        "/v1/analytics/alarm-rules",
        "The tenant's alarm rules",
        None,
        Door::Mtls,
    ),
    op(
        "put",
        "/v1/analytics/alarm-rules/{name}",
        "Create or replace an alarm rule (gateway certificates)",
        None,
        Door::Mtls,
    ),
    op(
        "delete",
        "/v1/analytics/alarm-rules/{name}",
        "Delete an alarm rule (gateway certificates)",
        None,
        Door::Mtls,
    ),
    op(
        "get",
        "/v1/plant/devices",
        "Devices of the tenant with each stream's sync health (class, high-water mark, records, last record time)",
        Some("data:read"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/plant/devices/{id}/streams/{stream}/series",
        "Downsampled readings of a stream for people (?from=&to=&step_s=&tag=)",
        Some("data:read"),
        Door::Both,
    ),
    op(
        "post",
        "/v1/forecasts",
        "Start a forecast job over an uploaded long-format CSV or stored readings; 202 with its id",
        Some("forecast:run"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/forecasts",
        "The tenant's forecast jobs, newest first, with their progress",
        Some("forecast:read"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/forecasts/accuracy",
        "Rolling-origin backtest accuracy (MASE, sMAPE, RMSSE, pinball, coverage) of finished forecasts",
        Some("forecast:read"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/forecasts/{id}",
        "A forecast job: progress, then mean, standard deviation and quantiles per node (?node=)",
        Some("forecast:read"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/forecasts/{id}/inventory",
        "Safety stock and reorder point per node from the forecast (?lead_time=&review_period=&service_level=&node=)",
        Some("forecast:read"),
        Door::Both,
    ),
    op(
        "post",
        "/v1/forecasts/{id}/cancel",
        "Cancel a queued or running forecast job",
        Some("forecast:run"),
        Door::Both,
    ),
    op(
        "post",
        "/v1/optimization/{kind}",
        "Start an optimization job (kind: plan, schedule, routing, inventory) over the instance in the body; checked at once, 202 with its id",
        Some("optimize:run"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/optimization/jobs",
        "The tenant's optimization jobs, newest first: state, progress, elapsed time",
        Some("optimize:read"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/optimization/jobs/{id}",
        "An optimization job: queued, running with its latest progress, then its checked answer (or why it failed)",
        Some("optimize:read"),
        Door::Both,
    ),
    op(
        "post",
        "/v1/optimization/jobs/{id}/approve",
        "Sign a finished production plan (meaning approve or reject, password re-entered); approve makes it the active plan, audited with the signature",
        Some("plan:approve"),
        Door::Both,
    ),
    op(
        "post",
        "/v1/optimization/jobs/{id}/cancel",
        "Cancel a queued or running optimization job: a queued one never runs, a running one stops at its solver's next check",
        Some("optimize:run"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/optimization/plans/active",
        "The tenant's active production plan: the last one approved, its signer and the plan",
        Some("optimize:read"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/me",
        "Who the caller is: tenant, actor, permissions",
        None,
        Door::Both,
    ),
    op(
        "get",
        "/v1/users",
        "The tenant's users (never their password hashes)",
        Some("user:admin"),
        Door::Both,
    ),
    op(
        "post",
        "/v1/users",
        "Create a user (audited)",
        Some("user:admin"),
        Door::Both,
    ),
    op(
        "patch",
        "/v1/users/{name}",
        "Change a user's roles or disable them (audited; a disabled user's tokens stop at once)",
        Some("user:admin"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/roles",
        "Roles and their permissions",
        Some("user:admin"),
        Door::Both,
    ),
    op(
        "put",
        "/v1/roles/{name}",
        "Define a role (audited)",
        Some("user:admin"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/api-keys",
        "Service API keys (never their secrets)",
        Some("user:admin"),
        Door::Both,
    ),
    op(
        "post",
        "/v1/api-keys",
        "Create a service key; the key is shown once (audited)",
        Some("user:admin"),
        Door::Both,
    ),
    op(
        "delete",
        "/v1/api-keys/{id}",
        "Revoke a service key (audited)",
        Some("user:admin"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/trace/sources",
        "The tenant's trace grants: devices whose Trace records may become EPCIS events, and the locations each may name",
        Some("trace:sources"),
        Door::Both,
    ),
    op(
        "put",
        "/v1/trace/sources/{device}",
        "Grant a device the right to send Trace records for the listed read points / business locations (audited)",
        Some("trace:sources"),
        Door::Both,
    ),
    op(
        "delete",
        "/v1/trace/sources/{device}",
        "Withdraw a device's trace grant (audited)",
        Some("trace:sources"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/gateways",
        "The tenant's gateway bindings: the devices each gateway may upload for",
        Some("gateway:bind"),
        Door::Both,
    ),
    op(
        "put",
        "/v1/gateways/{id}/devices",
        "Bind a gateway to the devices it serves; its records of any other device are refused (audited)",
        Some("gateway:bind"),
        Door::Both,
    ),
    op(
        "delete",
        "/v1/gateways/{id}/devices",
        "Unbind a gateway: it uploads nothing but its own gateway/ streams (audited)",
        Some("gateway:bind"),
        Door::Both,
    ),
    op(
        "post",
        "/v1/epcis/capture",
        "Capture an EPCIS 2.0 document (all or nothing; idempotent by canonical event hash; audited)",
        Some("epcis:capture"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/trace/{direction}",
        "Forward or backward trace of a lot: id, depth, from, to",
        Some("trace:read"),
        Door::Both,
    ),
    op(
        "post",
        "/v1/recall",
        "Recall simulation from suspect lots or a supplier",
        Some("trace:read"),
        Door::Both,
    ),
    op(
        "post",
        "/v1/risk",
        "Supplier risk propagated to a lot, with the paths that carry it",
        Some("trace:read"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/mass-balance",
        "Mass balance of transformations: only_bad, max_gain, max_loss",
        Some("trace:read"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/fsma204/export",
        "The FSMA 204 sortable spreadsheet: tlc or product, from, to, format=csv|xlsx|json",
        Some("trace:export"),
        Door::Both,
    ),
    op(
        "post",
        "/v1/batches/{lot}/approve",
        "Sign an approval (release, reject, hold, review) with re-authentication (21 CFR Part 11)",
        Some("batch:approve"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/batches/{lot}/approvals",
        "Signed approvals of a lot",
        Some("batch:read"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/audit/verify",
        "Verify the tenant's hash chain, Merkle root and regulated records; names the first bad entry",
        Some("audit:read"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/audit/entries",
        "Audit entries from a seq",
        Some("audit:read"),
        Door::Both,
    ),
    op(
        "get",
        "/v1/audit/proof/{seq}",
        "Merkle inclusion proof of one entry against the current root",
        Some("audit:read"),
        Door::Both,
    ),
];

/// Stable `reason` codes of error bodies.
pub const REASONS: &[&str] = &[
    "malformed",
    "invalid",
    "epcis_invalid",
    "unauthenticated",
    "reauthentication",
    "forbidden",
    "not_found",
    "conflict",
    "throttled",
    "queue_full",
    "limit",
    "audit_broken",
    "storage",
    "internal",
    "certificate",
    "seq_jump",
    "not_bound",
];

pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for o in OPERATIONS {
        let params: Vec<Value> = o
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let security = match o.door {
            Door::Open => json!([]),
            Door::Mtls => json!([{"mutualTLS": []}]),
            Door::Both => json!([{"mutualTLS": []}, {"bearer": []}]),
        };
        let mut desc = o.summary.to_owned();
        if let Some(p) = o.permission {
            desc.push_str(&format!(". Needs the permission `{p}`."));
        }
        let mut operation = json!({
            "summary": o.summary,
            "description": desc,
            "security": security,
            "parameters": params,
            "responses": {
                "200": {"description": "Success (201 for creations, 204 for deletions)"},
                "default": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        });
        if matches!(o.method, "post" | "put" | "patch") {
            operation["requestBody"] =
                json!({"content": {"application/json": {"schema": {"type": "object"}}}});
        }
        let item = paths.entry(o.path.to_owned()).or_insert_with(|| json!({}));
        item[o.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "FoodFlow OS cloud hub",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Sync ingest, FoodGraph traceability (EPCIS 2.0, FSMA 204), identity and the audit trail. Plants and gateways use the mutual-TLS listener; people and services the public listener with a bearer token (POST /auth/login) or an API key.",
        },
        "components": {
            "securitySchemes": {
                "mutualTLS": {"type": "mutualTLS", "description": "A client certificate of the deployment CA with a URI SAN urn:foodflow:<role>:tenant=T;id=D"},
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (EdDSA) or API key ffk.<tenant>.<id>.<secret>"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["reason", "message"],
                    "properties": {
                        "reason": {"type": "string", "enum": REASONS, "description": "Stable machine-readable code"},
                        "message": {"type": "string", "description": "What is wrong and how to fix it"},
                        "retry_after_ms": {"type": ["integer", "null"]},
                        "errors": {"type": "array", "description": "epcis_invalid: every field error (event index, field, message)"},
                    },
                },
            },
        },
        "paths": paths,
    })
}

pub async fn serve() -> axum::Json<Value> {
    axum::Json(document())
}
