//! Running the workspace's binaries as separate processes against the emulator: their environment
//! (as `docclass infra up` exports it), their lifetime, signals and plain HTTP to their endpoints.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::binaries::binary;

/// The environment every process gets: the emulator, credentials, and what `infra up` printed.
pub struct Environment {
    variables: Vec<(String, String)>,
    /// Where the binaries are; `None` for the ones `cargo test` built.
    binaries: Option<std::path::PathBuf>,
}

impl Environment {
    /// Credentials and region for the emulator at `endpoint`, resources under the prefix `stack`.
    pub fn on_emulator(endpoint: &str, stack: &str) -> Self {
        let variables = [
            ("AWS_ENDPOINT_URL", endpoint),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("DOCCLASS_STACK", stack),
            ("RUST_LOG", "info"),
            // Any free port for /metrics unless a test names one: the defaults may be taken here.
            ("DOCCLASS_METRICS_ADDR", "127.0.0.1:0"),
        ];
        let variables = variables.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        Self { variables, binaries: None }
    }

    /// The same, running the binaries in `folder` (a release build, say) instead of the test build's.
    pub fn with_binaries(self, folder: &Path) -> Self {
        Self { binaries: Some(folder.to_owned()), ..self }
    }

    /// Sets (or replaces) a variable.
    pub fn set(&mut self, name: &str, value: &str) {
        self.variables.retain(|(key, _)| key != name);
        self.variables.push((name.to_owned(), value.to_owned()));
    }

    /// Runs `docclass infra up` with `flags` and adds the variables it exports — all a service needs.
    ///
    /// # Panics
    /// When it fails or prints anything but export lines.
    pub fn infra_up(&mut self, flags: &[&str]) {
        let up = self.command("docclass").args(["infra", "up"]).args(flags).output().unwrap();
        assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
        for line in String::from_utf8(up.stdout).unwrap().lines() {
            let (name, value) =
                line.strip_prefix("export ").and_then(|l| l.split_once('=')).expect("only export lines");
            self.set(name, value);
        }
    }

    /// Runs `docclass infra down`.
    ///
    /// # Panics
    /// When it fails.
    pub fn infra_down(&self) {
        assert!(self.command("docclass").args(["infra", "down"]).status().unwrap().success());
    }

    /// A variable's value.
    ///
    /// # Panics
    /// When it is not set.
    pub fn get(&self, name: &str) -> &str {
        &self.variables.iter().find(|(key, _)| key == name).unwrap_or_else(|| panic!("{name} not exported")).1
    }

    /// Binary `name` with this environment.
    pub fn command(&self, name: &str) -> Command {
        let mut command = Command::new(self.binaries.as_ref().map_or_else(|| binary(name), |folder| folder.join(name)));
        command.envs(self.variables.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command
    }

    /// Starts binary `name`, its stderr logged to a file in `log` — or to the test's own output under
    /// `TEST_LOG` ([`crate::test_log`]).
    pub fn spawn(&self, name: &str, log: &Path) -> Service {
        let mut command = self.command(name);
        command.stdin(Stdio::null()).stdout(Stdio::null());
        match crate::test_log() {
            Some(level) => {
                if level != "1" && level != "true" {
                    command.env("RUST_LOG", level);
                }
                command.stderr(Stdio::inherit())
            }
            None => {
                command.stderr(std::fs::File::create(log.join(format!("{name}-{}.log", fastrand::u32(..)))).unwrap())
            }
        };
        Service(command.spawn().unwrap())
    }
}

/// A service process, killed if the test ends early so that a failure leaves nothing running.
pub struct Service(pub Child);

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Sends `signal` (`-TERM`, `-KILL`) to the service.
///
/// # Panics
/// When `kill` fails.
pub fn signal(service: &Service, signal: &str) {
    assert!(Command::new("kill").args([signal, &service.0.id().to_string()]).status().unwrap().success());
}

/// A plain HTTP/1.0 GET, enough for the health and metrics endpoints; answers the whole response.
///
/// # Panics
/// When nothing listens on `port`.
pub fn http_get(port: u16, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// A port nothing listens on right now.
///
/// # Panics
/// When no port can be bound.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Sends SIGTERM and waits for the service to exit; answers its exit status.
///
/// # Panics
/// When it is still running after `within`.
pub async fn terminate(service: &mut Service, within: std::time::Duration) -> std::process::ExitStatus {
    signal(service, "-TERM");
    let stopping = std::time::Instant::now();
    loop {
        if let Some(status) = service.0.try_wait().unwrap() {
            return status;
        }
        assert!(stopping.elapsed() < within, "a service did not stop on SIGTERM within {within:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
