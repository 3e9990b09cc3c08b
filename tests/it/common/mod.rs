//! Test harness: throwaway PostgreSQL clusters (initdb + pg_ctl on a free port in a temp dir,
//! removed when the test binary exits), an in-process pgask in front of them, and a raw protocol
//! client that records every byte the server sends.
#![allow(dead_code, unused_imports)]

pub mod ask;
pub mod cluster;
pub mod data;
pub mod llm_server;
pub mod proxy;
pub mod raw;

pub use cluster::{Cluster, ClusterOpts};
pub use proxy::Proxy;
pub use raw::RawClient;

/// Whether `program args` runs successfully (a driver runtime the test needs). Missing, the test
/// is skipped locally but fails under CI=true, where `.ci/run` installs every runtime.
pub fn runtime_present(program: &str, args: &[&str]) -> bool {
    let ok = std::process::Command::new(program)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{program} {args:?} failed; .ci/run must install it"
        );
        eprintln!("skipping: {program} {args:?} not available");
    }
    ok
}
