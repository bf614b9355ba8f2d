//! Runs the real `helm`. Helm 4 is found through `FJORD_HELM`, Helm 3
//! through `FJORD_HELM3` (both written by `scripts/install-test-tools`),
//! falling back to `helm` / `helm3` on `PATH`. A missing helm fails the test:
//! a chart test that silently passes without helm checks nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use serde_json::Value;

/// One helm binary of a known major version.
#[derive(Debug, Clone)]
pub struct Helm {
    pub path: PathBuf,
    pub major: u32,
}

/// Helm 4.
pub fn helm4() -> Helm {
    find("FJORD_HELM", "helm", 4)
}

/// Helm 3.
pub fn helm3() -> Helm {
    find("FJORD_HELM3", "helm3", 3)
}

/// Both majors the charts support.
pub fn all() -> Vec<Helm> {
    vec![helm3(), helm4()]
}

fn find(variable: &str, fallback: &str, major: u32) -> Helm {
    let path = std::env::var_os(variable)
        .map(PathBuf::from)
        .or_else(|| which(fallback))
        .unwrap_or_else(|| {
            panic!(
                "helm {major} not found: set {variable} or put `{fallback}` on PATH \
                 (run scripts/install-test-tools, then source ~/.cache/fjord/env)"
            )
        });
    let output = Command::new(&path)
        .args(["version", "--short"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e} (run scripts/install-test-tools)",
                path.display()
            )
        });
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        version.starts_with(&format!("v{major}.")),
        "{} is {version:?}, expected helm {major} (run scripts/install-test-tools)",
        path.display()
    );
    Helm { path, major }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The repository's `helm/` directory.
pub fn charts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../helm")
}

impl Helm {
    /// Runs helm with `args`; its stdout, or an error holding both outputs
    /// when it fails.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new(&self.path)
            .args(args)
            .output()
            .with_context(|| format!("running {}", self.path.display()))?;
        if !output.status.success() {
            bail!(
                "helm {} {:?} failed:\n{}{}",
                self.major,
                args,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8(output.stdout)?)
    }

    fn with_values<T>(
        &self,
        values: &str,
        f: impl FnOnce(&str) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let file = tempfile::Builder::new().suffix(".yaml").tempfile()?;
        std::fs::write(file.path(), values)?;
        f(file.path().to_str().context("temp path is UTF-8")?)
    }

    /// `helm lint --strict` of a chart under `helm/` with these values.
    pub fn lint(&self, chart: &str, values: &str) -> anyhow::Result<String> {
        let chart = charts_dir().join(chart);
        let chart = chart.to_str().context("chart path is UTF-8")?;
        self.with_values(values, |v| self.run(&["lint", "--strict", chart, "-f", v]))
    }

    /// `helm template` of a chart under `helm/`, as parsed objects.
    pub fn template(
        &self,
        chart: &str,
        release: &str,
        namespace: &str,
        values: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let chart = charts_dir().join(chart);
        let chart = chart.to_str().context("chart path is UTF-8")?;
        let text = self.with_values(values, |v| {
            self.run(&[
                "template",
                release,
                chart,
                "--namespace",
                namespace,
                "-f",
                v,
            ])
        })?;
        parse_stream(&text)
    }
}

/// What helm printed when [`Helm::run`] failed, without the command line: a
/// check that the output names a field cannot then match the `--set` that
/// named it.
pub fn failure_output(error: &anyhow::Error) -> String {
    let text = format!("{error:#}");
    match text.split_once(" failed:\n") {
        Some((_, output)) => output.to_owned(),
        None => text,
    }
}

/// Parses a multi-document YAML stream, skipping empty documents.
pub fn parse_stream(text: &str) -> anyhow::Result<Vec<Value>> {
    use serde::Deserialize as _;
    let mut objects = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(document)?;
        if !value.is_null() {
            objects.push(value);
        }
    }
    Ok(objects)
}
