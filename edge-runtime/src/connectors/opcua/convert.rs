//! OPC UA values to record values, pure.

use foodflow_protocol::Value;
use opcua::types::{DateTime, Variant};

/// 100 ns ticks between 1601-01-01 and 1970-01-01.
const EPOCH_DIFF_TICKS: i64 = 116_444_736_000_000_000;

pub fn datetime_to_ns(dt: &DateTime) -> i64 {
    (dt.ticks() - EPOCH_DIFF_TICKS).saturating_mul(100)
}

/// The value of a variant; a kind the edge does not store yet (arrays, ByteString, structures,
/// …) is an error naming it, never its debug text.
pub fn variant_to_value(v: &Variant) -> Result<Value, String> {
    Ok(match v {
        Variant::Boolean(b) => Value::Bool(*b),
        Variant::SByte(i) => Value::Int(i64::from(*i)),
        Variant::Byte(i) => Value::Int(i64::from(*i)),
        Variant::Int16(i) => Value::Int(i64::from(*i)),
        Variant::UInt16(i) => Value::Int(i64::from(*i)),
        Variant::Int32(i) => Value::Int(i64::from(*i)),
        Variant::UInt32(i) => Value::Int(i64::from(*i)),
        Variant::Int64(i) => Value::Int(*i),
        // Always unsigned, so that one tag keeps one type across its whole range.
        Variant::UInt64(i) => Value::UInt(*i),
        Variant::Float(f) => Value::Float(f64::from(*f)),
        Variant::Double(f) => Value::Float(*f),
        Variant::String(s) => Value::Text(s.as_ref().to_owned()),
        Variant::DateTime(d) => Value::Int(datetime_to_ns(d)),
        Variant::LocalizedText(t) => Value::Text(t.text.as_ref().to_owned()),
        Variant::Empty => Value::Text(String::new()),
        Variant::Array(a) => {
            return Err(format!(
                "an array of {} {:?} values (arrays are not stored yet)",
                a.values.len(),
                a.value_type
            ));
        }
        other => {
            return Err(format!("a {:?} value (not stored yet)", other.type_id()));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_values_and_times() {
        assert_eq!(
            variant_to_value(&Variant::Double(1.5)),
            Ok(Value::Float(1.5))
        );
        assert_eq!(variant_to_value(&Variant::Int16(-3)), Ok(Value::Int(-3)));
        for u in [0, (1u64 << 63) - 1, 1 << 63, u64::MAX] {
            assert_eq!(variant_to_value(&Variant::UInt64(u)), Ok(Value::UInt(u)));
        }
        assert_eq!(
            variant_to_value(&Variant::from("run")),
            Ok(Value::Text("run".into()))
        );
        let array = Variant::from(vec![1.0f64, 2.0]);
        let why = variant_to_value(&array).unwrap_err();
        assert!(
            why.contains("array of 2") && !why.contains("Array {"),
            "{why}"
        );
        assert_eq!(datetime_to_ns(&DateTime::from(EPOCH_DIFF_TICKS)), 0);
    }
}
