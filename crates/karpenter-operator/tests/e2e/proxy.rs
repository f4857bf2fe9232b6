//! A TCP proxy between the controller and the API server that the test can cut: while cut, every open
//! connection (watches included) is dropped and new ones are closed at once, as when the API server restarts;
//! when restored, connections pass again. The harness's API server is shared, so the test breaks the path to it
//! rather than the server itself.
#![cfg(feature = "cluster-tests")]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

struct State {
    up: AtomicBool,
    connections: Mutex<Vec<AbortHandle>>,
}

/// The proxy.
pub(crate) struct Proxy {
    /// The loopback port it listens on.
    pub(crate) port: u16,
    state: Arc<State>,
    accept: AbortHandle,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub(crate) async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State { up: AtomicBool::new(true), connections: Mutex::new(Vec::new()) });
        let accepting = Arc::clone(&state);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { continue };
                if !accepting.up.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let connection = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                accepting.connections.lock().unwrap().push(connection.abort_handle());
            }
        })
        .abort_handle();
        Proxy { port, state, accept }
    }

    /// Drops every connection and refuses new ones.
    pub(crate) fn cut(&self) {
        self.state.up.store(false, Ordering::SeqCst);
        for connection in self.state.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    /// Lets connections through again.
    pub(crate) fn restore(&self) {
        self.state.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
