//! Reconciliation: base forecasts of every node made coherent (each aggregate equals the sum
//! of its bottom series) by ỹ = S·G·ŷ.
//!
//! - BottomUp: G takes the bottom forecasts.
//! - TopDown: the total split by the bottom series' average historical proportions.
//! - MinTrace (Wickramasuriya, Athanasopoulos & Hyndman 2019): G = (S'W⁻¹S)⁻¹S'W⁻¹ with W the
//!   identity (`ols`), the number of bottom series under each node (`wls_struct`), or the
//!   shrunk covariance of in-sample one-step errors (`mint_shrink`). With a diagonal W the
//!   system is solved by Jacobi-preconditioned conjugate gradients through the sparse S
//!   (no matrix is ever formed: memory and time grow with series × levels); `mint_shrink`
//!   needs the dense n × n covariance and is limited to [`DENSE_LIMIT`] series.
//!
//! The reconciled distribution is the image of independent Gaussian base forecasts under the
//! linear map S·G, so it is Gaussian and coherent; its variance is computed exactly up to
//! [`EXACT_VARIANCE_LIMIT`] series and estimated with Rademacher probes above.

use std::fmt;
use std::str::FromStr;

use rand::{Rng, SeedableRng};

use crate::hierarchy::Hierarchy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    None,
    BottomUp,
    TopDown,
    MinTraceOls,
    MinTraceWlsStruct,
    MinTraceShrink,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::None,
        Method::BottomUp,
        Method::TopDown,
        Method::MinTraceOls,
        Method::MinTraceWlsStruct,
        Method::MinTraceShrink,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::None => "none",
            Method::BottomUp => "bottom_up",
            Method::TopDown => "top_down",
            Method::MinTraceOls => "mint_ols",
            Method::MinTraceWlsStruct => "mint_wls_struct",
            Method::MinTraceShrink => "mint_shrink",
        }
    }

    /// HierarchicalForecast's column suffix for the same method.
    pub fn alias(self) -> &'static str {
        match self {
            Method::None => "",
            Method::BottomUp => "BottomUp",
            Method::TopDown => "TopDown_method-average_proportions",
            Method::MinTraceOls => "MinTrace_method-ols",
            Method::MinTraceWlsStruct => "MinTrace_method-wls_struct",
            Method::MinTraceShrink => "MinTrace_method-mint_shrink",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown reconciliation {s:?}; one of: {}",
                    Method::ALL.map(|m| m.name()).join(", ")
                )
            })
    }
}

/// Series above which `mint_shrink` is refused (its covariance is dense).
pub const DENSE_LIMIT: usize = 3000;
/// Series up to which the reconciled variance is computed exactly.
pub const EXACT_VARIANCE_LIMIT: usize = 2000;
const PROBES: usize = 64;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReconcileError {
    #[error(
        "mint_shrink needs a dense {n} × {n} covariance; above {DENSE_LIMIT} series use mint_wls_struct"
    )]
    TooLargeForShrink { n: usize },
    #[error("mint_shrink needs in-sample residuals of every node (at least 3 periods)")]
    NoResiduals,
}

/// Base forecasts of every node (rows = nodes in hierarchy order, columns = steps ahead).
pub struct Base<'a> {
    pub mean: &'a [Vec<f64>],
    pub sd: &'a [Vec<f64>],
    /// In-sample one-step errors of every node, aligned (needed by `mint_shrink`).
    pub residuals: &'a [Vec<f64>],
    /// Node histories (needed by `top_down`).
    pub history: &'a [Vec<f64>],
}

pub struct Reconciled {
    pub mean: Vec<Vec<f64>>,
    pub sd: Vec<Vec<f64>>,
    /// Conjugate-gradient iterations over all solves (0 for the direct methods).
    pub iterations: usize,
}

enum G {
    Bottom,
    Proportions(Vec<f64>),
    /// W diagonal: weights w_i.
    Diagonal(Vec<f64>),
    /// Dense (S'W⁻¹S)⁻¹ as a Cholesky factor, and W⁻¹.
    Dense {
        chol: Vec<f64>,
        winv: Vec<f64>,
    },
}

