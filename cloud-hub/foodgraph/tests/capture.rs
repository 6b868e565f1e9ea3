//! EPCIS 2.0 capture validation: valid documents of every event type, invalid ones with errors
//! that name the event index and the field, and the canonical hash.

use foodflow_foodgraph::{CaptureError, EventType, parse_capture};
use serde_json::json;

fn doc(events: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-20T16:00:00Z",
        "epcisBody": {"eventList": events}
    }))
    .unwrap()
}

fn errors(body: &[u8]) -> Vec<String> {
    match parse_capture(body, 100) {
        Err(CaptureError::Invalid(e)) => e.iter().map(|e| e.to_string()).collect(),
        other => panic!("expected validation errors, got {other:?}"),
    }
}

const LOT: &str = "urn:epc:class:lgtin:4012345.012345.L1";

#[test]
fn every_event_type_parses() {
    let base =
        json!({"eventTime": "2026-11-20T08:00:00.000+01:00", "eventTimeZoneOffset": "+01:00"});
    let with = |extra: serde_json::Value| {
        let mut e = base.clone();
        e.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        e
    };
    let events = json!([
        with(
            json!({"type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
            "quantityList": [{"epcClass": LOT, "quantity": 10.5, "uom": "KGM"}],
            "ilmd": {"cbvmda:lotNumber": "L1", "cbvmda:itemExpirationDate": "2026-12-31"},
            "readPoint": {"id": "urn:epc:id:sgln:4012345.00001.0"}})
        ),
        with(
            json!({"type": "AggregationEvent", "action": "ADD", "parentID": "urn:epc:id:sscc:4012345.0000000001",
            "childEPCs": ["urn:epc:id:sgtin:4012345.012345.1"], "childQuantityList": [{"epcClass": LOT, "quantity": 2}]})
        ),
        with(
            json!({"type": "TransformationEvent", "inputQuantityList": [{"epcClass": LOT, "quantity": 5, "uom": "KGM"}],
            "outputEPCList": ["urn:epc:id:sgtin:4012345.054321.7"], "transformationID": "urn:example:tx:1"})
        ),
        with(
            json!({"type": "TransactionEvent", "action": "ADD", "epcList": ["urn:epc:id:sscc:4012345.0000000001"],
            "bizTransactionList": [{"type": "urn:epcglobal:cbv:btt:po", "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:PO1"}]})
        ),
        with(
            json!({"type": "AssociationEvent", "action": "ADD", "parentID": "urn:epc:id:grai:4012345.55555.1",
            "childEPCs": ["urn:epc:id:giai:4012345.1"], "example:sensorId": "s-1"})
        ),
    ]);
    let parsed = parse_capture(&doc(events), 100).unwrap();
    let kinds: Vec<EventType> = parsed.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            EventType::ObjectEvent,
            EventType::AggregationEvent,
            EventType::TransformationEvent,
            EventType::TransactionEvent,
            EventType::AssociationEvent
        ]
    );
    assert_eq!(
        parsed[0].time_ns,
        foodflow_protocol::time::parse_rfc3339("2026-11-20T07:00:00Z").unwrap()
    );
    assert_eq!(parsed[0].quantities[0].quantity, Some(10.5));
    assert_eq!(parsed[0].text("cbvmda:lotNumber"), Some("L1"));
    assert_eq!(parsed[3].biz_transactions[0].kind, "po");
    assert_eq!(parsed[4].extensions["example:sensorId"], "s-1");
    // A bare event and a bare list are accepted too.
    let one = serde_json::to_vec(&parsed_source(0)).unwrap();
    assert_eq!(parse_capture(&one, 100).unwrap().len(), 1);
}

fn parsed_source(_: usize) -> serde_json::Value {
    json!({"type": "ObjectEvent", "action": "OBSERVE", "eventTime": "2026-11-20T08:00:00Z",
        "eventTimeZoneOffset": "+00:00", "epcList": ["urn:epc:id:sgtin:4012345.012345.1"]})
}

