//! Serving: the accept loop and the connection handling that lets a fault
//! close a connection without answering, which `axum::serve` cannot do.

use crate::admin::Admin;
use crate::faults::Faults;
use crate::reply::AbortConnection;
use crate::state::Store;
use crate::{control, vendor};
use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower_service::Service;

/// How the fake starts.
#[derive(Clone, Default)]
pub struct Config {
    /// The accepted `X-API-Key` values (more can be set at run time).
    pub api_keys: Vec<String>,
    /// Sessions that exist from the start, ACTIVE.
    pub sessions: Vec<String>,
    /// Whether only the sessions named (here or at run time) exist;
    /// otherwise every session exists and is ACTIVE until set otherwise.
    pub only_known_sessions: bool,
    pub faults: Faults,
}

/// A running fake; dropping it stops the server and closes its connections.
pub struct FakeServer {
    url: String,
    admin: Admin,
    /// Never sent on: dropping it is what tells the tasks to stop.
    _stop: watch::Sender<()>,
}

impl FakeServer {
    /// Serves on a free port of 127.0.0.1.
    pub async fn start(config: Config) -> anyhow::Result<FakeServer> {
        FakeServer::serve(TcpListener::bind("127.0.0.1:0").await?, config).await
    }

    /// Serves on `listener`, on a task of the current tokio runtime.
    pub async fn serve(listener: TcpListener, config: Config) -> anyhow::Result<FakeServer> {
        if config.api_keys.iter().any(String::is_empty) {
            anyhow::bail!("an API key must not be empty");
        }
        config.faults.validate().map_err(anyhow::Error::msg)?;
        let address = reachable(listener.local_addr()?);
        let url = format!("http://{address}");
        let store = Arc::new(Store::new(&config, address.to_string()));
        let router = Router::new()
            .merge(vendor::routes())
            .nest("/api", vendor::routes())
            .nest("/_fake", control::routes())
            .with_state(store);
        let (stop, stopped) = watch::channel(());
        tokio::spawn(accept(listener, router, stopped));
        Ok(FakeServer {
            admin: Admin::new(&url),
            url,
            _stop: stop,
        })
    }

    /// `http://127.0.0.1:PORT`: the base URL of the vendor API, also served
    /// under `/api` like the real one.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// A client of this fake's control API.
    pub fn admin(&self) -> Admin {
        self.admin.clone()
    }
}

/// The address to call for one bound to all interfaces.
fn reachable(mut address: SocketAddr) -> SocketAddr {
    if address.ip().is_unspecified() {
        let loopback = match address {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        address.set_ip(loopback);
    }
    address
}

async fn accept(listener: TcpListener, router: Router, mut stopped: watch::Receiver<()>) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Typically out of file descriptors under a benchmark's
                    // load: wait for some connections to close, don't spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.changed() => return,
        };
        tokio::spawn(connection(stream, router.clone(), stopped.clone()));
    }
}

async fn connection(stream: TcpStream, router: Router, mut stopped: watch::Receiver<()>) {
    // Answers are small and latency matters to benchmarks.
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let mut router = router.clone();
        async move {
            let Ok(response) = router.call(request).await;
            // An error from the service makes hyper close the connection
            // without writing anything (HTTP/1), or reset just this stream
            // (HTTP/2): the client sees a broken call, as with a real outage.
            if response.extensions().get::<AbortConnection>().is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "fault: no answer",
                ));
            }
            Ok(response)
        }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::select! {
        served = builder.serve_connection(TokioIo::new(stream), service) => {
            if let Err(error) = served {
                tracing::debug!(%error, "connection ended");
            }
        }
        _ = stopped.changed() => {}
    }
}
