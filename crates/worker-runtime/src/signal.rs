//! Turning SIGTERM (what ECS and docker send) and SIGINT (Ctrl-C) into a cancellation.

use tokio_util::sync::CancellationToken;

/// Completes when the process receives SIGINT or SIGTERM.
///
/// # Panics
/// If the signal handlers cannot be installed, which only happens when the process is out of resources
/// at start-up.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).expect("install the SIGTERM handler");
        let mut interrupt = signal(SignalKind::interrupt()).expect("install the SIGINT handler");
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received; shutting down"),
            _ = interrupt.recv() => tracing::info!("SIGINT received; shutting down"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.expect("install the Ctrl-C handler");
        tracing::info!("Ctrl-C received; shutting down");
    }
}

/// Cancels `token` on the first SIGINT or SIGTERM; on a second one (or on the first after `token` was
/// cancelled some other way) exits the process at once, with 128 + the signal's number as its status:
/// an operator who asks twice does not wait for the drain. Nothing is lost by it — messages in hand
/// come back after their visibility timeout — but work in hand is done again.
///
/// The handlers are installed before this returns, so a signal that arrives right after is not lost.
pub fn cancel_on_shutdown_signal(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = signal(SignalKind::terminate()).and_then(|t| Ok((t, signal(SignalKind::interrupt())?)));
        tokio::spawn(async move {
            let (mut terminate, mut interrupt) = match handlers {
                Ok(handlers) => handlers,
                Err(error) => {
                    tracing::error!(%error, "cannot install signal handlers; shutting down");
                    token.cancel();
                    return;
                }
            };
            let mut next = async || {
                tokio::select! {
                    _ = terminate.recv() => ("SIGTERM", 143),
                    _ = interrupt.recv() => ("SIGINT", 130),
                }
            };
            tokio::select! {
                (name, _) = next() => {
                    tracing::info!(signal = name, "shutting down; a second signal exits at once");
                    token.cancel();
                }
                () = token.cancelled() => {}
            }
            let (name, status) = next().await;
            tracing::warn!(signal = name, "exiting at once: work in hand is abandoned and comes back to its queue");
            std::process::exit(status);
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => token.cancel(),
            () = token.cancelled() => {}
        }
        let _ = tokio::signal::ctrl_c().await;
        std::process::exit(130);
    });
}