pub struct Reconciler<'h> {
    h: &'h Hierarchy,
    g: G,
    /// Diagonal of S'W⁻¹S (the Jacobi preconditioner).
    precond: Vec<f64>,
}

impl<'h> Reconciler<'h> {
    pub fn new(h: &'h Hierarchy, method: Method, base: &Base) -> Result<Self, ReconcileError> {
        let n = h.nodes.len();
        let nb = h.n_bottom();
        let g = match method {
            Method::None | Method::BottomUp => G::Bottom,
            Method::TopDown => {
                let total = &base.history[0];
                let mut p = vec![0.0; nb];
                for (b, &node) in h.bottom_nodes.iter().enumerate() {
                    let hist = &base.history[node];
                    let (mut s, mut k) = (0.0, 0);
                    for (y, t) in hist.iter().zip(total) {
                        if *t != 0.0 {
                            s += y / t;
                            k += 1;
                        }
                    }
                    p[b] = if k > 0 { s / k as f64 } else { 1.0 / nb as f64 };
                }
                G::Proportions(p)
            }
            Method::MinTraceOls => G::Diagonal(vec![1.0; n]),
            Method::MinTraceWlsStruct => {
                G::Diagonal(h.nodes.iter().map(|x| x.bottoms.len() as f64).collect())
            }
            Method::MinTraceShrink => {
                if n > DENSE_LIMIT {
                    return Err(ReconcileError::TooLargeForShrink { n });
                }
                let w = shrunk_covariance(base.residuals).ok_or(ReconcileError::NoResiduals)?;
                let winv = invert_spd(&w, n).ok_or(ReconcileError::NoResiduals)?;
                // A = S'W⁻¹S, nb × nb.
                let mut a = vec![0.0; nb * nb];
                for (i, ni) in h.nodes.iter().enumerate() {
                    for (j, nj) in h.nodes.iter().enumerate() {
                        let wij = winv[i * n + j];
                        if wij == 0.0 {
                            continue;
                        }
                        for &p in &ni.bottoms {
                            for &q in &nj.bottoms {
                                a[p as usize * nb + q as usize] += wij;
                            }
                        }
                    }
                }
                let chol = cholesky(&a, nb).ok_or(ReconcileError::NoResiduals)?;
                G::Dense { chol, winv }
            }
        };
        let mut precond = vec![0.0; nb];
        if let G::Diagonal(w) = &g {
            for (node, wi) in h.nodes.iter().zip(w) {
                for &b in &node.bottoms {
                    precond[b as usize] += 1.0 / wi;
                }
            }
        }
        Ok(Reconciler { h, g, precond })
    }

    /// G·y: the bottom-level values for node values `y`. Returns the CG iterations used.
    fn bottom_of(&self, y: &[f64], out: &mut [f64]) -> usize {
        let h = self.h;
        match &self.g {
            G::Bottom => {
                for (b, &node) in h.bottom_nodes.iter().enumerate() {
                    out[b] = y[node];
                }
                0
            }
            G::Proportions(p) => {
                for (o, pj) in out.iter_mut().zip(p) {
                    *o = pj * y[0];
                }
                0
            }
            G::Diagonal(w) => {
                // rhs = S'W⁻¹y; start from the bottom-up values.
                let mut rhs = vec![0.0; out.len()];
                for ((node, wi), yi) in h.nodes.iter().zip(w).zip(y) {
                    for &b in &node.bottoms {
                        rhs[b as usize] += yi / wi;
                    }
                }
                for (b, &node) in h.bottom_nodes.iter().enumerate() {
                    out[b] = y[node];
                }
                self.cg(w, &rhs, out)
            }
            G::Dense { chol, winv } => {
                let n = h.nodes.len();
                let nb = out.len();
                let wy: Vec<f64> = (0..n)
                    .map(|i| (0..n).map(|j| winv[i * n + j] * y[j]).sum())
                    .collect();
                let mut rhs = vec![0.0; nb];
                for (node, v) in h.nodes.iter().zip(&wy) {
                    for &b in &node.bottoms {
                        rhs[b as usize] += v;
                    }
                }
                cholesky_solve(chol, nb, &mut rhs);
                out.copy_from_slice(&rhs);
                0
            }
        }
    }

