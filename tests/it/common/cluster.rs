//! Throwaway PostgreSQL clusters for tests. Each test binary starts the clusters it needs once
//! and removes them at exit (an `atexit` hook runs after the test harness finishes).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The passwords of the test roles.
pub const ALICE_PASSWORD: &str = "alice-secret";
pub const MD5_PASSWORD: &str = "md5-secret";
pub const CLEAR_PASSWORD: &str = "clear-secret";

#[derive(Debug, Clone, Copy, Default)]
pub struct ClusterOpts {
    /// Turn on TLS with a certificate made for 127.0.0.1 / localhost.
    pub tls: bool,
}

/// A running PostgreSQL. Roles: `postgres` (superuser, trust), `trust_user` (trust), `alice`
/// (SCRAM), `md5_user` (MD5), `clear_user` (cleartext password); database `app` owned by alice.
#[derive(Debug)]
pub struct Cluster {
    pub port: u16,
    pub dir: PathBuf,
    pub bin: PathBuf,
    /// CA certificate (PEM) that signed the server certificate, when TLS is on.
    pub ca_file: Option<PathBuf>,
}

static CLUSTERS: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());
static PLAIN: OnceLock<Cluster> = OnceLock::new();
static TLS: OnceLock<Cluster> = OnceLock::new();

impl Cluster {
    /// The plain cluster of this test binary.
    pub fn shared() -> &'static Cluster {
        PLAIN.get_or_init(|| Cluster::start(ClusterOpts::default()))
    }

    /// The TLS cluster of this test binary.
    pub fn shared_tls() -> &'static Cluster {
        TLS.get_or_init(|| Cluster::start(ClusterOpts { tls: true }))
    }

    pub fn start(opts: ClusterOpts) -> Cluster {
        let bin = pg_bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("pgask-test-pg")
            .tempdir()
            .expect("temp dir")
            .keep();
        let data = dir.join("data");
        if is_root() {
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(&dir));
        }
        pg(&bin, "initdb", |c| {
            c.arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-locale",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
            ]);
        });
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             host all postgres 127.0.0.1/32 trust\n\
             host all trust_user 127.0.0.1/32 trust\n\
             host all md5_user 127.0.0.1/32 md5\n\
             host all clear_user 127.0.0.1/32 password\n\
             host all all 127.0.0.1/32 scram-sha-256\n",
        )
        .expect("pg_hba.conf");
        // A socket in the cluster's own directory too, for pgask's Unix-socket upstream.
        let mut conf = format!(
            "listen_addresses = '127.0.0.1'\nfsync = off\nmax_connections = 200\nunix_socket_directories = '{}'\n",
            dir.display()
        );
        let ca_file = opts.tls.then(|| {
            let ca = write_certs(&data);
            conf.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
            ca
        });
        std::fs::write(data.join("postgresql.auto.conf"), conf).expect("postgresql.auto.conf");
        if is_root() {
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(&dir));
        }
        let mut port = 0;
        for _ in 0..5 {
            port = free_port();
            let ok = pg_status(&bin, "pg_ctl", |c| {
                c.arg("-D")
                    .arg(&data)
                    .arg("-l")
                    .arg(dir.join("server.log"))
                    .args(["-w", "-t", "60", "-o"])
                    .arg(format!("-p {port}"))
                    .arg("start");
            });
            if ok {
                break;
            }
            port = 0;
        }
        assert!(
            port != 0,
            "PostgreSQL did not start; see {}",
            dir.join("server.log").display()
        );
        CLUSTERS.lock().unwrap().push((bin.clone(), data.clone()));
        register_cleanup();
        let cluster = Cluster {
            port,
            dir,
            bin,
            ca_file,
        };
        cluster.psql_as(
            "postgres",
            "postgres",
            &format!(
                "SET password_encryption = 'scram-sha-256';\
             CREATE ROLE trust_user LOGIN; \
             CREATE ROLE alice LOGIN PASSWORD '{ALICE_PASSWORD}'; \
             CREATE ROLE clear_user LOGIN PASSWORD '{CLEAR_PASSWORD}'; \
             SET password_encryption = 'md5'; \
             CREATE ROLE md5_user LOGIN PASSWORD '{MD5_PASSWORD}'; \
             CREATE DATABASE app OWNER alice; \
             GRANT ALL ON DATABASE app TO PUBLIC;"
            ),
        );
        cluster
    }

    /// Runs SQL with psql over TCP as `user` (trust roles only), panicking on error.
    pub fn psql_as(&self, user: &str, db: &str, sql: &str) -> String {
        use std::io::Write;
        // The SQL goes in on stdin so each statement runs on its own (CREATE DATABASE cannot
        // share a -c transaction).
        let mut child = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                user,
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-XAtq",
                "-f",
                "-",
            ])
            .env("PGSSLMODE", "disable")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("psql");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(sql.as_bytes())
            .expect("psql stdin");
        let out = child.wait_with_output().expect("psql");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A tokio-postgres client connected straight to this cluster (no pgask in between).
    pub async fn client(&self, user: &str, db: &str) -> tokio_postgres::Client {
        let url = format!("host=127.0.0.1 port={} user={user} dbname={db}", self.port);
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect directly");
        tokio::spawn(conn);
        client
    }

    /// Creates a fresh database (owned by alice) and returns its name.
    pub fn create_db(&self, prefix: &str) -> String {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        self.psql_as(
            "postgres",
            "postgres",
            &format!("CREATE DATABASE {name} OWNER alice"),
        );
        name
    }
}

