//! Helpers shared by the routing tests: a reproducible budget and the enumeration the
//! exhaustive optima are taken from.

use std::time::Duration;

use foodflow_optimize::routing::{Instance, Settings};

/// An iteration budget and no time limit: the answer depends on the seed only.
pub fn budget(iterations: u64, seed: u64) -> Settings {
    Settings {
        time_limit: Duration::ZERO,
        max_iterations: Some(iterations),
        seed,
        cancel: None,
    }
}

/// Every order of the clients, cut into at most `inst.vehicles` routes.
pub fn each_split(inst: &Instance, f: &mut dyn FnMut(Vec<Vec<usize>>)) {
    fn permute(items: &mut Vec<usize>, k: usize, out: &mut Vec<Vec<usize>>) {
        if k == items.len() {
            out.push(items.clone());
            return;
        }
        for i in k..items.len() {
            items.swap(k, i);
            permute(items, k + 1, out);
            items.swap(k, i);
        }
    }
    let mut perms = Vec::new();
    permute(&mut (1..inst.len()).collect(), 0, &mut perms);
    let n = inst.clients();
    for p in perms {
        // Bit i: a cut after position i.
        for cuts in 0u32..(1 << (n - 1)) {
            if cuts.count_ones() as usize + 1 > inst.vehicles {
                continue;
            }
            let mut routes = vec![Vec::new()];
            for (i, c) in p.iter().enumerate() {
                routes.last_mut().unwrap().push(*c);
                if i + 1 < n && cuts & (1 << i) != 0 {
                    routes.push(Vec::new());
                }
            }
            f(routes);
        }
    }
}
