//! Which devices may send `Trace` records, and for which locations. A device certificate
//! proves which box is talking, not that its lot events may enter the regulated trail: a
//! tenant grants that explicitly, per device, limited to the read points and business
//! locations the box stands at (`PUT /v1/trace/sources/{device}`, audited). A Trace record
//! from a device without a grant, or naming another location, is stored as received but never
//! becomes an EPCIS event.

use foodflow_foodgraph::Event;
use serde::{Deserialize, Serialize};

use crate::store::{StoreError, TenantStore};

pub const KEY: &str = "trace:source:";
/// Locations one grant may list.
pub const MAX_LOCATIONS: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Read points and business locations (SGLN EPC URNs, as the events name them).
    pub locations: Vec<String>,
}

impl Grant {
    /// Whether the device may record `e`: it names at least one location, and only granted ones.
    pub fn allows(&self, e: &Event) -> Result<(), String> {
        let named: Vec<&String> = [&e.read_point, &e.biz_location]
            .into_iter()
            .flatten()
            .collect();
        if named.is_empty() {
            return Err("the event names no read point or business location".into());
        }
        match named.into_iter().find(|l| !self.locations.contains(l)) {
            Some(l) => Err(format!("location {l:?} is not granted to this device")),
            None => Ok(()),
        }
    }

    pub fn check(&self) -> Result<(), String> {
        if self.locations.is_empty() || self.locations.len() > MAX_LOCATIONS {
            return Err(format!(
                "list 1 to {MAX_LOCATIONS} locations (read points or business locations)"
            ));
        }
        if let Some(l) = self
            .locations
            .iter()
            .find(|l| l.is_empty() || l.len() > 256 || !l.starts_with("urn:"))
        {
            return Err(format!(
                "location {l:?}: give the EPC URN the events use (urn:epc:id:sgln:…)"
            ));
        }
        Ok(())
    }
}

/// The device's grant, if any.
pub fn grant(view: &dyn TenantStore, device: &str) -> Result<Option<Grant>, StoreError> {
    crate::store::json_setting(
        view,
        &format!("{KEY}{device}"),
        &format!("trace grant of {device}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(read_point: Option<&str>, biz_location: Option<&str>) -> Event {
        let doc = serde_json::json!({
            "type": "ObjectEvent", "eventTime": "2026-01-01T00:00:00Z", "eventTimeZoneOffset": "+00:00",
            "action": "OBSERVE", "epcList": ["urn:epc:id:sgtin:0614141.107346.2018"],
            "readPoint": read_point.map(|r| serde_json::json!({"id": r})),
            "bizLocation": biz_location.map(|r| serde_json::json!({"id": r})),
        });
        let mut v = doc;
        v.as_object_mut().unwrap().retain(|_, x| !x.is_null());
        let body = serde_json::json!({"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"], "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-01-01T00:00:00Z", "epcisBody": {"eventList": [v]}});
        foodflow_foodgraph::parse_capture(body.to_string().as_bytes(), 10)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn a_grant_admits_only_its_locations() {
        let g = Grant {
            locations: vec!["urn:epc:id:sgln:0614141.00777.0".into()],
        };
        assert!(g.check().is_ok());
        assert!(
            g.allows(&event(Some("urn:epc:id:sgln:0614141.00777.0"), None))
                .is_ok()
        );
        assert!(
            g.allows(&event(
                Some("urn:epc:id:sgln:0614141.00777.0"),
                Some("urn:epc:id:sgln:0614141.00777.0")
            ))
            .is_ok()
        );
        assert!(
            g.allows(&event(Some("urn:epc:id:sgln:0614141.00888.0"), None))
                .is_err()
        );
        assert!(
            g.allows(&event(
                Some("urn:epc:id:sgln:0614141.00777.0"),
                Some("urn:epc:id:sgln:9999999.00001.0")
            ))
            .is_err()
        );
        assert!(g.allows(&event(None, None)).is_err());
        assert!(Grant { locations: vec![] }.check().is_err());
        assert!(
            Grant {
                locations: vec!["plant".into()]
            }
            .check()
            .is_err()
        );
    }
}
