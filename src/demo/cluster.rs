//! A throwaway local PostgreSQL for `pgask demo`: initdb into a temp dir, pg_ctl on a free
//! port, and on drop `pg_ctl stop` and the temp dir removed.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why the throwaway cluster could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) were found neither on PATH nor in \
         /usr/lib/postgresql/*/bin; install them (Debian/Ubuntu: `sudo apt-get install -y \
         postgresql`, Fedora: `postgresql-server`, macOS: `brew install postgresql`) or set PG_BIN"
    )]
    NotFound,
    #[error("running as root needs a `postgres` OS user to run the server as (PostgreSQL refuses root): {0}")]
    NoPostgresUser(String),
    #[error("{tool} failed ({status}){log}")]
    Tool {
        tool: &'static str,
        status: String,
        log: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// A running throwaway cluster. Superuser `postgres`, trust authentication, on 127.0.0.1 only.
#[derive(Debug)]
pub struct LocalCluster {
    bin: PathBuf,
    /// The temp dir holding the data directory and the server log; removed on drop.
    pub dir: PathBuf,
    pub port: u16,
    root: bool,
    running: bool,
}

impl LocalCluster {
    /// Finds the server binaries, runs initdb in a fresh temp dir and starts the server.
    pub fn start() -> Result<LocalCluster, ClusterError> {
        let bin = find_bin().ok_or(ClusterError::NotFound)?;
        let root = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let dir = make_temp_dir()?;
        // From here on, drop cleans up whatever was made.
        let mut cluster = LocalCluster {
            bin,
            dir,
            port: 0,
            root,
            running: false,
        };
        cluster.init()?;
        cluster.launch()?;
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn init(&self) -> Result<(), ClusterError> {
        if self.root {
            let out = Command::new("chown")
                .arg("postgres:")
                .arg(&self.dir)
                .output()
                .map_err(|source| io("running chown", source))?;
            if !out.status.success() {
                return Err(ClusterError::NoPostgresUser(
                    String::from_utf8_lossy(&out.stderr).trim().to_string(),
                ));
            }
        }
        let mut initdb = self.tool("initdb");
        initdb.arg("-D").arg(self.data()).args([
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-locale",
            "--auth=trust",
            "--no-sync",
        ]);
        self.check("initdb", initdb)?;
        let conf = "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n\
                    fsync = off\nsynchronous_commit = off\n";
        std::fs::write(self.data().join("postgresql.auto.conf"), conf)
            .map_err(|source| io("writing postgresql.auto.conf", source))
    }

    fn launch(&mut self) -> Result<(), ClusterError> {
        let mut last = None;
        for _ in 0..5 {
            let port = free_port()?;
            let mut start = self.tool("pg_ctl");
            start
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.join("server.log"))
                .args(["-w", "-t", "60", "-o"])
                .arg(format!("-p {port}"))
                .arg("start");
            match self.check("pg_ctl start", start) {
                Ok(()) => {
                    self.port = port;
                    self.running = true;
                    return Ok(());
                }
                // Another process may have taken the port in between: try another one. A
                // start that timed out may have left a server running: stop it first.
                Err(e) => {
                    if self.data().join("postmaster.pid").exists() {
                        let mut stop = self.tool("pg_ctl");
                        stop.arg("-D")
                            .arg(self.data())
                            .args(["-m", "immediate", "-w", "stop"]);
                        let _ = self.check("pg_ctl stop", stop);
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(ClusterError::Tool {
            tool: "pg_ctl start",
            status: "no attempt".into(),
            log: String::new(),
        }))
    }

    /// Stops the server and removes the temp dir (also done on drop).
    pub fn stop(&mut self) {
        if self.running {
            let mut stop = self.tool("pg_ctl");
            stop.arg("-D")
                .arg(self.data())
                .args(["-m", "fast", "-w", "-t", "30", "stop"]);
            if let Err(e) = self.check("pg_ctl stop", stop) {
                tracing::warn!(error = %e, "stopping the demo cluster");
            }
            self.running = false;
        }
        if self.dir.exists() {
            if let Err(e) = std::fs::remove_dir_all(&self.dir) {
                tracing::warn!(error = %e, dir = %self.dir.display(), "removing the demo cluster");
            }
        }
    }

    /// A tool from the server's bin dir, run as `postgres` when we are root.
    fn tool(&self, name: &str) -> Command {
        let mut c = if self.root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(name));
            c
        } else {
            Command::new(self.bin.join(name))
        };
        c.stdin(Stdio::null()).stdout(Stdio::null());
        c
    }

    fn check(&self, tool: &'static str, mut command: Command) -> Result<(), ClusterError> {
        let out = command
            .stderr(Stdio::piped())
            .output()
            .map_err(|source| io(&format!("running {tool}"), source))?;
        if out.status.success() {
            return Ok(());
        }
        let mut log = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if let Ok(server_log) = std::fs::read_to_string(self.dir.join("server.log")) {
            let tail: Vec<&str> = server_log.lines().rev().take(5).collect();
            log.push('\n');
            log.push_str(&tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        let log = if log.trim().is_empty() {
            String::new()
        } else {
            format!(": {}", log.trim())
        };
        Err(ClusterError::Tool {
            tool,
            status: out.status.to_string(),
            log,
        })
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn io(what: &str, source: std::io::Error) -> ClusterError {
    ClusterError::Io {
        what: what.to_string(),
        source,
    }
}

/// `PG_BIN`, then the directory of an `initdb` on PATH, then the newest
/// `/usr/lib/postgresql/<version>/bin`.
pub fn find_bin() -> Option<PathBuf> {
    let usable = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("PG_BIN").map(PathBuf::from) {
        return usable(&dir).then_some(dir);
    }
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            // Follow links: /usr/local/bin/initdb may point into the server's own bin dir.
            .filter_map(|d| std::fs::canonicalize(d.join("initdb")).ok())
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .find(|d| usable(d))
    });
    if on_path.is_some() {
        return on_path;
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e
                .file_name()
                .to_string_lossy()
                .split('.')
                .next()?
                .parse()
                .ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| usable(bin))
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn make_temp_dir() -> Result<PathBuf, ClusterError> {
    let base = std::env::temp_dir();
    for n in 0..100u32 {
        let dir = base.join(format!("pgask-demo-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(io(&format!("creating {}", dir.display()), source)),
        }
    }
    Err(io(
        "creating a temp dir",
        std::io::Error::other("too many pgask-demo dirs"),
    ))
}

fn free_port() -> Result<u16, ClusterError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| io("finding a free port", source))
}
