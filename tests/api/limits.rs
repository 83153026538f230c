//! What one client can hold: connections (per address and in total), the time a body may take,
//! and the open-files limit the process runs with. Attackers are simulated from other loopback
//! addresses (127.0.0.2, ...: all of 127/8 is this machine) so that the well-behaved client on
//! 127.0.0.1 has a place of its own.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::TestEnv;

const TRENDING: &str = "/api/movies/trending/?time_window=day&page=1";

/// A connection to `server` from the loopback address `from`.
async fn connect_from(from: &str, server: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("{from}:0").parse::<SocketAddr>().unwrap())
        .unwrap();
    socket.connect(server.parse().unwrap()).await.unwrap()
}

fn addr(base: &str) -> &str {
    base.strip_prefix("http://").unwrap()
}

/// Everything the server sends until it closes the connection (bounded by `limit`).
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut received)).await;
    match read {
        Ok(_) => Some(String::from_utf8_lossy(&received).into_owned()),
        Err(_) => None,
    }
}

/// A request whose headers arrive and whose body never does is answered `408` once the body
/// time is up, and its connection is closed.
#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_a_408_and_the_connection_closes() {
    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| s.http.body_timeout = Duration::from_millis(500))
        .await;
    let mut stream = connect_from("127.0.0.1", addr(&app.base)).await;
    let started = Instant::now();
    stream
        .write_all(
            b"POST /api/users/login/ HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
              content-length: 100\r\n\r\n{\"user",
        )
        .await
        .unwrap();
    let answer = read_to_close(&mut stream, Duration::from_secs(10))
        .await
        .expect("the server closes the connection");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"REQUEST_TIMEOUT\""), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    app.stop().await;
}

/// A body trickled a byte at a time is cut off at the body time too: the limit is on the whole
/// body, not on the gap between bytes.
#[tokio::test]
async fn a_trickled_body_is_cut_off_at_the_body_timeout() {
    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| s.http.body_timeout = Duration::from_millis(800))
        .await;
    let mut stream = connect_from("127.0.0.1", addr(&app.base)).await;
    stream
        .write_all(
            b"POST /api/users/register/ HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
              content-length: 1000\r\n\r\n",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    // One byte every 100 ms: each gap is short, the whole would take 100 s.
    while started.elapsed() < Duration::from_secs(10) {
        if stream.write_all(b" ").await.is_err() {
            break;
        }
        let mut buf = [0u8; 4096];
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut off after {:?}",
        started.elapsed()
    );
    app.stop().await;
}

/// One address may hold `max_connections_per_client` connections; the next is answered 429
/// and closed, while another address is served as usual.
#[tokio::test]
async fn connections_over_the_per_client_limit_are_refused_and_others_still_served() {
    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| s.http.max_connections_per_client = 3)
        .await;
    let server = addr(&app.base).to_owned();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from("127.0.0.2", &server).await);
    }
    let mut extra = connect_from("127.0.0.2", &server).await;
    let answer = read_to_close(&mut extra, Duration::from_secs(5))
        .await
        .expect("the refused connection is closed");
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("\"code\":\"RATE_LIMITED\""), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );

    let reply = app.get(TRENDING).await;
    assert_eq!(reply.status, 200, "127.0.0.1 has places of its own");

    drop(held.pop());
    crate::helpers::eventually("a freed place is free again", || {
        let server = server.clone();
        async move {
            let mut stream = connect_from("127.0.0.2", &server).await;
            stream
                .write_all(b"GET /health/ HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await
                .is_ok()
                && read_to_close(&mut stream, Duration::from_secs(5))
                    .await
                    .is_some_and(|a| !a.starts_with("HTTP/1.1 429"))
        }
    })
    .await;
    app.stop().await;
}

/// Past `max_connections` over all addresses, new connections are answered 503 and closed.
#[tokio::test]
async fn connections_over_the_total_limit_are_refused_with_503() {
    let env = TestEnv::new().await;
    let app = env.spawn_with(|s| s.http.max_connections = 4).await;
    let server = addr(&app.base).to_owned();
    let mut held = Vec::new();
    for i in 2..6 {
        held.push(connect_from(&format!("127.0.0.{i}"), &server).await);
    }
    // The accept loop takes connections in order; give it the four before the fifth.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = connect_from("127.0.0.9", &server).await;
    let answer = read_to_close(&mut extra, Duration::from_secs(5))
        .await
        .expect("the refused connection is closed");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("\"code\":\"SERVICE_UNAVAILABLE\""),
        "{answer}"
    );
    drop(held.pop());
    crate::helpers::eventually("a place to read the metrics", || async {
        let metrics = app.client.get(format!("{}/metrics", app.base)).send().await;
        match metrics {
            Ok(reply) if reply.status() == 200 => reply
                .text()
                .await
                .unwrap_or_default()
                .contains("reelcache_connections_shed_total{limit=\"total\"}"),
            _ => false,
        }
    })
    .await;
    app.stop().await;
}

