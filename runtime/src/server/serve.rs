//! `taskbox serve`: the [`Application`] until SIGTERM or SIGINT. Owns the
//! signal handling, nothing else.

use tokio::sync::watch;

use crate::server::settings::Settings;
use crate::server::{Application, ServeError};

/// Runs the server until a signal; returns when every loop has stopped.
pub async fn serve(settings: Settings) -> Result<(), ServeError> {
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: no new work is taken; runs in flight finish");
        let _ = stop.send(true);
    });
    Application::build(settings).await?.run_until_stopped(shutdown).await
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
