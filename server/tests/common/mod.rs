//! Helpers for the server's integration tests: an in-process server on a real loopback
//! socket (port 0), a tokio-tungstenite client, and a tiny HTTP/1.1 GET.
#![allow(dead_code)]

pub mod rtc;
pub mod video;

use futures_util::{SinkExt, StreamExt};
use realtime_reference_server::{start, Config, RunningServer};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client WebSocket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long any single expected event may take.
pub const STEP: Duration = Duration::from_secs(5);

/// The server binary started as a process (`RUST_LOG=info`, stderr piped) with `args`:
/// returns it, its stderr lines after the "listening on" line, and that line.
pub fn spawn_server_process(
    args: &[&str],
) -> (
    std::process::Child,
    std::io::Lines<std::io::BufReader<std::process::ChildStderr>>,
    String,
) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_realtime-reference-server"))
        .args(args)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("listening on"))
        .expect("listening line");
    (child, lines, listening)
}

/// The test fixture folders (`www`, `pkg`).
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

/// Starts a server on 127.0.0.1, port 0, serving the fixtures; `tweak` adjusts the config.
pub async fn server_with(tweak: impl FnOnce(&mut Config)) -> RunningServer {
    let mut c = Config {
        port: 0,
        www: fixtures().join("www"),
        pkg: fixtures().join("pkg"),
        ..Config::default()
    };
    tweak(&mut c);
    start(c).await.expect("server starts")
}

/// Starts a server with the default configuration (any non-empty key).
pub async fn server() -> RunningServer {
    server_with(|_| {}).await
}

/// Opens a WebSocket to `path_and_query` on the server.
pub async fn connect(addr: SocketAddr, path_and_query: &str) -> Ws {
    let url = format!("ws://{addr}{path_and_query}");
    let (ws, _) = tokio::time::timeout(STEP, tokio_tungstenite::connect_async(url.as_str()))
        .await
        .expect("connect in time")
        .expect("websocket connects");
    ws
}

/// Opens a WebSocket to `path_and_query` with an `Origin` header, as a browser page does.
pub async fn connect_from(addr: SocketAddr, path_and_query: &str, origin: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{addr}{path_and_query}")
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("origin", origin.parse().expect("origin header"));
    let (ws, _) = tokio::time::timeout(STEP, tokio_tungstenite::connect_async(req))
        .await
        .expect("connect in time")
        .expect("websocket connects");
    ws
}

/// Reads to the end of the socket: the texts of the `error` messages on the way, and the
/// close frame's code and reason (`None` when the socket ended without one).
pub async fn expect_error_and_close(ws: &mut Ws) -> (Vec<String>, Option<(u16, String)>) {
    let mut errors = Vec::new();
    loop {
        let msg = tokio::time::timeout(STEP, ws.next())
            .await
            .expect("the socket closes in time");
        match msg {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                if v["type"] == "error" {
                    errors.push(v["error"].as_str().unwrap_or_default().to_string());
                }
            }
            Some(Ok(Message::Close(frame))) => {
                return (
                    errors,
                    frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                )
            }
            None | Some(Err(_)) => return (errors, None),
            Some(Ok(_)) => {}
        }
    }
}

/// Opens a WebRTC session with a valid key and model (plus `extra` query parameters).
pub async fn session(addr: SocketAddr, extra: &str) -> Ws {
    connect(
        addr,
        &format!("/v1/stream?api_key=test-key&model=mirage{extra}"),
    )
    .await
}

/// The next frame, raw: `Some(text)` for text, `None` when the socket closed.
pub async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        let msg = tokio::time::timeout(STEP, ws.next())
            .await
            .expect("a frame in time");
        match msg {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return None,
            Some(Ok(Message::Text(t))) => return Some(t.to_string()),
            Some(Ok(_)) => continue,
        }
    }
}

/// The next JSON message, `None` when the socket closed.
pub async fn next_json(ws: &mut Ws) -> Option<Value> {
    let text = next_text(ws).await?;
    Some(
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("server sent non-JSON {text:?}: {e}")),
    )
}

fn periodic(v: &Value) -> bool {
    matches!(
        v["type"].as_str(),
        Some("metrics_report" | "generation_tick")
    )
}

