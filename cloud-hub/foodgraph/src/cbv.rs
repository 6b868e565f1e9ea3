//! CBV 2.0 vocabulary values. EPCIS 2.0 JSON allows the bare name (`shipping`), the URN form
//! (`urn:epcglobal:cbv:bizstep:shipping`) and the GS1 web URI (`https://ref.gs1.org/cbv/BizStep-shipping`);
//! all are kept in the bare form so queries and hashes do not depend on the spelling.

/// The standard business steps of CBV 2.0.
pub const BIZ_STEPS: &[&str] = &[
    "accepting",
    "arriving",
    "assembling",
    "collecting",
    "commissioning",
    "consigning",
    "creating_class_instance",
    "cycle_counting",
    "decommissioning",
    "departing",
    "destroying",
    "disassembling",
    "dispensing",
    "encoding",
    "entering_exiting",
    "holding",
    "inspecting",
    "installing",
    "killing",
    "loading",
    "other",
    "packing",
    "picking",
    "receiving",
    "removing",
    "repackaging",
    "repairing",
    "replacing",
    "reserving",
    "retail_selling",
    "sampling",
    "sensor_reporting",
    "shipping",
    "staging_outbound",
    "stock_taking",
    "stocking",
    "storing",
    "transporting",
    "unloading",
    "unpacking",
    "void_shipping",
];

/// The standard dispositions of CBV 2.0.
pub const DISPOSITIONS: &[&str] = &[
    "active",
    "available",
    "completeness_inferred",
    "completeness_verified",
    "conformant",
    "container_closed",
    "container_open",
    "damaged",
    "destroyed",
    "dispensed",
    "disposed",
    "encoded",
    "expired",
    "in_progress",
    "in_transit",
    "inactive",
    "mismatch_instance",
    "mismatch_class",
    "mismatch_quantity",
    "needs_replacement",
    "no_pedigree_match",
    "non_conformant",
    "non_sellable_other",
    "partially_dispensed",
    "recalled",
    "reserved",
    "retail_sold",
    "returned",
    "sellable_accessible",
    "sellable_not_accessible",
    "stolen",
    "unavailable",
    "unknown",
];

/// The standard source/destination types.
pub const SOURCE_DEST_TYPES: &[&str] = &["owning_party", "possessing_party", "location"];

/// The standard business transaction types.
pub const BIZ_TRANSACTION_TYPES: &[&str] = &[
    "bol",
    "cert",
    "desadv",
    "inv",
    "pedigree",
    "po",
    "poc",
    "prodorder",
    "recadv",
    "rma",
    "testprd",
    "testres",
    "upevt",
];

/// Normalises a vocabulary value to its bare CBV name when it is a standard one; a user
/// vocabulary value must be a URI and is kept as it is. `Err` says what is wrong.
pub fn normalise(
    value: &str,
    standard: &[&str],
    urn_prefix: &str,
    web_prefix: &str,
) -> Result<String, String> {
    let bare = value
        .strip_prefix(urn_prefix)
        .or_else(|| value.strip_prefix(web_prefix))
        .unwrap_or(value);
    if standard.contains(&bare) {
        return Ok(bare.to_owned());
    }
    if value != bare {
        return Err(format!(
            "{value:?} is not a CBV 2.0 value (known: {})",
            standard.join(", ")
        ));
    }
    if crate::ids::is_uri(value) {
        return Ok(value.to_owned());
    }
    Err(format!(
        "{value:?} is neither a CBV 2.0 value ({}) nor a URI for a user vocabulary",
        standard.join(", ")
    ))
}

pub fn biz_step(v: &str) -> Result<String, String> {
    normalise(
        v,
        BIZ_STEPS,
        "urn:epcglobal:cbv:bizstep:",
        "https://ref.gs1.org/cbv/BizStep-",
    )
}

pub fn disposition(v: &str) -> Result<String, String> {
    normalise(
        v,
        DISPOSITIONS,
        "urn:epcglobal:cbv:disp:",
        "https://ref.gs1.org/cbv/Disp-",
    )
}

pub fn source_dest_type(v: &str) -> Result<String, String> {
    normalise(
        v,
        SOURCE_DEST_TYPES,
        "urn:epcglobal:cbv:sdt:",
        "https://ref.gs1.org/cbv/SDT-",
    )
}

pub fn biz_transaction_type(v: &str) -> Result<String, String> {
    normalise(
        v,
        BIZ_TRANSACTION_TYPES,
        "urn:epcglobal:cbv:btt:",
        "https://ref.gs1.org/cbv/BTT-",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_spellings_one_value() {
        for v in [
            "shipping",
            "urn:epcglobal:cbv:bizstep:shipping",
            "https://ref.gs1.org/cbv/BizStep-shipping",
        ] {
            assert_eq!(biz_step(v).unwrap(), "shipping");
        }
        assert_eq!(
            biz_step("https://example.com/steps/cooling").unwrap(),
            "https://example.com/steps/cooling"
        );
        assert!(biz_step("shiping").unwrap_err().contains("neither"));
        assert!(
            biz_step("urn:epcglobal:cbv:bizstep:shiping")
                .unwrap_err()
                .contains("not a CBV")
        );
        assert_eq!(
            disposition("urn:epcglobal:cbv:disp:in_transit").unwrap(),
            "in_transit"
        );
        assert_eq!(source_dest_type("owning_party").unwrap(), "owning_party");
    }
}
