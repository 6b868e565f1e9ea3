//! FSMA 204 (21 CFR 1 subpart S): critical tracking events (CTEs) and their key data elements
//! (KDEs), and the electronic sortable spreadsheet FDA asks for within 24 hours.
//!
//! The CTE of an event is its extension `fsma:cte` when present (harvesting, cooling,
//! initial_packing, first_land_based_receiving, shipping, receiving, transformation); otherwise
//! it follows from the event: a TransformationEvent is a transformation, bizStep `shipping` is
//! shipping and `receiving` is receiving. Other events are not CTEs.

use serde::Serialize;

use crate::epcis::{Event, EventType};
use crate::graph::{Amount, Graph};
use crate::ids::{self, IdKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cte {
    Harvesting,
    Cooling,
    InitialPacking,
    FirstLandBasedReceiving,
    Shipping,
    Receiving,
    Transformation,
}

impl Cte {
    pub const ALL: [Cte; 7] = [
        Cte::Harvesting,
        Cte::Cooling,
        Cte::InitialPacking,
        Cte::FirstLandBasedReceiving,
        Cte::Shipping,
        Cte::Receiving,
        Cte::Transformation,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Cte::Harvesting => "harvesting",
            Cte::Cooling => "cooling",
            Cte::InitialPacking => "initial_packing",
            Cte::FirstLandBasedReceiving => "first_land_based_receiving",
            Cte::Shipping => "shipping",
            Cte::Receiving => "receiving",
            Cte::Transformation => "transformation",
        }
    }

    pub fn parse(s: &str) -> Option<Cte> {
        Cte::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// The CTE of an event, if it is one. `Err` when `fsma:cte` names no CTE.
pub fn classify(e: &Event) -> Result<Option<Cte>, String> {
    if let Some(v) = e.extensions.get("fsma:cte") {
        let s = v.as_str().unwrap_or_default();
        return Cte::parse(s).map(Some).ok_or_else(|| {
            format!(
                "fsma:cte {v} is not a critical tracking event ({})",
                Cte::ALL.map(Cte::name).join(", ")
            )
        });
    }
    Ok(match (e.kind, e.biz_step.as_deref()) {
        (EventType::TransformationEvent, _) => Some(Cte::Transformation),
        (_, Some("shipping")) => Some(Cte::Shipping),
        (_, Some("receiving")) => Some(Cte::Receiving),
        _ => None,
    })
}

/// One row of the sortable spreadsheet: one traceability lot in one CTE.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub traceability_lot_code: String,
    pub product: String,
    pub product_description: String,
    pub quantity: Option<f64>,
    pub unit_of_measure: String,
    pub cte: Cte,
    /// For a transformation: input or output lot.
    pub role: &'static str,
    pub event_time_ns: i64,
    pub event_time_zone_offset: String,
    pub location: String,
    pub tlc_source: String,
    pub ship_from: String,
    pub ship_to: String,
    pub reference_document_type: String,
    pub reference_document_number: String,
    pub event_id: String,
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// One traceability lot code (the lot identifier as captured, or its lot number).
    pub tlc: Option<String>,
    /// One product (GTIN or company.item reference).
    pub product: Option<String>,
    pub from_ns: Option<i64>,
    pub to_ns: Option<i64>,
}

fn text(e: &Event, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| e.text(k))
        .unwrap_or_default()
        .to_owned()
}

