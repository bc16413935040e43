//! A TCP load balancer in front of the instances' inbound listeners, as a deployment has one in front of
//! its Snodo instances: the pagoPA node simulator calls one URL, and TLS passes through untouched (the
//! instances' certificates and the node's client certificate are checked end to end). A connection goes
//! to the next instance in turn; an instance that refuses (killed, restarting) is skipped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct Balancer {
    pub addr: SocketAddr,
    backends: Arc<Mutex<Vec<(String, SocketAddr)>>>,
}

impl Balancer {
    pub async fn start(stop: CancellationToken) -> Balancer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the balancer");
        let addr = listener.local_addr().expect("the balancer's address");
        let backends: Arc<Mutex<Vec<(String, SocketAddr)>>> = Arc::default();
        let next = Arc::new(AtomicUsize::new(0));
        let shared = backends.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stop.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((mut client, _)) = accepted else { continue };
                let candidates: Vec<SocketAddr> = shared.lock().iter().map(|(_, a)| *a).collect();
                let first = next.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    for i in 0..candidates.len() {
                        let target = candidates[(first + i) % candidates.len()];
                        if let Ok(mut upstream) = TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                            return;
                        }
                    }
                    // No instance answers: the caller sees the connection close, as behind a real one.
                });
            }
        });
        Balancer { addr, backends }
    }

    /// Puts `name` behind the balancer at `addr`, replacing its previous address.
    pub fn set(&self, name: &str, addr: SocketAddr) {
        let mut backends = self.backends.lock();
        backends.retain(|(n, _)| n != name);
        backends.push((name.to_owned(), addr));
    }

    /// Takes `name` out (before a planned stop, as an operator drains a node).
    pub fn remove(&self, name: &str) {
        self.backends.lock().retain(|(n, _)| n != name);
    }
}
