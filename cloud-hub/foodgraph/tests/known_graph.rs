//! Trace, recall, risk, mass balance and FSMA rows on a hand-built plant with known answers
//! (`tests/data/pasta-plant.json`): flour lots F1, F2 from supplier S1 and egg lot E1 from S2;
//! batch B1 = F1 400 kg + E1 100 kg → 480 kg, packed on pallet P1, shipped to C1; batch
//! B2 = F2 300 kg + E1 50 kg → 340 kg, 200 kg shipped to C2; batch B3 = F2 100 kg → 200 kg
//! (an input is missing), packed on the reused pallet P1 and shipped to C2.

use std::collections::HashMap;

use foodflow_foodgraph::balance::{self, Tolerance};
use foodflow_foodgraph::fsma::{self, Cte, Filter};
use foodflow_foodgraph::{Direction, Graph, TraceQuery, parse_capture, recall, risk};

const L: &str = "urn:epc:class:lgtin:0614141.";
const S1: &str = "urn:epc:id:pgln:0614141.00001";
const S2: &str = "urn:epc:id:pgln:0614141.00002";
const C1: &str = "urn:epc:id:pgln:0614141.00901";
const C2: &str = "urn:epc:id:pgln:0614141.00902";
const P1: &str = "urn:epc:id:sscc:0614141.1234567890";

fn lot(item: &str, lot: &str) -> String {
    format!("{L}{item}.{lot}")
}

fn plant() -> Graph {
    let events = parse_capture(include_bytes!("data/pasta-plant.json"), 1000).unwrap();
    assert_eq!(events.len(), 11);
    let mut g = Graph::new();
    for e in events {
        assert!(g.insert(e));
    }
    g
}

fn ids(t: &foodflow_foodgraph::Trace) -> Vec<(String, u32)> {
    t.nodes.iter().map(|n| (n.id.clone(), n.depth)).collect()
}

#[test]
fn capture_is_idempotent() {
    let mut g = plant();
    for e in parse_capture(include_bytes!("data/pasta-plant.json"), 1000).unwrap() {
        assert!(!g.insert(e), "the same event twice is one event");
    }
    assert_eq!(g.event_count(), 11);
}