/// A client that asks and never reads its answers cannot hold its connection: once a write has
/// been blocked for the body time, the server gives the connection up.
#[tokio::test]
async fn a_client_that_never_reads_its_answers_is_disconnected() {
    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| s.http.body_timeout = Duration::from_millis(800))
        .await;
    assert_eq!(app.get(TRENDING).await.status, 200);
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket
        .connect(addr(&app.base).parse().unwrap())
        .await
        .unwrap();
    // ~2,000 pipelined hits of ~14 KB: far more than the socket buffers hold.
    let request = format!("GET {TRENDING} HTTP/1.1\r\nhost: x\r\n\r\n");
    stream
        .write_all(request.repeat(2000).as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Reading now: a server that gave up ends the stream before the 2,000th answer; one that
    // waited would send them all and then keep the connection open.
    let mut received = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received += n,
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the connection was still open after {received} bytes"
    );
    assert!(received < 2000 * 10_000, "{received} bytes arrived");
    app.stop().await;
}

/// The attack from the issue, scaled to a test: one address opens more connections than it may
/// and trickles request bodies on them. Its excess is refused at once, what it holds is cut off
/// at the body time, and cache hits from another client are served throughout.
#[tokio::test]
async fn a_slow_body_flood_from_one_address_holds_nothing_for_long_and_hits_go_on() {
    const ATTACKERS: usize = 300;
    const PER_CLIENT: usize = 200;
    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| {
            // Long enough that every attacker has connected before the first place frees.
            s.http.body_timeout = Duration::from_secs(3);
            s.http.max_connections_per_client = PER_CLIENT;
        })
        .await;
    assert_eq!(app.get(TRENDING).await.status, 200);
    let server = addr(&app.base).to_owned();
    let mut attackers = Vec::new();
    for _ in 0..ATTACKERS {
        let server = server.clone();
        attackers.push(tokio::spawn(async move {
            let mut stream = connect_from("127.0.0.2", &server).await;
            let _ = stream
                .write_all(
                    b"POST /api/users/login/ HTTP/1.1\r\nhost: x\r\n\
                      content-type: application/json\r\ncontent-length: 10000\r\n\r\n",
                )
                .await;
            let started = Instant::now();
            let mut answer = Vec::new();
            while started.elapsed() < Duration::from_secs(15) {
                if stream.write_all(b" ").await.is_err() {
                    break;
                }
                let mut buf = [0u8; 2048];
                match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await
                {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
                    Err(_) => {}
                }
            }
            (
                String::from_utf8_lossy(&answer).into_owned(),
                started.elapsed(),
            )
        }));
    }
    for _ in 0..20 {
        let started = Instant::now();
        let reply = app.get(TRENDING).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.x_cache(), "HIT");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (mut refused, mut timed_out, mut dropped) = (0, 0, 0);
    for attacker in attackers {
        let (answer, held) = attacker.await.unwrap();
        assert!(
            held < Duration::from_secs(8),
            "a connection was held {held:?}"
        );
        if answer.starts_with("HTTP/1.1 429") {
            refused += 1;
        } else if answer.starts_with("HTTP/1.1 408") {
            timed_out += 1;
        } else {
            // Refused while many refusals were still being delivered: closed at once.
            assert!(answer.is_empty(), "{answer}");
            dropped += 1;
        }
    }
    let counts = format!("{refused} refused, {timed_out} timed out, {dropped} dropped");
    assert!(refused > 0, "{counts}");
    assert!(
        timed_out <= PER_CLIENT + 10,
        "only admitted connections reach a handler: {counts}"
    );
    assert!(refused + dropped >= ATTACKERS - PER_CLIENT - 10, "{counts}");
    app.stop().await;
}

/// The process raises its soft open-files limit to the hard limit at start, so connections are
/// bounded by the server's own limits, not by a default of 1,024 descriptors.
#[cfg(target_os = "linux")]
#[test]
fn the_binary_raises_its_open_files_limit_to_the_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    // Started through sh's ulimit rather than a pre_exec hook: that would make the standard
    // library fork this whole test process, and a forked child briefly holds every descriptor
    // of it, data-directory locks of other tests included.
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct passed.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut current) },
        0
    );
    let hard = current.rlim_max.min(4096);
    let mut command = std::process::Command::new("sh");
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HARD", hard.to_string())
        .args([
            "-c",
            "ulimit -Sn \"$((HARD / 8))\" && ulimit -Hn \"$HARD\" && exec \"$0\" \"$@\"",
            env!("CARGO_BIN_EXE_reelcache"),
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = command.spawn().unwrap();
    crate::process::listening_addr(&mut child);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    crate::process::signal(&child, "TERM");
    crate::process::wait_exit(&mut child, Duration::from_secs(10));
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    let hard = hard.to_string();
    assert_eq!(numbers, [hard.as_str(), hard.as_str()], "{line}");
}