/// Where initdb, pg_ctl, psql and pgbench are: the same search `pgask demo` makes (`PG_BIN`,
/// PATH, then the newest `/usr/lib/postgresql/*/bin`).
pub fn pg_bin_dir() -> PathBuf {
    pgask::demo::cluster::find_bin().expect(
        "PostgreSQL server binaries not found: install the 'postgresql' package or set PG_BIN",
    )
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A command from the PostgreSQL bin dir, run as the postgres user when we are root (initdb and
/// postgres refuse to run as root).
fn pg_command(bin: &Path, tool: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn pg(bin: &Path, tool: &str, args: impl FnOnce(&mut Command)) {
    assert!(pg_status(bin, tool, args), "{tool} failed");
}

fn pg_status(bin: &Path, tool: &str, args: impl FnOnce(&mut Command)) -> bool {
    let mut c = pg_command(bin, tool);
    args(&mut c);
    c.stdout(std::process::Stdio::null());
    c.status().map(|s| s.success()).unwrap_or(false)
}

fn run(c: &mut Command) {
    let status = c.status().expect("command");
    assert!(status.success(), "{c:?} failed");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Writes a CA and a server certificate for localhost/127.0.0.1 into `dir`; returns the CA path.
pub fn write_certs(dir: &Path) -> PathBuf {
    let (cert, key, ca) = make_certs();
    std::fs::write(dir.join("server.crt"), cert).unwrap();
    std::fs::write(dir.join("server.key"), key).unwrap();
    std::fs::set_permissions(
        dir.join("server.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(dir.join("ca.crt"), ca).unwrap();
    dir.join("ca.crt")
}

/// A server certificate and key for localhost/127.0.0.1, and the CA that signed it (PEM).
pub fn make_certs() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "pgask test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem(), ca.pem())
}

fn register_cleanup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a plain extern "C" function.
        unsafe { libc::atexit(cleanup) };
    });
}

static TEMP_PATHS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes `path` (a file or directory) when the test binary exits.
pub fn remove_at_exit(path: PathBuf) {
    register_cleanup();
    TEMP_PATHS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path);
}

extern "C" fn cleanup() {
    for p in std::mem::take(&mut *TEMP_PATHS.lock().unwrap_or_else(|e| e.into_inner())) {
        let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
    }
    let clusters = std::mem::take(&mut *CLUSTERS.lock().unwrap_or_else(|e| e.into_inner()));
    for (bin, data) in clusters {
        pg_status(&bin, "pg_ctl", |c| {
            c.arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "-w", "stop"]);
        });
        if let Some(dir) = data.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
