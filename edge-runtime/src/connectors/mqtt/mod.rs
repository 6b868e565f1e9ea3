//! MQTT source on rumqttc: persistent session, QoS 1, PUBACK only after the journal append is
//! durable, JSON and Sparkplug B codecs.

mod runtime;

pub use runtime::run;

/// Splits `mqtt://host:port` into host and port.
pub fn parse_broker_url(url: &str) -> Result<(String, u16), String> {
    let rest = if let Some(r) = url.strip_prefix("mqtt://") {
        r
    } else if url.starts_with("mqtts://") {
        return Err(format!(
            "{url:?}: TLS to the broker is not built yet; use mqtt:// on a trusted segment"
        ));
    } else {
        return Err(format!(
            "{url:?} is not a broker URL; write it as mqtt://host:port"
        ));
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.trim_end_matches('/')
                .parse::<u16>()
                .map_err(|_| format!("{url:?}: port {p:?} is not a number from 1 to 65535"))?,
        ),
        None => (rest.trim_end_matches('/'), 1883),
    };
    if host.is_empty() || port == 0 {
        return Err(format!(
            "{url:?} has no host or port; write it as mqtt://host:port"
        ));
    }
    Ok((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
    ))
}

/// MQTT topic matching of a filter (`+`, `#`) against a topic name.
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        assert_eq!(
            parse_broker_url("mqtt://127.0.0.1:1884"),
            Ok(("127.0.0.1".into(), 1884))
        );
        assert_eq!(
            parse_broker_url("mqtt://broker"),
            Ok(("broker".into(), 1883))
        );
        assert!(parse_broker_url("tcp://x:1").is_err());
        assert!(parse_broker_url("mqtt://x:99999").is_err());
    }

    #[test]
    fn topic_filters() {
        assert!(topic_matches("plant/#", "plant/l1/temp"));
        assert!(topic_matches("plant/+/temp", "plant/l1/temp"));
        assert!(!topic_matches("plant/+/temp", "plant/l1/speed"));
        assert!(topic_matches("a/b", "a/b"));
        assert!(!topic_matches("a/b", "a/b/c"));
        assert!(topic_matches("a/#", "a"));
    }
}
