//! The fjord-cluster chart's values schema, with the real Helm 3 and Helm 4:
//! bad values fail `helm template` and `helm lint` naming the value, good ones
//! render, and the schema's ranges and patterns are the CRDs' own.

use fjord_charts_tests::helm::{self, Helm, charts_dir};
use fjord_charts_tests::schema;
use serde_json::Value;

const CLUSTER: &str = "fjord-cluster";

fn chart_path() -> String {
    charts_dir().join(CLUSTER).to_string_lossy().into_owned()
}

/// `helm template` of the cluster chart with extra arguments (`--set ...`).
fn template(helm: &Helm, args: &[&str]) -> anyhow::Result<String> {
    let chart = chart_path();
    let mut all = vec![
        "template",
        "fjord",
        chart.as_str(),
        "--namespace",
        "streaming",
    ];
    all.extend_from_slice(args);
    helm.run(&all)
}

/// `helm lint --strict` of the cluster chart with extra arguments.
fn lint(helm: &Helm, args: &[&str]) -> anyhow::Result<String> {
    let chart = chart_path();
    let mut all = vec!["lint", "--strict", chart.as_str()];
    all.extend_from_slice(args);
    helm.run(&all)
}

/// Values the schema refuses, and the word the refusal must contain.
const BAD: &[(&[&str], &str)] = &[
    (&["--set", "cluster.replicas=abc"], "replicas"),
    (&["--set", "cluster.replicas=-1"], "replicas"),
    (&["--set", "cluster.replicas=257"], "replicas"),
    (&["--set", "cluster.storage.size=lots-of-space"], "size"),
    (&["--set", "cluster.storage.size=0"], "size"),
    (&["--set-string", "cluster.storage.size=0Gi"], "size"),
    (&["--set", "cluster.storage.size=10GB"], "size"),
    (
        &["--set", "cluster.resources.limits.memory=two-gigs"],
        "memory",
    ),
    (&["--set", "cluster.resources.requests.cpu=-1"], "cpu"),
    (&["--set", "cluster.storge.size=10Gi"], "storge"),
    (
        &[
            "--set",
            "cluster.listeners[0].name=kafka,cluster.listeners[0].port=80",
        ],
        "port",
    ),
    (
        &["--set", "cluster.podDisruptionBudget.maxUnavailable=0"],
        "maxUnavailable",
    ),
    (
        &["--set", "topics[0].name=orders,topics[0].partitions=0"],
        "partitions",
    ),
    (
        &["--set", "topics[0].name=orders,topics[0].partitionz=3"],
        "partitionz",
    ),
    (
        &[
            "--set",
            "topics[0].name=orders,topics[0].cleanupPolicy=sometimes",
        ],
        "cleanupPolicy",
    ),
    (&["--set", "topics[0].name=Orders"], "name"),
];

#[test]
fn bad_cluster_values_fail_template_and_lint_naming_the_value() {
    for helm in helm::all() {
        for (args, complaint) in BAD {
            for (command, result) in [
                ("template", template(&helm, args)),
                ("lint", lint(&helm, args)),
            ] {
                let error = match result {
                    Ok(out) => panic!("helm {} {command} {args:?} succeeded:\n{out}", helm.major),
                    Err(error) => helm::failure_output(&error),
                };
                assert!(
                    error.contains("schema") && error.contains(complaint),
                    "helm {} {command} {args:?}: no schema complaint about {complaint}:\n{error}",
                    helm.major
                );
            }
        }
    }
}

#[test]
fn good_cluster_values_render_and_satisfy_the_crd() {
    let crd = serde_json::to_value(&fjord_crds::crds()[0]).expect("KafkaCluster CRD");
    for helm in helm::all() {
        for args in [
            &["--set", "cluster.storage.size=1.5Ti"][..],
            &["--set", "cluster.storage.size=100"],
            &[
                "--set",
                "cluster.replicas=0,cluster.resources.requests.cpu=500m,cluster.resources.requests.memory=2Gi,cluster.resources.limits.memory=4Gi",
            ],
            &[
                "--set",
                "cluster.listeners[0].name=kafka,cluster.listeners[0].port=9093",
            ],
            &[
                "--set",
                "topics[0].name=orders.v1,topics[0].partitions=6,topics[0].retention.ms=-1",
            ],
        ] {
            let text = template(&helm, args)
                .unwrap_or_else(|e| panic!("helm {} template {args:?}: {e:#}", helm.major));
            lint(&helm, args)
                .unwrap_or_else(|e| panic!("helm {} lint {args:?}: {e:#}", helm.major));
            let objects = helm::parse_stream(&text).expect("rendered YAML parses");
            let cluster = objects
                .iter()
                .find(|o| o["kind"] == "KafkaCluster")
                .expect("a KafkaCluster");
            let errors = schema::validate(schema::crd_schema(&crd), cluster);
            assert!(
                errors.is_empty(),
                "helm {} {args:?}: {errors:#?}",
                helm.major
            );
        }
        let text = template(&helm, &["--set", "cluster.storage.size=1.5Ti"]).expect("renders");
        assert!(text.contains("size: \"1.5Ti\""), "{text}");
    }
}