    /// Solves (S'W⁻¹S) x = rhs in place from the guess in `x`.
    fn cg(&self, w: &[f64], rhs: &[f64], x: &mut [f64]) -> usize {
        let nb = x.len();
        let apply = |v: &[f64], out: &mut [f64]| {
            out.iter_mut().for_each(|o| *o = 0.0);
            for (node, wi) in self.h.nodes.iter().zip(w) {
                let s: f64 = node.bottoms.iter().map(|&b| v[b as usize]).sum::<f64>() / wi;
                for &b in &node.bottoms {
                    out[b as usize] += s;
                }
            }
        };
        let mut ax = vec![0.0; nb];
        apply(x, &mut ax);
        let mut r: Vec<f64> = rhs.iter().zip(&ax).map(|(b, a)| b - a).collect();
        let mut z: Vec<f64> = r.iter().zip(&self.precond).map(|(r, d)| r / d).collect();
        let mut p = z.clone();
        let mut rz: f64 = r.iter().zip(&z).map(|(a, b)| a * b).sum();
        let norm_b = rhs.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300);
        let mut ap = vec![0.0; nb];
        let max_iter = (10 * nb).max(100);
        for it in 0..max_iter {
            let rn = r.iter().map(|v| v * v).sum::<f64>().sqrt();
            if rn <= 1e-12 * norm_b {
                return it;
            }
            apply(&p, &mut ap);
            let pap: f64 = p.iter().zip(&ap).map(|(a, b)| a * b).sum();
            if pap <= 0.0 {
                return it;
            }
            let alpha = rz / pap;
            for i in 0..nb {
                x[i] += alpha * p[i];
                r[i] -= alpha * ap[i];
                z[i] = r[i] / self.precond[i];
            }
            let rz_new: f64 = r.iter().zip(&z).map(|(a, b)| a * b).sum();
            let beta = rz_new / rz;
            rz = rz_new;
            for i in 0..nb {
                p[i] = z[i] + beta * p[i];
            }
        }
        max_iter
    }

    /// S·G·y for one vector of node values.
    pub fn map(&self, y: &[f64]) -> (Vec<f64>, usize) {
        let mut b = vec![0.0; self.h.n_bottom()];
        let it = self.bottom_of(y, &mut b);
        (self.h.sum_up(&b), it)
    }

    /// Reconciled means and standard deviations for every node and step.
    pub fn reconcile(&self, base: &Base, seed: u64) -> Reconciled {
        let n = self.h.nodes.len();
        let horizon = base.mean.first().map_or(0, Vec::len);
        let mut mean = vec![vec![0.0; horizon]; n];
        let mut var = vec![vec![0.0; horizon]; n];
        let mut iterations = 0;
        let mut col = vec![0.0; n];
        for step in 0..horizon {
            for (c, m) in col.iter_mut().zip(base.mean) {
                *c = m[step];
            }
            let (y, it) = self.map(&col);
            iterations += it;
            for (row, v) in mean.iter_mut().zip(y) {
                row[step] = v;
            }
        }
        if n <= EXACT_VARIANCE_LIMIT {
            // Column i of S·G, weighted by each step's base variance of node i.
            let mut e = vec![0.0; n];
            for i in 0..n {
                if base.sd[i].iter().all(|s| *s == 0.0) {
                    continue;
                }
                e[i] = 1.0;
                let (c, it) = self.map(&e);
                e[i] = 0.0;
                iterations += it;
                for (row, cj) in var.iter_mut().zip(&c) {
                    if *cj == 0.0 {
                        continue;
                    }
                    for (v, sd) in row.iter_mut().zip(&base.sd[i]) {
                        *v += (cj * sd).powi(2);
                    }
                }
            }
        } else {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            for step in 0..horizon {
                for _ in 0..PROBES {
                    for (c, sd) in col.iter_mut().zip(base.sd) {
                        *c = if rng.random::<bool>() {
                            sd[step]
                        } else {
                            -sd[step]
                        };
                    }
                    let (y, it) = self.map(&col);
                    iterations += it;
                    for (row, v) in var.iter_mut().zip(y) {
                        row[step] += v * v / PROBES as f64;
                    }
                }
            }
        }
        Reconciled {
            mean,
            sd: var
                .into_iter()
                .map(|r| r.into_iter().map(|v| v.max(0.0).sqrt()).collect())
                .collect(),
            iterations,
        }
    }
}

