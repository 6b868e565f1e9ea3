//! EPCIS 2.0 JSON / JSON-LD events: parsing with validation that names the event and the field,
//! and a canonical hash that makes capture idempotent.
//!
//! Accepted input: an `EPCISDocument` (`epcisBody.eventList`), a bare event list, or one event.
//! All five event types; `quantityList`, CBV `bizStep`/`disposition` (bare, URN or web URI),
//! `readPoint`/`bizLocation`, `bizTransactionList`, `sourceList`/`destinationList`, `ilmd`.
//! Extension fields (namespaced keys such as `fsma:cte` or `example:temperature`) are kept.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{cbv, ids};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    ObjectEvent,
    AggregationEvent,
    TransformationEvent,
    TransactionEvent,
    AssociationEvent,
}

impl EventType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ObjectEvent" => Self::ObjectEvent,
            "AggregationEvent" => Self::AggregationEvent,
            "TransformationEvent" => Self::TransformationEvent,
            "TransactionEvent" => Self::TransactionEvent,
            "AssociationEvent" => Self::AssociationEvent,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Action {
    Add,
    Observe,
    Delete,
}

/// An amount of a class of objects (a lot, usually): `quantityList` entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantity {
    pub epc_class: String,
    pub quantity: Option<f64>,
    pub uom: Option<String>,
}

/// A typed reference: bizTransaction, source or destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypedRef {
    pub kind: String,
    pub id: String,
}

/// One validated event. Lists keep EPCIS's roles: `epcs`/`quantities` are `epcList` and
/// `quantityList` (Object, Transaction) or `childEPCs` and `childQuantityList` (Aggregation,
/// Association); transformations use the input and output lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventType,
    /// The canonical hash (`ni:///sha-256;…`): identical events get identical ids.
    pub hash: String,
    pub event_id: Option<String>,
    pub time_ns: i64,
    pub time_zone_offset: String,
    pub action: Option<Action>,
    pub biz_step: Option<String>,
    pub disposition: Option<String>,
    pub read_point: Option<String>,
    pub biz_location: Option<String>,
    pub parent_id: Option<String>,
    pub epcs: Vec<String>,
    pub quantities: Vec<Quantity>,
    pub input_epcs: Vec<String>,
    pub input_quantities: Vec<Quantity>,
    pub output_epcs: Vec<String>,
    pub output_quantities: Vec<Quantity>,
    pub transformation_id: Option<String>,
    pub biz_transactions: Vec<TypedRef>,
    pub sources: Vec<TypedRef>,
    pub destinations: Vec<TypedRef>,
    /// Instance/lot master data (`ilmd`), e.g. `cbvmda:lotNumber`, `cbvmda:itemExpirationDate`.
    pub ilmd: BTreeMap<String, Value>,
    /// Extension fields (namespaced keys), e.g. `fsma:cte`.
    pub extensions: BTreeMap<String, Value>,
}

/// A validation failure: which event (index in the capture) and which field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub event: Option<usize>,
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.event {
            Some(i) if self.field.is_empty() => write!(f, "event[{i}]: {}", self.message),
            Some(i) => write!(f, "event[{i}].{}: {}", self.field, self.message),
            None => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("{} invalid field(s); first: {}", .0.len(), .0[0])]
    Invalid(Vec<FieldError>),
    #[error("{count} events in one capture; the limit is {limit} (split the document)")]
    TooMany { count: usize, limit: usize },
}

/// At most this many errors are reported per capture (the first ones).
const MAX_ERRORS: usize = 100;

