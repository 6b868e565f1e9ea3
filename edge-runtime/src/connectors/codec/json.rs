//! Plain JSON readings: one object or an array of objects, fields found by JSON pointer.

use foodflow_protocol::{Payload, Quality, Reading, Value};
use serde_json::Value as Json;

use super::CodecError;
use crate::profile::{JsonCodecConfig, TimestampFormat};
use crate::time::parse_rfc3339;

/// Decodes one MQTT message into readings, stamped `now_ns` on arrival.
pub fn decode(
    topic: &str,
    bytes: &[u8],
    cfg: &JsonCodecConfig,
    now_ns: i64,
) -> Result<Vec<(i64, Payload)>, CodecError> {
    if bytes.is_empty() {
        return Err(CodecError::Empty);
    }
    let doc: Json =
        serde_json::from_slice(bytes).map_err(|e| CodecError::NotJson(e.to_string()))?;
    match doc {
        Json::Array(items) => items
            .iter()
            .map(|o| one(topic, o, cfg).map(|r| (now_ns, Payload::Reading(r))))
            .collect(),
        o => Ok(vec![(now_ns, Payload::Reading(one(topic, &o, cfg)?))]),
    }
}

fn type_name(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(_) => "a boolean".into(),
        Json::Number(n) => format!("the number {n}"),
        Json::String(s) => format!("the string {s:?}"),
        Json::Array(_) => "an array".into(),
        Json::Object(_) => "an object".into(),
    }
}

fn one(topic: &str, o: &Json, cfg: &JsonCodecConfig) -> Result<Reading, CodecError> {
    let get = |what: &'static str, ptr: &str| {
        o.pointer(ptr).ok_or_else(|| CodecError::Missing {
            what,
            pointer: ptr.to_owned(),
        })
    };
    let wrong = |what, ptr: &str, v: &Json, expected| CodecError::WrongType {
        what,
        pointer: ptr.to_owned(),
        found: type_name(v),
        expected,
    };
    let v = get("value", &cfg.value_path)?;
    let value = match v {
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            // 2^63 ..= 2^64-1: exact, not a float.
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::Text(s.clone()),
        other => {
            return Err(wrong(
                "value",
                &cfg.value_path,
                other,
                "a number, boolean or string",
            ));
        }
    };
    let tag = match &cfg.tag_path {
        Some(p) => match get("tag", p)? {
            Json::String(s) => s.clone(),
            other => return Err(wrong("tag", p, other, "a string")),
        },
        None => topic.to_owned(),
    };
    let source_ts_ns = match &cfg.timestamp_path {
        None => None,
        Some(p) => Some(
            timestamp(get("timestamp", p)?, cfg.timestamp_format).ok_or_else(|| {
                wrong(
                    "timestamp",
                    p,
                    o.pointer(p).unwrap_or(&Json::Null),
                    match cfg.timestamp_format {
                        TimestampFormat::UnixMs => "Unix milliseconds (a number)",
                        TimestampFormat::UnixNs => "Unix nanoseconds (a number)",
                        TimestampFormat::Rfc3339 => "an RFC 3339 string",
                    },
                )
            })?,
        ),
    };
    let (quality, status_code) = match &cfg.quality_path {
        None => (Quality::Good, 0),
        Some(p) => match o.pointer(p) {
            None => (Quality::Good, 0),
            Some(Json::Number(n)) => {
                let code = n
                    .as_u64()
                    .and_then(|c| u32::try_from(c).ok())
                    .ok_or_else(|| {
                        wrong(
                            "quality",
                            p,
                            &Json::Number(n.clone()),
                            "a 32-bit status code",
                        )
                    })?;
                (Quality::from_status_code(code), code)
            }
            Some(Json::String(s)) => match s.to_ascii_lowercase().as_str() {
                "good" | "ok" => (Quality::Good, 0),
                "uncertain" => (Quality::Uncertain, 0x4000_0000),
                "bad" => (Quality::Bad, 0x8000_0000),
                _ => {
                    return Err(wrong(
                        "quality",
                        p,
                        &Json::String(s.clone()),
                        "good, uncertain, bad or a status code",
                    ));
                }
            },
            Some(other) => {
                return Err(wrong(
                    "quality",
                    p,
                    other,
                    "good, uncertain, bad or a status code",
                ));
            }
        },
    };
    let origin_id = match &cfg.id_path {
        None => None,
        Some(p) => match o.pointer(p) {
            Some(Json::String(s)) => Some(s.clone()),
            Some(Json::Number(n)) => Some(n.to_string()),
            Some(other) => return Err(wrong("id", p, other, "a string or number")),
            None => None,
        },
    };
    Ok(Reading {
        tag,
        value,
        quality,
        status_code,
        source_ts_ns,
        origin_id,
    })
}

