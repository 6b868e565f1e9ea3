//! The tamper-evident audit trail, pure part: entries hash-chained per tenant (each entry's
//! hash covers its content and the previous hash), and a Merkle tree over the entry hashes
//! (RFC 6962 shape: leaf = H(0x00‖x), node = H(0x01‖l‖r)) so a single entry's inclusion can be
//! proven against a published root without handing over the whole log.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What an audited write says, before it is chained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    /// Who: the authenticated identity (certificate URI, user, API key id).
    pub actor: String,
    /// What: e.g. `epcis.capture`, `user.create`, `batch.approve`.
    pub action: String,
    /// Which record: e.g. the event hash or the user name.
    pub object: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    /// From where: the peer address.
    pub from: String,
    /// A 21 CFR Part 11 electronic signature, when the write is an approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
}

/// An electronic signature: who signed, what it means, when, and that they re-authenticated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub signer: String,
    pub meaning: String,
    pub signed_at_ns: i64,
    pub reauthenticated: bool,
}

/// A chained entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub ts_ns: i64,
    #[serde(flatten)]
    pub draft: Draft,
    /// Hex hash of the previous entry (64 zeros for the first).
    pub prev: String,
    /// Hex hash of this entry.
    pub hash: String,
}

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn hex(d: &[u8]) -> String {
    let mut s = String::with_capacity(d.len() * 2);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The hash of an entry: SHA-256 over seq, time, previous hash and the draft's canonical JSON.
pub fn entry_hash(seq: u64, ts_ns: i64, prev: &str, draft: &Draft) -> String {
    let mut h = Sha256::new();
    h.update(b"foodflow-audit-v1\0");
    h.update(seq.to_be_bytes());
    h.update(ts_ns.to_be_bytes());
    h.update(prev.as_bytes());
    // serde_json objects serialise with sorted keys here (no preserve_order): canonical.
    let canon = serde_json::to_value(draft)
        .map(|v| v.to_string())
        .unwrap_or_default();
    h.update(canon.as_bytes());
    hex(&h.finalize())
}

/// Chains a draft after `prev` (seq and hash of the last entry, if any).
pub fn chain(prev: Option<(u64, &str)>, ts_ns: i64, draft: Draft) -> Entry {
    let (seq, prev) = match prev {
        Some((s, h)) => (s + 1, h.to_owned()),
        None => (1, GENESIS.to_owned()),
    };
    let hash = entry_hash(seq, ts_ns, &prev, &draft);
    Entry {
        seq,
        ts_ns,
        draft,
        prev,
        hash,
    }
}

/// Where verification found the log broken.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Broken {
    pub seq: u64,
    pub reason: String,
}

/// Checks the chain: seqs from 1 without gaps, every `prev` the previous hash, every hash
/// recomputed from the content. Returns the first bad entry.
pub fn verify(entries: &[Entry]) -> Result<(), Broken> {
    let mut prev = GENESIS.to_owned();
    for (i, e) in entries.iter().enumerate() {
        let want_seq = i as u64 + 1;
        if e.seq != want_seq {
            return Err(Broken {
                seq: e.seq,
                reason: format!("expected seq {want_seq}: entries are missing or reordered"),
            });
        }
        if e.prev != prev {
            return Err(Broken {
                seq: e.seq,
                reason: "its link to the previous entry does not match that entry's hash".into(),
            });
        }
        let h = entry_hash(e.seq, e.ts_ns, &e.prev, &e.draft);
        if h != e.hash {
            return Err(Broken {
                seq: e.seq,
                reason: "its content does not match its hash (the entry was altered)".into(),
            });
        }
        prev = e.hash.clone();
    }
    Ok(())
}

fn leaf(h: &[u8; 32]) -> [u8; 32] {
    let mut d = Sha256::new();
    d.update([0u8]);
    d.update(h);
    d.finalize().into()
}

fn node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut d = Sha256::new();
    d.update([1u8]);
    d.update(l);
    d.update(r);
    d.finalize().into()
}

