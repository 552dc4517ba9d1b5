// A page written for the reference TypeScript SDK's realtime API (shared/API.md), used
// unchanged but for the import line below. It walks API.md §8's compatibility checklist
// against the local reference server and leaves the outcome in `window.compat` (read by
// e2e/compat.spec.mjs) and on the page.
import { createDecartClient, models, isRealtimeModel, ERROR_CODES, createConsoleLogger, noopLogger, readMarker, isBrowserSupported } from "/pkg/index.js";

const params = new URLSearchParams(location.search);
const transport = params.get("transport") ?? "webrtc";
const realtimeBaseUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
const apiKey = "compat-page-key";
const results = [];
window.compat = { done: false, results, transport };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function check(name, ok, detail = "") {
  results.push({ name, ok: Boolean(ok), detail: String(detail) });
  const li = document.createElement("li");
  li.textContent = `${ok ? "ok" : "FAILED"} — ${name}${detail ? `: ${detail}` : ""}`;
  li.className = ok ? "ok" : "error";
  document.getElementById("results").append(li);
}
async function rejects(promiseFn) {
  try {
    await promiseFn();
    return null;
  } catch (e) {
    return e;
  }
}
function throws(fn) {
  try {
    fn();
    return null;
  } catch (e) {
    return e;
  }
}
async function until(ok, ms) {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await sleep(100);
  return ok();
}
const video = document.getElementById("remote");
const show = (stream) => {
  video.srcObject = stream;
};
/** Frames the remote <video> presented within `ms`. */
async function framesAdvance(ms = 3000) {
  const q = () => video.getVideoPlaybackQuality().totalVideoFrames;
  const before = q();
  await sleep(ms);
  return q() - before;
}

async function viewer(token) {
  const { realtime } = createDecartClient({ apiKey, realtimeBaseUrl });
  const client = await realtime.subscribe({ token, onRemoteStream: show });
  await until(() => video.getVideoPlaybackQuality().totalVideoFrames > 5, 10000);
  check("subscribe on a second page shows the output", (await framesAdvance(2000)) > 5);
  client.disconnect();
}

