//! The long format StatsForecast uses (`unique_id, ds, y`, one row per series and date, extra
//! columns for hierarchy attributes), its calendar, and the checks that make bad input a clear
//! error naming the series and the line instead of a silently wrong forecast.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// A bad input file or table: where (line, series) and what.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct InputError {
    /// 1-based line in the file (the header is line 1), when one line is to blame.
    pub line: Option<usize>,
    pub series: Option<String>,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.line, &self.series) {
            (Some(l), Some(s)) => write!(f, "line {l}, series {s:?}: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            (None, Some(s)) => write!(f, "series {s:?}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

fn err(line: Option<usize>, series: Option<&str>, message: impl Into<String>) -> InputError {
    InputError {
        line,
        series: series.map(str::to_owned),
        message: message.into(),
    }
}

/// How dates map to consecutive periods. Periods are plain integers so that models and
/// hierarchies never deal with dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calendar {
    /// `ds` is an integer (1, 2, 3, ...).
    Index,
    Daily,
    /// Weekly on the weekday of the first date.
    Weekly {
        weekday: i64,
    },
    /// Monthly on day `day` (0 = the last day of the month).
    Monthly {
        day: u32,
    },
    Quarterly {
        month_in_quarter: u32,
        day: u32,
    },
    Yearly {
        month: u32,
        day: u32,
    },
}

impl Calendar {
    /// The natural seasonal period (1 = none).
    pub fn season(self) -> usize {
        match self {
            Calendar::Index | Calendar::Yearly { .. } => 1,
            Calendar::Daily => 7,
            Calendar::Weekly { .. } => 52,
            Calendar::Monthly { .. } => 12,
            Calendar::Quarterly { .. } => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Calendar::Index => "index",
            Calendar::Daily => "daily",
            Calendar::Weekly { .. } => "weekly",
            Calendar::Monthly { .. } => "monthly",
            Calendar::Quarterly { .. } => "quarterly",
            Calendar::Yearly { .. } => "yearly",
        }
    }

    /// The `ds` text of a period, in the form the input used.
    pub fn format(self, period: i64) -> String {
        match self {
            Calendar::Index => period.to_string(),
            Calendar::Daily | Calendar::Weekly { .. } => {
                let days = match self {
                    Calendar::Weekly { weekday } => period * 7 + weekday,
                    _ => period,
                };
                let (y, m, d) = civil_from_days(days);
                format!("{y:04}-{m:02}-{d:02}")
            }
            Calendar::Monthly { day } => {
                let (y, m) = (period.div_euclid(12), period.rem_euclid(12) as u32 + 1);
                format!("{y:04}-{m:02}-{:02}", day_in(y, m, day))
            }
            Calendar::Quarterly {
                month_in_quarter,
                day,
            } => {
                let (y, q) = (period.div_euclid(4), period.rem_euclid(4) as u32);
                let m = q * 3 + month_in_quarter + 1;
                format!("{y:04}-{m:02}-{:02}", day_in(y, m, day))
            }
            Calendar::Yearly { month, day } => {
                format!("{period:04}-{month:02}-{:02}", day_in(period, month, day))
            }
        }
    }
}

fn day_in(y: i64, m: u32, day: u32) -> u32 {
    let last = days_in_month(y, m);
    if day == 0 { last } else { day.min(last) }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ds {
    Int(i64),
    Date { y: i64, m: u32, d: u32 },
}

fn parse_ds(s: &str) -> Option<Ds> {
    let s = s.trim();
    if let Ok(i) = s.parse::<i64>() {
        return Some(Ds::Int(i));
    }
    // A date, optionally followed by a midnight time (what pandas writes for dates).
    let (date, time) = match s.find(['T', ' ']) {
        Some(i) => (&s[..i], Some(s[i + 1..].trim_end_matches('Z'))),
        None => (s, None),
    };
    if let Some(t) = time
        && !t
            .split(':')
            .all(|p| p.parse::<f64>().is_ok_and(|v| v == 0.0))
    {
        return None;
    }
    let mut it = date.split('-');
    // Four-digit years only: calendar arithmetic on years far beyond overflows.
    let y: i64 = it.next()?.parse().ok()?;
    if !(1..=9999).contains(&y) {
        return None;
    }
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if it.next().is_some() || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(Ds::Date { y, m, d })
}

/// One series: consecutive periods from `start`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub id: String,
    pub start: i64,
    pub values: Vec<f64>,
    /// Extra columns of the input (hierarchy attributes), constant per series.
    pub attrs: BTreeMap<String, String>,
}

impl Series {
    pub fn end(&self) -> i64 {
        self.start + self.values.len() as i64
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub calendar: Calendar,
    /// In order of first appearance in the input.
    pub series: Vec<Series>,
}

/// Splits one CSV line (RFC 4180 quoting, no embedded newlines).
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            }
            '"' if at_start => quoted = true,
            ',' if !quoted => {
                out.push(std::mem::take(&mut cur));
                at_start = true;
                continue;
            }
            c => cur.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err("a quoted field is not closed".into());
    }
    out.push(cur);
    Ok(out)
}

