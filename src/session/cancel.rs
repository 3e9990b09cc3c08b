//! Query cancellation across the proxy. Each client gets pgask's own BackendKeyData (the
//! upstream's pid and a fresh random secret); this map leads a client's CancelRequest to the
//! upstream key, and a wrong key is ignored, as PostgreSQL does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rand::RngCore;
use tokio::io::AsyncWriteExt;

use super::upstream::{self, Upstream};
use super::SessionError;
use crate::net::startup::CancelKey;

/// Where a cancel for one session must go.
#[derive(Debug, Clone)]
pub struct Target {
    pub upstream: Upstream,
    pub key: CancelKey,
    /// Woken by a cancel, so that an ask being generated (nothing running upstream) stops too.
    pub asks: Arc<tokio::sync::Notify>,
}

/// Live sessions by the key pgask gave their client.
#[derive(Debug, Clone, Default)]
pub struct CancelMap(Arc<Mutex<HashMap<CancelKey, Target>>>);

impl CancelMap {
    /// Makes the client's key for an upstream key and remembers it until the guard drops.
    pub fn register(&self, target: Target) -> CancelGuard {
        let mut secret = vec![0u8; target.key.secret.len().max(4)];
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let key = loop {
            rand::rng().fill_bytes(&mut secret);
            let key = CancelKey {
                pid: target.key.pid,
                secret: secret.clone(),
            };
            if !map.contains_key(&key) {
                break key;
            }
        };
        let asks = target.asks.clone();
        map.insert(key.clone(), target);
        CancelGuard {
            map: self.clone(),
            key,
            asks,
        }
    }

    pub fn lookup(&self, key: &CancelKey) -> Option<Target> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Keeps a session's cancel key registered while the session lives.
#[derive(Debug)]
pub struct CancelGuard {
    map: CancelMap,
    pub key: CancelKey,
    /// The session's side of [`Target::asks`].
    pub asks: Arc<tokio::sync::Notify>,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        self.map
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

/// Sends the upstream CancelRequest for `key` if it belongs to a live session.
pub async fn forward(map: &CancelMap, key: &CancelKey) -> Result<bool, SessionError> {
    let Some(target) = map.lookup(key) else {
        return Ok(false);
    };
    target.asks.notify_waiters();
    let mut stream = upstream::connect(&target.upstream).await?;
    stream
        .write_all(&target.key.cancel_request())
        .await
        .map_err(SessionError::UpstreamIo)?;
    stream.flush().await.map_err(SessionError::UpstreamIo)?;
    // PostgreSQL answers a cancel by closing the connection; nothing to read.
    let _ = stream.shutdown().await;
    Ok(true)
}
