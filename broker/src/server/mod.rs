//! The Kafka listener: an accept loop with a connection limit and one task per
//! connection.
//!
//! ```text
//!  accept ──► permit (max.connections) ──► connection task
//!                                           read frame ─► decode ─► handle ─► write
//!                                           (requests answered one at a time,
//!                                            so pipelined requests keep their order)
//! ```
//!
//! Shutdown: the token stops the accept loop; each connection finishes the
//! request it is handling, writes the answer and closes; the tracker is
//! awaited up to the shutdown deadline, then the remaining tasks are dropped.

mod connection;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::broker::Broker;

/// Accepts connections until `shutdown` fires, then drains them for at most
/// `drain` before returning.
pub async fn serve(
    listener: TcpListener,
    broker: Arc<Broker>,
    shutdown: CancellationToken,
    drain: Duration,
) {
    let limit = Arc::new(Semaphore::new(
        (broker.config.settings.max_connections as usize).min(Semaphore::MAX_PERMITS),
    ));
    let tracker = TaskTracker::new();
    let mut backoff = Duration::from_millis(5);
    loop {
        // Cancel-safe: a permit or an accepted socket is only taken when its
        // arm completes.
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = limit.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                let broker = broker.clone();
                let shutdown = shutdown.clone();
                tracker.spawn(async move {
                    broker.metrics.connections.inc();
                    connection::run(stream, peer, &broker, shutdown).await;
                    broker.metrics.connections.dec();
                    drop(permit);
                });
            }
            Err(error) => {
                // Out of file descriptors and the like: wait, do not spin.
                tracing::warn!(%error, "accepting a connection failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
    drop(listener);
    tracker.close();
    if tokio::time::timeout(drain, tracker.wait()).await.is_err() {
        tracing::warn!(
            open = tracker.len(),
            "connections still busy at the shutdown deadline; closing them"
        );
    }
}
