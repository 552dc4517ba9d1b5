//! Replays the hostile loads the reference server was probed with, bounded, against the
//! built binary on loopback, and prints what the server did and its memory (RSS) before,
//! at its peak and after each load:
//!
//! ```sh
//! cargo build --profile server -p realtime-reference-server
//! cargo run --profile server -p realtime-reference-server --example hostile_load [-- SERVER [ROUNDS]]
//! ```
//!
//! Loads: 1 MiB telemetry bodies for made-up sessions and a stream of large batches for a
//! real one; 1,100 idle TCP connections with `/healthz` probed meanwhile; WebSocket upgrades
//! sent one byte a second; six 64 MB `set_image` messages in fragments at once; 200,000 ICE
//! candidates before an offer; 100,000 prompts whose acks are delayed; 200,000 malformed
//! frames (and the log lines they cause). SERVER defaults to
//! `target/server/realtime-reference-server` (`-` for the default); the loads run ROUNDS
//! times (3), about 20 s a round (the server's default header timeout is 10 s, and the idle
//! connections are held until it closes them).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool: a failure stops it with the reason
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// The server process, its address and its log.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    fn start(exe: &str) -> Server {
        let log = std::env::temp_dir().join(format!("hostile-load-{}.log", std::process::id()));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(exe)
            .args(["--port", "0"])
            .env("RUST_LOG", "info,str0m=warn")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {exe}: {e} (build it first)"));
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(a) = text
                .split("listening on http://")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|a| a.parse().ok())
            {
                break a;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not start: {text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Server { child, addr, log }
    }

    /// (current RSS, peak RSS) in MB, from /proc.
    fn rss(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kb = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
    }

    /// (lines, bytes) of the server's log.
    fn log_size(&self) -> (usize, usize) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        (text.lines().count(), text.len())
    }

    fn print_rss(&self, when: &str) {
        let (rss, peak) = self.rss();
        println!("  RSS {when}: {rss:.1} MB (peak so far {peak:.1} MB)");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// One HTTP/1.1 request; the status, or 0 when the connection ended without one.
async fn http(addr: SocketAddr, method: &str, path: &str, key: &str, body: &[u8]) -> u16 {
    http_full(addr, method, path, key, body).await.0
}

/// One HTTP/1.1 request; the status (0 when the connection ended without one) and the
/// length of the whole answer.
async fn http_full(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: &str,
    body: &[u8],
) -> (u16, usize) {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return (0, 0);
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nx-api-key: {key}\r\ncontent-type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut buf)).await;
    let status = String::from_utf8_lossy(&buf[..buf.len().min(64)])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, buf.len())
}

async fn session(addr: SocketAddr, extra: &str) -> (Ws, String) {
    let url = format!("ws://{addr}/v1/stream?api_key=hostile&model=mirage{extra}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("session");
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Text(t) = m {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
            if v["type"] == "session_id" {
                let sid = v["session_id"].as_str().unwrap_or_default().to_string();
                return (ws, sid);
            }
        }
    }
    panic!("no session_id")
}

