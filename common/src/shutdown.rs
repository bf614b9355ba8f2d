//! Graceful shutdown: one root [`CancellationToken`] cancelled by SIGTERM or
//! SIGINT. Subsystems take child tokens, stop accepting work when it fires and
//! drain what is in flight within their deadline. A second signal while draining
//! exits at once, the way a person pressing Ctrl-C twice expects.

use tokio_util::sync::CancellationToken;

/// Returns a token that is cancelled on the first SIGTERM or SIGINT.
///
/// Must be called inside a Tokio runtime. A second signal ends the process
/// with status 130 without waiting for the drain.
pub fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let signal = wait_for_signal().await;
        tracing::info!(signal, "shutdown requested, draining");
        cancel.cancel();
        let signal = wait_for_signal().await;
        tracing::warn!(signal, "second signal while draining, exiting now");
        std::process::exit(130);
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops this process");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "Ctrl-C"
}