fn refs(list: &[crate::epcis::TypedRef]) -> String {
    list.iter()
        .map(|r| r.id.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The rows of every CTE matching the filter, sorted by event time, then lot code, then role.
pub fn rows(g: &Graph, f: &Filter) -> Vec<Row> {
    let mut out = Vec::new();
    // Only events that can be CTEs in the window are rebuilt.
    let candidates = g.events_where(|m| {
        !(f.from_ns.is_some_and(|t| m.time_ns < t) || f.to_ns.is_some_and(|t| m.time_ns >= t))
            && (m.cte_ext
                || m.kind == EventType::TransformationEvent
                || matches!(m.biz_step, Some("shipping" | "receiving")))
    });
    for e in candidates {
        let e = &e;
        let Ok(Some(cte)) = classify(e) else { continue };
        // (role, lot, amount when the event itself does not state it)
        let mut lots: Vec<(&'static str, String, Option<Amount>)> = Vec::new();
        if cte == Cte::Transformation {
            lots.extend(e.output_epcs.iter().map(|x| ("output", x.clone(), None)));
            lots.extend(
                e.output_quantities
                    .iter()
                    .map(|q| ("output", q.epc_class.clone(), None)),
            );
            lots.extend(e.input_epcs.iter().map(|x| ("input", x.clone(), None)));
            lots.extend(
                e.input_quantities
                    .iter()
                    .map(|q| ("input", q.epc_class.clone(), None)),
            );
        } else {
            for x in &e.epcs {
                // A shipped or received pallet stands for the lots packed on it.
                if ids::parse(x).kind == IdKind::Container {
                    lots.extend(
                        g.contents_at(x, e.time_ns)
                            .into_iter()
                            .map(|(c, a)| ("in_container", c, a)),
                    );
                } else {
                    lots.push(("", x.clone(), None));
                }
            }
            lots.extend(e.quantities.iter().map(|q| ("", q.epc_class.clone(), None)));
        }
        for (role, id, packed) in lots {
            let id = id.as_str();
            let p = ids::parse(id);
            if p.kind != IdKind::Lot {
                continue;
            }
            if let Some(t) = &f.tlc
                && t != id
                && p.lot.as_deref() != Some(t.as_str())
            {
                continue;
            }
            if let Some(want) = &f.product
                && p.product.as_deref() != Some(want.as_str())
            {
                continue;
            }
            let (quantity, uom) = match (e.quantity_of(id), packed) {
                (Some((q, u)), _) => (Some(q), u.unwrap_or_default().to_owned()),
                (None, Some(a)) => (Some(a.quantity), a.uom.unwrap_or_default()),
                (None, None) => (None, String::new()),
            };
            let doc = e.biz_transactions.first();
            out.push(Row {
                traceability_lot_code: id.to_owned(),
                product: p.product.clone().unwrap_or_default(),
                product_description: text(
                    e,
                    &["fsma:productDescription", "cbvmda:descriptionShort"],
                ),
                quantity,
                unit_of_measure: uom,
                cte,
                role,
                event_time_ns: e.time_ns,
                event_time_zone_offset: e.time_zone_offset.clone(),
                location: e
                    .biz_location
                    .clone()
                    .or_else(|| e.read_point.clone())
                    .unwrap_or_default(),
                tlc_source: {
                    let s = text(e, &["fsma:tlcSource"]);
                    if s.is_empty()
                        && matches!(
                            cte,
                            Cte::InitialPacking
                                | Cte::Transformation
                                | Cte::FirstLandBasedReceiving
                        )
                        && role != "input"
                    {
                        e.biz_location.clone().unwrap_or_default()
                    } else {
                        s
                    }
                },
                ship_from: refs(&e.sources),
                ship_to: refs(&e.destinations),
                reference_document_type: doc.map(|d| d.kind.clone()).unwrap_or_default(),
                reference_document_number: doc.map(|d| d.id.clone()).unwrap_or_default(),
                event_id: e.event_id.clone().unwrap_or_else(|| e.hash.clone()),
            });
        }
    }
    out.sort_by(|a, b| {
        (
            a.event_time_ns,
            &a.traceability_lot_code,
            a.role,
            &a.event_id,
        )
            .cmp(&(
                b.event_time_ns,
                &b.traceability_lot_code,
                b.role,
                &b.event_id,
            ))
    });
    out
}

pub const COLUMNS: [&str; 16] = [
    "Traceability Lot Code",
    "Product (GTIN)",
    "Product Description",
    "Quantity",
    "Unit of Measure",
    "Critical Tracking Event",
    "Role",
    "Event Date and Time (UTC)",
    "Event Time Zone Offset",
    "Location",
    "Traceability Lot Code Source",
    "Ship From / Source",
    "Ship To / Destination",
    "Reference Document Type",
    "Reference Document Number",
    "Event ID",
];

impl Row {
    /// The cells in [`COLUMNS`] order.
    pub fn cells(&self) -> [String; 16] {
        [
            self.traceability_lot_code.clone(),
            self.product.clone(),
            self.product_description.clone(),
            self.quantity.map(|q| format!("{q}")).unwrap_or_default(),
            self.unit_of_measure.clone(),
            self.cte.name().to_owned(),
            self.role.to_owned(),
            foodflow_protocol::time::format_rfc3339(self.event_time_ns),
            self.event_time_zone_offset.clone(),
            self.location.clone(),
            self.tlc_source.clone(),
            self.ship_from.clone(),
            self.ship_to.clone(),
            self.reference_document_type.clone(),
            self.reference_document_number.clone(),
            self.event_id.clone(),
        ]
    }
}

/// A CSV cell: quoted when needed; a leading `= + - @`, tab or carriage return (a formula, or
/// what a spreadsheet strips to find one) is defused with a leading apostrophe, since these
/// files are opened in spreadsheets.
pub fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) && s.parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Writes the spreadsheet as CSV (header row, then one row per lot and CTE).
pub fn write_csv(rows: &[Row], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(out, "{}", COLUMNS.map(csv_cell).join(","))?;
    for r in rows {
        writeln!(out, "{}", r.cells().map(|c| csv_cell(&c)).join(","))?;
    }
    Ok(())
}

/// The most characters a spreadsheet cell holds (Excel's limit).
pub const XLSX_CELL_CHARS: usize = 32_767;

/// A captured value as an XLSX cell: characters XML cannot carry become U+FFFD, and a value
/// longer than a cell holds is cut with a visible mark, so no captured value can make the
/// export fail.
pub fn xlsx_cell(s: &str) -> String {
    const MARK: &str = "…[cut]";
    let clean = |c: char| {
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
            '\u{fffd}'
        } else {
            c
        }
    };
    if s.chars().count() <= XLSX_CELL_CHARS {
        return s.chars().map(clean).collect();
    }
    let keep = XLSX_CELL_CHARS - MARK.chars().count();
    s.chars()
        .take(keep)
        .map(clean)
        .chain(MARK.chars())
        .collect()
}

/// Rows a worksheet holds besides its header (Excel's limit is 1,048,576 rows).
pub const XLSX_ROWS_PER_SHEET: usize = 1_048_575;

/// Writes the spreadsheet as XLSX: a bold, frozen header row with filters on every column (the
/// "sortable" part), quantities as numbers; more rows than one sheet holds continue on the
/// next sheet.
pub fn write_xlsx(rows: &[Row]) -> Result<Vec<u8>, String> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let chunks: Vec<&[Row]> = if rows.is_empty() {
        vec![&[]]
    } else {
        rows.chunks(XLSX_ROWS_PER_SHEET).collect()
    };
    let e = |e: rust_xlsxwriter::XlsxError| e.to_string();
    for (i, chunk) in chunks.iter().enumerate() {
        let ws = wb.add_worksheet();
        ws.set_name(if i == 0 {
            "FSMA 204".to_owned()
        } else {
            format!("FSMA 204 ({})", i + 1)
        })
        .map_err(e)?;
        for (c, h) in COLUMNS.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, *h, &bold)
                .map_err(e)?;
            ws.set_column_width(c as u16, if c == 0 || c >= 9 { 40 } else { 18 })
                .map_err(e)?;
        }
        for (r, row) in chunk.iter().enumerate() {
            let r = r as u32 + 1;
            for (c, cell) in row.cells().into_iter().enumerate() {
                let c = c as u16;
                match (c, row.quantity) {
                    (3, Some(q)) => {
                        ws.write_number(r, c, q).map_err(e)?;
                    }
                    _ if !cell.is_empty() => {
                        ws.write_string(r, c, xlsx_cell(&cell)).map_err(e)?;
                    }
                    _ => {}
                }
            }
        }
        ws.set_freeze_panes(1, 0).map_err(e)?;
        ws.autofilter(0, 0, chunk.len() as u32, (COLUMNS.len() - 1) as u16)
            .map_err(e)?;
    }
    wb.save_to_buffer().map_err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_row() -> Row {
        Row {
            traceability_lot_code: "urn:epc:class:lgtin:0614141.000300.B1".into(),
            product: "0614141000300".into(),
            product_description: "Egg pasta".into(),
            quantity: Some(5.0),
            unit_of_measure: "KGM".into(),
            cte: Cte::Shipping,
            role: "",
            event_time_ns: 0,
            event_time_zone_offset: "+00:00".into(),
            location: String::new(),
            tlc_source: String::new(),
            ship_from: String::new(),
            ship_to: String::new(),
            reference_document_type: String::new(),
            reference_document_number: String::new(),
            event_id: String::new(),
        }
    }

    #[test]
    fn hostile_values_are_defused_in_csv_and_cannot_break_xlsx() {
        for f in [
            "=HYPERLINK(\"x\")",
            "+cmd",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
        ] {
            assert!(
                csv_cell(f).trim_start_matches('"').starts_with('\''),
                "{f:?}"
            );
        }
        assert_eq!(csv_cell("-5"), "-5");
        let long = "x".repeat(40_000);
        let cell = xlsx_cell(&long);
        assert_eq!(cell.chars().count(), XLSX_CELL_CHARS);
        assert!(cell.ends_with("[cut]"));
        assert_eq!(xlsx_cell("a\u{1}b\u{8}\tc"), "a\u{fffd}b\u{fffd}\tc");
        let mut row = sample_row();
        row.product_description = format!("{}\u{0}{}", "=1+1", "y".repeat(50_000));
        assert!(write_xlsx(&[row]).is_ok());
    }
}
