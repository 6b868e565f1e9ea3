//! What to drop when the telemetry quota is full — pure policy, no I/O.
//!
//! First the resolution of the oldest half of each telemetry stream is halved (every second
//! record dropped), because a trend with half the points is worth more than no trend; only
//! when that is not enough are the oldest records dropped. Every drop is reported so that the
//! gateway writes a `Gap` record for it. Critical and operational records are never planned
//! for dropping: for them the gateway applies back-pressure instead.

/// One queued telemetry record: its seq and its size in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    pub seq: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Downsampled,
    DroppedOldest,
}

/// Drop these seqs of stream `stream` (an index into the input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drop {
    pub stream: usize,
    pub seqs: Vec<u64>,
    pub bytes: u64,
    pub why: Why,
}

/// Plans drops that free at least `excess` bytes from `streams` (each in seq order).
pub fn plan(streams: &[Vec<Item>], excess: u64) -> Vec<Drop> {
    let mut freed = 0u64;
    let mut out = Vec::new();
    let mut gone: Vec<std::collections::HashSet<u64>> = vec![Default::default(); streams.len()];
    // Pass 1: halve the resolution of the oldest half of every stream, largest stream first.
    let mut order: Vec<usize> = (0..streams.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(streams[i].iter().map(|x| x.bytes).sum::<u64>()));
    for &i in &order {
        if freed >= excess {
            break;
        }
        let s = &streams[i];
        let half = s.len() / 2;
        let mut d = Drop {
            stream: i,
            seqs: Vec::new(),
            bytes: 0,
            why: Why::Downsampled,
        };
        for item in s[..half].iter().skip(1).step_by(2) {
            if freed >= excess {
                break;
            }
            d.seqs.push(item.seq);
            d.bytes += item.bytes;
            freed += item.bytes;
            gone[i].insert(item.seq);
        }
        if !d.seqs.is_empty() {
            out.push(d);
        }
    }
    // Pass 2: drop the oldest remaining records, largest stream first.
    for &i in &order {
        if freed >= excess {
            break;
        }
        let mut d = Drop {
            stream: i,
            seqs: Vec::new(),
            bytes: 0,
            why: Why::DroppedOldest,
        };
        // Keep each stream's newest record: it is the freshest value a screen can show.
        let s = &streams[i];
        for item in s[..s.len().saturating_sub(1)].iter() {
            if freed >= excess {
                break;
            }
            if gone[i].contains(&item.seq) {
                continue;
            }
            d.seqs.push(item.seq);
            d.bytes += item.bytes;
            freed += item.bytes;
        }
        if !d.seqs.is_empty() {
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(from: u64, n: u64) -> Vec<Item> {
        (from..from + n)
            .map(|seq| Item { seq, bytes: 10 })
            .collect()
    }

    #[test]
    fn downsamples_oldest_half_first() {
        let s = vec![stream(1, 100)];
        let p = plan(&s, 100);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].why, Why::Downsampled);
        assert_eq!(p[0].seqs, vec![2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
        assert_eq!(p[0].bytes, 100);
    }

    #[test]
    fn then_drops_oldest_and_keeps_the_newest() {
        let s = vec![stream(1, 10)];
        let p = plan(&s, 1000);
        assert_eq!(p[0].why, Why::Downsampled);
        assert_eq!(p[0].seqs, vec![2, 4]);
        assert_eq!(p[1].why, Why::DroppedOldest);
        assert_eq!(p[1].seqs, vec![1, 3, 5, 6, 7, 8, 9]);
        let all: usize = p.iter().map(|d| d.seqs.len()).sum();
        assert_eq!(all, 9, "the newest record stays");
    }

    #[test]
    fn largest_stream_pays_first_and_nothing_when_no_excess() {
        let s = vec![stream(1, 10), stream(1, 100)];
        let p = plan(&s, 50);
        assert!(p.iter().all(|d| d.stream == 1));
        assert!(plan(&s, 0).is_empty());
    }
}
