//! Checks an object against a CRD's structural OpenAPI v3 schema the way the
//! API server would: types, unknown fields (pruned there, an error here, so a
//! typo in a chart cannot go unnoticed), required fields, enums, ranges,
//! lengths, patterns, list sizes, int-or-string, and the CEL rules of
//! `x-kubernetes-validations` (creation rules; transition rules need an old
//! object and are skipped).

use serde_json::Value;

/// Every violation found, as `path: problem` lines; empty when valid.
pub fn validate(schema: &Value, object: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    walk(schema, object, "", &mut errors);
    match kube::core::cel::Validator::new().validate(schema, object, None) {
        Ok(()) => {}
        Err(cel) => errors.push(format!("CEL: {cel:?}")),
    }
    errors
}

/// The `openAPIV3Schema` of a CRD's first version.
pub fn crd_schema(crd: &Value) -> &Value {
    &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn walk(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let at = if path.is_empty() { "<root>" } else { path };
    if value.is_null() {
        if schema["nullable"] != true {
            errors.push(format!("{at}: null is not allowed"));
        }
        return;
    }
    if schema["x-kubernetes-int-or-string"] == true {
        // Either type passes; the value checks below (a string's pattern, an
        // integer's minimum) apply to whichever it is.
        if !matches!(type_name(value), "integer" | "string") {
            errors.push(format!(
                "{at}: expected an integer or a string, found {}",
                type_name(value)
            ));
            return;
        }
    } else if let Some(expected) = schema["type"].as_str() {
        let found = type_name(value);
        let ok = found == expected || (expected == "number" && found == "integer");
        if !ok {
            errors.push(format!("{at}: expected {expected}, found {found}"));
            return;
        }
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    match value {
        Value::Number(n) => {
            let n = n.as_f64().unwrap_or(f64::NAN);
            if let Some(min) = schema["minimum"].as_f64().filter(|min| n < *min) {
                errors.push(format!("{at}: {n} is below the minimum {min}"));
            }
            if let Some(max) = schema["maximum"].as_f64().filter(|max| n > *max) {
                errors.push(format!("{at}: {n} is above the maximum {max}"));
            }
        }
        Value::String(s) => {
            let length = s.chars().count() as u64;
            if let Some(min) = schema["minLength"].as_u64().filter(|min| length < *min) {
                errors.push(format!("{at}: {s:?} is shorter than {min}"));
            }
            if let Some(max) = schema["maxLength"].as_u64().filter(|max| length > *max) {
                errors.push(format!("{at}: {s:?} is longer than {max}"));
            }
            if let Some(pattern) = schema["pattern"].as_str() {
                match regex::Regex::new(pattern) {
                    Ok(re) if !re.is_match(s) => {
                        errors.push(format!("{at}: {s:?} does not match {pattern}"))
                    }
                    Ok(_) => {}
                    Err(e) => errors.push(format!(
                        "{at}: the schema's pattern {pattern} does not compile: {e}"
                    )),
                }
            }
        }
        Value::Array(items) => {
            let length = items.len() as u64;
            if let Some(min) = schema["minItems"].as_u64().filter(|min| length < *min) {
                errors.push(format!("{at}: {length} items, at least {min} needed"));
            }
            if let Some(max) = schema["maxItems"].as_u64().filter(|max| length > *max) {
                errors.push(format!("{at}: {length} items, at most {max} allowed"));
            }
            for (i, item) in items.iter().enumerate() {
                walk(&schema["items"], item, &format!("{path}[{i}]"), errors);
            }
        }
        Value::Object(fields) => {
            if let Some(required) = schema["required"].as_array() {
                for name in required.iter().filter_map(Value::as_str) {
                    if !fields.contains_key(name) {
                        errors.push(format!("{at}: missing required field {name}"));
                    }
                }
            }
            let properties = schema["properties"].as_object();
            let additional = &schema["additionalProperties"];
            let preserve = schema["x-kubernetes-preserve-unknown-fields"] == true;
            for (name, field) in fields {
                let child = format!("{path}.{name}");
                if let Some(sub) = properties.and_then(|p| p.get(name)) {
                    walk(sub, field, &child, errors);
                } else if additional.is_object() {
                    walk(additional, field, &child, errors);
                } else {
                    let envelope = path.is_empty()
                        && matches!(name.as_str(), "apiVersion" | "kind" | "metadata");
                    if !preserve && !envelope {
                        errors.push(format!("{child}: unknown field"));
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["size"],
                    "properties": {
                        "size": {"type": "integer", "minimum": 1.0, "maximum": 5.0},
                        "name": {"type": "string", "pattern": "^[a-z]+$", "nullable": true},
                        "mode": {"type": "string", "enum": ["A", "B"]},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "qty": {"x-kubernetes-int-or-string": true, "pattern": "^[0-9]+Gi$", "minimum": 1.0},
                    },
                    "x-kubernetes-validations": [{"rule": "self.size != 3", "message": "three is right out"}],
                }
            }
        })
    }

    #[test]
    fn a_valid_object_has_no_errors() {
        let object = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {}, "spec": {"size": 2, "name": "ab", "mode": "A", "labels": {"a": "b"}, "qty": "1Gi"}});
        assert_eq!(validate(&schema(), &object), Vec::<String>::new());
    }

    #[test]
    fn every_kind_of_violation_is_reported() {
        let object = json!({"spec": {"size": 9, "name": "AB", "mode": "C", "labels": {"a": 1}, "qty": true, "typo": 1}});
        let errors = validate(&schema(), &object).join("\n");
        for expected in [
            ".spec.size: 9 is above the maximum 5",
            ".spec.name: \"AB\" does not match",
            ".spec.mode: \"C\" is not one of",
            ".spec.labels.a: expected string, found integer",
            ".spec.qty: expected an integer or a string",
            ".spec.typo: unknown field",
        ] {
            assert!(
                errors.contains(expected),
                "missing {expected:?} in:\n{errors}"
            );
        }
        let quantities =
            validate(&schema(), &json!({"spec": {"size": 1, "qty": "lots"}})).join("\n");
        assert!(
            quantities.contains(".spec.qty: \"lots\" does not match"),
            "an int-or-string string is checked against the pattern: {quantities}"
        );
        let zero = validate(&schema(), &json!({"spec": {"size": 1, "qty": 0}})).join("\n");
        assert!(
            zero.contains(".spec.qty: 0 is below the minimum 1"),
            "an int-or-string integer is checked against the minimum: {zero}"
        );
        let missing = validate(&schema(), &json!({"spec": {}})).join("\n");
        assert!(missing.contains("missing required field size"), "{missing}");
    }

    #[test]
    fn cel_rules_are_evaluated() {
        let errors = validate(&schema(), &json!({"spec": {"size": 3}})).join("\n");
        assert!(errors.contains("three is right out"), "{errors}");
    }
}
