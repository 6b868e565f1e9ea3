//! Sparkplug B, host application side: births define aliases, every node's `seq` is checked,
//! a gap or an unknown alias records a `Gap` and asks the node to rebirth over NCMD, deaths are
//! recorded, historical metrics keep their own timestamps (so they never pass for current values).

pub mod proto;
mod topic;

use std::collections::HashMap;

use foodflow_protocol::{Event, Gap, Payload, Quality, Reading, Severity, Value};
use prost::Message;

pub use proto::{Metric, MetricValue, SpPayload, datatype};
pub use topic::{MessageType, Topic};

use super::{CodecError, Refusal, Refused, refused_event};

/// The rebirth request a host sends to a node: topic and encoded payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Rebirth {
    pub topic: String,
    pub payload: Vec<u8>,
}

/// What one message produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub records: Vec<(i64, Payload)>,
    pub rebirth: Option<Rebirth>,
    /// Metrics that could not be turned into readings (unsupported types, unknown aliases):
    /// also written to `records` as one event.
    pub skipped: Vec<Refused>,
}

#[derive(Default)]
struct NodeState {
    online: bool,
    expected_seq: Option<u8>,
    /// alias -> (metric name as "device/metric" or "metric", datatype)
    aliases: HashMap<u64, (String, u32)>,
    /// (device, metric name) -> the datatype its birth declared: authoritative for DATA,
    /// which should not repeat it (Sparkplug B 3.0), whether it names the metric or aliases it.
    types: HashMap<(Option<String>, String), u32>,
    bd_seq: Option<u64>,
    rebirth_pending: bool,
}

/// The per-connection Sparkplug host state.
#[derive(Default)]
pub struct Host {
    nodes: HashMap<(String, String), NodeState>,
}

