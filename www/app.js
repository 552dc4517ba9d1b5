// The test page: connects a camera (or a synthetic source) to the realtime service with the
// SDK, over WebRTC or IVS, and shows what the SDK reports. Uses only the package's public API.
// Server-provided text is always rendered with textContent.
import { createDecartClient, models, version } from "/pkg/index.js";
import { LineChart } from "./chart.js";
import { openInput } from "./media.js";
import { statsRows, metricsRows, pixelLatencyMs, compositeLatency, latencyReport, diagnosticText, num, qualityBadge, qualityRows, preflightText } from "./format.js";

const $ = (id) => document.getElementById(id);
const DASH = "—";
const LIVE = new Set(["connected", "generating"]);
const LOG_LIMIT = 500;
const onLoopback = ["127.0.0.1", "localhost", "[::1]"].includes(location.hostname);

let input = null; // {stream, label, stop}
let client = null; // the connected session
let viewer = null; // the open viewer
let connecting = false;
// Bumped by every connect and disconnect: a connect that resolves after a newer action is
// dropped (the SDK's connect() cannot be cancelled while it retries).
let attempt = 0;
let viewerAttempt = 0;
let chartTimer = null;
let previewUrl = null;

const charts = {
  latency: new LineChart($("latencyChart"), $("latencyLegend"), {
    unit: "ms",
    series: [{ key: "pixel", label: "pixel marker" }, { key: "composite", label: "composite" }],
  }),
  fps: new LineChart($("fpsChart"), $("fpsLegend"), {
    unit: "fps",
    series: [{ key: "in", label: "received" }, { key: "out", label: "sent" }, { key: "server", label: "server output" }],
  }),
  bitrate: new LineChart($("bitrateChart"), $("bitrateLegend"), {
    unit: "kbit/s",
    series: [{ key: "in", label: "received" }, { key: "out", label: "sent" }],
  }),
};

// ---- log and errors ----------------------------------------------------------------------

/** Hides the API key should any text ever carry it. */
function redact(text) {
  const key = $("apiKey").value;
  return key.length >= 4 ? text.split(key).join("•••") : text;
}

