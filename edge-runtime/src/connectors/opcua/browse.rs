//! `foodflow-edge opcua browse`: walks the address space from Objects and prints a tag-map
//! skeleton (YAML) for every variable found.

use std::collections::HashSet;
use std::fmt::Write;
use std::time::Duration;

use opcua::client::IdentityToken;
use opcua::types::{
    BrowseDescription, BrowseDirection, BrowseResultMask, NodeClass, NodeClassMask, NodeId,
    ObjectId, ReferenceTypeId,
};

use super::client::build_client;
use crate::connectors::ConnectorError;

fn err(endpoint: &str, message: String) -> ConnectorError {
    ConnectorError::OpcUa {
        source_name: endpoint.to_owned(),
        message,
    }
}

/// Browses `endpoint` (security None) down to `depth` levels below Objects.
pub async fn browse(endpoint: &str, depth: usize) -> Result<String, ConnectorError> {
    let pki = std::env::temp_dir().join("foodflow-browse-pki");
    let mut client = build_client(pki, true).map_err(|m| err(endpoint, m))?;
    let (session, event_loop) = tokio::time::timeout(
        Duration::from_secs(15),
        client.connect_to_matching_endpoint(
            (
                endpoint,
                opcua::crypto::SecurityPolicy::None.to_uri(),
                opcua::types::MessageSecurityMode::None,
            ),
            IdentityToken::Anonymous,
        ),
    )
    .await
    .map_err(|_| {
        err(
            endpoint,
            "no answer within 15 s; check the address and the firewall".into(),
        )
    })?
    .map_err(|e| err(endpoint, format!("cannot connect: {e}")))?;
    let handle = event_loop.spawn();
    if !session.wait_for_connection().await {
        return Err(err(endpoint, "the session could not be established".into()));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Tag map skeleton from {endpoint}; rename tags, set units and deadbands."
    );
    let _ = writeln!(out, "tags:");
    let mut seen = HashSet::new();
    let mut level: Vec<(NodeId, String)> = vec![(ObjectId::ObjectsFolder.into(), String::new())];
    for _ in 0..depth {
        let mut next = Vec::new();
        for chunk in level.chunks(100) {
            let descs: Vec<BrowseDescription> = chunk
                .iter()
                .map(|(n, _)| BrowseDescription {
                    node_id: n.clone(),
                    browse_direction: BrowseDirection::Forward,
                    reference_type_id: ReferenceTypeId::HierarchicalReferences.into(),
                    include_subtypes: true,
                    node_class_mask: (NodeClassMask::OBJECT | NodeClassMask::VARIABLE).bits(),
                    result_mask: BrowseResultMask::All as u32,
                })
                .collect();
            let results = session
                .browse(&descs, 1000, None)
                .await
                .map_err(|e| err(endpoint, format!("browse failed: {e}")))?;
            for (r, (_, path)) in results.iter().zip(chunk) {
                for rf in r.references.iter().flatten() {
                    let id = rf.node_id.node_id.clone();
                    // Skip the standard Server object and anything already listed.
                    if id.namespace == 0 || !seen.insert(id.clone()) {
                        continue;
                    }
                    let name = rf.browse_name.name.as_ref().to_owned();
                    let full = if path.is_empty() {
                        name.clone()
                    } else {
                        format!("{path}.{name}")
                    };
                    if rf.node_class == NodeClass::Variable {
                        let _ = writeln!(
                            out,
                            "  - {{ node: \"{id}\", name: {}, deadband: 0 }}",
                            full.to_lowercase().replace([' ', '/'], "_")
                        );
                    }
                    next.push((id, full));
                }
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    let _ = session.disconnect().await;
    handle.abort();
    Ok(out)
}