impl Host {
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles one Sparkplug message arriving at `now_ns`.
    pub fn handle(
        &mut self,
        topic: &str,
        bytes: &[u8],
        now_ns: i64,
    ) -> Result<Outcome, CodecError> {
        let t = Topic::parse(topic).ok_or_else(|| CodecError::BadTopic(topic.to_owned()))?;
        if matches!(
            t.msg_type,
            MessageType::State | MessageType::Ncmd | MessageType::Dcmd
        ) {
            return Ok(Outcome::default());
        }
        let p = SpPayload::decode(bytes).map_err(|e| CodecError::NotSparkplug(e.to_string()))?;
        let key = (t.group.clone(), t.node.clone());
        let node = self.nodes.entry(key).or_default();
        let mut out = Outcome::default();
        let node_name = format!("{}/{}", t.group, t.node);
        let subject = match &t.device {
            Some(d) => format!("{node_name}/{d}"),
            None => node_name.clone(),
        };

        let seq = p.seq.map(|s| (s % 256) as u8);
        match t.msg_type {
            MessageType::Nbirth => {
                node.online = true;
                node.aliases.clear();
                node.types.clear();
                node.rebirth_pending = false;
                node.expected_seq = seq.map(|s| s.wrapping_add(1));
                node.bd_seq = bd_seq_of(&p);
                out.records.push((
                    now_ns,
                    Payload::Event(Event {
                        name: format!("{node_name}/online"),
                        severity: Severity::Info,
                        message: format!("Sparkplug node {node_name} is born (NBIRTH)"),
                    }),
                ));
            }
            MessageType::Ndeath => {
                // NDEATH carries no seq; it is the broker's will for this node.
                let bd = bd_seq_of(&p);
                if bd.is_some() && node.bd_seq.is_some() && bd != node.bd_seq {
                    // A death certificate of an earlier session: the node is already reborn.
                    return Ok(out);
                }
                node.online = false;
                node.expected_seq = None;
                out.records.push((
                    now_ns,
                    Payload::Event(Event {
                        name: format!("{node_name}/offline"),
                        severity: Severity::Warning,
                        message: format!("Sparkplug node {node_name} died (NDEATH); its values are stale until it is reborn"),
                    }),
                ));
                return Ok(out);
            }
            _ => {
                let gap = match (node.expected_seq, seq) {
                    (Some(exp), Some(got)) if exp != got => Some((
                        format!("Sparkplug seq gap on {node_name}: expected {exp}, got {got}"),
                        Some(u64::from(got.wrapping_sub(exp))),
                    )),
                    (None, _) if !node.online => Some((
                        format!(
                            "Sparkplug {} from {node_name} before any NBIRTH",
                            t.msg_type.as_str()
                        ),
                        None,
                    )),
                    _ => None,
                };
                if let Some(s) = seq {
                    node.expected_seq = Some(s.wrapping_add(1));
                }
                if let Some((reason, lost)) = gap {
                    out.records.push((
                        now_ns,
                        Payload::Gap(Gap {
                            subject: node_name.clone(),
                            from_ts_ns: now_ns,
                            to_ts_ns: now_ns,
                            reason,
                            lost,
                        }),
                    ));
                    request_rebirth(node, &t, &mut out);
                }
            }
        }

        if matches!(t.msg_type, MessageType::Ddeath) {
            out.records.push((
                now_ns,
                Payload::Event(Event {
                    name: format!("{subject}/offline"),
                    severity: Severity::Warning,
                    message: format!("Sparkplug device {subject} died (DDEATH)"),
                }),
            ));
            return Ok(out);
        }
        if matches!(t.msg_type, MessageType::Dbirth) {
            out.records.push((
                now_ns,
                Payload::Event(Event {
                    name: format!("{subject}/online"),
                    severity: Severity::Info,
                    message: format!("Sparkplug device {subject} is born (DBIRTH)"),
                }),
            ));
        }
        let is_birth = matches!(t.msg_type, MessageType::Nbirth | MessageType::Dbirth);
        for m in &p.metrics {
            if is_birth && let Some(name) = &m.name {
                let dt = m.datatype.unwrap_or(0);
                if let Some(alias) = m.alias {
                    node.aliases.insert(alias, (name.clone(), dt));
                }
                if dt != 0 {
                    node.types.insert((t.device.clone(), name.clone()), dt);
                }
            }
            // The birth's datatype wins; a DATA metric's own is used only where the birth
            // gave none.
            let (name, dt) = match (&m.name, m.alias) {
                (Some(n), _) => {
                    let born = node.types.get(&(t.device.clone(), n.clone())).copied();
                    match born.or(m.datatype) {
                        Some(dt) => (n.clone(), dt),
                        None => {
                            out.skipped.push(Refused {
                                what: format!("{subject}/{n}"),
                                why: Refusal::NoDatatype,
                                detail: "no datatype (not in the birth)".into(),
                            });
                            request_rebirth(node, &t, &mut out);
                            continue;
                        }
                    }
                }
                (None, Some(a)) => match node.aliases.get(&a) {
                    Some((n, dt)) => (
                        n.clone(),
                        if *dt != 0 {
                            *dt
                        } else {
                            m.datatype.unwrap_or(0)
                        },
                    ),
                    None => {
                        out.skipped.push(Refused {
                            what: format!("{subject}/alias {a}"),
                            why: Refusal::UnknownAlias,
                            detail: "an alias no birth defined".into(),
                        });
                        request_rebirth(node, &t, &mut out);
                        continue;
                    }
                },
                (None, None) => {
                    out.skipped.push(Refused {
                        what: subject.clone(),
                        why: Refusal::NoName,
                        detail: "a metric without name or alias".into(),
                    });
                    continue;
                }
            };
            if name == "bdSeq" || name.starts_with("Node Control/") {
                continue;
            }
            let null = m.is_null.unwrap_or(false);
            let value = if null {
                Some(Value::Text(String::new()))
            } else {
                value_of(m, dt)
            };
            let Some(value) = value else {
                out.skipped.push(Refused {
                    what: format!("{subject}/{name}"),
                    why: Refusal::UnsupportedType,
                    detail: format!("{} values are not stored yet", datatype_name(dt)),
                });
                continue;
            };
            let ts = m
                .timestamp
                .or(p.timestamp)
                .map(|ms| (ms as i64).saturating_mul(1_000_000));
            out.records.push((
                now_ns,
                Payload::Reading(Reading {
                    tag: format!("{subject}/{name}"),
                    value,
                    quality: if null { Quality::Bad } else { Quality::Good },
                    status_code: if null { 0x8000_0000 } else { 0 },
                    source_ts_ns: ts,
                    origin_id: p.uuid.clone(),
                }),
            ));
        }
        if !out.skipped.is_empty() {
            out.records
                .push((now_ns, refused_event(&subject, &out.skipped)));
        }
        Ok(out)
    }
}