/// Chart values with no field of the same name in the CRD: resource names.
const CHART_ONLY: &[&str] = &["cluster.name", "topics[].name"];
/// Where the chart is looser on purpose: an empty value means "the default".
const LOOSER: &[(&str, &str)] = &[
    ("cluster.image", "minLength"),
    ("cluster.listeners", "minItems"),
];
const KEYWORDS: &[&str] = &[
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "enum",
    "minItems",
    "maxItems",
];

/// An enum without `null`, which the CRD lists for its optional fields and
/// values files express by leaving the key out.
fn without_null(value: &Value) -> Value {
    match value {
        Value::Array(items) => {
            Value::Array(items.iter().filter(|v| !v.is_null()).cloned().collect())
        }
        other => other.clone(),
    }
}

/// Walks the chart schema and the CRD schema side by side, recording every
/// keyword compared and every difference.
fn compare(
    chart: &Value,
    crd: &Value,
    path: &str,
    compared: &mut Vec<String>,
    diffs: &mut Vec<String>,
) {
    for keyword in KEYWORDS {
        let (ours, theirs) = (without_null(&chart[keyword]), without_null(&crd[keyword]));
        let (ours, theirs) = (&ours, &theirs);
        if ours.is_null() && theirs.is_null() {
            continue;
        }
        let same = match (ours.as_f64(), theirs.as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => ours == theirs,
        };
        if same {
            compared.push(format!("{path} {keyword}"));
        } else if !LOOSER.contains(&(path, *keyword)) {
            diffs.push(format!("{path} {keyword}: chart {ours}, CRD {theirs}"));
        }
    }
    if let Some(properties) = chart["properties"].as_object() {
        for (name, sub) in properties {
            let child = format!("{path}.{name}");
            match crd["properties"].get(name) {
                Some(theirs) => compare(sub, theirs, &child, compared, diffs),
                None if CHART_ONLY.contains(&child.as_str()) => {}
                None => diffs.push(format!("{child}: not in the CRD")),
            }
        }
    }
    if chart["items"].is_object() {
        compare(
            &chart["items"],
            &crd["items"],
            &format!("{path}[]"),
            compared,
            diffs,
        );
    }
    if chart["additionalProperties"].is_object() {
        compare(
            &chart["additionalProperties"],
            &crd["additionalProperties"],
            &format!("{path}.*"),
            compared,
            diffs,
        );
    }
}

#[test]
fn the_cluster_chart_schema_has_the_crds_ranges_and_patterns() {
    let text = std::fs::read_to_string(charts_dir().join(CLUSTER).join("values.schema.json"))
        .expect("values.schema.json");
    let values: Value = serde_json::from_str(&text).expect("values.schema.json is JSON");
    let crds: Vec<Value> = fjord_crds::crds()
        .iter()
        .map(|c| serde_json::to_value(c).expect("CRD serializes"))
        .collect();
    let spec = |kind: &str| {
        let crd = crds
            .iter()
            .find(|c| c["spec"]["names"]["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} CRD"));
        schema::crd_schema(crd)["properties"]["spec"].clone()
    };
    let (mut compared, mut diffs) = (Vec::new(), Vec::new());
    compare(
        &values["properties"]["cluster"],
        &spec("KafkaCluster"),
        "cluster",
        &mut compared,
        &mut diffs,
    );
    compare(
        &values["properties"]["topics"]["items"],
        &spec("Topic"),
        "topics[]",
        &mut compared,
        &mut diffs,
    );
    assert!(
        diffs.is_empty(),
        "the chart schema drifted from the CRDs:\n{}",
        diffs.join("\n")
    );
    for must in [
        "cluster.replicas maximum",
        "cluster.storage.size pattern",
        "cluster.storage.size minimum",
        "cluster.resources.limits.* pattern",
        "cluster.resources.requests.* pattern",
        "cluster.listeners[].port minimum",
        "topics[].partitions maximum",
        "topics[].cleanupPolicy enum",
    ] {
        assert!(
            compared.iter().any(|c| c == must),
            "{must} was not compared: {compared:#?}"
        );
    }
}
