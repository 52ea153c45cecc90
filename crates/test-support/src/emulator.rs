//! An AWS emulator for the tests: moto server, started once per test process on 127.0.0.1 (or on an
//! address containers reach), and what the tests ask it.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The endpoint of a running emulator: `DOCCLASS_TEST_AWS_ENDPOINT` if set, else a moto server this
/// process starts on 127.0.0.1 and a free port.
///
/// # Panics
/// As [`EmulatorServer::moto`].
pub fn endpoint() -> String {
    static EMULATOR: OnceLock<(String, Mutex<Option<EmulatorServer>>)> = OnceLock::new();
    EMULATOR
        .get_or_init(|| {
            if let Some(endpoint) = std::env::var_os("DOCCLASS_TEST_AWS_ENDPOINT") {
                return (endpoint.to_string_lossy().into_owned(), Mutex::new(None));
            }
            let server = EmulatorServer::moto("127.0.0.1");
            (server.endpoint.clone(), Mutex::new(Some(server)))
        })
        .0
        .clone()
}

/// How the AWS SDK reaches an emulator at `endpoint`: its region and the dummy credentials it accepts.
pub fn settings(endpoint: &str) -> adapters_aws::AwsSettings {
    adapters_aws::AwsSettings {
        endpoint_url: Some(endpoint.to_owned()),
        region: Some("us-east-1".into()),
        static_credentials: Some(("test".into(), "test".into())),
    }
}

/// An emulator server of this process (moto server or ministack). It stops when this is dropped or the
/// process exits, whichever comes first: it runs under a shell that waits on a pipe from us and kills it
/// when the pipe closes — a `static` is never dropped, and a killed test leaves no server behind either.
pub struct EmulatorServer {
    /// `http://host:port`.
    pub endpoint: String,
    shell: Child,
}

impl EmulatorServer {
    /// Starts moto server on `host` (an address of this machine, or 0.0.0.0 for all of them) and a free
    /// port.
    ///
    /// # Panics
    /// When moto server is not installed (`pip install 'moto[server]'`; `scripts/test.sh` does it) or
    /// does not answer within 60 s.
    pub fn moto(host: &str) -> Self {
        let port = TcpListener::bind((host, 0)).unwrap().local_addr().unwrap().port();
        let command = format!("python3 -m moto.server -H {host} -p {port} >/dev/null 2>&1");
        Self::start(
            &command,
            host,
            port,
            "moto server; install it with pip install 'moto[server]' (scripts/test.sh does)",
        )
    }

    /// Starts ministack on `host` (an address of this machine, or 0.0.0.0 for all of them) and a free
    /// port, its output in `log`; its MQTT listener (a fixed port, 8883) off, so that two of them can run
    /// side by side.
    ///
    /// # Panics
    /// When ministack is not installed (`pip install ministack`) or does not answer within 60 s.
    pub fn ministack(host: &str, log: &std::path::Path) -> Self {
        let port = TcpListener::bind((host, 0)).unwrap().local_addr().unwrap().port();
        let command = format!(
            "BIND_HOST={host} GATEWAY_PORT={port} IOT_MTLS_ENABLED=0 python3 -m ministack >'{}' 2>&1",
            log.display()
        );
        Self::start(&command, host, port, &format!("ministack (see {})", log.display()))
    }

    fn start(command: &str, host: &str, port: u16, what: &str) -> Self {
        let script = format!("{command} & pid=$!; read _; kill $pid");
        let mut shell = Command::new("sh").args(["-c", &script]).stdin(Stdio::piped()).spawn().expect("sh starts");
        let started = Instant::now();
        let reach = if host == "0.0.0.0" { "127.0.0.1" } else { host };
        while TcpStream::connect((reach, port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "{what} did not answer on {host}:{port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = shell.stdin.as_mut().map(|stdin| stdin.flush());
        Self { endpoint: format!("http://{reach}:{port}"), shell }
    }
}

impl Drop for EmulatorServer {
    fn drop(&mut self) {
        drop(self.shell.stdin.take());
        let _ = self.shell.wait();
    }
}

/// A new S3 bucket `name` on the emulator at `endpoint` (moto: ministack has no S3), and a client for it.
///
/// # Panics
/// When it cannot be created.
pub async fn create_bucket(endpoint: &str, name: &str) -> aws_sdk_s3::Client {
    let config = adapters_aws::load_sdk_config(&settings(endpoint)).await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build());
    s3.create_bucket().bucket(name).send().await.unwrap();
    s3
}

/// A name no other test run uses, for queues, tables and buckets (lowercase, as bucket names must be).
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), fastrand::u32(..)).to_lowercase()
}

/// Messages in a queue, visible or in flight (SQS's approximate counts).
///
/// # Panics
/// When the queue cannot be asked.
pub async fn messages_left(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    let (visible, in_flight) = queue_depth(sqs, url).await;
    visible + in_flight
}

/// The messages a queue holds, as SQS approximates them: (visible, in flight).
///
/// # Panics
/// When the queue cannot be asked.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> (u64, u64) {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let attributes = attributes.attributes().unwrap();
    let count = |name| attributes.get(&name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (
        count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages),
        count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

/// Every item of `table`, with the attributes `projection` names (`id, written_at`): all its scan pages.
///
/// # Panics
/// When the table cannot be scanned.
pub async fn scan(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    projection: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = dynamodb
            .scan()
            .table_name(table)
            .projection_expression(projection)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        items.extend(page.items().iter().cloned());
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return items;
        }
    }
}

/// The `id` of every item in `table`.
///
/// # Panics
/// When the table cannot be scanned.
pub async fn item_ids(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> BTreeSet<String> {
    scan(dynamodb, table, "id").await.iter().filter_map(|item| item.get("id")?.as_s().ok().cloned()).collect()
}

/// How many items `table` holds (0 while it cannot be scanned). A scan counts at most 1 MB of items a
/// page, so every page is counted.
pub async fn item_count(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> usize {
    let (mut count, mut start) = (0, None);
    loop {
        let scan = dynamodb
            .scan()
            .table_name(table)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start);
        let Ok(page) = scan.send().await else { return 0 };
        count += usize::try_from(page.count()).unwrap_or(0);
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return count;
        }
    }
}

/// Calls moto's EC2 query API: ECS on moto refuses made-up subnet and security group ids, and the
/// tests have no need for the whole EC2 SDK just to make three. moto routes by the credential scope of
/// the `Authorization` header and checks no signature. Answers the value of the first `<tag>` in the
/// response (e.g. `vpcId`).
///
/// # Panics
/// When the emulator does not answer or the response has no such tag.
pub fn ec2(endpoint: &str, query: &str, tag: &str) -> String {
    use std::io::Read;
    let address = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    let body = format!("{query}&Version=2016-11-15");
    write!(
        stream,
        "POST / HTTP/1.0\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let open = format!("<{tag}>");
    let start = response.find(&open).unwrap_or_else(|| panic!("no {tag} in {response}")) + open.len();
    response[start..].split('<').next().unwrap().to_owned()
}
