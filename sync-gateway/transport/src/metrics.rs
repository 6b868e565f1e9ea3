//! A small Prometheus registry: counters and gauges as shared atomics, so hot paths pay one
//! relaxed add and `/metrics` renders the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Type {
    Counter,
    Gauge,
}

struct Family {
    help: &'static str,
    ty: Type,
    series: BTreeMap<String, Arc<AtomicU64>>,
}

#[derive(Default)]
pub struct Metrics {
    families: Mutex<BTreeMap<&'static str, Family>>,
}

fn label_key(labels: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let v = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = write!(s, "{k}=\"{v}\"");
    }
    s
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn get(
        &self,
        name: &'static str,
        help: &'static str,
        ty: Type,
        labels: &[(&str, &str)],
    ) -> Arc<AtomicU64> {
        let mut fams = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let fam = fams.entry(name).or_insert_with(|| Family {
            help,
            ty,
            series: BTreeMap::new(),
        });
        fam.series.entry(label_key(labels)).or_default().clone()
    }

    /// A monotonically increasing count.
    pub fn counter(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
    ) -> Arc<AtomicU64> {
        self.get(name, help, Type::Counter, labels)
    }

    /// A value that goes up and down (whole numbers).
    pub fn gauge(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
    ) -> Arc<AtomicU64> {
        self.get(name, help, Type::Gauge, labels)
    }

    /// The current value of one series, if it exists.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        let fams = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let v = fams.get(name)?.series.get(&label_key(labels))?;
        Some(v.load(Ordering::Relaxed))
    }

    /// `/metrics` for every service: the exposition with its content type.
    pub fn http_response(&self) -> axum::response::Response {
        use axum::response::IntoResponse;
        (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4",
            )],
            self.render(),
        )
            .into_response()
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let fams = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for (name, fam) in fams.iter() {
            let ty = match fam.ty {
                Type::Counter => "counter",
                Type::Gauge => "gauge",
            };
            let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} {ty}", fam.help);
            for (labels, v) in &fam.series {
                let v = v.load(Ordering::Relaxed);
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {v}");
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {v}");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_families_with_escaped_labels() {
        let m = Metrics::new();
        m.counter("x_total", "Things", &[("topic", "a\"b")])
            .fetch_add(3, Ordering::Relaxed);
        m.gauge("y", "Level", &[]).store(7, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("# TYPE x_total counter"));
        assert!(text.contains("x_total{topic=\"a\\\"b\"} 3"));
        assert!(text.contains("y 7"));
        assert_eq!(m.value("x_total", &[("topic", "a\"b")]), Some(3));
    }
}
