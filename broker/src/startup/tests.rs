//! Start-up order as a client and a probe see it.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::*;

const WAIT: Duration = Duration::from_secs(30);

fn config(data_dir: &Path, listen: SocketAddr) -> Config {
    Config {
        listen,
        ..Config::for_tests(data_dir.to_path_buf())
    }
}

/// GET on the admin port: the status code.
async fn status(admin: SocketAddr, path: &str) -> u16 {
    let exchange = async {
        let mut stream = TcpStream::connect(admin).await?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(WAIT, exchange)
        .await
        .expect("the admin port answers")
        .expect("HTTP exchange");
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad HTTP response {response:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_logs_recover_the_kafka_port_refuses_and_readyz_answers_503() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A free port to listen on later: nothing may accept on it during recovery.
    let kafka = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let starting = start(config(dir.path(), kafka)).await.expect("start");
    let admin = starting.admin_addr();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let recovering = tokio::spawn(starting.recover_with(
        Identity::new(String::new(), 0, String::new()),
        String::new(),
        move |dir, settings, clean| {
            // A slow recovery: until the test releases it.
            let _ = released.recv_timeout(WAIT);
            Topics::open(dir, settings, clean)
        },
    ));

    assert_eq!(status(admin, "/livez").await, 200, "live while recovering");
    assert_eq!(
        status(admin, "/readyz").await,
        503,
        "not ready while recovering"
    );
    assert_eq!(status(admin, "/metrics").await, 503);
    let refused = TcpStream::connect(kafka)
        .await
        .expect_err("no Kafka listener while recovering");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused, "{refused}");
    assert!(!recovering.is_finished());

    release.send(()).expect("recovery waits for the release");
    let bound = tokio::time::timeout(WAIT, recovering)
        .await
        .expect("recovery ends")
        .expect("task")
        .expect("recover");
    assert_eq!(bound.kafka_addr(), kafka);
    assert_eq!(status(admin, "/readyz").await, 200);
    assert_eq!(status(admin, "/metrics").await, 200);
    TcpStream::connect(kafka)
        .await
        .expect("the Kafka port accepts once recovered");
}
