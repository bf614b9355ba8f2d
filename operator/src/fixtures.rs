//! An in-process stand-in for the Kubernetes API server: a `tower_test` mock
//! service behind a real `kube::Client`. Each test scenario states the calls
//! a reconcile must make, in order, and answers them; an unexpected call, a
//! call with the wrong method or path, or a missing call fails the test.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

use crate::context::{Context, Settings};
use crate::kafka::memory::MemoryCluster;
use crate::metrics::Metrics;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// The API server side of a scenario.
pub struct ApiServer {
    handle: Handle,
}

/// One request as the API server saw it.
#[derive(Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
}

/// A client wired to a fresh mock API server, and a context around it whose
/// Kafka clusters live in `kafka`.
pub fn context(kafka: &MemoryCluster) -> (Arc<Context>, ApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let ctx = Context::new(
        client,
        Metrics::new(),
        Settings::default(),
        Arc::new(kafka.clone()),
    );
    (Arc::new(ctx), ApiServer { handle })
}

impl ApiServer {
    /// Expects the next call to be `method path` and answers it with
    /// `respond(&seen)`: a status code and a JSON body.
    pub async fn expect(
        &mut self,
        method: &str,
        path: &str,
        respond: impl FnOnce(&Seen) -> (u16, Value),
    ) -> Seen {
        let next = tokio::time::timeout(Duration::from_secs(5), self.handle.next_request()).await;
        let (request, send) = next
            .unwrap_or_else(|_| panic!("timed out waiting for {method} {path}"))
            .unwrap_or_else(|| panic!("the client went away before {method} {path}"));
        let seen = Seen {
            method: request.method().to_string(),
            path: request.uri().path().to_owned(),
            query: request.uri().query().unwrap_or_default().to_owned(),
            body: {
                let bytes = request
                    .into_body()
                    .collect_bytes()
                    .await
                    .expect("request body reads");
                if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).expect("request body is JSON")
                }
            },
        };
        assert_eq!(
            (seen.method.as_str(), seen.path.as_str()),
            (method, path),
            "unexpected call: {seen:#?}"
        );
        let (code, body) = respond(&seen);
        let response = Response::builder()
            .status(StatusCode::from_u16(code).expect("valid status code"))
            .body(Body::from(
                serde_json::to_vec(&body).expect("response serializes"),
            ))
            .expect("response builds");
        send.send_response(response);
        seen
    }

    /// Asserts that no further call arrives.
    pub async fn done(mut self) {
        if let Ok(Some((request, _))) =
            tokio::time::timeout(Duration::from_millis(50), self.handle.next_request()).await
        {
            panic!(
                "unexpected extra call {} {}",
                request.method(),
                request.uri()
            );
        }
    }
}

/// Answers with the request body: what an apply or create returns.
pub fn echo(seen: &Seen) -> (u16, Value) {
    (200, seen.body.clone())
}

/// Answers with `object`.
pub fn reply(object: Value) -> impl FnOnce(&Seen) -> (u16, Value) {
    move |_| (200, object)
}

/// A 404 Status, as the API server sends for a missing object.
pub fn not_found(seen: &Seen) -> (u16, Value) {
    (
        404,
        json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure",
            "reason": "NotFound", "code": 404, "message": format!("{} not found", seen.path),
        }),
    )
}

/// Finds a condition of a status body by type.
pub fn condition<'a>(status_patch: &'a Value, type_: &str) -> &'a Value {
    status_patch["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("no {type_} condition in {status_patch:#}"))
}
