//! Debian's mosquitto clients as a test's MQTT peers: `mosquitto_pub -l` for bursts
//! (every stdin line a message, as fast as the socket takes them) and a `mosquitto_sub`
//! that is known to be subscribed. Missing binaries fail the test with the package to
//! install.

use std::time::Duration;

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
};

/// The output lines of a `mosquitto_sub`.
pub type SubLines = Lines<BufReader<ChildStdout>>;

/// Publishes each line of `input` as a message with `mosquitto_pub -l`.
pub async fn pub_lines(port: &str, args: &[&str], input: String) {
    let mut child = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", port, "-l"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_pub (apt-get install mosquitto-clients)");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    assert!(child.wait().await.unwrap().success());
}

/// A `mosquitto_sub` with `sub_args`, once it is subscribed: "probe" is published with
/// `pub_args` until it arrives. The process, its output lines, the probes published.
pub async fn subscribed(
    port: &str,
    sub_args: &[&str],
    pub_args: &[&str],
) -> (Child, SubLines, usize) {
    let mut child = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", port])
        .args(sub_args)
        .kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_sub (apt-get install mosquitto-clients)");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut probes = 0;
    loop {
        pub_lines(port, pub_args, "probe\n".into()).await;
        probes += 1;
        match tokio::time::timeout(Duration::from_millis(300), lines.next_line()).await {
            Ok(Ok(Some(l))) => {
                assert_eq!(l, "probe");
                return (child, lines, probes);
            }
            _ => assert!(probes < 30, "the subscriber never got a probe"),
        }
    }
}

/// `m0` … `m{n-1}`, a line each: the input of a burst.
pub fn burst(n: usize) -> String {
    (0..n).map(|i| format!("m{i}\n")).collect()
}

/// Reads the `n` messages of [`burst`] in order (late probes are skipped); fails when
/// one is missing, out of order, or 10 s pass without the next.
pub async fn expect_burst(lines: &mut SubLines, n: usize) {
    let mut next = 0;
    while next < n {
        match tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await {
            Ok(Ok(Some(l))) if l == "probe" => {}
            Ok(Ok(Some(l))) => {
                assert_eq!(l, format!("m{next}"), "in order");
                next += 1;
            }
            other => panic!("{next} of {n} messages arrived, then {other:?}"),
        }
    }
}

/// `&str` arguments as owned strings (to move them into a task) and back.
pub fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

pub fn borrowed(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}
