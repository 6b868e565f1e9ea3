//! The simulated food line, pure: oven zones with drift and spikes, belt speed, fill weights,
//! good/reject counters, a line state machine and alarms. Deterministic for a given seed.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineState {
    Running,
    Stopped,
    Fault,
}

impl LineState {
    pub fn as_str(self) -> &'static str {
        match self {
            LineState::Running => "running",
            LineState::Stopped => "stopped",
            LineState::Fault => "fault",
        }
    }
}

/// One value of the line, by its simulator tag name.
#[derive(Debug, Clone, PartialEq)]
pub enum SimValue {
    Float(f64),
    Int(i64),
    Bool(bool),
    Text(String),
}

pub const OVEN_ZONES: usize = 3;
const OVEN_SETPOINTS: [f64; OVEN_ZONES] = [180.0, 200.0, 190.0];
const OVEN_ALARM_HIGH: f64 = 15.0;
const FILL_TARGET_G: f64 = 500.0;
const FILL_TOLERANCE_G: f64 = 7.5;

pub struct Plant {
    rng: StdRng,
    pub state: LineState,
    state_left_s: f64,
    pub oven: [f64; OVEN_ZONES],
    drift: [f64; OVEN_ZONES],
    pub belt_speed: f64,
    pub last_fill_g: f64,
    pub good: i64,
    pub reject: i64,
    fill_acc: f64,
    pub oven_alarm: bool,
    pub batch: String,
}

impl Plant {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            state: LineState::Running,
            state_left_s: 600.0,
            oven: OVEN_SETPOINTS,
            drift: [0.0; OVEN_ZONES],
            belt_speed: 1.2,
            last_fill_g: FILL_TARGET_G,
            good: 0,
            reject: 0,
            fill_acc: 0.0,
            oven_alarm: false,
            batch: "B-0001".into(),
        }
    }

    /// Advances the line by `dt_s` seconds.
    pub fn step(&mut self, dt_s: f64) {
        self.state_left_s -= dt_s;
        if self.state_left_s <= 0.0 {
            let (next, dur) = match self.state {
                LineState::Running if self.rng.random_bool(0.2) => (LineState::Fault, 30.0),
                LineState::Running => (LineState::Stopped, 60.0),
                LineState::Stopped | LineState::Fault => (LineState::Running, 600.0),
            };
            self.state = next;
            self.state_left_s = dur * self.rng.random_range(0.5..1.5);
        }
        #[allow(clippy::needless_range_loop)] // three arrays move together per zone
        for z in 0..OVEN_ZONES {
            // Slow random-walk drift, pulled back towards the setpoint by the controller.
            self.drift[z] += self.rng.random_range(-0.05..0.05) * dt_s.sqrt();
            self.drift[z] *= 0.999;
            let spike = if self.rng.random_bool((0.002 * dt_s).min(1.0)) {
                self.rng.random_range(10.0..25.0)
            } else {
                0.0
            };
            let target = OVEN_SETPOINTS[z] + self.drift[z] * 10.0;
            self.oven[z] += (target - self.oven[z]) * (dt_s * 0.5).min(1.0)
                + self.rng.random_range(-0.2..0.2)
                + spike;
        }
        self.oven_alarm = self
            .oven
            .iter()
            .zip(OVEN_SETPOINTS)
            .any(|(t, sp)| (t - sp).abs() > OVEN_ALARM_HIGH);
        let target_speed = match self.state {
            LineState::Running => 1.2,
            _ => 0.0,
        };
        self.belt_speed += (target_speed - self.belt_speed) * (dt_s * 2.0).min(1.0);
        if self.state == LineState::Running {
            // About 2 packs per second at full speed.
            self.fill_acc += self.belt_speed / 1.2 * 2.0 * dt_s;
            while self.fill_acc >= 1.0 {
                self.fill_acc -= 1.0;
                let fill = FILL_TARGET_G
                    + self.rng.random_range(-1.0..1.0) * 4.0
                    + if self.rng.random_bool(0.02) {
                        -15.0
                    } else {
                        0.0
                    };
                self.last_fill_g = fill;
                if (fill - FILL_TARGET_G).abs() <= FILL_TOLERANCE_G {
                    self.good += 1;
                } else {
                    self.reject += 1;
                }
                if (self.good + self.reject) % 5000 == 0 {
                    let n: u32 = self.batch[2..].parse().unwrap_or(0) + 1;
                    self.batch = format!("B-{n:04}");
                }
            }
        }
    }

    /// Every tag of the line with its current value (names are dotted paths).
    pub fn tags(&self) -> Vec<(String, SimValue)> {
        let mut v = Vec::with_capacity(16);
        for (z, t) in self.oven.iter().enumerate() {
            v.push((
                format!("Line1.Oven.Zone{}.Temperature", z + 1),
                SimValue::Float(*t),
            ));
        }
        v.push(("Line1.Belt.Speed".into(), SimValue::Float(self.belt_speed)));
        v.push((
            "Line1.Filler.LastWeight".into(),
            SimValue::Float(self.last_fill_g),
        ));
        v.push(("Line1.Counters.Good".into(), SimValue::Int(self.good)));
        v.push(("Line1.Counters.Reject".into(), SimValue::Int(self.reject)));
        v.push((
            "Line1.State".into(),
            SimValue::Text(self.state.as_str().into()),
        ));
        v.push((
            "Line1.Alarms.OvenDeviation".into(),
            SimValue::Bool(self.oven_alarm),
        ));
        v.push(("Line1.Batch".into(), SimValue::Text(self.batch.clone())));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_produces_packs_and_stays_near_setpoints() {
        let mut p = Plant::new(7);
        for _ in 0..600 {
            p.step(0.1);
        }
        assert!(p.good + p.reject >= 100, "about 2 packs/s for 60 s");
        assert!(p.reject < p.good / 5, "rejects are rare");
        for (t, sp) in p.oven.iter().zip(OVEN_SETPOINTS) {
            assert!((t - sp).abs() < 40.0, "zone at {t}, setpoint {sp}");
        }
        assert_eq!(p.tags().len(), 10);
    }

    #[test]
    fn same_seed_same_line() {
        let (mut a, mut b) = (Plant::new(1), Plant::new(1));
        for _ in 0..100 {
            a.step(0.5);
            b.step(0.5);
        }
        assert_eq!(a.tags(), b.tags());
    }
}