async function checklist() {
  // 1. Imports and the synchronous checks.
  check("the six runtime imports work without init()", [createDecartClient, models, isRealtimeModel, createConsoleLogger].every((f) => typeof f === "function") && ERROR_CODES.INVALID_API_KEY === "INVALID_API_KEY" && typeof noopLogger.warn === "function");
  check("{apiKey: \"\"} → INVALID_API_KEY", throws(() => createDecartClient({ apiKey: "" }))?.code === "INVALID_API_KEY");
  check("realtimeBaseUrl: \"nope\" → INVALID_BASE_URL", throws(() => createDecartClient({ apiKey, realtimeBaseUrl: "nope" }))?.code === "INVALID_BASE_URL");
  check("models.realtime(\"nope\") → MODEL_NOT_FOUND", throws(() => models.realtime("nope"))?.code === "MODEL_NOT_FOUND");
  const mirage = models.realtime("mirage");
  check("mirage is 25 fps, 1280×704", mirage.fps === 25 && mirage.width === 1280 && mirage.height === 704, JSON.stringify(mirage));
  check("isRealtimeModel", isRealtimeModel("lucy_2_rt") && !isRealtimeModel("lucy"));
  check("isBrowserSupported() here, with latency tracking too", isBrowserSupported() && isBrowserSupported({ latencyTracking: true }));

  // `baseUrl` is the HTTP API's: it does not move the realtime connection.
  const { realtime } = createDecartClient({ apiKey, realtimeBaseUrl, baseUrl: "https://api.invalid", logger: noopLogger });
  const camera = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });

  // 2. connect with an initial prompt; listeners added at once get the held events.
  const client = await realtime.connect(camera, {
    model: mirage,
    onRemoteStream: show,
    transport,
    initialState: { prompt: { text: "a watercolor painting" } },
    extraQueryParams: { fault_error_after_ms: "3000" },
  });
  const events = { connectionChange: [], diagnostic: [], stats: [], error: [] };
  for (const name of Object.keys(events)) client.on(name, (d) => events[name].push(d));
  check("baseUrl does not move realtime: connected", client.isConnected());
  await sleep(50);
  const states = events.connectionChange;
  check("listeners added at once get \"connecting\", \"connected\"", states[0] === "connecting" && states.includes("connected"), states.join(","));
  check("…and phaseTiming", events.diagnostic.some((d) => d.name === "phaseTiming"));
  check("sessionId and subscribeToken are strings", typeof client.sessionId === "string" && typeof client.subscribeToken === "string");
  window.compat.token = client.subscribeToken;

  // 3. stats every second, read as the reference's pages read them.
  let fpsTexts = 0;
  client.on("stats", (s) => {
    s.video.framesPerSecond.toFixed(1);
    fpsTexts++;
  });
  await until(() => events.stats.length >= 3, 6000);
  const nullable = new Set(["targetBitrateKbps", "currentRoundTripTime", "availableOutgoingBitrate"]);
  const nulls = [];
  for (const s of events.stats.slice(-2)) {
    for (const section of ["video", "audio", "outboundVideo", "connection"]) {
      for (const [k, v] of Object.entries(s[section] ?? {})) {
        const reference = !["id", "codec", "decoderImplementation", "encoderImplementation", "keyFramesDecoded", "framesEncoded", "framesSent", "targetBitrate", "selectedCandidatePair"].includes(k);
        if (v === null && reference && !nullable.has(k)) nulls.push(`${section}.${k}`);
      }
    }
  }
  check("on(\"stats\", s => s.video.framesPerSecond.toFixed(1)) runs each second", fpsTexts >= 2 && events.stats.length >= 3, `${events.stats.length} samples`);
  check("only targetBitrateKbps, currentRoundTripTime, availableOutgoingBitrate may be null", nulls.length === 0, nulls.join(","));

  // 4. set, setPrompt, setImage.
  const png = Uint8Array.from(atob("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="), (c) => c.charCodeAt(0));
  const file = new File([png], "ref.png", { type: "image/png" });
  check("set({prompt}) resolves", (await rejects(() => client.set({ prompt: "ink" }))) === null);
  check("setPrompt(p, {enhance: false, maxTimeout: 1}) resolves", (await rejects(() => client.setPrompt("oil", { enhance: false, maxTimeout: 1 }))) === null);
  check("setImage(file) resolves", (await rejects(() => client.setImage(file))) === null);
  check("setImage(null) resolves", (await rejects(() => client.setImage(null))) === null);
  check("set({}) rejects", (await rejects(() => client.set({}))) !== null);

  // 6. A fault-injected server error reaches on("error"); unknown names; off(event).
  await until(() => events.error.length > 0, 6000);
  const err = events.error[0];
  check("a server error reaches on(\"error\") with a WEBRTC_* code and its text", err?.code === "WEBRTC_SERVER_ERROR" && err?.message === "injected error", `${err?.code} ${err?.message}`);
  check("on(\"nope\", f) does not throw", throws(() => client.on("nope", () => {})) === null);
  let after = 0;
  client.on("stats", () => after++);
  client.off("stats");
  await sleep(2500);
  check("off(\"stats\") removes all", after === 0);

  // The test opens a viewer page with the token meanwhile (window.compat.viewed).
  await until(() => window.compat.viewed === true, 20000);

  // 7. A detached disconnect: one "disconnected", then silence; the camera stays live.
  const button = document.getElementById("stop");
  button.onclick = client.disconnect;
  const seen = events.connectionChange.length;
  button.click();
  const disconnected = events.connectionChange.slice(seen);
  const countAfter = Object.values(events).reduce((n, list) => n + list.length, 0);
  await sleep(2000);
  const silent = Object.values(events).reduce((n, list) => n + list.length, 0) === countAfter;
  check("btn.onclick = client.disconnect → one \"disconnected\", then silence", disconnected.length === 1 && disconnected[0] === "disconnected" && silent, disconnected.join(","));
  check("camera tracks stay \"live\"", camera.getTracks().every((t) => t.readyState === "live"));

  // 5. Latency tracking: composite alone, then pixel markers read on the page's video.
  const composite = [];
  const c2 = await realtime.connect(camera, { model: mirage, onRemoteStream: show, transport, latencyTracking: { composite: true } });
  c2.on("compositeLatency", (c) => composite.push(c));
  await until(() => composite.length >= 2, 6000);
  const four = composite[0] && ["clientProxyRttMs", "serverProxyRttMs", "pipelineLatencyMs", "compositeE2eMs"].every((k) => typeof composite[0][k] === "number");
  check("{composite: true}: four numbers", four, JSON.stringify(composite[0]));
  await until(() => video.videoWidth > 0, 5000);
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  let marked = 0;
  for (let i = 0; i < 10; i++) {
    ctx.drawImage(video, 0, 0);
    if (readMarker(ctx.getImageData(0, 0, canvas.width, canvas.height)) >= 0) marked++;
    await sleep(100);
  }
  check("{composite: true}: no marker drawn", marked === 0 && canvas.width > 0, `${marked} marked frames`);
  c2.disconnect();

  const latency = { pixelLatency: [], pixelLatencyEvent: [], pixelLatencyReport: [] };
  const c3 = await realtime.connect(camera, { model: mirage, onRemoteStream: show, transport, latencyTracking: { pixelMarker: true, videoElement: video } });
  for (const name of Object.keys(latency)) c3.on(name, (d) => latency[name].push(d));
  await until(() => latency.pixelLatencyReport.length >= 2, 16000);
  const m = latency.pixelLatency[0];
  check("pixelLatency timestamp ≈ Date.now()", m && Math.abs(m.timestamp - Date.now()) < 20000, JSON.stringify(m));
  check("pixelLatencyEvent status \"ok\"", latency.pixelLatencyEvent.some((e) => e.status === "ok"));
  const reports = latency.pixelLatencyReport;
  const nonDecreasing = reports.every((r, i) => i === 0 || (r.sent >= reports[i - 1].sent && r.received >= reports[i - 1].received));
  check("a report each 5 s, counts non-decreasing", reports.length >= 2 && nonDecreasing, reports.map((r) => `${r.received}/${r.sent}`).join(" "));
  check("deliveryRate === received / sent", reports.every((r) => r.deliveryRate === (r.sent ? r.received / r.sent : 0)));
  c3.disconnect();

  // 8. playAudio only for live_avatar + null; connect(null, mirage) is accepted.
  const avatar = await realtime.connect(null, { model: models.realtime("live_avatar"), onRemoteStream: show, transport });
  check("playAudio for live_avatar connected with null", typeof avatar.playAudio === "function");
  avatar.disconnect();
  const receiveOnly = await realtime.connect(null, { model: mirage, onRemoteStream: show, transport });
  check("connect(null, …mirage) accepted, without playAudio", receiveOnly.isConnected() && receiveOnly.playAudio === undefined);
  receiveOnly.disconnect();
  if (transport === "ivs") check("transport: \"ivs\" with the IVS script tag connects", typeof globalThis.IVSBroadcastClient === "object" || typeof globalThis.IVSBroadcastClient === "function");
  camera.getTracks().forEach((t) => t.stop());
}

const run = params.get("viewer") ? viewer(params.get("viewer")) : checklist();
run.then(
  () => {
    window.compat.done = true;
    document.getElementById("status").textContent = results.every((r) => r.ok) ? "all passed" : "some failed";
  },
  (e) => {
    check("the page ran to the end", false, `${e?.code ?? ""} ${e?.message ?? e}`);
    window.compat.done = true;
    document.getElementById("status").textContent = "stopped";
  },
);
