//! The operator on a real Kubernetes cluster: install the chart, apply a
//! KafkaCluster and a Topic, wait for both to be Ready, then produce and
//! consume through the bootstrap Service from a pod in the cluster.
//!
//! Runs only when `KUBECONFIG` points at a cluster (no API server can run on
//! the machines that run the other tests); otherwise it says loudly that it
//! was skipped. Images come from `FJORD_E2E_OPERATOR_IMAGE` and
//! `FJORD_E2E_BROKER_IMAGE` (built from the Dockerfile and loaded into the
//! cluster), the client pod's image from `FJORD_E2E_KCAT_IMAGE`.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fjord_crds::{KafkaCluster, Topic};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use serde_json::json;

fn image(variable: &str) -> anyhow::Result<(String, String)> {
    let reference = std::env::var(variable)
        .with_context(|| format!("{variable} must name the image to test"))?;
    let (repository, tag) = reference
        .rsplit_once(':')
        .with_context(|| format!("{variable}={reference} has no tag"))?;
    Ok((repository.to_owned(), tag.to_owned()))
}

fn helm(args: &[&str]) -> anyhow::Result<String> {
    let helm = std::env::var("FJORD_HELM").unwrap_or_else(|_| "helm".to_owned());
    let output = Command::new(&helm)
        .args(args)
        .output()
        .with_context(|| format!("running {helm}"))?;
    if !output.status.success() {
        bail!("helm {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn is_ready(
    conditions: Option<&Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>,
) -> bool {
    conditions.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn wait_for(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check().await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    bail!("{what} did not happen within {timeout:?}")
}

#[tokio::test(flavor = "multi_thread")]
async fn chart_cluster_and_topic_serve_kafka_clients_on_a_real_cluster() {
    if std::env::var_os("KUBECONFIG").is_none() {
        eprintln!(
            "\n*** SKIPPED operator_kubernetes: KUBECONFIG is not set, so there is no cluster to install the \
             operator into. Point KUBECONFIG at a cluster and set FJORD_E2E_OPERATOR_IMAGE and \
             FJORD_E2E_BROKER_IMAGE to run it. ***\n"
        );
        return;
    }
    run().await.expect("the operator works on a real cluster");
}

async fn run() -> anyhow::Result<()> {
    let (operator_repo, operator_tag) = image("FJORD_E2E_OPERATOR_IMAGE")?;
    let (broker_repo, broker_tag) = image("FJORD_E2E_BROKER_IMAGE")?;
    let kcat =
        std::env::var("FJORD_E2E_KCAT_IMAGE").unwrap_or_else(|_| "edenhill/kcat:1.7.1".to_owned());
    let client = Client::try_default().await?;
    let ns = format!("fjord-e2e-{}", std::process::id());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}}))?,
        )
        .await?;
    let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/../helm/fjord-operator");
    let result = async {
        helm(&[
            "install", "fjord", chart, "--namespace", &ns, "--wait", "--timeout", "5m",
            "--set", &format!("watchNamespace={ns}"),
            "--set", &format!("image.repository={operator_repo}"),
            "--set", &format!("image.tag={operator_tag}"),
            "--set", &format!("brokerImage.repository={broker_repo}"),
            "--set", &format!("brokerImage.tag={broker_tag}"),
        ])?;
        let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), &ns);
        let topics: Api<Topic> = Api::namespaced(client.clone(), &ns);
        clusters
            .create(&PostParams::default(), &serde_json::from_value(json!({
                "apiVersion": "fjord.dev/v1alpha1", "kind": "KafkaCluster",
                "metadata": {"name": "main"}, "spec": {"replicas": 1, "storage": {"size": "1Gi"}},
            }))?)
            .await?;
        topics
            .create(&PostParams::default(), &serde_json::from_value(json!({
                "apiVersion": "fjord.dev/v1alpha1", "kind": "Topic",
                "metadata": {"name": "orders"}, "spec": {"cluster": {"name": "main"}, "partitions": 3, "deletionPolicy": "Delete"},
            }))?)
            .await?;
        wait_for("KafkaCluster Ready", Duration::from_secs(300), async || {
            Ok(is_ready(clusters.get("main").await?.status.as_ref().map(|s| &s.conditions)))
        })
        .await?;
        wait_for("Topic Ready", Duration::from_secs(120), async || {
            Ok(is_ready(topics.get("orders").await?.status.as_ref().map(|s| &s.conditions)))
        })
        .await?;
        let bootstrap = clusters
            .get("main")
            .await?
            .status
            .and_then(|s| s.bootstrap_servers)
            .context("no bootstrapServers")?;

        let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
        let script = format!(
            "echo hello-fjord | kcat -b {bootstrap} -t orders -P -p 0 && kcat -b {bootstrap} -t orders -C -p 0 -o beginning -c 1 -e"
        );
        jobs.create(&PostParams::default(), &serde_json::from_value(json!({
            "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "kcat"},
            "spec": {"backoffLimit": 3, "template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "kcat", "image": kcat, "command": ["sh", "-c", script]}]}}},
        }))?)
        .await?;
        wait_for("the kcat Job to succeed", Duration::from_secs(180), async || {
            Ok(jobs.get("kcat").await?.status.and_then(|s| s.succeeded).unwrap_or(0) > 0)
        })
        .await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let pod = pods
            .list(&ListParams::default().labels("job-name=kcat"))
            .await?
            .items
            .into_iter()
            .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded"))
            .context("no succeeded kcat pod")?;
        let logs = pods.logs(pod.metadata.name.as_deref().unwrap_or_default(), &LogParams::default()).await?;
        anyhow::ensure!(logs.contains("hello-fjord"), "kcat consumed {logs:?}");
        anyhow::Ok(())
    }
    .await;
    let _ = helm(&["uninstall", "fjord", "--namespace", &ns]);
    let _ = namespaces.delete(&ns, &DeleteParams::default()).await;
    result
}