/// Schäfer–Strimmer shrinkage of the residual covariance towards its diagonal (what
/// HierarchicalForecast's `mint_shrink` uses). Residual rows: nodes; only steps where every
/// node has a finite residual count.
pub fn shrunk_covariance(residuals: &[Vec<f64>]) -> Option<Vec<f64>> {
    let n = residuals.len();
    let len = residuals.iter().map(Vec::len).min()?;
    let steps: Vec<usize> = (0..len)
        .filter(|&t| residuals.iter().all(|r| r[t].is_finite()))
        .collect();
    let t = steps.len();
    if t < 3 {
        return None;
    }
    let tf = t as f64;
    let mut x = vec![0.0; n * t];
    let mut sd = vec![0.0; n];
    for (i, r) in residuals.iter().enumerate() {
        let m = steps.iter().map(|&k| r[k]).sum::<f64>() / tf;
        let v = steps.iter().map(|&k| (r[k] - m).powi(2)).sum::<f64>() / (tf - 1.0);
        sd[i] = v.sqrt();
        for (k, &s) in steps.iter().enumerate() {
            x[i * t + k] = if sd[i] > 0.0 { (r[s] - m) / sd[i] } else { 0.0 };
        }
    }
    let mut corr = vec![0.0; n * n];
    let (mut num, mut den) = (0.0, 0.0);
    for i in 0..n {
        for j in (i + 1)..n {
            let (xi, xj) = (&x[i * t..(i + 1) * t], &x[j * t..(j + 1) * t]);
            let wbar = xi.iter().zip(xj).map(|(a, b)| a * b).sum::<f64>() / tf;
            let var_w = xi
                .iter()
                .zip(xj)
                .map(|(a, b)| (a * b - wbar).powi(2))
                .sum::<f64>();
            let r = tf / (tf - 1.0) * wbar;
            corr[i * n + j] = r;
            num += tf / (tf - 1.0).powi(3) * var_w;
            den += r * r;
        }
    }
    let lambda = if den > 0.0 {
        (num / den).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let mut w = vec![0.0; n * n];
    for i in 0..n {
        w[i * n + i] = (sd[i] * sd[i]).max(1e-12);
        for j in (i + 1)..n {
            let v = (1.0 - lambda) * corr[i * n + j] * sd[i] * sd[j];
            w[i * n + j] = v;
            w[j * n + i] = v;
        }
    }
    Some(w)
}

fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] - s;
                if d <= 0.0 {
                    return None;
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    Some(l)
}

fn cholesky_solve(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[i * n + k] * b[k]).sum();
        b[i] = (b[i] - s) / l[i * n + i];
    }
    for i in (0..n).rev() {
        let s: f64 = ((i + 1)..n).map(|k| l[k * n + i] * b[k]).sum();
        b[i] = (b[i] - s) / l[i * n + i];
    }
}

