//! The planning instance: lines, products with allergens and shelf lives, demand per period,
//! crews. Read from YAML or JSON text; every error names the field and, for syntax and type
//! errors, the line and column.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

/// A number for every period, or one number that holds for all of them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum PerPeriod {
    Each(f64),
    List(Vec<f64>),
}

impl PerPeriod {
    fn expand(&self, periods: usize) -> Vec<f64> {
        match self {
            PerPeriod::Each(v) => vec![*v; periods],
            PerPeriod::List(l) => l.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub id: String,
    /// Hours the line can run per period (a number, or a list per period; 0 = down).
    pub hours: PerPeriod,
    /// Crews the line needs in a period in which it runs.
    #[serde(default = "one")]
    pub crew: f64,
    /// Allergens of what the line last ran before the first period (empty = clean).
    #[serde(default)]
    pub initial_allergens: Vec<String>,
    /// Units per hour of each product the line can make; a product not listed is not made here.
    pub rates: BTreeMap<String, f64>,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Product {
    pub id: String,
    #[serde(default)]
    pub allergens: Vec<String>,
    /// Changeover into this product: time and cost of each run.
    #[serde(default)]
    pub setup_hours: f64,
    #[serde(default)]
    pub setup_cost: f64,
    /// Periods a unit may be held, counting the period it is made in (1 = ship the same period).
    pub shelf_life: usize,
    #[serde(default)]
    pub initial_stock: f64,
    /// Periods the initial stock may still be shipped in (default: the shelf life).
    #[serde(default)]
    pub initial_stock_life: Option<usize>,
    /// Per unit held at the end of a period.
    #[serde(default)]
    pub holding_cost: f64,
    /// Per unit of demand not met.
    pub shortage_cost: f64,
    /// Share of each period's demand that must be met (1.0 = all of it; 0 = none).
    #[serde(default)]
    pub min_service: f64,
    /// Smallest quantity of a run (0 = any).
    #[serde(default)]
    pub min_lot: f64,
    /// Demand per period, or `demand_quantiles` from a probabilistic forecast.
    #[serde(default)]
    pub demand: Option<Vec<f64>>,
    /// Forecast quantiles per period, keyed by level ("0.5", "0.9"); the instance's
    /// `service_level` picks the one planned for.
    #[serde(default)]
    pub demand_quantiles: Option<BTreeMap<String, Vec<f64>>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlanInstance {
    #[serde(default = "unnamed")]
    pub name: String,
    /// Number of periods (days or shifts).
    pub periods: usize,
    /// What a period is, for people: "day", "shift".
    #[serde(default = "day")]
    pub period: String,
    /// Hours and cost of one allergen clean-down.
    pub cleandown_hours: f64,
    #[serde(default)]
    pub cleandown_cost: f64,
    /// Crews available per period.
    pub crews: PerPeriod,
    /// The forecast quantile planned for where products give `demand_quantiles`.
    #[serde(default)]
    pub service_level: Option<f64>,
    pub lines: Vec<Line>,
    pub products: Vec<Product>,
}

fn unnamed() -> String {
    "plan".into()
}
fn day() -> String {
    "day".into()
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanInputError {
    #[error("{at}: {field}: {message}")]
    Syntax {
        at: String,
        field: String,
        message: String,
    },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> PlanInputError {
    PlanInputError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The instance with every per-period value expanded and checked, products and lines indexed.
#[derive(Debug, Clone, PartialEq)]
pub struct Plant {
    pub name: String,
    pub periods: usize,
    pub period: String,
    pub cleandown_hours: f64,
    pub cleandown_cost: f64,
    pub crews: Vec<f64>,
    pub lines: Vec<PlantLine>,
    pub products: Vec<PlantProduct>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlantLine {
    pub id: String,
    pub hours: Vec<f64>,
    pub crew: f64,
    pub initial_allergens: BTreeSet<String>,
    /// (product index, units per hour), by product index.
    pub rates: Vec<(usize, f64)>,
}

impl PlantLine {
    pub fn rate(&self, product: usize) -> Option<f64> {
        self.rates
            .iter()
            .find(|(p, _)| *p == product)
            .map(|(_, r)| *r)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlantProduct {
    pub id: String,
    pub allergens: BTreeSet<String>,
    pub setup_hours: f64,
    pub setup_cost: f64,
    pub shelf_life: usize,
    pub initial_stock: f64,
    pub initial_stock_life: usize,
    pub holding_cost: f64,
    pub shortage_cost: f64,
    pub min_service: f64,
    pub min_lot: f64,
    pub demand: Vec<f64>,
}

impl PlanInstance {
    /// Parses YAML (JSON is YAML too); `source` names the text in errors.
    pub fn parse(source: &str, text: &str) -> Result<Self, PlanInputError> {
        let de = serde_yaml::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let at = inner
                .location()
                .map(|l| format!("{source}:{}:{}", l.line(), l.column()))
                .unwrap_or_else(|| source.to_string());
            // serde_yaml's message repeats the field and the position; they are said once.
            let mut message = inner.to_string();
            if let Some(rest) = message.strip_prefix(&format!("{field}: ")) {
                message = rest.to_string();
            }
            if let Some(i) = message.rfind(" at line ") {
                message.truncate(i);
            }
            PlanInputError::Syntax { at, field, message }
        })
    }

    /// Checks every value and expands per-period values.
    pub fn plant(&self) -> Result<Plant, PlanInputError> {
        let t = self.periods;
        if t == 0 || t > 366 {
            return Err(invalid("periods", format!("must be 1..366, got {t}")));
        }
        nonneg("cleandown_hours", self.cleandown_hours)?;
        nonneg("cleandown_cost", self.cleandown_cost)?;
        let crews = expand("crews", &self.crews, t)?;
        if self.lines.is_empty() {
            return Err(invalid("lines", "no lines: list at least one"));
        }
        if self.products.is_empty() {
            return Err(invalid("products", "no products: list at least one"));
        }
        let cells = self
            .lines
            .len()
            .saturating_mul(self.products.len())
            .saturating_mul(t);
        if cells > crate::limits::MAX_PLAN_CELLS {
            return Err(invalid(
                "lines",
                crate::limits::exceeded(
                    "lines × products × periods",
                    cells,
                    crate::limits::MAX_PLAN_CELLS,
                ),
            ));
        }
        let mut index = HashMap::new();
        let mut products = Vec::with_capacity(self.products.len());
        for (i, p) in self.products.iter().enumerate() {
            let f = |name: &str| format!("products[{i}].{name}");
            if p.id.trim().is_empty() {
                return Err(invalid(f("id"), "empty product id"));
            }
            if index.insert(p.id.clone(), i).is_some() {
                return Err(invalid(f("id"), format!("product `{}` listed twice", p.id)));
            }
            for (name, v) in [
                ("setup_hours", p.setup_hours),
                ("setup_cost", p.setup_cost),
                ("initial_stock", p.initial_stock),
                ("holding_cost", p.holding_cost),
                ("shortage_cost", p.shortage_cost),
                ("min_lot", p.min_lot),
            ] {
                nonneg(&f(name), v)?;
            }
            if !(0.0..=1.0).contains(&p.min_service) {
                return Err(invalid(f("min_service"), "must lie in 0..1"));
            }
            if p.shelf_life == 0 {
                return Err(invalid(
                    f("shelf_life"),
                    "must be ≥ 1 period (1 = shipped in the period it is made)",
                ));
            }
            let demand = self.demand_of(i, p)?;
            for (k, d) in demand.iter().enumerate() {
                nonneg(&format!("{}[{k}]", f("demand")), *d)?;
            }
            products.push(PlantProduct {
                id: p.id.clone(),
                allergens: clean_allergens(&p.allergens),
                setup_hours: p.setup_hours,
                setup_cost: p.setup_cost,
                shelf_life: p.shelf_life,
                initial_stock: p.initial_stock,
                initial_stock_life: p.initial_stock_life.unwrap_or(p.shelf_life),
                holding_cost: p.holding_cost,
                shortage_cost: p.shortage_cost,
                min_service: p.min_service,
                min_lot: p.min_lot,
                demand,
            });
        }
        let mut line_ids = BTreeSet::new();
        let mut lines = Vec::with_capacity(self.lines.len());
        for (i, l) in self.lines.iter().enumerate() {
            let f = |name: &str| format!("lines[{i}].{name}");
            if l.id.trim().is_empty() {
                return Err(invalid(f("id"), "empty line id"));
            }
            if !line_ids.insert(l.id.clone()) {
                return Err(invalid(f("id"), format!("line `{}` listed twice", l.id)));
            }
            let hours = expand(&f("hours"), &l.hours, t)?;
            nonneg(&f("crew"), l.crew)?;
            let mut rates = Vec::new();
            for (pid, r) in &l.rates {
                let Some(&p) = index.get(pid) else {
                    return Err(invalid(
                        f(&format!("rates.{pid}")),
                        format!("no product `{pid}` in `products`"),
                    ));
                };
                if !(r.is_finite() && *r > 0.0) {
                    return Err(invalid(
                        f(&format!("rates.{pid}")),
                        format!("units per hour must be > 0, got {r}"),
                    ));
                }
                rates.push((p, *r));
            }
            rates.sort_by_key(|(p, _)| *p);
            lines.push(PlantLine {
                id: l.id.clone(),
                hours,
                crew: l.crew,
                initial_allergens: clean_allergens(&l.initial_allergens),
                rates,
            });
        }
        Ok(Plant {
            name: self.name.clone(),
            periods: t,
            period: self.period.clone(),
            cleandown_hours: self.cleandown_hours,
            cleandown_cost: self.cleandown_cost,
            crews,
            lines,
            products,
        })
    }

    fn demand_of(&self, i: usize, p: &Product) -> Result<Vec<f64>, PlanInputError> {
        let f = |name: &str| format!("products[{i}].{name}");
        let d = match (&p.demand, &p.demand_quantiles) {
            (Some(d), None) => d.clone(),
            (None, Some(q)) => {
                let Some(level) = self.service_level else {
                    return Err(invalid(
                        "service_level",
                        format!(
                            "product `{}` gives demand quantiles; set `service_level` to the one to plan for",
                            p.id
                        ),
                    ));
                };
                let found = q.iter().find(|(k, _)| {
                    k.trim()
                        .parse::<f64>()
                        .is_ok_and(|v| (v - level).abs() < 1e-9)
                });
                match found {
                    Some((_, d)) => d.clone(),
                    None => {
                        let mut have: Vec<&String> = q.keys().collect();
                        have.sort();
                        return Err(invalid(
                            f("demand_quantiles"),
                            format!(
                                "no quantile {level} for `{}` (it has {})",
                                p.id,
                                have.iter()
                                    .map(|s| s.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                }
            }
            (Some(_), Some(_)) => {
                return Err(invalid(
                    f("demand"),
                    "give `demand` or `demand_quantiles`, not both",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    f("demand"),
                    format!(
                        "no demand for `{}`: give `demand` or `demand_quantiles`",
                        p.id
                    ),
                ));
            }
        };
        if d.len() != self.periods {
            return Err(invalid(
                f("demand"),
                format!(
                    "{} values for {} periods; give one per period",
                    d.len(),
                    self.periods
                ),
            ));
        }
        Ok(d)
    }
}

fn clean_allergens(list: &[String]) -> BTreeSet<String> {
    list.iter()
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty())
        .collect()
}

fn nonneg(field: &str, v: f64) -> Result<(), PlanInputError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(invalid(field, format!("must be a number ≥ 0, got {v}")))
    }
}

fn expand(field: &str, v: &PerPeriod, periods: usize) -> Result<Vec<f64>, PlanInputError> {
    let out = v.expand(periods);
    if out.len() != periods {
        return Err(invalid(
            field,
            format!(
                "{} values for {periods} periods; give one per period or a single number",
                out.len()
            ),
        ));
    }
    for (k, x) in out.iter().enumerate() {
        nonneg(&format!("{field}[{k}]"), *x)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "
periods: 2
cleandown_hours: 1
crews: 2
lines:
  - id: L1
    hours: [8, 8]
    rates: {A: 10}
products:
  - id: A
    shelf_life: 2
    shortage_cost: 5
    demand: [10, 20]
";

    #[test]
    fn parses_and_expands() {
        let p = PlanInstance::parse("small.yaml", SMALL)
            .unwrap()
            .plant()
            .unwrap();
        assert_eq!(p.crews, vec![2.0, 2.0]);
        assert_eq!(p.lines[0].rate(0), Some(10.0));
        assert_eq!(p.products[0].initial_stock_life, 2);
    }

    #[test]
    fn errors_name_line_column_and_field() {
        let e = PlanInstance::parse("x.yaml", &SMALL.replace("shelf_life: 2", "shelf_life: two"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.yaml:11:17:"), "{e}");
        assert!(e.contains("products[0].shelf_life"), "{e}");
        let e = PlanInstance::parse("x", &SMALL.replace("rates: {A: 10}", "rates: {B: 10}"))
            .unwrap()
            .plant()
            .unwrap_err()
            .to_string();
        assert!(e.contains("lines[0].rates.B: no product `B`"), "{e}");
        let e = PlanInstance::parse("x", &SMALL.replace("[10, 20]", "[10]"))
            .unwrap()
            .plant()
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 values for 2 periods"), "{e}");
    }

    #[test]
    fn quantiles_need_a_service_level_that_exists() {
        let q = SMALL.replace(
            "demand: [10, 20]",
            "demand_quantiles: {\"0.5\": [10, 20], \"0.9\": [14, 26]}",
        );
        let e = PlanInstance::parse("x", &q)
            .unwrap()
            .plant()
            .unwrap_err()
            .to_string();
        assert!(e.contains("set `service_level`"), "{e}");
        let with = format!("service_level: 0.9\n{q}");
        let p = PlanInstance::parse("x", &with).unwrap().plant().unwrap();
        assert_eq!(p.products[0].demand, vec![14.0, 26.0]);
        let e = PlanInstance::parse("x", &format!("service_level: 0.8\n{q}"))
            .unwrap()
            .plant()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no quantile 0.8") && e.contains("0.5, 0.9"),
            "{e}"
        );
    }
}
