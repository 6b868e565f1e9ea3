//! Checks that serde cannot express: ranges, cross-field rules, uniqueness, URL shapes.

use std::collections::HashSet;

use super::locate::Seg;
use super::schema::*;

type Issue = (Vec<Seg>, String);

fn k(s: &str) -> Seg {
    Seg::Key(s.into())
}

fn at(base: &[Seg], more: &[Seg]) -> Vec<Seg> {
    base.iter().chain(more).cloned().collect()
}

pub fn validate(p: &Profile) -> Vec<Issue> {
    let mut out = Vec::new();
    let mut tag_names = HashSet::new();

    for class in foodflow_protocol::PriorityClass::ALL {
        if p.quotas.get(class).max_bytes.0 == 0 {
            out.push((
                vec![k("quotas"), k(class.as_str()), k("max_bytes")],
                "must be more than 0 bytes; give the class its share of the disk, e.g. \"256MiB\""
                    .into(),
            ));
        }
    }
    if p.journal.group_commit_max == 0 {
        out.push((
            vec![k("journal"), k("group_commit_max")],
            "must be at least 1 (appends made durable per flush); 8192 is a good default".into(),
        ));
    }
    if p.http.listen.parse::<std::net::SocketAddr>().is_err() {
        out.push((
            vec![k("http"), k("listen")],
            format!(
                "{:?} is not an address with a port, e.g. \"127.0.0.1:9100\" or \"0.0.0.0:9100\"",
                p.http.listen
            ),
        ));
    }

    let mut names = HashSet::new();
    for (i, src) in p.opcua.iter().enumerate() {
        let base = [k("opcua"), Seg::Index(i)];
        if !names.insert(src.name.clone()) {
            out.push((
                at(&base, &[k("name")]),
                format!(
                    "source name {:?} is used twice; names must be unique",
                    src.name
                ),
            ));
        }
        if !src.endpoint.starts_with("opc.tcp://") || src.endpoint.len() <= "opc.tcp://".len() {
            out.push((
                at(&base, &[k("endpoint")]),
                format!(
                    "{:?} is not an OPC UA endpoint; write it as opc.tcp://host:port",
                    src.endpoint
                ),
            ));
        }
        let (pol, mode) = (src.security.policy, src.security.mode);
        if (pol == SecurityPolicy::None) != (mode == SecurityMode::None) {
            out.push((
                at(&base, &[k("security")]),
                format!(
                    "policy {pol:?} does not go with mode {mode:?}: use policy none with mode none, \
                     or a real policy (e.g. basic256_sha256) with sign or sign_and_encrypt"
                ),
            ));
        }
        if src.publishing_interval_ms == 0 {
            out.push((
                at(&base, &[k("publishing_interval_ms")]),
                "must be at least 1 ms".into(),
            ));
        }
        if src.tags.is_empty() {
            out.push((
                at(&base, &[k("tags")]),
                "lists no tags; add at least one (`foodflow-edge opcua browse ENDPOINT` prints a skeleton)".into(),
            ));
        }
        for (j, tag) in src.tags.iter().enumerate() {
            let tb = at(&base, &[k("tags"), Seg::Index(j)]);
            if let Err(e) = tag.node.parse::<opcua::types::NodeId>() {
                out.push((
                    at(&tb, &[k("node")]),
                    format!(
                        "{:?} is not an OPC UA node id ({e:?}); write it like ns=2;s=Line1.Speed or i=2258",
                        tag.node
                    ),
                ));
            }
            if !tag.deadband.is_finite() || tag.deadband < 0.0 {
                out.push((
                    at(&tb, &[k("deadband")]),
                    format!(
                        "must be a number ≥ 0 in the tag's unit (got {}); 0 reports every change",
                        tag.deadband
                    ),
                ));
            }
            if tag.name.trim().is_empty() {
                out.push((
                    at(&tb, &[k("name")]),
                    "is empty; give the tag the name records should carry".into(),
                ));
            } else if !tag_names.insert(tag.name.clone()) {
                out.push((
                    at(&tb, &[k("name")]),
                    format!(
                        "tag name {:?} is used twice; every tag of a device needs its own name",
                        tag.name
                    ),
                ));
            }
        }
    }

    let mut client_ids = HashSet::new();
    for (i, src) in p.mqtt.iter().enumerate() {
        let base = [k("mqtt"), Seg::Index(i)];
        if !names.insert(src.name.clone()) {
            out.push((
                at(&base, &[k("name")]),
                format!(
                    "source name {:?} is used twice; names must be unique",
                    src.name
                ),
            ));
        }
        if let Err(why) = crate::connectors::mqtt::parse_broker_url(&src.broker) {
            out.push((at(&base, &[k("broker")]), why));
        }
        if src.client_id.trim().is_empty() {
            out.push((at(&base, &[k("client_id")]), "is empty; a fixed client id keeps the broker session (and unacknowledged messages) across restarts".into()));
        } else if !client_ids.insert(src.client_id.clone()) {
            out.push((
                at(&base, &[k("client_id")]),
                format!(
                    "client id {:?} is used twice; each connection needs its own",
                    src.client_id
                ),
            ));
        }
        if src.password_env.is_some() && src.username.is_none() {
            out.push((
                at(&base, &[k("password_env")]),
                "is set without `username`; add the user name".into(),
            ));
        }
        if src.subscriptions.is_empty() {
            out.push((
                at(&base, &[k("subscriptions")]),
                "lists no topics; add at least one subscription".into(),
            ));
        }
        for (j, sub) in src.subscriptions.iter().enumerate() {
            let sb = at(&base, &[k("subscriptions"), Seg::Index(j)]);
            if let Err(why) = check_topic_filter(&sub.topic) {
                out.push((at(&sb, &[k("topic")]), why));
            }
            match sub.codec {
                Codec::Json => {
                    if sub.sparkplug_host_id.is_some() {
                        out.push((
                            at(&sb, &[k("sparkplug_host_id")]),
                            "only applies to codec sparkplug_b; remove it".into(),
                        ));
                    }
                    if let Some(j) = &sub.json {
                        let paths = [
                            ("tag_path", j.tag_path.as_deref()),
                            ("value_path", Some(j.value_path.as_str())),
                            ("timestamp_path", j.timestamp_path.as_deref()),
                            ("quality_path", j.quality_path.as_deref()),
                            ("id_path", j.id_path.as_deref()),
                        ];
                        for (name, path) in paths {
                            if let Some(ptr) = path
                                && !ptr.starts_with('/')
                            {
                                out.push((
                                    at(&sb, &[k("json"), k(name)]),
                                    format!("{ptr:?} is not a JSON pointer; start it with '/', e.g. \"/value\" or \"/data/temp\""),
                                ));
                            }
                        }
                    }
                }
                Codec::SparkplugB => {
                    if sub.json.is_some() {
                        out.push((
                            at(&sb, &[k("json")]),
                            "only applies to codec json; remove it".into(),
                        ));
                    }
                    if !sub.topic.starts_with("spBv1.0/") {
                        out.push((
                            at(&sb, &[k("topic")]),
                            format!("{:?} is not a Sparkplug B topic; Sparkplug topics start with spBv1.0/ (e.g. spBv1.0/GROUP/#)", sub.topic),
                        ));
                    }
                }
            }
        }
    }

    for (i, cam) in p.cameras.iter().enumerate() {
        let base = [k("cameras"), Seg::Index(i)];
        if !names.insert(cam.name.clone()) {
            out.push((
                at(&base, &[k("name")]),
                format!(
                    "source name {:?} is used twice; names must be unique",
                    cam.name
                ),
            ));
        }
        if let Err(e) = crate::connectors::camera::capture_of(&cam.source, cam.fps) {
            out.push((at(&base, &[k("source")]), e));
        }
        if !cam.models.is_empty() && p.vision.is_none() {
            out.push((
                at(&base, &[k("models")]),
                "models need a `vision:` section naming the model manifest (vision.manifest: models/models.yaml)".to_string(),
            ));
        }
        if !(1..=120).contains(&cam.fps) {
            out.push((
                at(&base, &[k("fps")]),
                format!(
                    "{} is out of range; use 1 to 120 frames per second",
                    cam.fps
                ),
            ));
        }
    }

    if let Some(o) = p.analytics.as_ref().and_then(|a| a.oee.as_ref()) {
        if !(o.ideal_per_min.is_finite() && o.ideal_per_min > 0.0) {
            out.push((
                vec![k("analytics"), k("oee"), k("ideal_per_min")],
                "must be a rate above 0 units per minute".into(),
            ));
        }
        if o.shifts.is_empty() {
            out.push((
                vec![k("analytics"), k("oee"), k("shifts")],
                "list at least one shift, e.g. - { name: early, start: \"06:00\", end: \"14:00\" }"
                    .into(),
            ));
        }
        for (i, s) in o.shifts.iter().enumerate() {
            if let Err(e) = s.check() {
                out.push((
                    vec![k("analytics"), k("oee"), k("shifts"), Seg::Index(i)],
                    format!("{e}; write times of day as HH:MM (UTC)"),
                ));
            }
        }
        if let Some(v) = &o.vision_rejects
            && let Err(e) = v.check()
        {
            out.push((vec![k("analytics"), k("oee"), k("vision_rejects")], e));
        }
    }
    if let Some(u) = &p.uplink
        && !u.gateway.starts_with("https://")
    {
        out.push((
            vec![k("uplink"), k("gateway")],
            format!(
                "{:?} must be an https:// URL: the uplink always uses mutual TLS",
                u.gateway
            ),
        ));
    }
    if let Some(u) = &p.uplink
        && (u.batch_max_records == 0
            || u.batch_max_bytes.0 < 1024
            || u.batch_max_bytes.0 > 48 << 20)
    {
        out.push((
            vec![k("uplink"), k("batch_max_bytes")],
            "batch_max_records must be ≥ 1 and batch_max_bytes between 1KiB and 48MiB (the \
             receivers take at most 64 MiB per upload)"
                .into(),
        ));
    }
    out
}

/// MQTT topic filter rules: `#` only as the whole last level, `+` only as a whole level.
pub fn check_topic_filter(t: &str) -> Result<(), String> {
    if t.is_empty() {
        return Err("topic filter is empty; e.g. plant/line1/#".into());
    }
    let levels: Vec<&str> = t.split('/').collect();
    for (i, l) in levels.iter().enumerate() {
        if l.contains('#') && (*l != "#" || i + 1 != levels.len()) {
            return Err(format!(
                "{t:?}: '#' must be a whole level and the last one, e.g. plant/#"
            ));
        }
        if l.contains('+') && *l != "+" {
            return Err(format!(
                "{t:?}: '+' must be a whole level, e.g. plant/+/temp"
            ));
        }
    }
    Ok(())
}