/// The Sparkplug B name of a datatype, for people.
fn datatype_name(dt: u32) -> String {
    const NAMES: [&str; 35] = [
        "Unknown",
        "Int8",
        "Int16",
        "Int32",
        "Int64",
        "UInt8",
        "UInt16",
        "UInt32",
        "UInt64",
        "Float",
        "Double",
        "Boolean",
        "String",
        "DateTime",
        "Text",
        "UUID",
        "DataSet",
        "Bytes",
        "File",
        "Template",
        "PropertySet",
        "PropertySetList",
        "Int8Array",
        "Int16Array",
        "Int32Array",
        "Int64Array",
        "UInt8Array",
        "UInt16Array",
        "UInt32Array",
        "UInt64Array",
        "FloatArray",
        "DoubleArray",
        "BooleanArray",
        "StringArray",
        "DateTimeArray",
    ];
    usize::try_from(dt)
        .ok()
        .and_then(|i| NAMES.get(i))
        .map_or_else(|| format!("datatype {dt}"), |n| (*n).to_owned())
}

/// The birth/death sequence number a node puts in its NBIRTH and NDEATH.
fn bd_seq_of(p: &SpPayload) -> Option<u64> {
    p.metrics
        .iter()
        .find(|m| m.name.as_deref() == Some("bdSeq"))
        .and_then(|m| match m.value {
            Some(MetricValue::LongValue(v)) => Some(v),
            Some(MetricValue::IntValue(v)) => Some(u64::from(v)),
            _ => None,
        })
}

fn request_rebirth(node: &mut NodeState, t: &Topic, out: &mut Outcome) {
    if node.rebirth_pending || out.rebirth.is_some() {
        return;
    }
    node.rebirth_pending = true;
    out.rebirth = Some(rebirth_request(&t.group, &t.node));
}

/// The NCMD that asks a node to publish its births again.
pub fn rebirth_request(group: &str, node: &str) -> Rebirth {
    let p = SpPayload {
        timestamp: Some(crate::time::now_ns() as u64 / 1_000_000),
        metrics: vec![Metric::new(
            "Node Control/Rebirth",
            None,
            MetricValue::BooleanValue(true),
            datatype::BOOLEAN,
        )],
        seq: None,
        uuid: None,
        body: None,
    };
    Rebirth {
        topic: format!("spBv1.0/{group}/NCMD/{node}"),
        payload: p.encode_to_vec(),
    }
}