/// Quotes a CSV field when it needs it.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// A series' observations, attributes and the line it first appeared on.
type Gathered = (Vec<Obs>, BTreeMap<String, String>, usize);

struct Obs {
    line: usize,
    ds: Ds,
    y: f64,
}

impl Panel {
    /// Reads the long format. Rows may come in any order; each series must have one value per
    /// period with no gaps: a missing or duplicate date, an empty, non-numeric or non-finite
    /// `y`, or a date off the calendar is an error naming the line and the series.
    pub fn from_csv(text: &str) -> Result<Panel, InputError> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        let (_, header) = lines.next().ok_or_else(|| {
            err(
                None,
                None,
                "the input is empty (expected a header `unique_id,ds,y`)",
            )
        })?;
        let header =
            split_csv(header.trim_start_matches('\u{feff}')).map_err(|e| err(Some(1), None, e))?;
        let col = |name: &str| header.iter().position(|h| h.trim() == name);
        let (Some(ic), Some(dc), Some(yc)) = (col("unique_id"), col("ds"), col("y")) else {
            return Err(err(
                Some(1),
                None,
                format!(
                    "the header must name the columns unique_id, ds and y (found: {})",
                    header.join(", ")
                ),
            ));
        };
        let extra: Vec<(usize, String)> = header
            .iter()
            .enumerate()
            .filter(|(i, h)| ![ic, dc, yc].contains(i) && !h.trim().is_empty())
            .map(|(i, h)| (i, h.trim().to_owned()))
            .collect();
        let mut order: Vec<String> = Vec::new();
        let mut by_id: HashMap<String, Gathered> = HashMap::new();
        for (no, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let f = split_csv(line).map_err(|e| err(Some(no), None, e))?;
            if f.len() != header.len() {
                return Err(err(
                    Some(no),
                    None,
                    format!("{} fields, the header has {}", f.len(), header.len()),
                ));
            }
            let id = f[ic].trim();
            if id.is_empty() {
                return Err(err(Some(no), None, "unique_id is empty"));
            }
            let ds = parse_ds(&f[dc]).ok_or_else(|| {
                err(
                    Some(no),
                    Some(id),
                    format!(
                        "ds {:?} is neither an integer nor a date YYYY-MM-DD (times other than midnight are not supported)",
                        f[dc]
                    ),
                )
            })?;
            let ytxt = f[yc].trim();
            let y: f64 = ytxt.parse().map_err(|_| {
                err(
                    Some(no),
                    Some(id),
                    format!("y {ytxt:?} is not a number (fill missing values before forecasting)"),
                )
            })?;
            if !y.is_finite() {
                return Err(err(
                    Some(no),
                    Some(id),
                    format!("y is {ytxt} (fill missing values before forecasting)"),
                ));
            }
            let entry = by_id.entry(id.to_owned()).or_insert_with(|| {
                order.push(id.to_owned());
                let attrs = extra
                    .iter()
                    .map(|(i, h)| (h.clone(), f[*i].trim().to_owned()))
                    .collect();
                (Vec::new(), attrs, no)
            });
            for (i, h) in &extra {
                if entry.1.get(h).map(String::as_str) != Some(f[*i].trim()) {
                    return Err(err(
                        Some(no),
                        Some(id),
                        format!(
                            "column {h} is {:?} here but {:?} on line {}: hierarchy columns must be constant per series",
                            f[*i].trim(),
                            entry.1.get(h).map(String::as_str).unwrap_or(""),
                            entry.2
                        ),
                    ));
                }
            }
            entry.0.push(Obs { line: no, ds, y });
        }
        if order.is_empty() {
            return Err(err(None, None, "the input has a header but no rows"));
        }
        let calendar = detect_calendar(&order, &by_id)?;
        let mut series = Vec::with_capacity(order.len());
        for id in order {
            let Some((mut obs, attrs, _)) = by_id.remove(&id) else {
                continue;
            };
            let mut periods = Vec::with_capacity(obs.len());
            for o in &obs {
                periods.push(to_period(calendar, o.ds).ok_or_else(|| {
                    err(
                        Some(o.line),
                        Some(&id),
                        format!(
                            "ds is not on the {} calendar of this input",
                            calendar.name()
                        ),
                    )
                })?);
            }
            let mut idx: Vec<usize> = (0..obs.len()).collect();
            idx.sort_by_key(|&i| (periods[i], obs[i].line));
            for w in idx.windows(2) {
                let (a, b) = (w[0], w[1]);
                if periods[a] == periods[b] {
                    return Err(err(
                        Some(obs[b].line),
                        Some(&id),
                        format!(
                            "duplicate date {} (also on line {})",
                            calendar.format(periods[b]),
                            obs[a].line
                        ),
                    ));
                }
                if periods[b] != periods[a].saturating_add(1) {
                    // Sorted and distinct: the difference is at least 1 (saturated, not wrapped).
                    let missing = periods[b].saturating_sub(periods[a]) - 1;
                    return Err(err(
                        Some(obs[b].line),
                        Some(&id),
                        format!(
                            "{missing} period(s) missing before {}: {} is the first missing date (fill gaps, e.g. with 0 for no sales, before forecasting)",
                            calendar.format(periods[b]),
                            calendar.format(periods[a] + 1)
                        ),
                    ));
                }
            }
            let start = periods[idx[0]];
            let values = idx.iter().map(|&i| obs[i].y).collect();
            obs.clear();
            series.push(Series {
                id,
                start,
                values,
                attrs,
            });
        }
        Ok(Panel { calendar, series })
    }

    /// Writes the long format back (`unique_id, ds, y`).
    pub fn to_csv(&self) -> String {
        let mut out = String::from("unique_id,ds,y\n");
        for s in &self.series {
            for (i, v) in s.values.iter().enumerate() {
                out.push_str(&format!(
                    "{},{},{v}\n",
                    csv_field(&s.id),
                    self.calendar.format(s.start + i as i64)
                ));
            }
        }
        out
    }
}

