//! Test harness: throwaway PostgreSQL clusters (initdb + pg_ctl on a free port in a temp dir,
//! removed when the test binary exits), an in-process pgask in front of them, and a raw protocol
//! client that records every byte the server sends.
#![allow(dead_code, unused_imports)]

pub mod ask;
pub mod cluster;
pub mod data;
pub mod proxy;
pub mod raw;

pub use cluster::{Cluster, ClusterOpts};
pub use proxy::Proxy;
pub use raw::RawClient;
