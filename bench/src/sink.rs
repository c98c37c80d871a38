//! Where the Stripe stand-in delivers its webhooks: answers 200 and keeps each body, so that the
//! harness can hand exactly those events to the stripe-webhook bootstrap itself.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::BufReader;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::http1::{self, Kind};

pub struct Sink {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    task: JoinHandle<()>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Sink {
    pub async fn start() -> io::Result<Sink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let received: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let store = received.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let store = store.clone();
                        connections.spawn(async move {
                            let (reader, mut writer) = stream.into_split();
                            let mut reader = BufReader::new(reader);
                            while let Ok(Some(request)) = http1::read_message(&mut reader, Kind::Request).await {
                                let closes = request.closes();
                                store.lock().unwrap_or_else(|e| e.into_inner()).push(request.body);
                                let answer = http1::write_response(
                                    &mut writer, 200, &[("Content-Type", "application/json")], b"{\"received\":true}",
                                ).await;
                                if answer.is_err() || closes {
                                    break;
                                }
                            }
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(Sink {
            addr,
            received,
            task,
        })
    }

    /// The delivered event with this id (its exact bytes).
    pub fn event(&self, id: &str) -> Option<Vec<u8>> {
        let received = self.received.lock().unwrap_or_else(|e| e.into_inner());
        received
            .iter()
            .rev()
            .find(|body| {
                serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .is_some_and(|v| v["id"] == id)
            })
            .cloned()
    }
}
