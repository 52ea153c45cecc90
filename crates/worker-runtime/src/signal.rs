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

/// Cancels `token` on the first SIGINT or SIGTERM.
///
/// The handlers are installed before this returns, so a signal that arrives right after is not lost.
pub fn cancel_on_shutdown_signal(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        tokio::spawn(async move {
            match (terminate, interrupt) {
                (Ok(mut terminate), Ok(mut interrupt)) => tokio::select! {
                    _ = terminate.recv() => tracing::info!("SIGTERM received; shutting down"),
                    _ = interrupt.recv() => tracing::info!("SIGINT received; shutting down"),
                    () = token.cancelled() => return,
                },
                (Err(error), _) | (_, Err(error)) => {
                    tracing::error!(%error, "cannot install signal handlers; shutting down");
                }
            }
            token.cancel();
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => token.cancel(),
            () = token.cancelled() => {}
        }
    });
}