fn detect_calendar(
    order: &[String],
    by_id: &HashMap<String, Gathered>,
) -> Result<Calendar, InputError> {
    let first = &by_id[&order[0]].0[0];
    let mixed = |o: &Obs| {
        err(
            Some(o.line),
            None,
            "ds mixes integers and dates; use one kind for the whole input",
        )
    };
    match first.ds {
        Ds::Int(_) => {
            for (obs, _, _) in by_id.values() {
                if let Some(o) = obs.iter().find(|o| !matches!(o.ds, Ds::Int(_))) {
                    return Err(mixed(o));
                }
            }
            Ok(Calendar::Index)
        }
        Ds::Date { y, m, d } => {
            // The smallest step between two dates of one series decides the frequency.
            let mut step = i64::MAX;
            for (obs, _, _) in by_id.values() {
                let mut days = Vec::with_capacity(obs.len());
                for o in obs {
                    match o.ds {
                        Ds::Date { y, m, d } => days.push(days_from_civil(y, m, d)),
                        Ds::Int(_) => return Err(mixed(o)),
                    }
                }
                days.sort_unstable();
                for w in days.windows(2) {
                    if w[1] > w[0] {
                        step = step.min(w[1] - w[0]);
                    }
                }
            }
            let day = if d == days_in_month(y, m) && d >= 28 {
                0
            } else {
                d
            };
            Ok(match step {
                i64::MAX => Calendar::Monthly { day },
                1 => Calendar::Daily,
                7 => Calendar::Weekly {
                    weekday: days_from_civil(y, m, d).rem_euclid(7),
                },
                28..=31 => Calendar::Monthly { day },
                89..=92 => Calendar::Quarterly {
                    month_in_quarter: (m - 1) % 3,
                    day,
                },
                365 | 366 => Calendar::Yearly { month: m, day },
                s => {
                    return Err(err(
                        Some(first.line),
                        None,
                        format!(
                            "dates are {s} days apart at the closest: not a daily, weekly, monthly, quarterly or yearly calendar"
                        ),
                    ));
                }
            })
        }
    }
}