fn invert_spd(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let l = cholesky(a, n)?;
    let mut inv = vec![0.0; n * n];
    let mut e = vec![0.0; n];
    for j in 0..n {
        e.iter_mut().for_each(|v| *v = 0.0);
        e[j] = 1.0;
        cholesky_solve(&l, n, &mut e);
        for i in 0..n {
            inv[i * n + j] = e[i];
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::panel::Panel;

    fn tree() -> (Hierarchy, Vec<Vec<f64>>) {
        let mut csv = String::from("unique_id,ds,y\n");
        for (i, id) in ["A/a1", "A/a2", "B/b1"].iter().enumerate() {
            for t in 1..=30 {
                let v = 10.0 * (i + 1) as f64 + ((t * (i + 3)) % 7) as f64;
                csv.push_str(&format!("{id},{t},{v}\n"));
            }
        }
        let p = Panel::from_csv(&csv).unwrap();
        let h = Hierarchy::build(&"g/s".parse().unwrap(), &p).unwrap();
        let (_, hist) = h.aggregate(&p).unwrap();
        (h, hist)
    }

    #[test]
    fn every_method_is_coherent_and_leaves_coherent_input_alone() {
        let (h, hist) = tree();
        // Incoherent base forecasts: Total, A, B, a1, a2, b1.
        let mean = vec![
            vec![70.0, 71.0],
            vec![33.0, 30.0],
            vec![28.0, 29.0],
            vec![11.0, 12.0],
            vec![20.0, 19.0],
            vec![31.0, 30.0],
        ];
        let sd = vec![vec![3.0, 4.0]; 6];
        let residuals: Vec<Vec<f64>> = hist
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.iter()
                    .enumerate()
                    .map(|(t, v)| v * 0.05 + ((t * 7 + i * 3) % 5) as f64 - 2.0)
                    .collect()
            })
            .collect();
        let base = Base {
            mean: &mean,
            sd: &sd,
            residuals: &residuals,
            history: &hist,
        };
        for m in [
            Method::BottomUp,
            Method::TopDown,
            Method::MinTraceOls,
            Method::MinTraceWlsStruct,
            Method::MinTraceShrink,
        ] {
            let r = Reconciler::new(&h, m, &base).unwrap().reconcile(&base, 1);
            for s in 0..2 {
                let v: Vec<f64> = r.mean.iter().map(|x| x[s]).collect();
                assert!((v[1] - v[3] - v[4]).abs() < 1e-6, "{m}: {v:?}");
                assert!((v[0] - v[1] - v[2]).abs() < 1e-6, "{m}: {v:?}");
                assert!(r.sd.iter().all(|x| x[s] > 0.0));
            }
            // A coherent input is a fixed point of every projection (not of top-down).
            if m != Method::TopDown {
                let coherent = vec![
                    vec![60.0],
                    vec![30.0],
                    vec![30.0],
                    vec![10.0],
                    vec![20.0],
                    vec![30.0],
                ];
                let sd1 = vec![vec![1.0]; 6];
                let b2 = Base {
                    mean: &coherent,
                    sd: &sd1,
                    residuals: &residuals,
                    history: &hist,
                };
                let r = Reconciler::new(&h, m, &b2).unwrap().reconcile(&b2, 1);
                for (x, y) in r.mean.iter().zip(&coherent) {
                    assert!((x[0] - y[0]).abs() < 1e-6, "{m}");
                }
            }
        }
    }

    #[test]
    fn wls_struct_matches_the_closed_form() {
        let (h, hist) = tree();
        let mean = vec![
            vec![70.0],
            vec![33.0],
            vec![28.0],
            vec![11.0],
            vec![20.0],
            vec![31.0],
        ];
        let sd = vec![vec![1.0]; 6];
        let base = Base {
            mean: &mean,
            sd: &sd,
            residuals: &[],
            history: &hist,
        };
        let r = Reconciler::new(&h, Method::MinTraceWlsStruct, &base)
            .unwrap()
            .reconcile(&base, 1);
        // Dense reference: x = (S'W⁻¹S)⁻¹ S'W⁻¹ y with W = diag(3, 2, 1, 1, 1, 1).
        let s = [
            [1.0, 1.0, 1.0],
            [1.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
        ];
        let w = [3.0, 2.0, 1.0, 1.0, 1.0, 1.0];
        let mut a = vec![0.0; 9];
        let mut b = vec![0.0; 3];
        for i in 0..6 {
            for p in 0..3 {
                b[p] += s[i][p] * mean[i][0] / w[i];
                for q in 0..3 {
                    a[p * 3 + q] += s[i][p] * s[i][q] / w[i];
                }
            }
        }
        let l = cholesky(&a, 3).unwrap();
        cholesky_solve(&l, 3, &mut b);
        for (k, &node) in h.bottom_nodes.iter().enumerate() {
            assert!(
                (r.mean[node][0] - b[k]).abs() < 1e-9,
                "{:?} vs {b:?}",
                r.mean
            );
        }
    }

    #[test]
    fn shrink_is_refused_beyond_the_dense_limit() {
        let e = ReconcileError::TooLargeForShrink { n: 5000 }.to_string();
        assert!(e.contains("use mint_wls_struct"));
        assert_eq!(
            "mint_wls_struct".parse::<Method>(),
            Ok(Method::MinTraceWlsStruct)
        );
        assert!("mint".parse::<Method>().unwrap_err().contains("one of"));
    }
}