/// Parses a capture body: the document's events, all valid, or every problem found.
pub fn parse_capture(body: &[u8], max_events: usize) -> Result<Vec<Event>, CaptureError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| CaptureError::NotJson(e.to_string()))?;
    let events: Vec<&Value> = match &v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("EPCISDocument") => {
            match o.pointer_list() {
                Some(list) => list.iter().collect(),
                None => {
                    return Err(CaptureError::Invalid(vec![FieldError {
                        event: None,
                        field: "epcisBody.eventList".into(),
                        message:
                            "missing: an EPCISDocument carries its events in epcisBody.eventList"
                                .into(),
                    }]));
                }
            }
        }
        Value::Object(_) => vec![&v],
        _ => {
            return Err(CaptureError::Invalid(vec![FieldError {
                event: None,
                field: "(body)".into(),
                message: "expected an EPCISDocument, an event list or one event".into(),
            }]));
        }
    };
    if events.len() > max_events {
        return Err(CaptureError::TooMany {
            count: events.len(),
            limit: max_events,
        });
    }
    let mut out = Vec::with_capacity(events.len());
    let mut errors = Vec::new();
    for (i, e) in events.into_iter().enumerate() {
        match parse_event(e) {
            Ok(ev) => out.push(ev),
            Err(errs) => {
                errors.extend(errs.into_iter().map(|(field, message)| FieldError {
                    event: Some(i),
                    field,
                    message,
                }));
                if errors.len() >= MAX_ERRORS {
                    break;
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        errors.truncate(MAX_ERRORS);
        Err(CaptureError::Invalid(errors))
    }
}

trait EventList {
    fn pointer_list(&self) -> Option<&Vec<Value>>;
}

impl EventList for Map<String, Value> {
    fn pointer_list(&self) -> Option<&Vec<Value>> {
        self.get("epcisBody")?.get("eventList")?.as_array()
    }
}

/// Field-level problems of one event: (field path, message).
type Problems = Vec<(String, String)>;

/// Keys of the EPCIS 2.0 event model (others must be namespaced extensions).
const KNOWN: &[&str] = &[
    "type",
    "eventID",
    "eventTime",
    "eventTimeZoneOffset",
    "recordTime",
    "action",
    "bizStep",
    "disposition",
    "readPoint",
    "bizLocation",
    "parentID",
    "epcList",
    "quantityList",
    "childEPCs",
    "childQuantityList",
    "inputEPCList",
    "inputQuantityList",
    "outputEPCList",
    "outputQuantityList",
    "transformationID",
    "bizTransactionList",
    "sourceList",
    "destinationList",
    "ilmd",
    "sensorElementList",
    "persistentDisposition",
    "errorDeclaration",
    "certificationInfo",
    "@context",
];

struct Reader<'a> {
    o: &'a Map<String, Value>,
    problems: Problems,
}

impl<'a> Reader<'a> {
    fn problem(&mut self, field: impl Into<String>, msg: impl Into<String>) {
        self.problems.push((field.into(), msg.into()));
    }

    fn string(&mut self, key: &str) -> Option<String> {
        match self.o.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::String(_)) => {
                self.problem(key, "is empty");
                None
            }
            Some(other) => {
                self.problem(key, format!("must be a string, not {}", kind(other)));
                None
            }
        }
    }

    fn uri(&mut self, key: &str) -> Option<String> {
        let s = self.string(key)?;
        if ids::is_uri(&s) {
            Some(s)
        } else {
            self.problem(
                key,
                format!("{s:?} is not a URI (e.g. urn:epc:id:sgln:… or https://…)"),
            );
            None
        }
    }

    /// `{"id": "urn:…"}` (readPoint, bizLocation).
    fn location(&mut self, key: &str) -> Option<String> {
        match self.o.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => match m.get("id") {
                Some(Value::String(s)) if ids::is_uri(s) => Some(s.clone()),
                Some(Value::String(s)) => {
                    self.problem(format!("{key}.id"), format!("{s:?} is not a URI"));
                    None
                }
                _ => {
                    self.problem(format!("{key}.id"), "missing: give the location's URI");
                    None
                }
            },
            Some(other) => {
                self.problem(
                    key,
                    format!("must be an object {{\"id\": …}}, not {}", kind(other)),
                );
                None
            }
        }
    }

    fn uri_list(&mut self, key: &str) -> Vec<String> {
        match self.o.get(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => {
                let mut out = Vec::with_capacity(a.len());
                for (i, v) in a.iter().enumerate() {
                    match v.as_str() {
                        Some(s) if ids::is_uri(s) => out.push(s.to_owned()),
                        Some(s) => {
                            self.problem(format!("{key}[{i}]"), format!("{s:?} is not an EPC URI"))
                        }
                        None => self.problem(
                            format!("{key}[{i}]"),
                            format!("must be a string, not {}", kind(v)),
                        ),
                    }
                }
                out
            }
            Some(other) => {
                self.problem(key, format!("must be a list, not {}", kind(other)));
                Vec::new()
            }
        }
    }

    fn quantities(&mut self, key: &str) -> Vec<Quantity> {
        let a = match self.o.get(key) {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(a)) => a,
            Some(other) => {
                self.problem(key, format!("must be a list, not {}", kind(other)));
                return Vec::new();
            }
        };
        let mut out = Vec::with_capacity(a.len());
        for (i, v) in a.iter().enumerate() {
            let at = |f: &str| format!("{key}[{i}].{f}");
            let Some(m) = v.as_object() else {
                self.problem(
                    format!("{key}[{i}]"),
                    format!("must be an object, not {}", kind(v)),
                );
                continue;
            };
            let epc_class = match m.get("epcClass").and_then(Value::as_str) {
                Some(s) if ids::is_uri(s) => s.to_owned(),
                Some(s) => {
                    self.problem(
                        at("epcClass"),
                        format!("{s:?} is not a class URI (e.g. urn:epc:class:lgtin:…)"),
                    );
                    continue;
                }
                None => {
                    self.problem(at("epcClass"), "missing");
                    continue;
                }
            };
            let quantity = match m.get("quantity") {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => match n.as_f64() {
                    Some(q) if q.is_finite() && q >= 0.0 => Some(q),
                    _ => {
                        self.problem(at("quantity"), format!("{n} is not a non-negative number"));
                        None
                    }
                },
                Some(other) => {
                    self.problem(
                        at("quantity"),
                        format!("must be a number, not {}", kind(other)),
                    );
                    None
                }
            };
            let uom = match m.get("uom") {
                None | Some(Value::Null) => None,
                Some(Value::String(u))
                    if (2..=3).contains(&u.len())
                        && u.chars().all(|c| c.is_ascii_alphanumeric()) =>
                {
                    Some(u.clone())
                }
                Some(other) => {
                    self.problem(
                        at("uom"),
                        format!("{other} is not a UN/ECE Rec 20 unit code (e.g. KGM, LTR)"),
                    );
                    None
                }
            };
            if uom.is_some() && quantity.is_none() {
                self.problem(at("quantity"), "a unit without a quantity");
            }
            out.push(Quantity {
                epc_class,
                quantity,
                uom,
            });
        }
        out
    }

    fn typed_refs(
        &mut self,
        key: &str,
        type_key: &str,
        id_key: &str,
        check_type: fn(&str) -> Result<String, String>,
    ) -> Vec<TypedRef> {
        let a = match self.o.get(key) {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(a)) => a,
            Some(other) => {
                self.problem(key, format!("must be a list, not {}", kind(other)));
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, v) in a.iter().enumerate() {
            let Some(m) = v.as_object() else {
                self.problem(
                    format!("{key}[{i}]"),
                    format!("must be an object, not {}", kind(v)),
                );
                continue;
            };
            let kind_ = match m.get(type_key).and_then(Value::as_str) {
                Some(t) => match check_type(t) {
                    Ok(t) => t,
                    Err(e) => {
                        self.problem(format!("{key}[{i}].{type_key}"), e);
                        continue;
                    }
                },
                None if type_key == "type" && key == "bizTransactionList" => String::new(),
                None => {
                    self.problem(format!("{key}[{i}].{type_key}"), "missing");
                    continue;
                }
            };
            match m.get(id_key).and_then(Value::as_str) {
                Some(id) if ids::is_uri(id) => out.push(TypedRef {
                    kind: kind_,
                    id: id.to_owned(),
                }),
                Some(id) => self.problem(
                    format!("{key}[{i}].{id_key}"),
                    format!("{id:?} is not a URI"),
                ),
                None => self.problem(format!("{key}[{i}].{id_key}"), "missing"),
            }
        }
        out
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Parses and validates one event; every problem is reported (field path, message).
pub fn parse_event(v: &Value) -> Result<Event, Problems> {
    let Some(o) = v.as_object() else {
        return Err(vec![(
            String::new(),
            format!("an event must be an object, not {}", kind(v)),
        )]);
    };
    let mut r = Reader {
        o,
        problems: Vec::new(),
    };
    let kind_ = match o.get("type").and_then(Value::as_str) {
        Some(t) => match EventType::parse(t) {
            Some(k) => Some(k),
            None => {
                r.problem("type", format!("{t:?} is not an EPCIS 2.0 event type (ObjectEvent, AggregationEvent, TransformationEvent, TransactionEvent, AssociationEvent)"));
                None
            }
        },
        None => {
            r.problem("type", "missing");
            None
        }
    };
    let time = r.string("eventTime");
    let time_ns = match &time {
        Some(t) => match foodflow_protocol::time::parse_rfc3339(t) {
            Some(ns) => Some(ns),
            None => {
                r.problem("eventTime", format!("{t:?} is not an RFC 3339 time with offset, e.g. 2026-11-20T08:00:00.000+01:00"));
                None
            }
        },
        None => {
            r.problem("eventTime", "missing");
            None
        }
    };
    let offset = r.string("eventTimeZoneOffset");
    let offset_ok = offset.as_deref().is_some_and(|z| {
        let b = z.as_bytes();
        b.len() == 6
            && matches!(b[0], b'+' | b'-')
            && b[3] == b':'
            && z[1..3].parse::<u8>().is_ok_and(|h| h <= 14)
            && z[4..6].parse::<u8>().is_ok_and(|m| m < 60)
    });
    if offset.is_none() {
        r.problem("eventTimeZoneOffset", "missing (e.g. +01:00)");
    } else if !offset_ok {
        r.problem(
            "eventTimeZoneOffset",
            format!("{:?} is not ±hh:mm", offset.as_deref().unwrap_or_default()),
        );
    }
    let event_id = r.uri("eventID");
    let action = match (kind_, o.get("action")) {
        (Some(EventType::TransformationEvent), Some(_)) => {
            r.problem("action", "a TransformationEvent has no action");
            None
        }
        (Some(EventType::TransformationEvent), None) | (None, _) => None,
        (Some(_), None) => {
            r.problem("action", "missing (ADD, OBSERVE or DELETE)");
            None
        }
        (Some(_), Some(a)) => match a.as_str() {
            Some("ADD") => Some(Action::Add),
            Some("OBSERVE") => Some(Action::Observe),
            Some("DELETE") => Some(Action::Delete),
            _ => {
                r.problem("action", format!("{a} is not ADD, OBSERVE or DELETE"));
                None
            }
        },
    };
    let vocab = |r: &mut Reader<'_>, key: &str, f: fn(&str) -> Result<String, String>| {
        let s = r.string(key)?;
        match f(&s) {
            Ok(v) => Some(v),
            Err(e) => {
                r.problem(key, e);
                None
            }
        }
    };
    let biz_step = vocab(&mut r, "bizStep", cbv::biz_step);
    let disposition = vocab(&mut r, "disposition", cbv::disposition);
    let read_point = r.location("readPoint");
    let biz_location = r.location("bizLocation");
    let parent_id = r.uri("parentID");
    let transformation_id = r.uri("transformationID");
    let (epcs, quantities) = match kind_ {
        Some(EventType::AggregationEvent | EventType::AssociationEvent) => {
            for k in ["epcList", "quantityList"] {
                if o.contains_key(k) {
                    r.problem(
                        k,
                        "not a field of this event type (use childEPCs / childQuantityList)",
                    );
                }
            }
            (r.uri_list("childEPCs"), r.quantities("childQuantityList"))
        }
        _ => {
            for k in ["childEPCs", "childQuantityList"] {
                if o.contains_key(k) && kind_.is_some() {
                    r.problem(k, "not a field of this event type");
                }
            }
            (r.uri_list("epcList"), r.quantities("quantityList"))
        }
    };
    let input_epcs = r.uri_list("inputEPCList");
    let input_quantities = r.quantities("inputQuantityList");
    let output_epcs = r.uri_list("outputEPCList");
    let output_quantities = r.quantities("outputQuantityList");
    let biz_transactions = r.typed_refs(
        "bizTransactionList",
        "type",
        "bizTransaction",
        cbv::biz_transaction_type,
    );
    let sources = r.typed_refs("sourceList", "type", "source", cbv::source_dest_type);
    let destinations = r.typed_refs(
        "destinationList",
        "type",
        "destination",
        cbv::source_dest_type,
    );
    let ilmd = match o.get("ilmd") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(other) => {
            r.problem("ilmd", format!("must be an object, not {}", kind(other)));
            BTreeMap::new()
        }
    };
    let mut extensions = BTreeMap::new();
    for (k, v) in o {
        if KNOWN.contains(&k.as_str()) {
            continue;
        }
        if k.contains(':') {
            extensions.insert(k.clone(), v.clone());
        } else {
            r.problem(k.as_str(), "unknown field; extension fields need a namespace prefix (e.g. example:temperature)");
        }
    }
    // Type-specific requirements.
    match kind_ {
        Some(EventType::ObjectEvent) if epcs.is_empty() && quantities.is_empty() => {
            r.problem(
                "epcList",
                "an ObjectEvent names at least one object (epcList or quantityList)",
            );
        }
        Some(EventType::AggregationEvent | EventType::AssociationEvent)
            if parent_id.is_none()
                && action != Some(Action::Observe)
                && !o.contains_key("parentID") =>
        {
            r.problem("parentID", "missing: the container (ADD/DELETE need it)");
        }
        Some(EventType::TransformationEvent)
            if input_epcs.is_empty()
                && input_quantities.is_empty()
                && output_epcs.is_empty()
                && output_quantities.is_empty() =>
        {
            r.problem(
                "inputEPCList",
                "a TransformationEvent names inputs or outputs",
            );
        }
        Some(EventType::TransactionEvent)
            if biz_transactions.is_empty() && !o.contains_key("bizTransactionList") =>
        {
            r.problem(
                "bizTransactionList",
                "missing: a TransactionEvent names its business transaction",
            );
        }
        _ => {}
    }
    if !matches!(kind_, Some(EventType::TransformationEvent) | None) {
        for k in [
            "inputEPCList",
            "inputQuantityList",
            "outputEPCList",
            "outputQuantityList",
            "transformationID",
        ] {
            if o.contains_key(k) {
                r.problem(k, "only a TransformationEvent has inputs and outputs");
            }
        }
    }
    if !r.problems.is_empty() {
        return Err(r.problems);
    }
    let (Some(kind_), Some(time_ns), Some(offset)) = (kind_, time_ns, offset) else {
        return Err(vec![(String::new(), "internal: incomplete event".into())]);
    };
    let mut e = Event {
        kind: kind_,
        hash: String::new(),
        event_id,
        time_ns,
        time_zone_offset: offset,
        action,
        biz_step,
        disposition,
        read_point,
        biz_location,
        parent_id,
        epcs,
        quantities,
        input_epcs,
        input_quantities,
        output_epcs,
        output_quantities,
        transformation_id,
        biz_transactions,
        sources,
        destinations,
        ilmd,
        extensions,
    };
    e.hash = canonical_hash(&e);
    Ok(e)
}

