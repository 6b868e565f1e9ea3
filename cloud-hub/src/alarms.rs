//! Alarm rules per tenant at the hub, evaluated on every ingested reading: the same rules
//! engine as the edge (`foodflow-analytics`), over series named `<device>/<tag>`. Rules live in
//! the tenant's settings; their events become records of the hub's own stream `hub/alarms`
//! of the device concerned, so they are queried like any other record.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use foodflow_analytics::alarms::{Alarms, Condition, Level, Rule, Transition};
use foodflow_protocol::{DeviceId, Event, Payload, PriorityClass, Segment, Severity, StreamId};
use foodflow_transport::TenantId;

use crate::store::{RecordStore, StoreError};

pub const ALARM_STREAM: &str = "hub/alarms";
const RULE_PREFIX: &str = "alarm-rule:";

/// Why a rule is not acceptable.
pub fn check(rule: &Rule) -> Result<(), String> {
    if rule.name.trim().is_empty() || rule.name.len() > 100 {
        return Err("`name` must be 1–100 characters".into());
    }
    if !rule.series.contains('/') {
        return Err(format!(
            "`series` {:?} must be <device>/<tag> (e.g. line-1/line1.oven.zone1.temp)",
            rule.series
        ));
    }
    let finite = |x: f64, what: &str| {
        if x.is_finite() {
            Ok(())
        } else {
            Err(format!("`{what}` must be a finite number"))
        }
    };
    match &rule.condition {
        Condition::Above { limit, hysteresis } | Condition::Below { limit, hysteresis } => {
            finite(*limit, "limit")?;
            finite(*hysteresis, "hysteresis")?;
        }
        Condition::RateOfChange { per_s, hysteresis } => {
            finite(*per_s, "per_s")?;
            finite(*hysteresis, "hysteresis")?;
        }
        Condition::RobustZ { window, z, .. } => {
            if *window < 3 || *window > 100_000 {
                return Err("`window` must be 3–100000 values".into());
            }
            finite(*z, "z")?;
        }
        Condition::Seasonal {
            period_ms,
            buckets,
            k,
            ..
        } => {
            if *period_ms <= 0 || *buckets == 0 || *buckets > 100_000 {
                return Err("`period_ms` must be > 0 and `buckets` 1–100000".into());
            }
            finite(*k, "k")?;
        }
    }
    if rule.on_delay_ms < 0 || rule.off_delay_ms < 0 {
        return Err("delays must be ≥ 0".into());
    }
    Ok(())
}

pub struct HubAlarms {
    store: Arc<dyn RecordStore>,
    engines: Mutex<HashMap<TenantId, Alarms>>,
}

impl HubAlarms {
    pub fn new(store: Arc<dyn RecordStore>) -> Self {
        Self {
            store,
            engines: Mutex::new(HashMap::new()),
        }
    }

    pub fn rules(&self, tenant: &TenantId) -> Result<Vec<Rule>, StoreError> {
        let mut out = Vec::new();
        for (key, v) in self.store.tenant(tenant).settings(RULE_PREFIX)? {
            match serde_json::from_slice(&v) {
                Ok(r) => out.push(r),
                Err(e) => {
                    tracing::error!(%tenant, key, error = %e, "stored alarm rule does not parse; skipped")
                }
            }
        }
        Ok(out)
    }

    pub fn put(&self, tenant: &TenantId, rule: &Rule) -> Result<(), StoreError> {
        let v = serde_json::to_vec(rule).unwrap_or_default();
        self.store
            .tenant(tenant)
            .put_setting(&format!("{RULE_PREFIX}{}", rule.name), &v)?;
        self.reload(tenant)
    }

    pub fn delete(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
        let existed = self
            .store
            .tenant(tenant)
            .delete_setting(&format!("{RULE_PREFIX}{name}"))?;
        self.reload(tenant)?;
        Ok(existed)
    }

    /// Rebuilds a tenant's engine from its stored rules (alarm states start over).
    fn reload(&self, tenant: &TenantId) -> Result<(), StoreError> {
        let rules = self.rules(tenant)?;
        self.engines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant.clone(), Alarms::new(rules));
        Ok(())
    }

    /// Evaluates the new readings of a committed batch; journals the alarm events in the
    /// hub's stream of each device concerned. Returns how many events were written.
    pub fn observe(
        &self,
        tenant: &TenantId,
        segments: &[Segment],
        before: &[u64],
    ) -> Result<usize, StoreError> {
        let mut engines = self.engines.lock().unwrap_or_else(|p| p.into_inner());
        if !engines.contains_key(tenant) {
            drop(engines);
            self.reload(tenant)?;
            engines = self.engines.lock().unwrap_or_else(|p| p.into_inner());
        }
        let Some(engine) = engines.get_mut(tenant) else {
            return Ok(0);
        };
        if engine.rules().is_empty() {
            return Ok(0);
        }
        let mut by_device: HashMap<DeviceId, Vec<(i64, Payload)>> = HashMap::new();
        for (seg, mark) in segments.iter().zip(before) {
            for e in seg.entries.iter().filter(|e| e.seq > *mark) {
                let Payload::Reading(r) = &e.payload else {
                    continue;
                };
                let Some(v) = r.value.as_f64() else { continue };
                let ts_ms = r.source_ts_ns.unwrap_or(e.ts_ns) / 1_000_000;
                let series = format!("{}/{}", seg.device, r.tag);
                for ev in engine.observe(&series, ts_ms, v) {
                    let name = match ev.transition {
                        Transition::Activated => "alarm.activated",
                        Transition::Acknowledged => "alarm.acknowledged",
                        Transition::Cleared => "alarm.cleared",
                    };
                    by_device.entry(seg.device.clone()).or_default().push((
                        foodflow_protocol::time::now_ns(),
                        Payload::Event(Event {
                            name: name.into(),
                            severity: match (ev.transition, ev.level) {
                                (Transition::Activated, Level::Critical) => Severity::Critical,
                                (Transition::Activated, Level::Warning) => Severity::Alarm,
                                _ => Severity::Info,
                            },
                            message: format!(
                                "{} [rule {}, tenant rule at the hub]",
                                ev.explanation, ev.rule
                            ),
                        }),
                    ));
                }
            }
        }
        drop(engines);
        let stream = StreamId::new(ALARM_STREAM).map_err(|e| StoreError::Write(e.to_string()))?;
        let mut n = 0;
        for (device, items) in by_device {
            n += items.len();
            self.store
                .tenant(tenant)
                .append(&device, &stream, PriorityClass::Critical, &items)?;
        }
        Ok(n)
    }
}
