//! Kubernetes quantities (`100Gi`, `500m`, `2`) in the resources' fields.
//!
//! The API server does not parse a quantity inside a custom resource: without
//! a pattern, `storage.size: lots-of-space` is stored as written and fails only
//! later, when the operator puts it into a StatefulSet. So every quantity field
//! carries one of the patterns below in the CRD (refused at admission, on every
//! API server version), and the operator checks the same patterns again before
//! it builds anything (objects stored under an older CRD).
//!
//! The grammar is Kubernetes' own (`resource.ParseQuantity`) without a sign,
//! since every quantity here is an amount: a decimal number (`1`, `1.5`, `.5`,
//! `1.`), then nothing, a binary suffix (`Ki` .. `Ei`), a decimal suffix (`n`,
//! `u`, `m`, `k`, `M` .. `E`) or an integer exponent (`e3`, `E-2`). A field is
//! int-or-string as in Kubernetes; the schema bounds integers with `minimum`.

use std::sync::LazyLock;

use regex::Regex;
use schemars::{Schema, SchemaGenerator, json_schema};

/// A quantity of zero or more, e.g. `500m`, `2` or `4Gi`: CPU and memory.
pub const QUANTITY_PATTERN: &str =
    r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$";

/// A quantity greater than zero, e.g. `100Gi`: volume and cache sizes. The
/// number has a non-zero digit.
pub const SIZE_PATTERN: &str = r"^(0*[1-9][0-9]*(\.[0-9]*)?|[0-9]*\.[0-9]*[1-9][0-9]*)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$";

static QUANTITY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(QUANTITY_PATTERN).expect("QUANTITY_PATTERN compiles"));
static SIZE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(SIZE_PATTERN).expect("SIZE_PATTERN compiles"));

/// Whether `value` is a quantity of zero or more ([`QUANTITY_PATTERN`]).
pub fn is_quantity(value: &str) -> bool {
    QUANTITY.is_match(value)
}

/// Whether `value` is a quantity greater than zero ([`SIZE_PATTERN`]).
pub fn is_size(value: &str) -> bool {
    SIZE.is_match(value)
}

/// Schema of a size field: int-or-string, a positive integer or a string
/// matching [`SIZE_PATTERN`]. Not nullable: the API server drops a `null`
/// and applies the default, where a stored `null` would be an object the
/// operator cannot read.
pub(crate) fn size_schema(_: &mut SchemaGenerator) -> Schema {
    let mut schema = int_or_string(SIZE_PATTERN, 1);
    schema.insert("nullable".to_owned(), false.into());
    schema
}

fn int_or_string(pattern: &str, minimum: i64) -> Schema {
    json_schema!({
        "x-kubernetes-int-or-string": true,
        "pattern": pattern,
        "minimum": minimum,
    })
}

/// Transform for a `ResourceRequirements` field: every quantity in it (the
/// values of `limits` and `requests`) gets [`QUANTITY_PATTERN`].
pub(crate) fn pattern_resource_quantities(schema: &mut Schema) {
    for list in ["limits", "requests"] {
        let quantity = schema
            .get_mut("properties")
            .and_then(|p| p.get_mut(list))
            .and_then(|l| l.get_mut("additionalProperties"))
            .and_then(|q| q.as_object_mut());
        if let Some(quantity) = quantity
            && let Some(with_pattern) = int_or_string(QUANTITY_PATTERN, 0).as_object()
        {
            quantity.extend(with_pattern.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quantities Kubernetes parses, none negative.
    const VALID: &[&str] = &[
        "0", "1", "10", "100Gi", "1.5Gi", ".5", "1.", "500m", "2k", "3M", "1Ki", "1Ei", "1e3",
        "1E-2", "1.5e+3", "250u", "7n", "0.25",
    ];
    /// Not quantities at all, or negative.
    const INVALID: &[&str] = &[
        "",
        "lots-of-space",
        "Gi",
        ".",
        "10 Gi",
        " 10Gi",
        "10Gi ",
        "10gi",
        "10GB",
        "10K",
        "1Gii",
        "-1",
        "-10Gi",
        "+1",
        "1e",
        "1e1.5",
        "1.2.3",
        "0x10",
        "1_000",
        "∞",
    ];

    #[test]
    fn kubernetes_quantities_match_and_everything_else_does_not() {
        for value in VALID {
            assert!(is_quantity(value), "{value:?} is a quantity");
        }
        for value in INVALID {
            assert!(!is_quantity(value), "{value:?} is not a quantity");
            assert!(!is_size(value), "{value:?} is not a size");
        }
    }

    #[test]
    fn a_size_is_a_quantity_with_a_non_zero_number() {
        for value in VALID.iter().filter(|v| **v != "0") {
            assert!(is_size(value), "{value:?} is a size");
        }
        for zero in ["0", "00", "0.0", ".0", "0.", "0Gi", "0.000Mi", "0e3", "0m"] {
            assert!(is_quantity(zero), "{zero:?} is a quantity");
            assert!(!is_size(zero), "{zero:?} is not a size");
        }
        for size in ["010", "0.001", ".5Gi", "10.Gi", "1e-3", "0.5e2"] {
            assert!(is_size(size), "{size:?} is a size");
        }
    }
}