/// The next message that is not periodic (`metrics_report`, `generation_tick`).
pub async fn next_event(ws: &mut Ws) -> Option<Value> {
    loop {
        let v = next_json(ws).await?;
        if !periodic(&v) {
            return Some(v);
        }
    }
}

/// The next non-periodic message, which must be of type `ty`.
pub async fn expect_type(ws: &mut Ws, ty: &str) -> Value {
    let v = next_event(ws)
        .await
        .unwrap_or_else(|| panic!("socket closed while waiting for {ty}"));
    assert_eq!(v["type"], ty, "expected {ty}, got {v}");
    v
}

/// Reads the `session_id` that opens every session.
pub async fn expect_session_id(ws: &mut Ws) -> String {
    let v = expect_type(ws, "session_id").await;
    v["session_id"]
        .as_str()
        .expect("session_id string")
        .to_string()
}

/// Asserts the server closes the socket next, with no further non-periodic message.
pub async fn expect_closed(ws: &mut Ws) {
    if let Some(v) = next_event(ws).await {
        panic!("expected the socket to close, got {v}");
    }
}

/// Asserts no non-periodic message arrives within `d` (and the socket stays open).
pub async fn expect_quiet(ws: &mut Ws, d: Duration) {
    let deadline = tokio::time::Instant::now() + d;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return,
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                panic!("socket closed")
            }
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                assert!(periodic(&v), "expected quiet, got {v}");
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Sends a JSON message.
pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.expect("send");
}

/// Sends a raw text frame.
pub async fn send_raw(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text.to_string()))
        .await
        .expect("send");
}

/// `GET path` with extra header lines; returns status and body.
pub async fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    http_request(addr, "GET", path, headers, "").await
}

/// `method path` with extra header lines and a body; returns status and body.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let (status, _, body) = http_full(addr, method, path, headers, body).await;
    (status, body)
}

/// `GET path`; returns status, headers (names lowercase) and body.
pub async fn http_get_full(addr: SocketAddr, path: &str) -> (u16, Vec<(String, String)>, String) {
    http_full(addr, "GET", path, &[], "").await
}

/// One HTTP/1.1 request on a fresh connection; returns status, headers (names lowercase)
/// and body.
async fn http_full(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(addr).await.expect("tcp connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(STEP, s.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .expect("read");
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// The value of header `name` (lowercase) in `headers`.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// An IVS session that got its `ivs_stage_ready`.
pub struct IvsSession {
    pub ws: Ws,
    pub sid: String,
    pub stage_id: String,
    pub client_token: String,
    pub client_participant_id: String,
}

/// Opens `/v1/stream-ivs` (plus `extra` query parameters) and reads `session_id` and
/// `ivs_stage_ready`.
pub async fn ivs_session(addr: SocketAddr, extra: &str) -> IvsSession {
    let mut ws = connect(
        addr,
        &format!("/v1/stream-ivs?api_key=k&model=mirage{extra}"),
    )
    .await;
    let sid = expect_session_id(&mut ws).await;
    let ready = expect_type(&mut ws, "ivs_stage_ready").await;
    let stage_id = ready["stage_arn"]
        .as_str()
        .expect("stage_arn")
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    IvsSession {
        ws,
        sid,
        stage_id,
        client_token: ready["client_token"]
            .as_str()
            .expect("client_token")
            .to_string(),
        client_participant_id: ready["client_publish_participant_id"]
            .as_str()
            .expect("participant id")
            .to_string(),
    }
}

/// Opens the stage signaling of `stage_id` and sends `join` with `token`.
pub async fn stage_join(addr: SocketAddr, stage_id: &str, token: &str) -> Ws {
    let mut ws = connect(addr, &format!("/v1/stage/{stage_id}/signal")).await;
    send(&mut ws, serde_json::json!({"type": "join", "token": token})).await;
    ws
}

/// A viewer token of session `sid`.
pub async fn ivs_viewer_token(addr: SocketAddr, sid: &str) -> (String, String) {
    let (status, body) = http_get(
        addr,
        &format!("/v1/subscribe-ivs/{sid}"),
        &[("x-api-key", "k")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    (
        v["subscribe_token"].as_str().unwrap().to_string(),
        v["server_publish_participant_id"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}