fn to_period(cal: Calendar, ds: Ds) -> Option<i64> {
    match (cal, ds) {
        (Calendar::Index, Ds::Int(i)) => Some(i),
        (Calendar::Daily, Ds::Date { y, m, d }) => Some(days_from_civil(y, m, d)),
        (Calendar::Weekly { weekday }, Ds::Date { y, m, d }) => {
            let days = days_from_civil(y, m, d) - weekday;
            (days.rem_euclid(7) == 0).then_some(days.div_euclid(7))
        }
        (Calendar::Monthly { .. }, Ds::Date { y, m, .. }) => Some(y * 12 + m as i64 - 1),
        (Calendar::Quarterly { .. }, Ds::Date { y, m, .. }) => Some(y * 4 + (m as i64 - 1) / 3),
        (Calendar::Yearly { .. }, Ds::Date { y, .. }) => Some(y),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `forecast_csv` fuzz target: calendar arithmetic on a year of 19 digits
    /// overflowed.
    #[test]
    fn years_beyond_four_digits_are_not_dates() {
        assert!(parse_ds("9999-12-31").is_some());
        assert!(parse_ds("1000000000000000000-01-01").is_none());
        assert!(parse_ds("0-01-01").is_none());
        assert!(Panel::from_csv("unique_id,ds,y\na,9223372036854775807-01-01,1\n").is_err());
    }

    #[test]
    fn dates_round_trip_through_periods() {
        for days in [-800_000, -1, 0, 59, 11_016, 20_000, 1_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let p = Panel::from_csv("unique_id,ds,y\na,2024-01-31,1\na,2024-02-29,2\na,2024-03-31,3\n")
            .unwrap();
        assert_eq!(p.calendar, Calendar::Monthly { day: 0 });
        assert_eq!(p.calendar.format(p.series[0].end()), "2024-04-30");
        let q =
            Panel::from_csv("unique_id,ds,y\nb,2024-01-01 00:00:00,1\nb,2024-04-01,2\n").unwrap();
        assert_eq!(q.calendar.format(q.series[0].end()), "2024-07-01");
        let w = Panel::from_csv("unique_id,ds,y\nc,2024-01-03,1\nc,2024-01-10,2\n").unwrap();
        assert_eq!(w.calendar.format(w.series[0].end()), "2024-01-17");
        assert_eq!(w.calendar.season(), 52);
    }

    #[test]
    fn rows_in_any_order_with_attributes() {
        let p = Panel::from_csv(
            "unique_id,ds,y,state\nx,3,30,VIC\ny,1,5,NSW\nx,1,10,VIC\nx,2,20,VIC\n",
        )
        .unwrap();
        assert_eq!(p.calendar, Calendar::Index);
        assert_eq!(p.series[0].id, "x");
        assert_eq!(p.series[0].values, vec![10.0, 20.0, 30.0]);
        assert_eq!(p.series[0].attrs["state"], "VIC");
        assert_eq!(p.series[1].values, vec![5.0]);
    }

    #[test]
    fn bad_input_names_line_and_series() {
        let e = |t: &str| Panel::from_csv(t).unwrap_err().to_string();
        assert!(e("id,ds,y\n").contains("unique_id, ds and y"));
        assert_eq!(
            e("unique_id,ds,y\na,1,1\na,2,\n"),
            "line 3, series \"a\": y \"\" is not a number (fill missing values before forecasting)"
        );
        assert!(e("unique_id,ds,y\na,1,NaN\n").starts_with("line 2, series \"a\": y is NaN"));
        assert!(
            e("unique_id,ds,y\na,1,1\na,2,2\na,2,3\n")
                .starts_with("line 4, series \"a\": duplicate date 2 (also on line 3)")
        );
        let gap = e("unique_id,ds,y\na,2024-01-01,1\na,2024-02-01,1\na,2024-05-01,1\n");
        assert!(
            gap.starts_with(
                "line 4, series \"a\": 2 period(s) missing before 2024-05-01: 2024-03-01"
            ),
            "{gap}"
        );
        assert!(e("unique_id,ds,y\na,2024-13-01,1\n").contains("neither an integer nor a date"));
        assert!(e("unique_id,ds,y\na,1,1\nb,2024-01-01,1\n").contains("mixes integers and dates"));
        assert!(
            e("unique_id,ds,y,state\na,1,1,X\na,2,1,Y\n")
                .contains("hierarchy columns must be constant")
        );
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(
            split_csv(r#"a,"b,c","d""e""#).unwrap(),
            vec!["a", "b,c", "d\"e"]
        );
        assert_eq!(csv_field("x,y"), "\"x,y\"");
    }
}
