//! The server against hostile clients, on real loopback sockets: header and idle timeouts,
//! the connection limit, message and session limits, caps on candidates and delayed acks,
//! bounded telemetry, and a bounded log under a flood of bad frames. Limits are lowered
//! per test (`Config::limits`) so each case is short.

mod common;

use common::*;
use futures_util::SinkExt;
use realtime_reference_server::limits::Limits;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

async fn server_with_limits(
    tweak: impl FnOnce(&mut Limits),
) -> realtime_reference_server::RunningServer {
    server_with(|c| tweak(&mut c.limits)).await
}

/// Reads until the peer closes the connection (or `within` passes); returns what was read
/// and when the connection ended (`None`: still open after `within`).
async fn read_until_closed(s: &mut TcpStream, within: Duration) -> (Vec<u8>, Option<Instant>) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return (out, None),
            Ok(Ok(0)) | Ok(Err(_)) => return (out, Some(Instant::now())),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn headers_must_arrive_in_time() {
    let timeout = Duration::from_millis(400);
    let srv = server_with_limits(|l| l.header_timeout = timeout).await;

    // A connection that sends nothing.
    let start = Instant::now();
    let mut silent = TcpStream::connect(srv.http_addr).await.unwrap();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    let t = closed.expect("the silent connection is closed") - start;
    assert!(t >= timeout && t < Duration::from_secs(3), "{t:?}");

    // A WebSocket upgrade sent one byte every 50 ms (it would take about 10 s).
    let request = format!(
        "GET /v1/stream?api_key=k&model=mirage HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        srv.http_addr
    );
    let start = Instant::now();
    let mut slow = TcpStream::connect(srv.http_addr).await.unwrap();
    let mut sent = 0;
    let mut ended = false;
    for b in request.bytes() {
        if slow.write_all(&[b]).await.is_err() {
            ended = true;
            break;
        }
        sent += 1;
        let mut probe = [0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(50), slow.read(&mut probe)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                ended = true;
                break;
            }
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    let t = start.elapsed();
    assert!(ended, "the slow upgrade was served");
    assert!(
        sent < request.len() / 2,
        "{sent} of {} bytes",
        request.len()
    );
    assert!(t < Duration::from_secs(3), "{t:?}");

    // An idle keep-alive connection after a request.
    let mut idle = TcpStream::connect(srv.http_addr).await.unwrap();
    idle.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", srv.http_addr).as_bytes())
        .await
        .unwrap();
    let start = Instant::now();
    let (got, closed) = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
    let t = closed.expect("the idle keep-alive connection is closed") - start;
    assert!(
        t >= timeout - Duration::from_millis(50) && t < Duration::from_secs(3),
        "{t:?}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn past_the_connection_limit_clients_get_503_and_a_close() {
    let srv = server_with_limits(|l| l.max_connections = 4).await;
    let addr = srv.http_addr;
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let mut ws = session(addr, "").await;
        expect_session_id(&mut ws).await;
        sessions.push(ws);
    }
    // Every slot is taken (two idle connections, two WebSockets).
    let (status, body) = http_get(addr, "/healthz", &[]).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("too many open connections (limit 4)"),
        "{body}"
    );
    let refused =
        tokio_tungstenite::connect_async(format!("ws://{addr}/v1/stream?api_key=k&model=mirage"))
            .await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 503),
        other => panic!("expected a 503, got {other:?}"),
    }
    // A WebSocket that ends gives its slot back.
    drop(sessions.pop());
    let deadline = Instant::now() + STEP;
    loop {
        if http_get(addr, "/healthz", &[]).await == (200, "ok".into()) {
            break;
        }
        assert!(Instant::now() < deadline, "no slot came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(idle);
    srv.stop().await;
}

/// A WebSocket upgrade by hand, so that nothing answers the server's pings.
async fn raw_websocket(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// The server's frames in `bytes` (unmasked): (opcode, payload).
fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 2 {
        let op = bytes[0] & 0x0f;
        let (len, head) = match bytes[1] & 0x7f {
            126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        if bytes.len() < head + len {
            break;
        }
        out.push((op, bytes[head..head + len].to_vec()));
        bytes = &bytes[head + len..];
    }
    out
}

#[tokio::test]
async fn a_websocket_that_answers_no_ping_is_closed() {
    let srv = server_with_limits(|l| {
        l.ws_ping_interval = Duration::from_millis(200);
        l.ws_idle_timeout = Duration::from_millis(900);
    })
    .await;
    for path in [
        "/v1/stream?api_key=k&model=mirage",
        "/v1/stream-ivs?api_key=k&model=mirage",
    ] {
        let start = Instant::now();
        let mut s = raw_websocket(srv.http_addr, path).await;
        let (bytes, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
        let t = closed.expect("closed") - start;
        assert!(
            t >= Duration::from_millis(850) && t < Duration::from_secs(3),
            "{path}: {t:?}"
        );
        let frames = frames(&bytes);
        let pings = frames.iter().filter(|(op, _)| *op == 0x9).count();
        assert!(pings >= 2, "{path}: {pings} pings");
        let close = frames
            .iter()
            .find(|(op, _)| *op == 0x8)
            .expect("a close frame");
        assert_eq!(u16::from_be_bytes([close.1[0], close.1[1]]), 1008, "{path}");
        assert!(
            String::from_utf8_lossy(&close.1[2..]).contains("idle timeout"),
            "{path}"
        );
    }
    // A client that answers pings (tungstenite does while it reads) stays.
    let mut ws = session(srv.http_addr, "").await;
    expect_session_id(&mut ws).await;
    expect_quiet(&mut ws, Duration::from_millis(2500)).await;
    srv.stop().await;
}

/// `text` sent as a fragmented text message, `chunk` bytes per frame.
async fn send_fragmented(ws: &mut Ws, text: &str, chunk: usize) -> Result<(), String> {
    let bytes = text.as_bytes();
    let parts: Vec<&[u8]> = bytes.chunks(chunk).collect();
    for (i, part) in parts.iter().enumerate() {
        let op = if i == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        let frame = Frame::message(part.to_vec(), op, i + 1 == parts.len());
        ws.send(Message::Frame(frame))
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[tokio::test]
async fn a_reference_image_of_six_megabytes_is_accepted() {
    let srv = server().await;
    let mut ws = session(srv.http_addr, "").await;
    expect_session_id(&mut ws).await;
    let image: Vec<u8> = (0..6_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let data = realtime_video_sdk::core::base64::encode(&image);
    let msg =
        json!({"type": "set_image", "image_data": data, "prompt": "in this style"}).to_string();
    send_fragmented(&mut ws, &msg, 1 << 20).await.unwrap();
    let v = expect_type(&mut ws, "set_image_ack").await;
    assert_eq!(v["success"], true, "{v}");
    srv.stop().await;
}

#[tokio::test]
async fn a_message_over_the_limit_closes_the_session_with_a_reason() {
    let srv = server_with_limits(|l| l.max_message_bytes = 64 << 10).await;
    let image = "A".repeat(100 << 10);
    let msg = json!({"type": "set_image", "image_data": image}).to_string();

    // In fragments: they add up.
    let mut ws = session(srv.http_addr, "").await;
    expect_session_id(&mut ws).await;
    let _ = send_fragmented(&mut ws, &msg, 16 << 10).await;
    let (errors, close) = expect_error_and_close(&mut ws).await;
    assert_eq!(
        errors,
        ["message too big: the limit is 65536 bytes per message"]
    );
    let (code, reason) = close.expect("a close frame");
    assert_eq!(code, 1009);
    assert!(reason.contains("message too big"), "{reason}");

    // In one frame.
    let mut ws = session(srv.http_addr, "").await;
    expect_session_id(&mut ws).await;
    let _ = ws.send(Message::text(msg.clone())).await;
    let (errors, close) = expect_error_and_close(&mut ws).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(close.map(|c| c.0), Some(1009));

    // The same message a little smaller is fine.
    let mut ws = session(srv.http_addr, "").await;
    expect_session_id(&mut ws).await;
    let small = json!({"type": "set_image", "image_data": "A".repeat(60 << 10)}).to_string();
    send_fragmented(&mut ws, &small, 16 << 10).await.unwrap();
    assert_eq!(expect_type(&mut ws, "set_image_ack").await["success"], true);
    srv.stop().await;
}

#[tokio::test]
async fn viewer_sockets_take_signaling_sized_messages_only() {
    let srv = server_with_limits(|l| l.max_signal_message_bytes = 8 << 10).await;
    let mut publisher = session(srv.http_addr, "").await;
    let sid = expect_session_id(&mut publisher).await;
    let mut viewer = connect(
        srv.http_addr,
        &format!("/subscribe/{sid}?IP=127.0.0.1&port=1&api_key=k"),
    )
    .await;
    send(
        &mut viewer,
        json!({"type": "offer", "sdp": "v".repeat(16 << 10)}),
    )
    .await;
    let (errors, close) = expect_error_and_close(&mut viewer).await;
    assert_eq!(
        errors,
        ["message too big: the limit is 8192 bytes per message"]
    );
    assert_eq!(close.map(|c| c.0), Some(1009));
    srv.stop().await;
}

fn candidate(port: u32) -> serde_json::Value {
    json!({"type": "ice-candidate", "candidate": {"candidate": format!("candidate:{port} 1 udp 2122260223 127.0.0.1 {port} typ host"), "sdpMid": "0", "sdpMLineIndex": 0}})
}

#[tokio::test]
async fn ice_candidates_before_an_offer_are_capped() {
    let srv = server_with_limits(|l| l.max_pending_candidates = 8).await;
    let mut ws = session(srv.http_addr, "").await;
    expect_session_id(&mut ws).await;
    // Unusable ones (too long, not loopback) are dropped and do not count.
    let long = format!(
        "candidate:1 1 udp 1 127.0.0.1 9 typ host {}",
        "x".repeat(2000)
    );
    for c in [long.as_str(), "candidate:1 1 udp 1 10.0.0.1 9 typ host"] {
        for _ in 0..20 {
            send(
                &mut ws,
                json!({"type": "ice-candidate", "candidate": {"candidate": c}}),
            )
            .await;
        }
    }
    for port in 0..8 {
        send(&mut ws, candidate(5000 + port)).await;
    }
    one_candidate_over_the_cap_closes(
        &mut ws,
        "too many ICE candidates before the offer: at most 8",
    )
    .await;
    srv.stop().await;
}

/// With the session at its candidate cap: the session still works (a prompt is acked), and
/// one candidate more ends it with `error` and close 1008.
async fn one_candidate_over_the_cap_closes(ws: &mut Ws, error: &str) {
    send(
        ws,
        json!({"type": "prompt", "prompt": "still open", "enhance_prompt": false}),
    )
    .await;
    assert_eq!(expect_type(ws, "prompt_ack").await["success"], true);
    send(ws, candidate(6000)).await;
    let (errors, close) = expect_error_and_close(ws).await;
    assert_eq!(errors, [error]);
    assert_eq!(close.map(|c| c.0), Some(1008));
}

#[tokio::test]
async fn ice_candidates_per_peer_connection_are_capped() {
    let srv = server_with_limits(|l| l.max_pending_candidates = 8).await;
    let mut ws = session(srv.http_addr, "").await;
    expect_session_id(&mut ws).await;
    for port in 0..3 {
        send(&mut ws, candidate(5000 + port)).await;
    }
    let (_client, offer) = common::rtc::Client::new(str0m::media::Direction::SendRecv).await;
    send(&mut ws, json!({"type": "offer", "sdp": offer})).await;
    expect_type(&mut ws, "answer").await;
    expect_type(&mut ws, "ice-candidate").await;
    // 3 before the offer + 5 after = the cap.
    for port in 3..8 {
        send(&mut ws, candidate(5000 + port)).await;
    }
    one_candidate_over_the_cap_closes(
        &mut ws,
        "too many ICE candidates for one peer connection: at most 8",
    )
    .await;
    srv.stop().await;
}

#[tokio::test]
async fn prompts_awaiting_acks_are_capped_in_count_and_bytes() {
    let srv = server_with_limits(|l| {
        l.max_pending_acks = 5;
        l.max_session_pending_bytes = 64 << 10;
    })
    .await;
    let mut ws = session(srv.http_addr, "&fault_ack=delay:30000").await;
    expect_session_id(&mut ws).await;
    for i in 0..5 {
        send(
            &mut ws,
            json!({"type": "prompt", "prompt": format!("p{i}"), "enhance_prompt": false}),
        )
        .await;
    }
    expect_quiet(&mut ws, Duration::from_millis(300)).await;
    send(&mut ws, json!({"type": "set_image", "image_data": null})).await;
    let (errors, close) = expect_error_and_close(&mut ws).await;
    assert_eq!(errors, ["too many prompts awaiting acks: at most 5"]);
    assert_eq!(close.map(|c| c.0), Some(1008));

    // Bytes: a long (failing) prompt is held in full by its delayed ack.
    let mut ws = session(srv.http_addr, "&fault_ack=delay:30000").await;
    expect_session_id(&mut ws).await;
    send(
        &mut ws,
        json!({"type": "prompt", "prompt": "x".repeat(40 << 10), "enhance_prompt": false}),
    )
    .await;
    expect_quiet(&mut ws, Duration::from_millis(300)).await;
    send(
        &mut ws,
        json!({"type": "prompt", "prompt": "y".repeat(40 << 10), "enhance_prompt": false}),
    )
    .await;
    let (errors, _) = expect_error_and_close(&mut ws).await;
    assert_eq!(
        errors,
        ["too much pending data for this session: at most 65536 bytes"]
    );
    srv.stop().await;
}

#[tokio::test]
async fn telemetry_bodies_are_capped_and_the_store_bounded_in_bytes() {
    let srv = server_with_limits(|l| {
        l.max_telemetry_body_bytes = 4096;
        l.max_telemetry_session_bytes = 10_000;
        l.body_timeout = Duration::from_millis(500);
    })
    .await;
    let addr = srv.http_addr;
    let mut ws = session(addr, "").await;
    let sid = expect_session_id(&mut ws).await;
    let key = ("x-api-key", "test-key");
    let batch = |i: usize, pad: usize| {
        json!({"sessionId": sid, "tags": {"i": i}, "stats": [{"pad": "p".repeat(pad)}], "diagnostics": []}).to_string()
    };
    let (status, body) = http_request(addr, "POST", "/v1/telemetry", &[key], &batch(0, 5000)).await;
    assert_eq!(status, 413, "{body}");
    for i in 0..40 {
        let (status, body) =
            http_request(addr, "POST", "/v1/telemetry", &[key], &batch(i, 900)).await;
        assert_eq!(status, 204, "{body}");
    }
    let (_, body) = http_get(addr, &format!("/v1/telemetry/{sid}"), &[key]).await;
    assert!(body.len() <= 10_000 + 100, "{} bytes kept", body.len());
    let kept: serde_json::Value = serde_json::from_str(&body).unwrap();
    let kept = kept.as_array().unwrap();
    assert!(kept.len() < 40 && !kept.is_empty());
    assert_eq!(
        kept.last().unwrap()["tags"]["i"],
        39,
        "the newest batch is kept"
    );

    // A body announced but never sent.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("POST /v1/telemetry HTTP/1.1\r\nHost: {addr}\r\nx-api-key: test-key\r\nContent-Length: 100\r\n\r\n{{").as_bytes())
        .await
        .unwrap();
    let (got, closed) = read_until_closed(&mut s, Duration::from_secs(3)).await;
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(closed.is_some());
    srv.stop().await;
}

#[test]
fn a_flood_of_bad_frames_writes_a_bounded_log() {
    use std::process::Command;
    let (mut child, lines, listening) = spawn_server_process(&["--port", "0"]);
    let addr: SocketAddr = listening
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    let reader = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let frames = 20_000;
    let start = Instant::now();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let mut ws = session(addr, "").await;
            expect_session_id(&mut ws).await;
            for i in 0..frames {
                ws.feed(Message::text(format!("{{not json {i}")))
                    .await
                    .unwrap();
            }
            ws.flush().await.unwrap();
            // One more a little later: its line tells how many were left out.
            tokio::time::sleep(realtime_reference_server::ratelog::REFILL).await;
            send_raw(&mut ws, "{one more").await;
            send(
                &mut ws,
                json!({"type": "prompt", "prompt": "done", "enhance_prompt": false}),
            )
            .await;
            assert_eq!(expect_type(&mut ws, "prompt_ack").await["success"], true);
        });
    let elapsed = start.elapsed();
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    child.wait().unwrap();
    let log = reader.join().unwrap();
    let malformed = log.iter().filter(|l| l.contains("malformed")).count();
    let bound = realtime_reference_server::ratelog::BURST as usize + elapsed.as_secs() as usize + 2;
    assert!(
        malformed >= 1 && malformed <= bound,
        "{malformed} lines for {frames} bad frames in {elapsed:?} (bound {bound})"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("malformed") && l.contains("suppressed=")),
        "a line says how many were left out: {log:?}"
    );
}