function clock() {
  const d = new Date();
  return `${d.toTimeString().slice(0, 8)}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

function log(kind, text, cls = "") {
  const li = document.createElement("li");
  li.className = `entry kind-${kind} ${cls}`.trim();
  const time = document.createElement("time");
  time.textContent = clock();
  const k = document.createElement("span");
  k.className = "kind";
  k.textContent = kind;
  const t = document.createElement("span");
  t.className = "text";
  t.textContent = redact(text);
  li.append(time, " ", k, " ", t);
  $("log").prepend(li);
  while ($("log").children.length > LOG_LIMIT) $("log").lastChild.remove();
}

/** "CODE: message" of an SDK error (or of any other throw). */
function errorText(e) {
  const code = e?.detailCode && e.detailCode !== e.code ? `${e.code} (${e.detailCode})` : (e?.code ?? e?.name ?? "ERROR");
  const message = e?.message ?? String(e);
  const cause = e?.cause?.message ? ` (${e.cause.message})` : "";
  return `${code}: ${message}${cause}${e?.data ? ` ${JSON.stringify(e.data)}` : ""}`;
}

function showError(e, where) {
  const text = redact(errorText(e));
  $("error").textContent = where ? `${where}: ${text}` : text;
  $("error").hidden = false;
  log("error", where ? `${where}: ${text}` : text, "error");
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function setStatus(el, cls, text) {
  el.className = `status ${cls}`;
  el.textContent = redact(text);
}

// ---- state and buttons -------------------------------------------------------------------

function setState(s) {
  $("state").textContent = s;
  $("state").className = `state ${s}`;
  refreshButtons();
}

function refreshButtons() {
  const live = !!client && LIVE.has(client.getConnectionState());
  const busy = !!client || connecting;
  $("connect").disabled = busy;
  $("disconnect").disabled = !busy;
  $("camera").disabled = busy;
  $("source").disabled = busy || !!input;
  $("camera").textContent = input ? "Stop camera" : "Start camera";
  $("sendPrompt").disabled = !live;
  $("sendPromptAck").disabled = !live;
  $("sendImage").disabled = !live || !$("imageFile").files.length;
  $("openViewer").disabled = !!viewer || !$("token").value.trim();
  for (const id of ["baseUrl", "apiKey", "model", "transport", "ivsSource", "ivsCustomUrl", "extraParams", "latPixel", "latComposite", "latInterval"]) {
    $(id).disabled = busy;
  }
}

function showIvsOptions() {
  $("ivsOptions").hidden = $("transport").value !== "ivs";
  $("ivsCustomLabel").hidden = $("ivsSource").value !== "custom";
  // The SDK prefers a global IVSBroadcastClient over any script URL.
  const loaded = "IVSBroadcastClient" in window && $("ivsSource").value !== "emulatorModule";
  $("ivsNote").hidden = !loaded;
  $("ivsNote").textContent = loaded ? "A global IVSBroadcastClient is already loaded on this page: the SDK uses it (reload the page to load another)." : "";
}

// ---- input -------------------------------------------------------------------------------

async function toggleCamera() {
  if (input) {
    input.stop();
    input = null;
    $("local").srcObject = null;
    $("cameraInfo").textContent = "no input";
    refreshButtons();
    return;
  }
  $("camera").disabled = true;
  try {
    input = await openInput($("source").value);
    if (input.fallbackReason) log("input", `no camera (${input.fallbackReason}); using the synthetic source`);
    $("local").srcObject = input.stream;
    $("cameraInfo").textContent = input.label;
    log("input", input.label);
  } finally {
    refreshButtons();
  }
}

// ---- connect -----------------------------------------------------------------------------

/** The SDK's own log lines go to the diagnostics log (debug lines only when asked). */
const sdkLogger = Object.fromEntries(
  ["debug", "info", "warn", "error"].map((level) => [
    level,
    (message, data) => {
      if (level === "debug" && !$("sdkDebug").checked) return;
      const text = `${message}${data === undefined ? "" : ` ${errorText(data)}`}`;
      log(`sdk ${level}`, text, level === "error" || level === "warn" ? "error" : "");
    },
  ]),
);

function factory() {
  return createDecartClient({ realtimeBaseUrl: $("baseUrl").value.trim(), apiKey: $("apiKey").value, integration: "test-page", logger: sdkLogger }).realtime;
}

function extraQueryParams() {
  const text = $("extraParams").value.trim().replace(/^\?/, "");
  return text ? Object.fromEntries(new URLSearchParams(text)) : null;
}

async function ivsOptions() {
  switch ($("ivsSource").value) {
    case "emulator":
      return { ivsSdkUrl: "/ivs-emulator.js" };
    case "emulatorModule":
      return { ivsModule: await import("/ivs-emulator.mjs") };
    case "custom":
      return { ivsSdkUrl: $("ivsCustomUrl").value.trim() };
    default:
      return {}; // the SDK's default: the official CDN, pinned version
  }
}

async function connectOptions() {
  const options = {
    model: $("model").value,
    transport: $("transport").value,
    onRemoteStream: (s) => {
      $("remote").srcObject = s;
    },
  };
  const prompt = $("prompt").value;
  if (prompt.trim()) options.initialState = { prompt: { text: prompt, enhance: $("enhance").checked } };
  if ($("latPixel").checked || $("latComposite").checked) {
    const interval = $("latInterval").valueAsNumber;
    options.latencyTracking = {
      pixelMarker: $("latPixel").checked,
      composite: $("latComposite").checked,
      videoElement: $("remote"),
      ...(Number.isFinite(interval) ? { probeIntervalMs: interval } : {}),
    };
  }
  const extra = extraQueryParams();
  if (extra) options.extraQueryParams = extra;
  if (options.transport === "ivs") Object.assign(options, await ivsOptions());
  return options;
}

async function connect() {
  clearError();
  const mine = ++attempt;
  connecting = true;
  setState("connecting");
  try {
    const f = factory();
    const options = await connectOptions();
    log("connect", `${options.transport} ${options.model} at ${$("baseUrl").value.trim()}`);
    const c = await f.connect(input?.stream ?? null, options);
    if (mine !== attempt) {
      c.disconnect();
      return;
    }
    client = c;
    connecting = false;
    wire(c);
    $("session").textContent = c.sessionId ?? DASH;
    $("token").value = c.subscribeToken ?? "";
    chartTimer = setInterval(drawCharts, 1000);
    setState(c.getConnectionState());
    showIvsOptions();
    log("connect", `session ${c.sessionId ?? "?"} ${c.getConnectionState()}`);
  } catch (e) {
    if (mine !== attempt) return;
    connecting = false;
    setState("disconnected");
    showError(e, "connect");
  }
}

/** Subscribes to an event; an SDK build that lacks it is noted once in the log. */
function listen(c, event, fn) {
  try {
    c.on(event, fn);
  } catch (e) {
    log("page", `event "${event}" is not available: ${errorText(e)}`);
  }
}

function wire(c) {
  listen(c, "connectionChange", (s) => {
    log("connectionChange", s);
    if (c !== client) return;
    if (s === "disconnected") endSession("the session ended");
    else setState(s);
  });
  listen(c, "error", (e) => showError(e));
  let lastPair = null;
  listen(c, "diagnostic", (d) => {
    const text = diagnosticText(d);
    // The selected pair is logged when it changes, not at every stats sample.
    if (d?.name === "selectedCandidatePair") {
      if (text === lastPair) return;
      lastPair = text;
    }
    log(d?.name ?? "diagnostic", text);
  });
  listen(c, "generationTick", (g) => {
    $("generation").textContent = `${(num(g, "seconds") ?? 0).toFixed(0)} s`;
  });
  listen(c, "stats", showStats);
  listen(c, "connectionQuality", (q) => {
    showQuality(q);
    log("connectionQuality", qualityBadge(q));
  });
  listen(c, "serverMetrics", showMetrics);
  listen(c, "pixelLatency", (e) => {
    const ms = pixelLatencyMs(e);
    if (ms == null) return;
    charts.latency.add("pixel", now(), ms);
    const about = [e?.seq != null ? `seq ${e.seq}` : null, typeof e?.mode === "string" ? e.mode : null].filter(Boolean).join(", ");
    $("latPixelValue").textContent = `${ms.toFixed(0)} ms${about ? ` (${about})` : ""}`;
  });
  listen(c, "pixelLatencyReport", (r) => {
    $("latReport").textContent = latencyReport(r);
    log("pixelLatencyReport", latencyReport(r));
  });
  listen(c, "compositeLatency", (e) => {
    const { total, parts } = compositeLatency(e);
    if (total == null) return;
    charts.latency.add("composite", now(), total);
    $("latCompositeValue").textContent = `${total.toFixed(0)} ms${parts ? ` (${parts})` : ""}`;
  });
  listen(c, "remoteStream", () => log("remoteStream", "remote stream received"));
}

function disconnect() {
  attempt++;
  connecting = false;
  endSession("disconnected by the page");
}

/** Ends the session (if any) and resets every session field of the page. */
function endSession(why) {
  const c = client;
  client = null;
  c?.disconnect();
  closeViewer();
  clearInterval(chartTimer);
  chartTimer = null;
  for (const chart of Object.values(charts)) chart.clear();
  $("remote").srcObject = null;
  $("session").textContent = DASH;
  $("token").value = "";
  $("stats").tBodies[0].replaceChildren();
  $("metrics").tBodies[0].replaceChildren();
  $("qualityTable").tBodies[0].replaceChildren();
  showQualityBadge(null);
  for (const id of ["latPixelValue", "latCompositeValue", "latReport", "generation"]) $(id).textContent = DASH;
  setStatus($("promptStatus"), "", "");
  setStatus($("imageStatus"), "", "");
  setState("disconnected");
  log("disconnect", why);
}

// ---- live panels -------------------------------------------------------------------------

const now = () => performance.now() / 1000;

function drawCharts() {
  for (const chart of Object.values(charts)) chart.draw(now());
}

function fillTable(table, rows) {
  const body = table.tBodies[0];
  body.replaceChildren(
    ...rows.map(([key, label, text]) => {
      const tr = document.createElement("tr");
      tr.dataset.key = key;
      const th = document.createElement("th");
      th.textContent = label;
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(th, td);
      return tr;
    }),
  );
}

function showQualityBadge(q) {
  $("quality").textContent = qualityBadge(q);
  $("quality").className = `quality ${q?.quality ?? ""}`.trim();
}

function showQuality(q) {
  showQualityBadge(q);
  fillTable($("qualityTable"), qualityRows(q));
}

function showStats(s) {
  fillTable($("stats"), statsRows(s));
  // The metrics (and time to first frame) follow every sample; the event only each change.
  const q = client?.getConnectionQuality?.();
  if (q) showQuality(q);
  const t = now();
  charts.fps.add("in", t, num(s?.video, "framesPerSecond"));
  charts.fps.add("out", t, num(s?.outboundVideo, "framesPerSecond"));
  const kbps = (bps) => (bps == null ? null : bps / 1000);
  charts.bitrate.add("in", t, kbps(num(s?.video, "bitrate")));
  charts.bitrate.add("out", t, kbps(num(s?.outboundVideo, "bitrate")));
}

function showMetrics(m) {
  fillTable($("metrics"), metricsRows(m).map(([k, text]) => [k, k, text]));
  charts.fps.add("server", now(), num(m, "output_fps"));
}

// ---- prompt and image --------------------------------------------------------------------

function sendPrompt() {
  const text = $("prompt").value;
  const status = $("promptStatus");
  setStatus(status, "ok", "sent (not waiting for the ack)");
  client.set({ prompt: text, enhance: $("enhance").checked }).catch((e) => {
    setStatus(status, "error", errorText(e));
    log("prompt", errorText(e), "error");
  });
}

async function ack(status, what, call) {
  const t0 = performance.now();
  setStatus(status, "pending", "waiting for the ack…");
  try {
    await call();
    setStatus(status, "ok", `acknowledged in ${Math.round(performance.now() - t0)} ms`);
    log(what, "acknowledged");
  } catch (e) {
    setStatus(status, "error", errorText(e));
    log(what, errorText(e), "error");
  }
}

function sendPromptAck() {
  const c = client;
  return ack($("promptStatus"), "prompt", () => c.setPrompt($("prompt").value, { enhance: $("enhance").checked }));
}

function sendImage() {
  const c = client;
  const file = $("imageFile").files[0];
  return ack($("imageStatus"), "image", () => c.setImage(file));
}

function previewImage() {
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  const file = $("imageFile").files[0];
  previewUrl = file ? URL.createObjectURL(file) : null;
  $("imagePreview").hidden = !file;
  if (previewUrl) $("imagePreview").src = previewUrl;
  else $("imagePreview").removeAttribute("src");
  setStatus($("imageStatus"), "", file ? `${file.name}, ${file.size} bytes` : "");
  refreshButtons();
}

// ---- connectivity check --------------------------------------------------------------------

async function checkConnectivity() {
  const status = $("preflightResult");
  const deep = $("preflightDeep").checked;
  $("preflight").disabled = true;
  $("preflightReasons").replaceChildren();
  setStatus(status, "pending", deep ? "checking (a short test session)…" : "checking…");
  try {
    const r = await factory().checkConnectivity({ deep, model: $("model").value });
    setStatus(status, r.quality === "good" ? "ok" : r.quality === "fair" ? "pending" : "error", preflightText(r));
    $("preflightReasons").replaceChildren(
      ...r.reasons.map((text) => {
        const li = document.createElement("li");
        li.textContent = text;
        return li;
      }),
    );
    log("checkConnectivity", `${preflightText(r)}${r.reasons.length ? `: ${r.reasons.join("; ")}` : ""}`);
  } catch (e) {
    setStatus(status, "error", errorText(e));
    log("checkConnectivity", errorText(e), "error");
  } finally {
    $("preflight").disabled = false;
  }
}

// ---- viewer ------------------------------------------------------------------------------

function setViewerState(s) {
  $("viewerState").textContent = s;
  $("viewerState").className = `state ${s}`;
}

async function openViewer() {
  const mine = ++viewerAttempt;
  $("viewerPane").hidden = false;
  setViewerState("connecting");
  $("openViewer").disabled = true;
  try {
    const v = await factory().subscribe({
      token: $("token").value.trim(),
      onRemoteStream: (s) => {
        $("viewerVideo").srcObject = s;
      },
      ...($("transport").value === "ivs" ? await ivsOptions() : {}),
    });
    if (mine !== viewerAttempt) {
      v.disconnect();
      return;
    }
    viewer = v;
    listen(v, "connectionChange", (s) => {
      if (v !== viewer) return;
      if (s === "disconnected") closeViewer();
      else setViewerState(s);
    });
    listen(v, "error", (e) => showError(e, "viewer"));
    setViewerState(v.getConnectionState());
    log("viewer", `watching session ${$("session").textContent}`);
  } catch (e) {
    if (mine !== viewerAttempt) return;
    closeViewer();
    showError(e, "viewer");
  }
  refreshButtons();
}

function closeViewer() {
  viewerAttempt++;
  const v = viewer;
  viewer = null;
  v?.disconnect();
  $("viewerVideo").srcObject = null;
  $("viewerPane").hidden = true;
  setViewerState(DASH);
  refreshButtons();
}

// ---- start -------------------------------------------------------------------------------

document.addEventListener("securitypolicyviolation", (e) => {
  log("csp", `${e.effectiveDirective} blocked ${e.blockedURI || "inline code"}`, "error");
});
window.addEventListener("unhandledrejection", (e) => log("page", `unhandled rejection: ${errorText(e.reason)}`, "error"));

// The package's entry instantiated the wasm before this module ran.
$("version").textContent = `SDK v${version()}`;
$("baseUrl").value = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
// The reference server accepts any non-empty key: prefill one for the local demo only.
if (onLoopback) $("apiKey").value = "demo-key";
$("ivsSource").value = onLoopback ? "emulator" : "cdn";
for (const m of models.list()) {
  const o = document.createElement("option");
  o.value = m.name;
  o.textContent = `${m.name} (${m.width}×${m.height} @ ${m.fps} fps)`;
  $("model").append(o);
}
$("camera").addEventListener("click", () => toggleCamera().catch((e) => showError(e, "input")));
$("connect").addEventListener("click", connect);
$("preflight").addEventListener("click", checkConnectivity);
$("disconnect").addEventListener("click", disconnect);
$("transport").addEventListener("change", showIvsOptions);
$("ivsSource").addEventListener("change", showIvsOptions);
$("sendPrompt").addEventListener("click", sendPrompt);
$("sendPromptAck").addEventListener("click", sendPromptAck);
$("imageFile").addEventListener("change", previewImage);
$("imagePreview").addEventListener("error", () => {
  $("imagePreview").hidden = true;
});
$("sendImage").addEventListener("click", sendImage);
$("token").addEventListener("input", refreshButtons);
$("openViewer").addEventListener("click", openViewer);
$("closeViewer").addEventListener("click", closeViewer);
$("clearLog").addEventListener("click", () => $("log").replaceChildren());
showIvsOptions();
refreshButtons();
drawCharts();
document.body.dataset.ready = "true";