/// Sends `count` frames made by `frame(i)` until the server ends the socket; returns how
/// many went out, the `error` texts that came back and the close code.
async fn flood(
    ws: Ws,
    count: usize,
    frame: impl Fn(usize) -> Message,
) -> (usize, Vec<String>, Option<u16>) {
    let (mut tx, mut rx) = ws.split();
    let reader = tokio::spawn(async move {
        let mut errors = Vec::new();
        let mut code = None;
        while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(30), rx.next()).await {
            match msg {
                Ok(Message::Text(t)) => {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
                    if v["type"] == "error" {
                        errors.push(v["error"].as_str().unwrap_or_default().to_string());
                    }
                }
                Ok(Message::Close(f)) => {
                    code = f.map(|f| u16::from(f.code));
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        (errors, code)
    });
    let mut sent = 0;
    for i in 0..count {
        if tx.feed(frame(i)).await.is_err() {
            break;
        }
        sent += 1;
        if i % 256 == 255 && tx.flush().await.is_err() {
            break;
        }
    }
    let _ = tx.flush().await;
    let (errors, code) = reader.await.unwrap_or_default();
    let _ = tx.close().await;
    (sent, errors, code)
}

async fn telemetry(srv: &Server) {
    println!("telemetry: 40 POSTs of 1 MiB for made-up sessions, then 200 batches of 400 KiB for a real one");
    let big = vec![b' '; 1 << 20];
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..40 {
        *statuses
            .entry(http(srv.addr, "POST", "/v1/telemetry", "hostile", &big).await)
            .or_insert(0) += 1;
    }
    println!("  1 MiB bodies: statuses {statuses:?}");
    let (_ws, sid) = session(srv.addr, "").await;
    let pad = "x".repeat(400 << 10);
    let batch = json!({"sessionId": sid, "tags": {}, "stats": [{"pad": pad}], "diagnostics": []})
        .to_string();
    let made_up = batch.replace(&sid, "sess_made_up");
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..200 {
        let body = if i % 2 == 0 { &batch } else { &made_up };
        *statuses
            .entry(
                http(
                    srv.addr,
                    "POST",
                    "/v1/telemetry",
                    "hostile",
                    body.as_bytes(),
                )
                .await,
            )
            .or_insert(0) += 1;
    }
    println!("  400 KiB batches (half for a made-up session): statuses {statuses:?}");
    let (_, kept) = http_full(
        srv.addr,
        "GET",
        &format!("/v1/telemetry/{sid}"),
        "hostile",
        b"",
    )
    .await;
    println!(
        "  kept for the session: {} KiB (the newest batches; a new session each round)",
        kept >> 10
    );
}

async fn idle_connections(srv: &Server) {
    println!("idle: 1,100 TCP connections that send nothing, /healthz probed meanwhile");
    let mut idle = Vec::new();
    for _ in 0..1100 {
        match TcpStream::connect(srv.addr).await {
            Ok(s) => idle.push(s),
            Err(e) => {
                println!("  connect failed after {}: {e}", idle.len());
                break;
            }
        }
    }
    // The connections past the limit got their 503 and are drained for a moment.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t = Instant::now();
    let status = http(srv.addr, "GET", "/healthz", "", b"").await;
    println!(
        "  with {} idle connections: /healthz → {status} in {} ms",
        idle.len(),
        t.elapsed().as_millis()
    );
    srv.print_rss("with the idle connections");
    // Wait until the server has closed them (header timeout).
    let t = Instant::now();
    let mut closed = 0;
    for s in &mut idle {
        let mut b = [0u8; 512];
        let left = Duration::from_secs(20).saturating_sub(t.elapsed());
        if let Ok(Ok(_)) = tokio::time::timeout(left, s.read(&mut b)).await {
            closed += 1;
        }
    }
    println!(
        "  the server ended {closed} of {} within {:.1} s",
        idle.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let status = http(srv.addr, "GET", "/healthz", "", b"").await;
    println!(
        "  after: /healthz → {status} in {} ms",
        t.elapsed().as_millis()
    );
}

async fn slow_upgrades(srv: &Server) {
    println!("slow: 50 WebSocket upgrades sent one byte a second");
    let req = format!(
        "GET /v1/stream?api_key=hostile&model=mirage HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        srv.addr
    );
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (addr, req) = (srv.addr, req.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(mut s) = TcpStream::connect(addr).await else {
                return None;
            };
            for (i, b) in req.bytes().enumerate() {
                if s.write_all(&[b]).await.is_err() {
                    return Some(i);
                }
                let mut probe = [0u8; 256];
                if let Ok(Ok(0)) =
                    tokio::time::timeout(Duration::from_secs(1), s.read(&mut probe)).await
                {
                    return Some(i);
                }
                if i > 40 {
                    return None; // still served after 40 s: give up
                }
            }
            None
        }));
    }
    let mut ended = Vec::new();
    for task in tasks {
        if let Ok(Some(i)) = task.await {
            ended.push(i);
        }
    }
    println!(
        "  the server ended {} of 50 after {}..{} bytes, within {:.1} s",
        ended.len(),
        ended.iter().min().unwrap_or(&0),
        ended.iter().max().unwrap_or(&0),
        t.elapsed().as_secs_f64()
    );
}

async fn big_images(srv: &Server) {
    println!("set_image: six 64 MB messages in 1 MiB fragments, at once");
    let image = std::sync::Arc::new("A".repeat(64 << 20));
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (addr, image) = (srv.addr, image.clone());
        tasks.push(tokio::spawn(async move {
            let (ws, _) = session(addr, "").await;
            let head = r#"{"type":"set_image","image_data":""#;
            let chunks = image.len() / (1 << 20);
            flood(ws, chunks + 1, |i| {
                let (op, data) = match i {
                    0 => (OpCode::Data(Data::Text), head.to_string()),
                    _ => (
                        OpCode::Data(Data::Continue),
                        image[(i - 1) << 20..i << 20].to_string(),
                    ),
                };
                Message::Frame(Frame::message(data.into_bytes(), op, false))
            })
            .await
        }));
    }
    for (n, task) in tasks.into_iter().enumerate() {
        if let Ok((sent, errors, code)) = task.await {
            println!("  #{n}: {sent} fragments sent, closed with {code:?}: {errors:?}");
        }
    }
}

