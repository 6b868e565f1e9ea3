//! Hierarchies: the spec, the aggregation of bottom series into every node, and the summing
//! structure S kept sparse (each node lists its bottom series), so that a hierarchy of 100,000
//! series costs memory in proportion to series × levels, never series².
//!
//! Spec syntax: columns from the top down separated by `/` form a chain (`state/region/city`);
//! chains crossed with `*` form a grouped hierarchy (`brand/product/sku*location`): every
//! combination of a prefix of each chain is a level, from `Total` to the bottom. A bottom series
//! takes its values for these columns from the input's columns of the same names, or, where
//! the input has none, from its `unique_id` split at `/` (StatsForecast's `A/AA/AAA` style).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use crate::panel::{InputError, Panel};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub chains: Vec<Vec<String>>,
}

impl FromStr for Spec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut seen = Vec::new();
        let mut chains = Vec::new();
        for chain in s.split('*') {
            let cols: Vec<String> = chain.split('/').map(|c| c.trim().to_owned()).collect();
            for c in &cols {
                if c.is_empty()
                    || !c
                        .chars()
                        .all(|ch| ch.is_alphanumeric() || ch == '_' || ch == '-')
                {
                    return Err(format!(
                        "hierarchy {s:?}: column name {c:?} must be non-empty letters, digits, _ or - (e.g. state/region/city or product/sku*location)"
                    ));
                }
                if seen.contains(c) {
                    return Err(format!("hierarchy {s:?}: column {c:?} appears twice"));
                }
                seen.push(c.clone());
            }
            chains.push(cols);
        }
        Ok(Spec { chains })
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.chains.iter().map(|c| c.join("/")).collect();
        f.write_str(&parts.join("*"))
    }
}