#[test]
fn invalid_events_name_the_event_and_the_field() {
    let events = json!([
        {"type": "ObjectEvent", "action": "OBSERVE", "eventTime": "2026-11-20T08:00:00Z",
         "eventTimeZoneOffset": "+00:00", "epcList": ["urn:epc:id:sgtin:4012345.012345.1"]},
        {"type": "ObjectEvent", "action": "MOVE", "eventTime": "yesterday", "eventTimeZoneOffset": "+1",
         "quantityList": [{"epcClass": LOT, "quantity": "ten", "uom": "kilograms"}],
         "bizStep": "shiping", "sourceList": [{"type": "owner", "source": "urn:x:y"}], "colour": "red"},
        {"type": "TransformationEvent", "action": "ADD", "eventTime": "2026-11-20T08:00:00Z",
         "eventTimeZoneOffset": "+00:00", "inputEPCList": ["not a uri"]},
        {"type": "TransactionEvent", "action": "ADD", "eventTime": "2026-11-20T08:00:00Z",
         "eventTimeZoneOffset": "+00:00", "epcList": ["urn:epc:id:sscc:1.2"]},
        {"type": "AggregationEvent", "action": "ADD", "eventTime": "2026-11-20T08:00:00Z",
         "eventTimeZoneOffset": "+00:00", "childEPCs": ["urn:epc:id:sgtin:1.2.3"]},
        {"type": "SensorEvent"}
    ]);
    let errs = errors(&doc(events));
    for want in [
        "event[1].action: \"MOVE\" is not ADD, OBSERVE or DELETE",
        "event[1].eventTime: \"yesterday\" is not an RFC 3339 time",
        "event[1].eventTimeZoneOffset: \"+1\" is not ±hh:mm",
        "event[1].quantityList[0].quantity: must be a number, not a string",
        "event[1].quantityList[0].uom: \"kilograms\" is not a UN/ECE Rec 20 unit code",
        "event[1].bizStep: \"shiping\" is neither a CBV 2.0 value",
        "event[1].sourceList[0].type: \"owner\" is neither a CBV 2.0 value",
        "event[1].colour: unknown field",
        "event[2].action: a TransformationEvent has no action",
        "event[2].inputEPCList[0]: \"not a uri\" is not an EPC URI",
        "event[3].bizTransactionList: missing",
        "event[4].parentID: missing",
        "event[5].type: \"SensorEvent\" is not an EPCIS 2.0 event type",
    ] {
        assert!(
            errs.iter().any(|e| e.starts_with(want)),
            "no error {want:?} in {errs:#?}"
        );
    }
    assert!(
        !errs.iter().any(|e| e.starts_with("event[0]")),
        "event 0 is valid: {errs:#?}"
    );
}

#[test]
fn documents_that_are_not_epcis() {
    assert!(matches!(
        parse_capture(b"{not json", 10),
        Err(CaptureError::NotJson(_))
    ));
    let e = errors(br#"{"type": "EPCISDocument", "epcisBody": {}}"#);
    assert!(e[0].starts_with("epcisBody.eventList: missing"), "{e:?}");
    let e = errors(b"42");
    assert!(e[0].contains("expected an EPCISDocument"), "{e:?}");
    let many = doc(serde_json::Value::Array(vec![parsed_source(0); 11]));
    assert!(matches!(
        parse_capture(&many, 10),
        Err(CaptureError::TooMany {
            count: 11,
            limit: 10
        })
    ));
}

#[test]
fn the_hash_ignores_spelling_and_event_id() {
    let a = json!({"type": "ObjectEvent", "action": "OBSERVE", "eventTime": "2026-11-20T08:00:00.000+01:00",
        "eventTimeZoneOffset": "+01:00", "bizStep": "shipping",
        "epcList": ["urn:epc:id:sgtin:4012345.012345.2", "urn:epc:id:sgtin:4012345.012345.1"],
        "eventID": "urn:uuid:11111111-1111-4111-8111-111111111111"});
    let b = json!({"type": "ObjectEvent", "action": "OBSERVE", "eventTime": "2026-11-20T07:00:00Z",
        "eventTimeZoneOffset": "+01:00", "bizStep": "urn:epcglobal:cbv:bizstep:shipping",
        "epcList": ["urn:epc:id:sgtin:4012345.012345.1", "urn:epc:id:sgtin:4012345.012345.2"]});
    let mut c = b.clone();
    c["disposition"] = json!("in_transit");
    let h = |v: &serde_json::Value| {
        parse_capture(&serde_json::to_vec(v).unwrap(), 1).unwrap()[0]
            .hash
            .clone()
    };
    assert_eq!(h(&a), h(&b));
    assert_ne!(h(&b), h(&c));
    assert!(h(&a).starts_with("ni:///sha-256;"));
}