async fn candidates(srv: &Server) {
    println!("ICE: 200,000 candidates before an offer");
    let (ws, _) = session(srv.addr, "").await;
    let (sent, errors, code) = flood(ws, 200_000, |i| {
        Message::text(
            json!({"type": "ice-candidate", "candidate": {"candidate": format!("candidate:{i} 1 udp 2122260223 127.0.0.1 {} typ host", 1024 + i % 60000), "sdpMid": "0"}})
                .to_string(),
        )
    })
    .await;
    println!("  {sent} sent before the server closed with {code:?}: {errors:?}");
}

async fn prompts(srv: &Server) {
    println!("prompts: 100,000 with acks delayed by a minute");
    let (ws, _) = session(srv.addr, "&fault_ack=delay:60000").await;
    let (sent, errors, code) = flood(ws, 100_000, |i| {
        Message::text(
            json!({"type": "prompt", "prompt": format!("prompt {i}"), "enhance_prompt": false})
                .to_string(),
        )
    })
    .await;
    println!("  {sent} sent before the server closed with {code:?}: {errors:?}");
}

async fn bad_frames(srv: &Server) {
    println!("log: 200,000 malformed frames");
    let before = srv.log_size();
    let (mut ws, _) = session(srv.addr, "").await;
    for i in 0..200_000 {
        if ws
            .feed(Message::text(format!("{{not json {i}")))
            .await
            .is_err()
        {
            break;
        }
    }
    let _ = ws.flush().await;
    // The prompt's ack says every frame before it was read.
    let _ = ws
        .send(Message::text(
            json!({"type": "prompt", "prompt": "done", "enhance_prompt": false}).to_string(),
        ))
        .await;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(60), ws.next()).await {
        if matches!(&m, Message::Text(t) if t.contains("prompt_ack")) {
            break;
        }
    }
    let after = srv.log_size();
    println!(
        "  the log grew by {} lines, {} bytes",
        after.0 - before.0,
        after.1 - before.1
    );
}

/// The loads run this many times by default: memory after the later rounds shows whether
/// anything accumulates.
const ROUNDS: usize = 3;

fn main() {
    let mut args = std::env::args().skip(1);
    let exe = args.next().filter(|a| a != "-").unwrap_or_else(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        root.join("target/server/realtime-reference-server")
            .display()
            .to_string()
    });
    let rounds = args.next().and_then(|n| n.parse().ok()).unwrap_or(ROUNDS);
    // Room for 1,100 connections on this side.
    realtime_reference_server::process::raise_nofile_limit();
    let srv = Server::start(&exe);
    std::thread::sleep(Duration::from_millis(300));
    println!("server {} (pid {})", srv.addr, srv.child.id());
    srv.print_rss("before");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let start = Instant::now();
    for round in 1..=rounds {
        println!("== round {round} of {rounds}");
        runtime.block_on(async {
            telemetry(&srv).await;
            srv.print_rss("after telemetry");
            idle_connections(&srv).await;
            srv.print_rss("after idle connections");
            slow_upgrades(&srv).await;
            srv.print_rss("after slow upgrades");
            big_images(&srv).await;
            srv.print_rss("after set_image");
            candidates(&srv).await;
            srv.print_rss("after candidates");
            prompts(&srv).await;
            srv.print_rss("after prompts");
            bad_frames(&srv).await;
            srv.print_rss("after malformed frames");
        });
    }
    drop(runtime);
    println!("loads done in {:.1} s", start.elapsed().as_secs_f64());
    for s in [2, 5] {
        std::thread::sleep(Duration::from_secs(if s == 2 { 2 } else { 3 }));
        srv.print_rss(&format!("{s} s after the loads"));
    }
    let (rss, peak) = srv.rss();
    let status = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://{}/healthz", srv.addr),
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    println!("summary: RSS now {rss:.1} MB, peak {peak:.1} MB; /healthz → {status}");
}
