//! An in-process pgask for tests, in front of a test cluster.

use std::net::SocketAddr;
use std::sync::Arc;

use pgask::config::{Config, UpstreamTls};
use pgask::server::{Server, Shared};

use super::Cluster;

pub struct Proxy {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy with default settings (plain upstream) in front of `cluster`.
    pub async fn start(cluster: &Cluster) -> Proxy {
        Proxy::start_with(cluster, |_| {}).await
    }

    /// A proxy in front of `cluster`, after `edit` has changed its config.
    pub async fn start_with(cluster: &Cluster, edit: impl FnOnce(&mut Config)) -> Proxy {
        let mut config = Config {
            listen_addr: "127.0.0.1:0".parse().unwrap(),
            shutdown_grace_secs: 2,
            ..Config::default()
        };
        config.upstream.port = cluster.port;
        config.upstream.tls = UpstreamTls::Disable;
        // No history file in the working tree; tests that want one set it.
        config.history.file = Default::default();
        edit(&mut config);
        config.validate().expect("test config");
        let server = Server::bind(config).await.expect("bind pgask");
        let addr = server.local_addr().unwrap();
        let shared = server.shared();
        let task = tokio::spawn(server.run());
        Proxy { addr, shared, task }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A tokio-postgres connection string through pgask.
    pub fn url(&self, user: &str, password: &str, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} password='{password}' dbname={db} sslmode=disable",
            self.port()
        )
    }
}

impl Proxy {
    /// Logs in through pgask with tokio-postgres; the connection task runs in the background.
    pub async fn connect(
        &self,
        user: &str,
        password: &str,
        db: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, conn) =
            tokio_postgres::connect(&self.url(user, password, db), tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        Ok(client)
    }

    /// Logs in as the SCRAM role `alice` to `postgres`, panicking on failure.
    pub async fn alice(&self) -> tokio_postgres::Client {
        self.connect("alice", super::cluster::ALICE_PASSWORD, "postgres")
            .await
            .expect("login through pgask")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.force_close.cancel();
        self.shared.shutdown.cancel();
        self.task.abort();
    }
}