impl Spec {
    pub fn columns(&self) -> Vec<&str> {
        self.chains.iter().flatten().map(String::as_str).collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: String,
    /// e.g. `total`, `state`, `state/region`, `product*location`.
    pub level: String,
    /// Indices of the bottom series this node sums (sorted).
    pub bottoms: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hierarchy {
    /// Top down: `Total` first, the bottom level last.
    pub nodes: Vec<Node>,
    /// Node index of each bottom series, in panel order.
    pub bottom_nodes: Vec<usize>,
}

impl Hierarchy {
    /// Builds the hierarchy over the panel's series (all of them bottom series).
    pub fn build(spec: &Spec, panel: &Panel) -> Result<Hierarchy, InputError> {
        let cols = spec.columns();
        let mut paths: Vec<Vec<String>> = Vec::with_capacity(panel.series.len());
        let mut owner: HashMap<Vec<String>, &str> = HashMap::new();
        for s in &panel.series {
            let path: Vec<String> = if cols.iter().all(|c| s.attrs.contains_key(*c)) {
                cols.iter().map(|c| s.attrs[*c].clone()).collect()
            } else {
                let parts: Vec<String> = s.id.split('/').map(str::to_owned).collect();
                if parts.len() != cols.len() {
                    return Err(InputError {
                        line: None,
                        series: Some(s.id.clone()),
                        message: format!(
                            "the hierarchy {spec} needs the columns {} or a unique_id of {} parts separated by '/'",
                            cols.join(", "),
                            cols.len()
                        ),
                    });
                }
                parts
            };
            if let Some(other) = owner.insert(path.clone(), &s.id) {
                return Err(InputError {
                    line: None,
                    series: Some(s.id.clone()),
                    message: format!(
                        "has the same place in the hierarchy ({}) as series {other:?}",
                        path.join("/")
                    ),
                });
            }
            paths.push(path);
        }
        // Every combination of chain prefix lengths, shallowest first.
        let mut combos: Vec<Vec<usize>> = vec![Vec::new()];
        for chain in &spec.chains {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    (0..=chain.len()).map(move |k| {
                        let mut c = c.clone();
                        c.push(k);
                        c
                    })
                })
                .collect();
        }
        combos.sort_by_key(|c| (c.iter().sum::<usize>(), std::cmp::Reverse(c.clone())));
        let offsets: Vec<usize> = spec
            .chains
            .iter()
            .scan(0, |acc, c| {
                let o = *acc;
                *acc += c.len();
                Some(o)
            })
            .collect();
        let mut nodes = Vec::new();
        let mut ids: HashMap<String, usize> = HashMap::new();
        let mut bottom_nodes = vec![0usize; paths.len()];
        let full: Vec<usize> = spec.chains.iter().map(Vec::len).collect();
        for combo in &combos {
            let is_bottom = *combo == full;
            let level = if combo.iter().all(|k| *k == 0) {
                "total".to_owned()
            } else {
                let parts: Vec<String> = spec
                    .chains
                    .iter()
                    .zip(combo)
                    .filter(|(_, k)| **k > 0)
                    .map(|(c, k)| c[..*k].join("/"))
                    .collect();
                parts.join("*")
            };
            let mut groups: HashMap<Vec<&str>, usize> = HashMap::new();
            for (b, path) in paths.iter().enumerate() {
                let key: Vec<&str> = combo
                    .iter()
                    .zip(&offsets)
                    .flat_map(|(k, o)| path[*o..*o + *k].iter().map(String::as_str))
                    .collect();
                let idx = *groups.entry(key.clone()).or_insert_with(|| {
                    let id = if is_bottom {
                        panel.series[b].id.clone()
                    } else if key.is_empty() {
                        "Total".to_owned()
                    } else {
                        key.join("/")
                    };
                    nodes.push(Node {
                        id,
                        level: level.clone(),
                        bottoms: Vec::new(),
                    });
                    nodes.len() - 1
                });
                nodes[idx].bottoms.push(b as u32);
                if is_bottom {
                    bottom_nodes[b] = idx;
                }
            }
        }
        for (i, n) in nodes.iter().enumerate() {
            if let Some(j) = ids.insert(n.id.clone(), i) {
                return Err(InputError {
                    line: None,
                    series: Some(n.id.clone()),
                    message: format!(
                        "names both a {} node and a {} node: give bottom series ids that differ from aggregate paths",
                        nodes[j].level, n.level
                    ),
                });
            }
        }
        Ok(Hierarchy {
            nodes,
            bottom_nodes,
        })
    }

    /// A hierarchy of independent series (no aggregation): every series its own node.
    pub fn flat(panel: &Panel) -> Hierarchy {
        Hierarchy {
            nodes: panel
                .series
                .iter()
                .enumerate()
                .map(|(i, s)| Node {
                    id: s.id.clone(),
                    level: "series".into(),
                    bottoms: vec![i as u32],
                })
                .collect(),
            bottom_nodes: (0..panel.series.len()).collect(),
        }
    }

    pub fn n_bottom(&self) -> usize {
        self.bottom_nodes.len()
    }