#[test]
fn forward_trace_of_the_egg_lot() {
    let g = plant();
    let e1 = lot("000200", "E1");
    let t = g.trace(&e1, &TraceQuery::default()).unwrap();
    assert_eq!(
        ids(&t),
        vec![
            (e1.clone(), 0),
            (lot("000300", "B1"), 1),
            (lot("000300", "B2"), 1),
            (P1.to_owned(), 2)
        ]
    );
    let b1 = &t.nodes[1];
    assert_eq!(b1.amount.as_ref().map(|a| a.quantity), Some(480.0));
    assert_eq!(b1.from.as_deref(), Some(e1.as_str()));
    // P1 left once with B1 (to C1); its second trip carried B3, not E1's material.
    assert_eq!(t.parties, vec![C1.to_owned(), C2.to_owned()]);
    let objects: Vec<(&str, &[String])> = t
        .movements
        .iter()
        .map(|m| (m.object.as_str(), m.parties.as_slice()))
        .collect();
    assert_eq!(
        objects,
        vec![
            (P1, &[C1.to_owned()][..]),
            (lot("000300", "B2").as_str(), &[C2.to_owned()][..])
        ]
    );
    assert_eq!(
        t.movements[1].amount.as_ref().map(|a| a.quantity),
        Some(200.0)
    );
    assert!(!t.truncated);

    let shallow = g
        .trace(
            &e1,
            &TraceQuery {
                max_depth: 1,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(shallow.nodes.len(), 3);
    assert!(shallow.truncated);
    // A window that ends before the pallet was packed.
    let early = g
        .trace(
            &e1,
            &TraceQuery {
                to_ns: foodflow_protocol::time::parse_rfc3339("2026-11-20T09:30:00+01:00").unwrap(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(early.nodes.len(), 3);
    assert!(early.movements.is_empty());
}

#[test]
fn backward_trace_of_batch_one() {
    let g = plant();
    let b1 = lot("000300", "B1");
    let t = g
        .trace(
            &b1,
            &TraceQuery {
                direction: Direction::Backward,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        ids(&t),
        vec![
            (b1.clone(), 0),
            (lot("000100", "F1"), 1),
            (lot("000200", "E1"), 1)
        ]
    );
    assert_eq!(t.parties, vec![S1.to_owned(), S2.to_owned()]);
    assert_eq!(t.movements.len(), 2);
    assert_eq!(t.nodes[1].amount.as_ref().map(|a| a.quantity), Some(400.0));
    // Backward from the pallet's second trip reaches B3 and F2 only.
    let p = g
        .trace(
            P1,
            &TraceQuery {
                direction: Direction::Backward,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(p.nodes.iter().any(|n| n.id == b1), "P1 once held B1");
    assert!(
        g.trace("urn:epc:id:sscc:0614141.999", &TraceQuery::default())
            .is_err()
    );
}

#[test]
fn recall_of_the_egg_lot() {
    let g = plant();
    let e1 = lot("000200", "E1");
    let r = recall::simulate(&g, &[&e1], &TraceQuery::default()).unwrap();
    let affected: Vec<(&str, bool)> = r
        .affected_lots
        .iter()
        .map(|a| (a.id.as_str(), a.shipped))
        .collect();
    assert_eq!(
        affected,
        vec![
            (e1.as_str(), false),
            (lot("000300", "B1").as_str(), true),
            (lot("000300", "B2").as_str(), true)
        ]
    );
    assert_eq!(r.in_plant, vec![e1.clone()]);
    assert_eq!(r.customers, vec![C1.to_owned(), C2.to_owned()]);
    assert_eq!(
        r.products,
        vec!["0614141.000200".to_owned(), "0614141.000300".to_owned()]
    );
    assert_eq!(r.shipped_totals.len(), 1);
    assert_eq!(r.shipped_totals[0].quantity, 200.0);
    assert_eq!(
        r.affected_lots[0].amount.as_ref().map(|a| a.quantity),
        Some(200.0)
    );
}

#[test]
fn supplier_risk_reaches_batch_one_through_its_inputs() {
    let g = plant();
    let risks = HashMap::from([(S1.to_owned(), 0.5), (S2.to_owned(), 0.2)]);
    let r = risk::propagate(&g, &lot("000300", "B1"), &risks, 10, 5).unwrap();
    assert_eq!(r.path_count, 2);
    // F1 is 400 of 500 kg of inputs: 0.5 × 0.8; E1 is 100 of 500: 0.2 × 0.2.
    assert!((r.paths[0].contribution - 0.4).abs() < 1e-12);
    assert_eq!(r.paths[0].supplier, S1);
    assert_eq!(
        r.paths[0].path,
        vec![lot("000100", "F1"), lot("000300", "B1")]
    );
    assert!((r.paths[1].contribution - 0.04).abs() < 1e-12);
    assert!((r.score - (1.0 - 0.6 * 0.96)).abs() < 1e-12);
    // The pallet carries the risk of what was packed on it.
    let p = risk::propagate(&g, P1, &risks, 10, 5).unwrap();
    assert!(p.score > r.score, "P1 also held B3 (all F2, from S1)");
}

#[test]
fn mass_balance_flags_the_missing_input() {
    let g = plant();
    let all = balance::check(&g, Tolerance::default(), false);
    assert_eq!(all.len(), 3);
    let bad = balance::check(&g, Tolerance::default(), true);
    assert_eq!(bad.len(), 1);
    assert_eq!((bad[0].input, bad[0].output), (100.0, 200.0));
    assert!(bad[0].note.contains("missing"), "{}", bad[0].note);
}

#[test]
fn fsma_rows_for_batch_one() {
    let g = plant();
    let rows = fsma::rows(
        &g,
        &Filter {
            tlc: Some("B1".into()),
            ..Default::default()
        },
    );
    let ctes: Vec<(Cte, &str, Option<f64>)> =
        rows.iter().map(|r| (r.cte, r.role, r.quantity)).collect();
    // Made by a transformation, shipped on the pallet (quantity from the packing event).
    assert_eq!(
        ctes,
        vec![
            (Cte::Transformation, "output", Some(480.0)),
            (Cte::Shipping, "in_container", Some(480.0))
        ]
    );
    assert_eq!(rows[0].product_description, "Egg pasta");
    assert_eq!(rows[0].tlc_source, "urn:epc:id:sgln:0614141.00777.0");
    assert_eq!(
        rows[1].ship_to,
        format!("{C1} urn:epc:id:sgln:0614141.00901.0")
    );
    assert_eq!(rows[1].reference_document_type, "bol");
    // Every CTE row of the plant, sorted by time; the reused pallet's second trip is B3's.
    let all = fsma::rows(&g, &Filter::default());
    assert!(
        all.windows(2)
            .all(|w| w[0].event_time_ns <= w[1].event_time_ns)
    );
    let last = all.last().unwrap();
    assert_eq!(
        (last.cte, last.traceability_lot_code.as_str()),
        (Cte::Shipping, lot("000300", "B3").as_str())
    );
    assert_eq!(all.iter().filter(|r| r.cte == Cte::Receiving).count(), 3);
    let mut csv = Vec::new();
    fsma::write_csv(&all, &mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("Traceability Lot Code,Product (GTIN),"));
    assert_eq!(csv.lines().count(), all.len() + 1);
    // The same rows as XLSX: one sheet, filters over every column, the lot codes as text.
    let xlsx = fsma::write_xlsx(&all).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).unwrap();
    let read = |zip: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str| {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut s).unwrap();
        s
    };
    let sheet = read(&mut zip, "xl/worksheets/sheet1.xml");
    assert!(
        sheet.contains(&format!("<autoFilter ref=\"A1:P{}\"", all.len() + 1)),
        "{sheet}"
    );
    assert!(read(&mut zip, "xl/sharedStrings.xml").contains(&lot("000300", "B3")));
    assert!(read(&mut zip, "xl/workbook.xml").contains("FSMA 204"));
    let by_product = fsma::rows(
        &g,
        &Filter {
            product: Some("0614141.000100".into()),
            ..Default::default()
        },
    );
    assert!(by_product.iter().all(|r| r.product == "0614141.000100") && by_product.len() == 5);
}
