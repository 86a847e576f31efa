//! Serves a hyper request handler on 127.0.0.1 from a thread of its own, for the test servers
//! ([`crate::s3_server`], [`crate::cloudtrail_stub`]).
//!
//! The server gets its own tokio runtime rather than the caller's: a `#[tokio::test]` runs on a
//! single-threaded runtime, and a test that blocks that thread (waiting on the CLI as a child
//! process, reading a body through a blocking bridge) would otherwise starve the very server the
//! code under test is talking to.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

/// An HTTP/1.1 server on 127.0.0.1; dropping it (or [`LocalHttpServer::shutdown`]) stops it
/// and closes every open connection.
#[derive(Debug)]
pub struct LocalHttpServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LocalHttpServer {
    /// Binds 127.0.0.1:`port` (0 for a free port) and serves every request with `handler` on
    /// a two-worker runtime in a thread named `name`, so requests run concurrently.
    ///
    /// # Errors
    /// When the port cannot be bound or the thread or runtime cannot be created.
    pub fn start<F, Fut, B>(name: &str, port: u16, handler: F) -> io::Result<Self>
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<B>> + Send + 'static,
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // Bound here, not in the thread, so that a port already in use is reported to the
        // caller rather than lost in a thread.
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("{name}-worker"))
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let handler = Arc::new(handler);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                runtime.block_on(serve(listener, handler, stopped));
                // Dropping the runtime cancels connection tasks still running.
            })?;
        Ok(LocalHttpServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits until its thread has ended.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            // An error means the loop has already ended; nothing left to tell it.
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic in the server thread has already been printed by the panic hook; a
            // second one from here, possibly while the test is unwinding, would abort.
            let _ = thread.join();
        }
    }
}

impl Drop for LocalHttpServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

async fn serve<F, Fut, B>(
    listener: std::net::TcpListener,
    handler: Arc<F>,
    mut stopped: oneshot::Receiver<()>,
) where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("test server: cannot register the listener with tokio: {e}");
            return;
        }
    };
    // Owning the connection tasks here means they are aborted when the loop ends, so a client
    // holding a keep-alive connection cannot keep a stopped server answering.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    // Per-connection failures (a reset before accept, too many open files)
                    // must not stop the server.
                    Err(_) => continue,
                };
                // Without TCP_NODELAY a small response waits for the client's delayed ACK
                // (~40 ms per request), which would swamp any delay a test asks for.
                let _ = stream.set_nodelay(true);
                let handler = Arc::clone(&handler);
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let answer = handler(request);
                        async move { Ok::<_, Infallible>(answer.await) }
                    });
                    // A client that hangs up mid-request is not the server's failure.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
