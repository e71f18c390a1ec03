//! The PostgreSQL statement counter against a fake upstream: no database needed.

#![allow(clippy::expect_used)]

use std::time::Duration;

use switchyard_bench::sqlcount::{Relay, upstream, via_relay};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&(u32::try_from(body.len() + 4).expect("small")).to_be_bytes());
    m.extend_from_slice(body);
    m
}

#[tokio::test]
async fn relay_counts_query_and_execute_and_passes_bytes_unchanged() {
    let fake = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = fake.local_addr().expect("addr");
    let relay = Relay::start(addr.to_string()).await.expect("relay");

    // Startup (protocol 3.0), then BEGIN, a prepared INSERT, a ping (Sync), COMMIT.
    let mut startup = 196_608u32.to_be_bytes().to_vec();
    startup.extend_from_slice(b"user\0u\0\0");
    let mut sent = (u32::try_from(startup.len() + 4).expect("small"))
        .to_be_bytes()
        .to_vec();
    sent.extend_from_slice(&startup);
    sent.extend(msg(b'Q', b"BEGIN\0"));
    sent.extend(msg(b'P', b"\0INSERT INTO t VALUES ($1)\0\0\0"));
    sent.extend(msg(b'B', b"\0\0\0\0\0\0\0\0"));
    sent.extend(msg(b'E', b"\0\0\0\0\0"));
    sent.extend(msg(b'S', b""));
    sent.extend(msg(b'S', b""));
    sent.extend(msg(b'Q', b"COMMIT\0"));

    let mut c = TcpStream::connect(("127.0.0.1", relay.port))
        .await
        .expect("connect");
    // Split across writes, as TCP may.
    let (a, b) = sent.split_at(11);
    c.write_all(a).await.expect("write");
    tokio::time::sleep(Duration::from_millis(20)).await;
    c.write_all(b).await.expect("write");
    c.shutdown().await.expect("shutdown");

    let (mut up, _) = fake.accept().await.expect("accept");
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), up.read_to_end(&mut got))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(got, sent);
    assert_eq!(relay.counts.snapshot(), (2, 1));
}

#[test]
fn urls_for_the_relay() {
    assert_eq!(
        upstream("postgres://postgres@127.0.0.1:5432/postgres").as_deref(),
        Ok("127.0.0.1:5432")
    );
    assert_eq!(
        upstream("postgres://u:p@db.example/x").as_deref(),
        Ok("db.example:5432")
    );
    assert!(upstream("postgres:///x?host=/var/run/postgresql").is_err());
    let u = via_relay(
        "postgres://u:p@db.example:6543/bench_1?sslmode=require",
        7000,
    )
    .expect("url");
    assert_eq!(u, "postgres://u:p@127.0.0.1:7000/bench_1?sslmode=disable");
}
