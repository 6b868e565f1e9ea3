//! GS1 identifiers as EPCIS carries them: EPC URNs (`urn:epc:id:sgtin:…`, `urn:epc:class:lgtin:…`,
//! `urn:epc:id:sscc:…`) and GS1 Digital Link URIs (`https://id.gs1.org/01/…/10/…`). Traceability
//! works on lots, so the useful questions are "which product (GTIN) is this" and "which lot".

use serde::Serialize;

/// What an identifier names, as far as traceability cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// A lot (batch) of a product: LGTIN class, or a Digital Link with AI 10.
    Lot,
    /// One serialised item (SGTIN).
    Item,
    /// A logistic unit: pallet, case (SSCC).
    Container,
    /// A product class without a lot (GTIN only).
    Product,
    Other,
}

/// A parsed identifier: its kind, product (GTIN or company.item reference) and lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParsedId {
    pub kind: IdKind,
    pub product: Option<String>,
    pub lot: Option<String>,
}

/// Parses an EPC URN or a GS1 Digital Link URI. Anything else is `Other` (EPCIS allows any URI).
pub fn parse(id: &str) -> ParsedId {
    let other = ParsedId {
        kind: IdKind::Other,
        product: None,
        lot: None,
    };
    if let Some(rest) = id.strip_prefix("urn:epc:class:lgtin:") {
        // CompanyPrefix.ItemRef.Lot — the lot may itself contain dots? No: GS1 escapes them,
        // so the first two dots delimit the product.
        let mut parts = rest.splitn(3, '.');
        return match (parts.next(), parts.next(), parts.next()) {
            (Some(c), Some(i), Some(lot)) if !lot.is_empty() => ParsedId {
                kind: IdKind::Lot,
                product: Some(rest[..c.len() + 1 + i.len()].to_owned()),
                lot: Some(lot.to_owned()),
            },
            _ => other,
        };
    }
    if let Some(rest) = id.strip_prefix("urn:epc:idpat:sgtin:") {
        let mut parts = rest.splitn(3, '.');
        if let (Some(c), Some(i)) = (parts.next(), parts.next()) {
            return ParsedId {
                kind: IdKind::Product,
                product: Some(rest[..c.len() + 1 + i.len()].to_owned()),
                lot: None,
            };
        }
        return other;
    }
    if let Some(rest) = id.strip_prefix("urn:epc:id:sgtin:") {
        let mut parts = rest.splitn(3, '.');
        return match (parts.next(), parts.next(), parts.next()) {
            (Some(c), Some(i), Some(_serial)) => ParsedId {
                kind: IdKind::Item,
                product: Some(rest[..c.len() + 1 + i.len()].to_owned()),
                lot: None,
            },
            _ => other,
        };
    }
    if id.starts_with("urn:epc:id:sscc:") {
        return ParsedId {
            kind: IdKind::Container,
            product: None,
            lot: None,
        };
    }
    // GS1 Digital Link: any host, then /01/{gtin}[/10/{lot}][/21/{serial}], or /00/{sscc}.
    if let Some(path) = id
        .strip_prefix("https://")
        .or_else(|| id.strip_prefix("http://"))
        .and_then(|r| r.split_once('/').map(|(_, p)| p))
    {
        let path = path.split(['?', '#']).next().unwrap_or("");
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let ai = |k: &str| segs.windows(2).find(|w| w[0] == k).map(|w| w[1].to_owned());
        if let Some(gtin) = ai("01") {
            return match (ai("10"), ai("21")) {
                (Some(lot), _) => ParsedId {
                    kind: IdKind::Lot,
                    product: Some(gtin),
                    lot: Some(lot),
                },
                (None, Some(_)) => ParsedId {
                    kind: IdKind::Item,
                    product: Some(gtin),
                    lot: None,
                },
                (None, None) => ParsedId {
                    kind: IdKind::Product,
                    product: Some(gtin),
                    lot: None,
                },
            };
        }
        if ai("00").is_some() {
            return ParsedId {
                kind: IdKind::Container,
                product: None,
                lot: None,
            };
        }
    }
    other
}

/// Whether a string is an absolute URI (EPCIS identifiers must be).
pub fn is_uri(s: &str) -> bool {
    match s.split_once(':') {
        Some((scheme, rest)) => {
            !rest.is_empty()
                && scheme
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urns_and_digital_links() {
        let l = parse("urn:epc:class:lgtin:4012345.012345.LOT-7");
        assert_eq!(l.kind, IdKind::Lot);
        assert_eq!(l.product.as_deref(), Some("4012345.012345"));
        assert_eq!(l.lot.as_deref(), Some("LOT-7"));
        let i = parse("urn:epc:id:sgtin:4012345.012345.99");
        assert_eq!(
            (i.kind, i.product.as_deref()),
            (IdKind::Item, Some("4012345.012345"))
        );
        assert_eq!(
            parse("urn:epc:id:sscc:4012345.0000000001").kind,
            IdKind::Container
        );
        let d = parse("https://id.gs1.org/01/04012345123456/10/ABC?17=261231");
        assert_eq!(d.kind, IdKind::Lot);
        assert_eq!(d.product.as_deref(), Some("04012345123456"));
        assert_eq!(d.lot.as_deref(), Some("ABC"));
        assert_eq!(
            parse("https://example.com/00/340123450000000018").kind,
            IdKind::Container
        );
        assert_eq!(
            parse("urn:epc:class:lgtin:4012345.012345").kind,
            IdKind::Other
        );
        assert_eq!(parse("urn:x:y").kind, IdKind::Other);
    }

    #[test]
    fn uris() {
        assert!(is_uri("urn:epc:id:sgln:4012345.00001.0"));
        assert!(is_uri("https://id.gs1.org/414/4012345000016"));
        assert!(!is_uri("lot 7"));
        assert!(!is_uri("no-scheme"));
        assert!(!is_uri("1abc:x"));
        assert!(
            !is_uri("urn:x:a\u{1f}b"),
            "control characters are not URI characters"
        );
    }
}
