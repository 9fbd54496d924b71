//! Ctrl-C and SIGTERM as a cancellation that long operations race against,
//! so that an interrupted `up` or `test` still removes what it created.

use tokio::sync::watch;

#[derive(Clone, Debug)]
pub struct Cancel(watch::Receiver<bool>);

impl Cancel {
    /// A cancellation that fires on the first SIGINT or SIGTERM.
    pub fn on_signals() -> Cancel {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("a SIGTERM handler installs");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            tracing::warn!("interrupted: cleaning up");
            let _ = tx.send(true);
        });
        Cancel(rx)
    }

    /// A cancellation that never fires.
    pub fn never() -> Cancel {
        let (tx, rx) = watch::channel(false);
        // Keep the sender alive so the receiver never sees a closed channel.
        std::mem::forget(tx);
        Cancel(rx)
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves when the cancellation fires.
    pub async fn cancelled(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|v| *v).await;
    }
}
