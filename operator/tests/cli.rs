//! The `fjord-operator` binary's command line.

use std::process::Command;

fn operator() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fjord-operator"))
}

#[test]
fn crdgen_prints_the_committed_crds() {
    let output = operator().arg("crdgen").output().expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let committed = include_str!("../../crds/crds.yaml");
    assert!(
        String::from_utf8_lossy(&output.stdout) == committed,
        "crds/crds.yaml differs from `fjord-operator crdgen`: run scripts/crdgen"
    );
}

#[test]
fn run_documents_every_flag_with_its_environment_variable() {
    let output = operator().args(["run", "--help"]).output().expect("runs");
    let help = String::from_utf8_lossy(&output.stdout);
    for variable in [
        "FJORD_WATCH_NAMESPACE",
        "FJORD_METRICS_ADDRESS",
        "FJORD_LEADER_ELECTION",
        "FJORD_LEADER_ELECTION_LEASE_DURATION",
        "FJORD_BROKER_IMAGE",
        "FJORD_TOPIC_RESYNC",
        "FJORD_LOG_LEVEL",
    ] {
        assert!(help.contains(variable), "{variable} missing from:\n{help}");
    }
}

#[test]
fn run_without_a_cluster_fails_with_a_clear_message() {
    let output = operator()
        .args(["run", "--metrics-address", "127.0.0.1:0"])
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env("HOME", "/nonexistent")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no Kubernetes API found"), "{stderr}");
}
