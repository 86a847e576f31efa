//! Tasks started ahead of need: stopped when their handle is dropped, so that a run that ends
//! early, or an answer nobody takes, leaves nothing running.

/// A spawned task stopped when this handle is dropped. Await `.0` (mutably) for its answer.
pub(crate) struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    /// Spawns `future` on the runtime.
    pub(crate) fn spawn<F>(future: F) -> Self
    where
        F: std::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        AbortOnDrop(tokio::spawn(future))
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
