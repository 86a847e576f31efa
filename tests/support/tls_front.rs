//! One endpoint in front of the test servers: over HTTPS, with a certificate for `localhost`
//! issued by a certificate authority made for the test, so that trusting a private CA
//! (`--ca-bundle`, `AWS_CA_BUNDLE`) is tested over real TLS; or over plain HTTP, for a client
//! configured with one endpoint for every service.
//!
//! Requests in absolute form (`GET http://host/path`, what a client sends to an HTTP proxy) go
//! where they name, so the front also serves as the HTTP proxy of `HTTP_PROXY` tests; it
//! counts them.
//!
//! One endpoint serves every AWS call, as `--endpoint-url` asks: CloudTrail and Account calls
//! (JSON protocol, recognised by `X-Amz-Target` or Account's `/listRegions` path) and STS
//! calls (a form-encoded body) go to the CloudTrail stub, everything else to the S3 server. Requests are forwarded unchanged over
//! plain HTTP, `Host` header included.

use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

/// A certificate authority and a server certificate it issued for `localhost`.
pub struct TestCa {
    /// The CA's certificate, PEM: what a client is told to trust.
    pub ca_pem: String,
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
}

impl TestCa {
    /// A new CA and a certificate for `localhost` and 127.0.0.1 signed by it.
    ///
    /// # Panics
    /// When key generation fails (it does not, short of a broken crypto library).
    pub fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ctverify test CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let leaf_key = KeyPair::generate().expect("server key");
        let leaf_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("server params");
        let leaf = leaf_params
            .signed_by(&leaf_key, &ca, &ca_key)
            .expect("server certificate");
        TestCa {
            ca_pem: ca.pem(),
            chain: vec![leaf.der().clone()],
            key: rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// The front; stops when dropped.
pub struct TlsFront {
    addr: SocketAddr,
    backends: Arc<Backends>,
    tls: bool,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsFront {
    /// Serves HTTPS on 127.0.0.1 with `ca`'s server certificate (plain HTTP without one),
    /// forwarding to `s3` and `cloudtrail` (both `http://127.0.0.1:PORT`).
    ///
    /// # Errors
    /// When the port cannot be bound or the TLS configuration is refused.
    pub fn start(ca: Option<&TestCa>, s3: &str, cloudtrail: &str) -> io::Result<Self> {
        let acceptor = match ca {
            Some(ca) => {
                let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
                let config = rustls::ServerConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(io::Error::other)?
                    .with_no_client_auth()
                    .with_single_cert(ca.chain.clone(), ca.key.clone_key())
                    .map_err(io::Error::other)?;
                Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
            }
            None => None,
        };
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let backends = Arc::new(Backends {
            s3: s3.parse().map_err(io::Error::other)?,
            cloudtrail: cloudtrail.parse().map_err(io::Error::other)?,
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            proxied: std::sync::atomic::AtomicUsize::new(0),
        });
        let served = backends.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tls-front".into())
            .spawn(move || runtime.block_on(serve(listener, acceptor, served, stopped)))?;
        Ok(TlsFront {
            addr,
            backends,
            tls: ca.is_some(),
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `https://localhost:PORT`, matching the certificate's name, or `http://127.0.0.1:PORT`.
    /// An AWS session sending every call to this front, in us-east-1, with the test
    /// credentials: what an embedder's `SdkConfig` would be against LocalStack.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new("test", "test", None, None, "test"),
                ),
            )
            .build()
    }

    /// How many requests came in absolute form, as to a proxy.
    pub fn proxied(&self) -> usize {
        self.backends
            .proxied
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The endpoint.
    pub fn endpoint(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.addr.port())
        } else {
            format!("http://{}", self.addr)
        }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Backends {
    s3: Uri,
    cloudtrail: Uri,
    client: Client<HttpConnector, Incoming>,
    proxied: std::sync::atomic::AtomicUsize,
}

impl Backends {
    async fn forward(
        &self,
        mut request: Request<Incoming>,
    ) -> Response<http_body_util::Either<Incoming, String>> {
        if request.uri().scheme().is_some() {
            // Proxy form: the request names its server.
            self.proxied
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return match self.client.request(request).await {
                Ok(response) => response.map(http_body_util::Either::Left),
                Err(e) => bad_gateway(format!("proxying failed: {e}")),
            };
        }
        // STS (query protocol: a form-encoded POST to `/`) goes to the stub too; S3 never
        // receives form bodies from the verifier.
        let form = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| {
                v.as_bytes()
                    .starts_with(b"application/x-www-form-urlencoded")
            });
        let json_api = request.headers().contains_key("x-amz-target")
            || request.uri().path() == "/listRegions"
            || form;
        let backend = if json_api { &self.cloudtrail } else { &self.s3 };
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let uri = format!(
            "http://{}{path}",
            backend.authority().map_or("127.0.0.1", |a| a.as_str())
        );
        match uri.parse() {
            Ok(uri) => *request.uri_mut() = uri,
            Err(e) => return bad_gateway(format!("bad URI {uri}: {e}")),
        }
        match self.client.request(request).await {
            Ok(response) => response.map(http_body_util::Either::Left),
            Err(e) => bad_gateway(format!("forwarding failed: {e}")),
        }
    }
}

fn bad_gateway(text: String) -> Response<http_body_util::Either<Incoming, String>> {
    let mut response = Response::new(http_body_util::Either::Right(text));
    *response.status_mut() = http::StatusCode::BAD_GATEWAY;
    response
}

async fn serve(
    listener: std::net::TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    backends: Arc<Backends>,
    mut stopped: oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        eprintln!("tls front: cannot register the listener with tokio");
        return;
    };
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let (acceptor, backends) = (acceptor.clone(), backends.clone());
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let backends = backends.clone();
                        async move { Ok::<_, Infallible>(backends.forward(request).await) }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    let _ = match acceptor {
                        // A client that refuses the certificate ends the handshake: not a
                        // failure of the server, and exactly what one test expects.
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(tls) => http.serve_connection(TokioIo::new(tls), service).await,
                            Err(_) => return,
                        },
                        None => http.serve_connection(TokioIo::new(stream), service).await,
                    };
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