/// The event's canonical hash: SHA-256 over a canonical JSON of what the event says (type, UTC
/// time, action, normalised vocabulary, sorted lists, ilmd and extensions), excluding `eventID`
/// and `recordTime`, so the same event captured twice — or sent by two systems with different
/// ids and spellings — is one event. (Our own canonical form, not the CBV 2.0 event-hash
/// algorithm, whose pre-hash string we do not reproduce; the `ver` parameter says so.)
pub fn canonical_hash(e: &Event) -> String {
    let sorted = |v: &Vec<String>| {
        let mut v = v.clone();
        v.sort();
        v
    };
    let q = |v: &Vec<Quantity>| {
        let mut v: Vec<(String, Option<String>, Option<String>)> = v
            .iter()
            .map(|q| {
                (
                    q.epc_class.clone(),
                    q.quantity.map(|x| format!("{x}")),
                    q.uom.clone(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let refs = |v: &Vec<TypedRef>| {
        let mut v: Vec<(String, String)> =
            v.iter().map(|r| (r.kind.clone(), r.id.clone())).collect();
        v.sort();
        v
    };
    let canon = serde_json::json!({
        "type": e.kind,
        "time_ns": e.time_ns,
        "action": e.action,
        "bizStep": e.biz_step,
        "disposition": e.disposition,
        "readPoint": e.read_point,
        "bizLocation": e.biz_location,
        "parentID": e.parent_id,
        "epcs": sorted(&e.epcs),
        "quantities": q(&e.quantities),
        "inputEPCs": sorted(&e.input_epcs),
        "inputQuantities": q(&e.input_quantities),
        "outputEPCs": sorted(&e.output_epcs),
        "outputQuantities": q(&e.output_quantities),
        "transformationID": e.transformation_id,
        "bizTransactions": refs(&e.biz_transactions),
        "sources": refs(&e.sources),
        "destinations": refs(&e.destinations),
        "ilmd": e.ilmd,
        "extensions": e.extensions,
    });
    // serde_json maps are ordered (BTreeMap) without the preserve_order feature: the
    // serialisation is canonical.
    let digest = Sha256::digest(canon.to_string().as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    format!("ni:///sha-256;{hex}?ver=foodflow-1")
}

impl Event {
    /// Every object identifier the event mentions, with its role.
    pub fn objects(&self) -> impl Iterator<Item = &str> {
        self.epcs
            .iter()
            .map(String::as_str)
            .chain(self.quantities.iter().map(|q| q.epc_class.as_str()))
            .chain(self.parent_id.as_deref())
            .chain(self.input_epcs.iter().map(String::as_str))
            .chain(self.input_quantities.iter().map(|q| q.epc_class.as_str()))
            .chain(self.output_epcs.iter().map(String::as_str))
            .chain(self.output_quantities.iter().map(|q| q.epc_class.as_str()))
    }

    /// The extension or ilmd string value of `key`.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.extensions
            .get(key)
            .or_else(|| self.ilmd.get(key))
            .and_then(Value::as_str)
    }

    /// The quantity this event states for `id` (as listed object or class).
    pub fn quantity_of(&self, id: &str) -> Option<(f64, Option<&str>)> {
        self.quantities
            .iter()
            .chain(&self.input_quantities)
            .chain(&self.output_quantities)
            .find(|q| q.epc_class == id)
            .and_then(|q| q.quantity.map(|x| (x, q.uom.as_deref())))
    }
}