fn value_of(m: &Metric, dt: u32) -> Option<Value> {
    use datatype::*;
    Some(match (&m.value, dt) {
        (Some(MetricValue::IntValue(v)), INT8) => Value::Int(i64::from(*v as u8 as i8)),
        (Some(MetricValue::IntValue(v)), INT16) => Value::Int(i64::from(*v as u16 as i16)),
        (Some(MetricValue::IntValue(v)), INT32) => Value::Int(i64::from(*v as i32)),
        (Some(MetricValue::IntValue(v)), _) => Value::Int(i64::from(*v)),
        (Some(MetricValue::LongValue(v)), INT64) => Value::Int(*v as i64),
        (Some(MetricValue::LongValue(v)), UINT64) => Value::UInt(*v),
        (Some(MetricValue::LongValue(v)), _) => Value::Int(*v as i64),
        (Some(MetricValue::FloatValue(v)), _) => Value::Float(f64::from(*v)),
        (Some(MetricValue::DoubleValue(v)), _) => Value::Float(*v),
        (Some(MetricValue::BooleanValue(v)), _) => Value::Bool(*v),
        (Some(MetricValue::StringValue(v)), _) => Value::Text(v.clone()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(seq: u64, metrics: Vec<Metric>) -> Vec<u8> {
        SpPayload {
            timestamp: Some(1_000),
            metrics,
            seq: Some(seq),
            uuid: None,
            body: None,
        }
        .encode_to_vec()
    }

    fn by_alias(alias: u64, v: f64) -> Metric {
        Metric {
            name: None,
            alias: Some(alias),
            timestamp: None,
            datatype: None,
            is_historical: None,
            is_transient: None,
            is_null: None,
            value: Some(MetricValue::DoubleValue(v)),
        }
    }

    fn readings(o: &Outcome) -> Vec<&Reading> {
        o.records
            .iter()
            .filter_map(|(_, p)| match p {
                Payload::Reading(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    fn birth(h: &mut Host) {
        let m = Metric::new(
            "Oven/Temp",
            Some(7),
            MetricValue::DoubleValue(180.0),
            datatype::DOUBLE,
        );
        let o = h
            .handle("spBv1.0/plant/NBIRTH/line1", &payload(0, vec![m]), 5)
            .unwrap();
        assert_eq!(readings(&o)[0].tag, "plant/line1/Oven/Temp");
        assert!(o.rebirth.is_none());
    }

    #[test]
    fn birth_defines_aliases_for_data() {
        let mut h = Host::new();
        birth(&mut h);
        let o = h
            .handle(
                "spBv1.0/plant/NDATA/line1",
                &payload(1, vec![by_alias(7, 181.5)]),
                6,
            )
            .unwrap();
        let r = readings(&o);
        assert_eq!(r[0].tag, "plant/line1/Oven/Temp");
        assert_eq!(r[0].value, Value::Float(181.5));
        assert_eq!(r[0].source_ts_ns, Some(1_000_000_000));
        assert!(o.rebirth.is_none());
    }

    #[test]
    fn seq_gap_records_a_gap_and_requests_one_rebirth() {
        let mut h = Host::new();
        birth(&mut h);
        let o = h
            .handle(
                "spBv1.0/plant/NDATA/line1",
                &payload(4, vec![by_alias(7, 1.0)]),
                6,
            )
            .unwrap();
        let gap = o.records.iter().find_map(|(_, p)| match p {
            Payload::Gap(g) => Some(g),
            _ => None,
        });
        let gap = gap.expect("a gap record");
        assert_eq!(gap.lost, Some(3));
        let rb = o.rebirth.clone().expect("a rebirth request");
        assert_eq!(rb.topic, "spBv1.0/plant/NCMD/line1");
        let cmd = SpPayload::decode(rb.payload.as_slice()).unwrap();
        assert_eq!(cmd.metrics[0].name.as_deref(), Some("Node Control/Rebirth"));
        // The data itself is still kept.
        assert_eq!(readings(&o).len(), 1);
        // No second request until the node is reborn.
        let o = h
            .handle("spBv1.0/plant/NDATA/line1", &payload(9, vec![]), 7)
            .unwrap();
        assert!(o.rebirth.is_none());
        birth(&mut h);
    }

    #[test]
    fn unknown_alias_is_skipped_with_a_rebirth() {
        let mut h = Host::new();
        birth(&mut h);
        let o = h
            .handle(
                "spBv1.0/plant/NDATA/line1",
                &payload(1, vec![by_alias(99, 1.0)]),
                6,
            )
            .unwrap();
        assert_eq!(o.skipped.len(), 1);
        assert!(o.rebirth.is_some());
    }

    #[test]
    fn death_is_an_event_and_data_after_it_is_a_gap() {
        let mut h = Host::new();
        birth(&mut h);
        let o = h
            .handle("spBv1.0/plant/NDEATH/line1", &payload(0, vec![]), 6)
            .unwrap();
        assert!(matches!(&o.records[0].1, Payload::Event(e) if e.severity == Severity::Warning));
        let o = h
            .handle(
                "spBv1.0/plant/NDATA/line1",
                &payload(2, vec![by_alias(7, 1.0)]),
                7,
            )
            .unwrap();
        assert!(o.records.iter().any(|(_, p)| matches!(p, Payload::Gap(_))));
        assert!(o.rebirth.is_some());
    }

    #[test]
    fn signed_types_and_bad_input() {
        let mut h = Host::new();
        let m = Metric::new(
            "delta",
            None,
            MetricValue::IntValue((-5i32) as u32),
            datatype::INT32,
        );
        let o = h
            .handle("spBv1.0/g/NBIRTH/n", &payload(0, vec![m]), 0)
            .unwrap();
        assert_eq!(readings(&o)[0].value, Value::Int(-5));
        assert!(matches!(
            h.handle("spBv1.0/g/NDATA/n", &[0xff, 0xff], 0),
            Err(CodecError::NotSparkplug(_))
        ));
        assert!(matches!(
            h.handle("plant/x", &[], 0),
            Err(CodecError::BadTopic(_))
        ));
        assert_eq!(
            Topic::parse("spBv1.0/g/DDATA/n/d").map(|t| t.device),
            Some(Some("d".to_owned()))
        );
        assert!(Topic::parse("spBv1.0/g/DDATA/n").is_none());
    }

    #[test]
    fn the_birth_datatype_is_authoritative_for_named_data() {
        let mut h = Host::new();
        h.handle("spBv1.0/g/NBIRTH/n", &payload(0, vec![]), 0)
            .unwrap();
        let born = Metric::new(
            "Dev/Offset",
            None,
            MetricValue::IntValue(0),
            datatype::INT16,
        );
        let o = h
            .handle("spBv1.0/g/DBIRTH/n/d", &payload(1, vec![born]), 0)
            .unwrap();
        assert!(o.rebirth.is_none());
        // DATA by name, without a datatype (as the spec recommends): -1 as Int16 on the wire.
        let mut m = Metric::new("Dev/Offset", None, MetricValue::IntValue(0xffff), 0);
        m.datatype = None;
        let o = h
            .handle("spBv1.0/g/DDATA/n/d", &payload(2, vec![m.clone()]), 0)
            .unwrap();
        assert_eq!(readings(&o)[0].value, Value::Int(-1));
        // Even a DATA metric that says otherwise is read with the birth's datatype.
        m.datatype = Some(datatype::UINT16);
        let o = h
            .handle("spBv1.0/g/DDATA/n/d", &payload(3, vec![m.clone()]), 0)
            .unwrap();
        assert_eq!(readings(&o)[0].value, Value::Int(-1));
        // A metric no birth declared and that carries no datatype cannot be read: skipped,
        // said, and the node asked for its births.
        let mut stray = Metric::new("Dev/Stray", None, MetricValue::IntValue(1), 0);
        stray.datatype = None;
        let o = h
            .handle("spBv1.0/g/DDATA/n/d", &payload(4, vec![stray]), 0)
            .unwrap();
        assert!(readings(&o).is_empty());
        assert_eq!(o.skipped[0].why, Refusal::NoDatatype, "{:?}", o.skipped);
        assert!(
            o.records.iter().any(|(_, p)| matches!(p, Payload::Event(e)
                if e.name == "values_refused" && e.message.contains("g/n/d/Dev/Stray: no datatype"))),
            "refused in the journal: {:?}",
            o.records
        );
        assert!(o.rebirth.is_some());
    }
}
