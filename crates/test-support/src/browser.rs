//! A real browser for the dashboard's tests: Debian's chromium, headless (`scripts/test.sh` installs
//! it), and reading what it rendered. Shared by the workspace tests (`test_support::browser`) and the
//! CLI's own (`cli/tests/it` includes this file), which cannot depend on each other.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Chromium, if it is here.
pub fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        let found = Command::new("sh").args(["-c", &format!("command -v {name}")]).output().ok()?;
        let path = String::from_utf8(found.stdout).ok()?.trim().to_owned();
        (found.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
    })
}

/// Chromium, or `None` after saying the test is skipped; on CI its absence fails the test.
pub fn chromium_or_skip() -> Option<PathBuf> {
    let found = chromium();
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "chromium is needed on CI (scripts/test.sh installs it)");
        eprintln!("SKIPPED: no chromium (apt-get install chromium)");
    }
    found
}

/// Loads `url` in headless chromium (a profile under `profile_dir`), lets its scripts run for eight
/// seconds of virtual time, and answers the DOM it rendered; with `screenshot`, saves a PNG of the page
/// instead (and answers nothing).
pub fn render(chromium: &Path, profile_dir: &Path, url: &str, screenshot: Option<&Path>) -> String {
    let mut command = Command::new(chromium);
    command
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", profile_dir.join("chromium-profile").display()))
        .args(["--virtual-time-budget=8000", "--window-size=1280,1500"]);
    match screenshot {
        Some(path) => command.arg(format!("--screenshot={}", path.display())),
        None => command.arg("--dump-dom"),
    };
    let output = command.arg(url).stderr(Stdio::null()).output().unwrap();
    assert!(output.status.success(), "chromium: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// `GET path` on 127.0.0.1:port, the body.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
}

/// The numbers in `data-count` of the elements whose `data-<kind>` attribute the page set.
pub fn counts_in(dom: &str, kind: &str) -> BTreeMap<String, u64> {
    let marker = format!("data-{kind}=\"");
    dom.match_indices(&marker)
        .filter_map(|(at, _)| {
            let rest = &dom[at + marker.len()..];
            let (label, rest) = rest.split_once('"')?;
            let rest = rest.trim_start().strip_prefix("data-count=\"")?;
            Some((label.to_owned(), rest.split('"').next()?.parse().ok()?))
        })
        .collect()
}

/// The `data-<attribute>` number of the element whose `data-<kind>` is `name`.
pub fn attribute_of(dom: &str, kind: &str, name: &str, attribute: &str) -> Option<u64> {
    let at = dom.find(&format!("data-{kind}=\"{name}\""))?;
    let element = &dom[dom[..at].rfind('<')?..];
    let element = &element[..element.find('>')?];
    let marker = format!("data-{attribute}=\"");
    let value = &element[element.find(&marker)? + marker.len()..];
    value.split('"').next()?.parse().ok()
}

/// The text of the element with `id`.
pub fn text_of<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    dom.split(&format!("id=\"{id}\">")).nth(1).and_then(|rest| rest.split('<').next())
}