/// Largest power of two below n (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn root_of(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaf(&leaves[0]),
        n => {
            let k = split(n);
            node(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

fn leaves(hashes: &[String]) -> Option<Vec<[u8; 32]>> {
    hashes.iter().map(|h| unhex(h)).collect()
}

/// The Merkle root (hex) over entry hashes in seq order; `None` if a hash is not hex.
pub fn merkle_root(hashes: &[String]) -> Option<String> {
    Some(hex(&root_of(&leaves(hashes)?)))
}

/// The audit path proving entry `index` (0-based) is in the tree of `hashes`.
pub fn inclusion_proof(hashes: &[String], index: usize) -> Option<Vec<String>> {
    fn path(l: &[[u8; 32]], i: usize, out: &mut Vec<[u8; 32]>) {
        if l.len() <= 1 {
            return;
        }
        let k = split(l.len());
        if i < k {
            path(&l[..k], i, out);
            out.push(root_of(&l[k..]));
        } else {
            path(&l[k..], i - k, out);
            out.push(root_of(&l[..k]));
        }
    }
    let l = leaves(hashes)?;
    if index >= l.len() {
        return None;
    }
    let mut out = Vec::new();
    path(&l, index, &mut out);
    Some(out.iter().map(|h| hex(h)).collect())
}

/// Checks an inclusion proof (RFC 6962 §2.1.1 verification) of `entry_hash` at `index` in a
/// tree of `size` entries against `root`.
pub fn verify_inclusion(
    entry_hash: &str,
    index: usize,
    size: usize,
    proof: &[String],
    root: &str,
) -> bool {
    let (Some(h), Some(root)) = (unhex(entry_hash), unhex(root)) else {
        return false;
    };
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = leaf(&h);
    for p in proof {
        let Some(p) = unhex(p) else { return false };
        if snode == 0 {
            return false;
        }
        if fnode % 2 == 1 || fnode == snode {
            r = node(&p, &r);
            while fnode % 2 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node(&r, &p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(i: u32) -> Draft {
        Draft {
            actor: "urn:foodflow:gateway:tenant=acme;id=gw".into(),
            action: "epcis.capture".into(),
            object: format!("event-{i}"),
            before: None,
            after: Some(serde_json::json!({"quantity": i})),
            from: "127.0.0.1:4000".into(),
            signature: None,
        }
    }

    fn log(n: u32) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for i in 0..n {
            let prev = out.last().map(|e| (e.seq, e.hash.as_str()));
            let e = chain(prev, 1_000 + i as i64, draft(i));
            out.push(e);
        }
        out
    }

    #[test]
    fn chain_verifies_and_names_the_first_bad_entry() {
        let mut l = log(10);
        verify(&l).unwrap();
        l[4].draft.after = Some(serde_json::json!({"quantity": 999}));
        let b = verify(&l).unwrap_err();
        assert_eq!(b.seq, 5);
        assert!(b.reason.contains("altered"));
        // Re-hashing the altered entry breaks the next link instead.
        l[4].hash = entry_hash(5, l[4].ts_ns, &l[4].prev, &l[4].draft);
        assert_eq!(verify(&l).unwrap_err().seq, 6);
        let mut gap = log(5);
        gap.remove(2);
        assert!(verify(&gap).unwrap_err().reason.contains("missing"));
    }

    #[test]
    fn every_inclusion_proof_verifies_and_a_wrong_one_does_not() {
        for n in 1..=33usize {
            let hashes: Vec<String> = log(n as u32).into_iter().map(|e| e.hash).collect();
            let root = merkle_root(&hashes).unwrap();
            for i in 0..n {
                let p = inclusion_proof(&hashes, i).unwrap();
                assert!(verify_inclusion(&hashes[i], i, n, &p, &root), "n={n} i={i}");
                let other = (i + 1) % n;
                if other != i {
                    assert!(
                        !verify_inclusion(&hashes[other], i, n, &p, &root),
                        "n={n} i={i}"
                    );
                }
            }
            assert!(inclusion_proof(&hashes, n).is_none());
        }
    }
}