    pub fn find(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// S·b: every node's sum of the bottom values.
    pub fn sum_up(&self, bottom: &[f64]) -> Vec<f64> {
        self.nodes
            .iter()
            .map(|n| n.bottoms.iter().map(|&b| bottom[b as usize]).sum())
            .collect()
    }

    /// The history of every node over the common range of the bottom series: series that
    /// start later count as zero before their start (new products); all must end together.
    pub fn aggregate(&self, panel: &Panel) -> Result<(i64, Vec<Vec<f64>>), InputError> {
        let end = panel.series.iter().map(|s| s.end()).max().unwrap_or(0);
        if let Some(s) = panel.series.iter().find(|s| s.end() != end) {
            return Err(InputError {
                line: None,
                series: Some(s.id.clone()),
                message: format!(
                    "ends at {} while others run to {}: a hierarchy needs a common last date (extend the series with 0 if it stopped selling)",
                    panel.calendar.format(s.end() - 1),
                    panel.calendar.format(end - 1)
                ),
            });
        }
        let start = panel.series.iter().map(|s| s.start).min().unwrap_or(0);
        let len = (end - start) as usize;
        let bottom: Vec<Vec<f64>> = panel
            .series
            .iter()
            .map(|s| {
                let mut v = vec![0.0; len];
                v[(s.start - start) as usize..].copy_from_slice(&s.values);
                v
            })
            .collect();
        let out = self
            .nodes
            .iter()
            .map(|n| {
                let mut v = vec![0.0; len];
                for &b in &n.bottoms {
                    for (x, y) in v.iter_mut().zip(&bottom[b as usize]) {
                        *x += y;
                    }
                }
                v
            })
            .collect();
        Ok((start, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(ids: &[&str]) -> Panel {
        let mut csv = String::from("unique_id,ds,y\n");
        for (i, id) in ids.iter().enumerate() {
            for t in 1..=3 {
                csv.push_str(&format!("{id},{t},{}\n", (i + 1) * t));
            }
        }
        Panel::from_csv(&csv).unwrap()
    }

    #[test]
    fn a_chain_from_split_ids() {
        let p = panel(&["A/AA/AAA", "A/AA/AAB", "A/AB/ABA", "B/BA/BAA"]);
        let h = Hierarchy::build(&"state/region/city".parse().unwrap(), &p).unwrap();
        let ids: Vec<&str> = h.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "Total", "A", "B", "A/AA", "A/AB", "B/BA", "A/AA/AAA", "A/AA/AAB", "A/AB/ABA",
                "B/BA/BAA"
            ]
        );
        assert_eq!(h.nodes[3].level, "state/region");
        let (start, hist) = h.aggregate(&p).unwrap();
        assert_eq!(start, 1);
        assert_eq!(hist[0], vec![10.0, 20.0, 30.0]);
        assert_eq!(hist[1], vec![6.0, 12.0, 18.0]);
        assert_eq!(h.sum_up(&[1.0, 2.0, 3.0, 4.0])[..3], [10.0, 6.0, 4.0]);
    }

    #[test]
    fn a_grouped_hierarchy_crosses_chains() {
        let csv = "unique_id,ds,y,product,location\n\
                   s1,1,1,pasta,north\ns2,1,2,pasta,south\ns3,1,4,sauce,north\n";
        let p = Panel::from_csv(csv).unwrap();
        let h = Hierarchy::build(&"product*location".parse().unwrap(), &p).unwrap();
        let levels: Vec<(&str, &str)> = h
            .nodes
            .iter()
            .map(|n| (n.id.as_str(), n.level.as_str()))
            .collect();
        assert_eq!(
            levels,
            [
                ("Total", "total"),
                ("pasta", "product"),
                ("sauce", "product"),
                ("north", "location"),
                ("south", "location"),
                ("s1", "product*location"),
                ("s2", "product*location"),
                ("s3", "product*location"),
            ]
        );
        let (_, hist) = h.aggregate(&p).unwrap();
        assert_eq!(hist[3], vec![5.0]);
    }

    #[test]
    fn errors_name_the_series() {
        let p = panel(&["A/AA", "A/AB/ABA"]);
        let e = Hierarchy::build(&"state/region/city".parse().unwrap(), &p).unwrap_err();
        assert_eq!(e.series.as_deref(), Some("A/AA"));
        assert!(e.to_string().contains("unique_id of 3 parts"), "{e}");
        assert!("state//city".parse::<Spec>().is_err());
        assert!("a/b*a".parse::<Spec>().unwrap_err().contains("twice"));
        let mut short = panel(&["A/AA/AAA", "A/AA/AAB"]);
        short.series[1].values.pop();
        let e = Hierarchy::build(&"state/region/city".parse().unwrap(), &short)
            .unwrap()
            .aggregate(&short)
            .unwrap_err();
        assert!(e.to_string().contains("common last date"), "{e}");
    }
}
