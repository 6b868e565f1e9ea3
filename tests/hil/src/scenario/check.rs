//! The end-to-end checker — pure: given what the source had acknowledged and what the hub
//! holds, count what was delivered, lost, duplicated, reordered and knowingly dropped.
//!
//! A message missing at the hub is a *gap*, not a loss, only when the hub's stream has a hole
//! in its seq numbers exactly where the message would be and a `Gap` record covers that hole;
//! anything else missing is lost.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// A record of one hub stream: its seq and the source's message id, if it has one.
#[derive(Debug, Clone)]
pub struct Seen {
    pub seq: u64,
    pub id: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Tally {
    pub acked: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub gaps: u64,
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        self.acked += o.acked;
        self.delivered += o.delivered;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.gaps += o.gaps;
    }
}

/// `acked`: message ids acknowledged at the source (ascending publish order = id order).
/// `records`: the hub's stream in seq order. `gap_ranges`: seq ranges covered by Gap records.
pub fn check(acked: &[u64], records: &[Seen], gap_ranges: &[(u64, u64)]) -> Tally {
    let mut t = Tally {
        acked: acked.len() as u64,
        ..Default::default()
    };
    let mut first_seq: HashMap<u64, u64> = HashMap::new();
    let mut last_id: Option<u64> = None;
    for r in records {
        let Some(id) = r.id else { continue };
        if first_seq.contains_key(&id) {
            t.duplicated += 1;
            continue;
        }
        first_seq.insert(id, r.seq);
        if last_id.is_some_and(|l| id < l) {
            t.reordered += 1;
        }
        last_id = Some(last_id.map_or(id, |l| l.max(id)));
    }
    // Seq of each delivered id, to find where a missing one would have been.
    let by_id: BTreeMap<u64, u64> = first_seq.iter().map(|(i, s)| (*i, *s)).collect();
    let present: std::collections::HashSet<u64> = records.iter().map(|r| r.seq).collect();
    let covered = |s: u64| gap_ranges.iter().any(|(a, b)| (*a..=*b).contains(&s));
    for &id in acked {
        if by_id.contains_key(&id) {
            t.delivered += 1;
            continue;
        }
        let before = by_id.range(..id).next_back().map(|(_, s)| *s).unwrap_or(0);
        let after = by_id.range(id..).next().map(|(_, s)| *s);
        let hole = match after {
            Some(a) => (before + 1..a).find(|s| !present.contains(s) && covered(*s)),
            None => {
                (before + 1..before + 1 + 1_000_000).find(|s| covered(*s) && !present.contains(s))
            }
        };
        if hole.is_some() {
            t.gaps += 1;
        } else {
            t.lost += 1;
        }
    }
    t
}

/// Parses the subject of a gateway Gap record: `seq <device> <stream> <first>-<last>`.
pub fn gateway_gap(subject: &str) -> Option<(String, String, u64, u64)> {
    let mut it = subject.split(' ');
    if it.next()? != "seq" {
        return None;
    }
    let device = it.next()?.to_owned();
    let stream = it.next()?.to_owned();
    let (a, b) = it.next()?.split_once('-')?;
    Some((device, stream, a.parse().ok()?, b.parse().ok()?))
}

/// Parses the subject of an edge retention Gap record: `<stream> seq <first>..=<last>`.
pub fn edge_gap(subject: &str) -> Option<(String, u64, u64)> {
    let (stream, rest) = subject.split_once(" seq ")?;
    let (a, b) = rest.split_once("..=")?;
    Some((stream.to_owned(), a.parse().ok()?, b.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(pairs: &[(u64, u64)]) -> Vec<Seen> {
        pairs
            .iter()
            .map(|&(seq, id)| Seen { seq, id: Some(id) })
            .collect()
    }

    #[test]
    fn clean_delivery() {
        let t = check(&[1, 2, 3], &seen(&[(1, 1), (2, 2), (3, 3)]), &[]);
        assert_eq!(
            t,
            Tally {
                acked: 3,
                delivered: 3,
                ..Default::default()
            }
        );
    }

    #[test]
    fn loss_duplicate_and_reorder_are_counted() {
        let t = check(&[1, 2, 3, 4], &seen(&[(1, 1), (2, 3), (3, 3), (4, 2)]), &[]);
        assert_eq!(t.duplicated, 1);
        assert_eq!(t.reordered, 1);
        assert_eq!(t.lost, 1, "id 4 never arrived and no gap covers it");
    }

    #[test]
    fn a_hole_covered_by_a_gap_is_a_gap_not_a_loss() {
        // ids 2 and 3 were dropped at seq 2..3 and reported.
        let t = check(&[1, 2, 3, 4], &seen(&[(1, 1), (4, 4)]), &[(2, 3)]);
        assert_eq!((t.delivered, t.gaps, t.lost), (2, 2, 0));
        // The same hole without a gap record is a loss.
        let t = check(&[1, 2, 3, 4], &seen(&[(1, 1), (4, 4)]), &[]);
        assert_eq!(t.lost, 2);
        // A gap record elsewhere does not excuse it.
        let t = check(&[1, 2, 3, 4], &seen(&[(1, 1), (4, 4)]), &[(9, 12)]);
        assert_eq!(t.lost, 2);
    }

    #[test]
    fn no_hole_means_never_journaled_means_lost() {
        let t = check(&[1, 2, 3], &seen(&[(1, 1), (2, 3)]), &[(1, 100)]);
        assert_eq!(t.lost, 1);
    }

    #[test]
    fn subjects_parse() {
        assert_eq!(
            gateway_gap("seq line-1 mqtt/line1 10-40"),
            Some(("line-1".into(), "mqtt/line1".into(), 10, 40))
        );
        assert_eq!(
            edge_gap("mqtt/line1 seq 5..=9"),
            Some(("mqtt/line1".into(), 5, 9))
        );
        assert_eq!(gateway_gap("connection lost"), None);
    }
}
