//! A link to the local API server that answers late, as a loaded or distant
//! one does: every byte it sends reaches the client `delay` later. TLS passes
//! through untouched; only the port differs from the real server's.

use crate::support::kubeconfig_for_server;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub struct SlowLink {
    address: SocketAddr,
    accepting: JoinHandle<()>,
}

impl SlowLink {
    /// Starts accepting connections that it forwards to `upstream`.
    pub async fn start(upstream: SocketAddr, delay: Duration) -> SlowLink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(forward(client, upstream, delay));
            }
        });
        SlowLink { address, accepting }
    }

    /// A copy of the admin kubeconfig that reaches the API server through this link.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        kubeconfig_for_server(&format!("https://{}", self.address), dir)
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn forward(client: TcpStream, upstream: SocketAddr, delay: Duration) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    tokio::spawn(async move { tokio::io::copy(&mut from_client, &mut to_server).await });
    // Chunks keep their order and each waits out the delay from when it was read.
    let (late, mut due) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    tokio::spawn(async move {
        while let Some((at, chunk)) = due.recv().await {
            tokio::time::sleep_until(at).await;
            if to_client.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let mut buffer = vec![0; 16 * 1024];
    while let Ok(read @ 1..) = from_server.read(&mut buffer).await {
        if late
            .send((Instant::now() + delay, buffer[..read].to_vec()))
            .is_err()
        {
            return;
        }
    }
}
