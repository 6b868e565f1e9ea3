//! Units in configuration files shared by every service: byte sizes and durations.

use serde::{Deserialize, Serialize};

/// A byte count written as `123`, `64KiB`, `512MiB`, `2GiB` (or kB/MB/GB, powers of ten).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "serde_yaml::Value", into = "u64")]
pub struct ByteSize(pub u64);

impl From<ByteSize> for u64 {
    fn from(b: ByteSize) -> u64 {
        b.0
    }
}

impl TryFrom<serde_yaml::Value> for ByteSize {
    type Error = String;
    fn try_from(v: serde_yaml::Value) -> Result<Self, String> {
        match v {
            serde_yaml::Value::Number(n) => n
                .as_u64()
                .map(ByteSize)
                .ok_or_else(|| format!("byte size {n} must be a whole number ≥ 0")),
            serde_yaml::Value::String(s) => parse_bytes(&s).map(ByteSize),
            other => Err(format!(
                "byte size must be a number or a string like \"512MiB\", got {other:?}"
            )),
        }
    }
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("byte size {s:?} must start with a whole number, e.g. \"512MiB\""))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        u => {
            return Err(format!(
                "unknown byte unit {u:?} in {s:?}; use B, kB, MB, GB, KiB, MiB, GiB or TiB"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("byte size {s:?} is too large"))
}

/// A duration in whole seconds, written as `30s`, `15m`, `12h`, `7d` or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "serde_yaml::Value", into = "u64")]
pub struct Duration(pub u64);

impl From<Duration> for u64 {
    fn from(d: Duration) -> u64 {
        d.0
    }
}

impl Duration {
    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0)
    }
}

impl TryFrom<serde_yaml::Value> for Duration {
    type Error = String;
    fn try_from(v: serde_yaml::Value) -> Result<Self, String> {
        let s = match v {
            serde_yaml::Value::Number(n) => {
                return n
                    .as_u64()
                    .map(Duration)
                    .ok_or_else(|| format!("duration {n} must be whole seconds ≥ 0"));
            }
            serde_yaml::Value::String(s) => s,
            other => {
                return Err(format!(
                    "duration must be like \"30s\", \"15m\", \"12h\" or \"7d\", got {other:?}"
                ));
            }
        };
        let t = s.trim();
        let (num, mult) = match t.char_indices().last() {
            Some((i, 's')) => (&t[..i], 1),
            Some((i, 'm')) => (&t[..i], 60),
            Some((i, 'h')) => (&t[..i], 3_600),
            Some((i, 'd')) => (&t[..i], 86_400),
            _ => (t, 1),
        };
        let n: u64 = num.trim().parse().map_err(|_| {
            format!("duration {s:?} is not a whole number followed by s, m, h or d (e.g. \"7d\")")
        })?;
        Ok(Duration(n.saturating_mul(mult)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_and_durations_parse() {
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("10kB"), Ok(10_000));
        assert!(parse_bytes("12 furlongs").is_err());
        let d: Duration = serde_yaml::from_str("7d").unwrap();
        assert_eq!(d.0, 7 * 86_400);
        let d: Duration = serde_yaml::from_str("90").unwrap();
        assert_eq!(d.0, 90);
        assert!(serde_yaml::from_str::<Duration>("soon").is_err());
    }
}
