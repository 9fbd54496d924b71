//! Ctrl-C and SIGTERM as a cancellation that long operations race against,
//! so that an interrupted `up` or `test` still removes what it created.

use tokio_util::sync::CancellationToken;

/// A cancellation shared by clones: once fired, every clone sees it.
#[derive(Clone, Debug)]
pub struct Cancel(CancellationToken);

impl Cancel {
    /// A cancellation that fires on the first SIGINT or SIGTERM.
    pub fn on_signals() -> Cancel {
        let cancel = Cancel::never();
        let fire = cancel.clone();
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("a SIGTERM handler installs");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            tracing::warn!("interrupted: cleaning up");
            fire.cancel();
        });
        cancel
    }

    /// A cancellation that fires only when [`Cancel::cancel`] is called.
    pub fn never() -> Cancel {
        Cancel(CancellationToken::new())
    }

    /// Fires the cancellation for this value and every clone of it.
    pub fn cancel(&self) {
        self.0.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Resolves when the cancellation fires.
    pub async fn cancelled(&self) {
        self.0.cancelled().await;
    }
}

#[cfg(test)]
mod tests {
    use super::Cancel;
    use futures_util::FutureExt;

    #[test]
    fn a_clone_sees_the_cancellation_and_an_unfired_one_stays_pending() {
        let cancel = Cancel::never();
        let clone = cancel.clone();
        assert!(!clone.is_cancelled());
        assert!(clone.cancelled().now_or_never().is_none());
        cancel.cancel();
        assert!(clone.is_cancelled());
        assert!(clone.cancelled().now_or_never().is_some());
        // A waiter created after the fact resolves too.
        assert!(Cancel::clone(&cancel).cancelled().now_or_never().is_some());
    }
}