fn timestamp(v: &Json, fmt: TimestampFormat) -> Option<i64> {
    match (fmt, v) {
        (TimestampFormat::UnixMs, Json::Number(n)) => n
            .as_i64()
            .and_then(|ms| ms.checked_mul(1_000_000))
            .or_else(|| n.as_f64().map(|f| (f * 1e6) as i64)),
        (TimestampFormat::UnixNs, Json::Number(n)) => n.as_i64(),
        (TimestampFormat::Rfc3339, Json::String(s)) => parse_rfc3339(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> JsonCodecConfig {
        JsonCodecConfig {
            tag_path: Some("/tag".into()),
            value_path: "/v".into(),
            timestamp_path: Some("/ts".into()),
            timestamp_format: TimestampFormat::UnixMs,
            quality_path: Some("/q".into()),
            id_path: Some("/id".into()),
        }
    }

    fn reading(p: &Payload) -> &Reading {
        match p {
            Payload::Reading(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decodes_objects_and_arrays() {
        let out = decode(
            "t",
            br#"[{"tag":"a","v":1.5,"ts":1000,"q":"bad","id":"m1"},{"tag":"b","v":true,"ts":2}]"#,
            &cfg(),
            7,
        )
        .unwrap();
        assert_eq!(out.len(), 2);
        let a = reading(&out[0].1);
        assert_eq!(a.value, Value::Float(1.5));
        assert_eq!(a.source_ts_ns, Some(1_000_000_000));
        assert_eq!(a.quality, Quality::Bad);
        assert_eq!(a.origin_id.as_deref(), Some("m1"));
        assert_eq!(reading(&out[1].1).value, Value::Bool(true));
        assert_eq!(out[0].0, 7);
    }

    #[test]
    fn integers_keep_their_full_range() {
        let c = JsonCodecConfig::default();
        let v = |text: &str| {
            reading(&decode("t", text.as_bytes(), &c, 0).unwrap()[0].1)
                .value
                .clone()
        };
        assert_eq!(
            v(r#"{"value": -9223372036854775808}"#),
            Value::Int(i64::MIN)
        );
        assert_eq!(v(r#"{"value": 9223372036854775807}"#), Value::Int(i64::MAX));
        assert_eq!(v(r#"{"value": 9223372036854775808}"#), Value::UInt(1 << 63));
        assert_eq!(
            v(r#"{"value": 18446744073709551615}"#),
            Value::UInt(u64::MAX)
        );
        assert_eq!(
            v(r#"{"value": 18446744073709551616}"#),
            Value::Float(18446744073709551616.0)
        );
    }

    #[test]
    fn topic_is_the_tag_without_a_tag_path() {
        let out = decode(
            "plant/l1/temp",
            br#"{"value": 3}"#,
            &JsonCodecConfig::default(),
            0,
        )
        .unwrap();
        let r = reading(&out[0].1);
        assert_eq!(r.tag, "plant/l1/temp");
        assert_eq!(r.value, Value::Int(3));
    }

    #[test]
    fn bad_input_says_what_and_where() {
        let e = decode("t", b"{not json", &cfg(), 0).unwrap_err();
        assert!(matches!(e, CodecError::NotJson(_)), "{e}");
        let e = decode("t", br#"{"tag":"a","ts":1}"#, &cfg(), 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no value at JSON pointer \"/v\" in the payload; fix the publisher or the profile's json.value_path"
        );
        let e = decode("t", br#"{"tag":"a","v":{},"ts":1}"#, &cfg(), 0).unwrap_err();
        assert!(
            e.to_string().contains("is an object, expected a number"),
            "{e}"
        );
        let e = decode("t", br#"{"tag":"a","v":1,"ts":"noon"}"#, &cfg(), 0).unwrap_err();
        assert!(e.to_string().contains("Unix milliseconds"), "{e}");
        assert_eq!(decode("t", b"", &cfg(), 0).unwrap_err(), CodecError::Empty);
    }

    #[test]
    fn rfc3339_timestamps_and_numeric_quality() {
        let c = JsonCodecConfig {
            timestamp_format: TimestampFormat::Rfc3339,
            ..cfg()
        };
        let out = decode(
            "t",
            br#"{"tag":"a","v":1,"ts":"1970-01-01T00:00:01Z","q":1073741824}"#,
            &c,
            0,
        )
        .unwrap();
        let r = reading(&out[0].1);
        assert_eq!(r.source_ts_ns, Some(1_000_000_000));
        assert_eq!(r.quality, Quality::Uncertain);
    }
}
