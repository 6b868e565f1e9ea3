//! The smoke run of a fuzz target inside `make test`: its body over every file of the seed
//! corpus and a fixed number of deterministic mutations of each (byte changes, cuts,
//! insertions). Not a replacement for coverage-guided fuzzing (`make fuzz`), but it catches a
//! parser that panics on the inputs the corpus is near.

use std::path::Path;

/// Calls `body` on every seed in `corpus` and `mutations` mutants of each; panics (as the
/// body would) with the input that failed. Returns how many inputs ran.
pub fn smoke(corpus: &Path, mutations: usize, body: impl Fn(&[u8])) -> usize {
    let mut files: Vec<_> = std::fs::read_dir(corpus)
        .unwrap_or_else(|e| panic!("seed corpus {}: {e}", corpus.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "seed corpus {} is empty",
        corpus.display()
    );
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut ran = 0;
    for f in files {
        let seed = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        run(&f, &seed, &body);
        ran += 1;
        for _ in 0..mutations {
            let mut m = seed.clone();
            if m.is_empty() {
                break;
            }
            for _ in 0..1 + next() % 4 {
                let i = (next() as usize) % m.len().max(1);
                match next() % 4 {
                    0 if !m.is_empty() => m[i] = next() as u8,
                    1 => m.truncate(i.max(1)),
                    2 => m.insert(i, next() as u8),
                    // A digit run made huge: announced sizes are the classic crash.
                    _ => {
                        let at = i.min(m.len());
                        m.splice(at..at, b"99999999999999999999".iter().copied());
                    }
                }
            }
            run(&f, &m, &body);
            ran += 1;
        }
    }
    ran
}

fn run(seed: &Path, input: &[u8], body: &impl Fn(&[u8])) {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(input)));
    if let Err(p) = r {
        let why = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!(
            "fuzz body panicked on a mutant of {} ({} bytes: {:?}): {why}",
            seed.display(),
            input.len(),
            String::from_utf8_lossy(&input[..input.len().min(300)])
        );
    }
}
