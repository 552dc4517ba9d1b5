// The test page: uses only the package's public API.
import init, { createRealtimeClient, models, version } from "/pkg/realtime_video_sdk.js";

const $ = (id) => document.getElementById(id);
let camera = null;
let client = null;
let viewer = null;

function log(text, cls) {
  const li = document.createElement("li");
  li.textContent = `${new Date().toISOString().slice(11, 23)} ${text}`; // server text is rendered as text
  if (cls) li.className = cls;
  $("log").prepend(li);
  while ($("log").children.length > 200) $("log").lastChild.remove();
}

function showError(e) {
  log(`${e.code ?? "ERROR"}: ${e.message ?? e}`, "error");
}

function setState(s) {
  $("state").textContent = s;
  $("state").className = `state ${s}`;
  const live = s === "connected" || s === "generating";
  $("send").disabled = !live;
  $("viewer").disabled = !live;
  $("disconnect").disabled = !client;
  $("connect").disabled = !camera || !!client;
}

// A moving synthetic pattern when there is no camera.
function syntheticCamera() {
  const canvas = document.createElement("canvas");
  canvas.width = 640; canvas.height = 360;
  const ctx = canvas.getContext("2d");
  let t = 0;
  (function draw() {
    t += 1;
    ctx.fillStyle = `hsl(${t % 360} 60% 40%)`;
    ctx.fillRect(0, 0, 640, 360);
    ctx.fillStyle = "#fff";
    ctx.fillRect(320 + 200 * Math.sin(t / 30) - 40, 140, 80, 80);
    requestAnimationFrame(draw);
  })();
  return canvas.captureStream(30);
}

async function startCamera() {
  try {
    camera = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  } catch (e) {
    log(`no camera (${e.name}); using a synthetic source`);
    camera = syntheticCamera();
  }
  $("local").srcObject = camera;
  setState("disconnected");
}

async function connect() {
  try {
    const factory = createRealtimeClient({ baseUrl: $("baseUrl").value, apiKey: $("apiKey").value, integration: "test-page" });
    setState("connecting");
    client = await factory.connect(camera, {
      model: $("model").value,
      transport: $("transport").value,
      onRemoteStream: (s) => { $("remote").srcObject = s; },
      initialState: { prompt: { text: $("prompt").value, enhance: false } },
    });
    client.on("connectionChange", setState);
    client.on("error", showError);
    client.on("stats", (s) => { $("stats").textContent = JSON.stringify(s, null, 1); });
    client.on("serverMetrics", (m) => { $("metrics").textContent = JSON.stringify(m, null, 1); });
    client.on("diagnostic", (d) => log(`${d.kind} ${JSON.stringify(d.data)}`));
    $("session").textContent = client.sessionId ?? "—";
    $("token").textContent = client.subscribeToken ?? "—";
    setState(client.getConnectionState());
  } catch (e) {
    client = null;
    setState("disconnected");
    showError(e);
  }
}

function disconnect() {
  viewer?.disconnect(); viewer = null;
  client?.disconnect(); client = null;
  $("remote").srcObject = null; $("viewerVideo").srcObject = null;
  $("session").textContent = "—"; $("token").textContent = "—";
  $("stats").textContent = "—"; $("metrics").textContent = "—";
  setState("disconnected");
}

async function sendPrompt() {
  $("ack").textContent = "…";
  try {
    await client.setPrompt($("prompt").value, { enhance: false });
    $("ack").textContent = "acknowledged";
  } catch (e) {
    $("ack").textContent = `${e.code}: ${e.message}`;
  }
}

async function openViewer() {
  try {
    const factory = createRealtimeClient({ baseUrl: $("baseUrl").value, apiKey: $("apiKey").value });
    viewer = await factory.subscribe({ token: client.subscribeToken, onRemoteStream: (s) => { $("viewerVideo").srcObject = s; } });
    log("viewer connected");
  } catch (e) { showError(e); }
}

await init();
$("version").textContent = `v${version()}`;
$("baseUrl").value = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
for (const m of models.list()) {
  const o = document.createElement("option");
  o.value = m.name; o.textContent = `${m.name} (${m.width}×${m.height} @ ${m.fps})`;
  $("model").append(o);
}
$("camera").onclick = startCamera;
$("connect").onclick = connect;
$("disconnect").onclick = disconnect;
$("send").onclick = sendPrompt;
$("viewer").onclick = openViewer;
document.body.dataset.ready = "true";
