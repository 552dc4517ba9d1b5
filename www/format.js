// What the live panels show: rows of the stats panel taken from a `stats` event, the server
// metrics, latency payloads, and the formatting of numbers. Plain functions, no DOM.

const DASH = "—";

/** The first of `names` that is a finite number in `obj`, else null. */
export function num(obj, ...names) {
  if (!obj || typeof obj !== "object") return null;
  for (const n of names) {
    const v = obj[n];
    if (typeof v === "number" && Number.isFinite(v)) return v;
  }
  return null;
}

export function fixed(v, digits = 1, unit = "") {
  return v == null ? DASH : `${v.toFixed(digits)}${unit}`;
}

export function integer(v, unit = "") {
  return v == null ? DASH : `${Math.round(v)}${unit}`;
}

/** Bits per second → "1.23 Mbit/s" / "456 kbit/s". */
export function bitrate(bps) {
  if (bps == null) return DASH;
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(2)} Mbit/s` : `${Math.round(bps / 1e3)} kbit/s`;
}

function size(o) {
  return o && o.frameWidth && o.frameHeight ? `${o.frameWidth}×${o.frameHeight}` : DASH;
}

function seconds(s) {
  return s == null ? DASH : `${(s * 1000).toFixed(1)} ms`;
}

function candidate(c) {
  if (!c) return "?";
  const where = c.address != null ? `${c.address}:${c.port ?? "?"}` : "?";
  return `${where} ${c.protocol ?? ""} ${c.candidateType ?? ""}`.trim();
}

/** "local → remote" of a selected candidate pair. */
export function pair(p) {
  return p ? `${candidate(p.local)} → ${candidate(p.remote)}` : DASH;
}

/** Rows of the stats panel: [key, label, text] from one `stats` event. */
export function statsRows(s) {
  const v = s?.video ?? null;
  const o = s?.outboundVideo ?? null;
  const a = s?.audio ?? null;
  const c = s?.connection ?? null;
  return [
    ["inFps", "inbound fps", fixed(num(v, "framesPerSecond"))],
    ["inSize", "inbound resolution", size(v)],
    ["inBitrate", "inbound video bitrate", bitrate(num(v, "bitrate"))],
    ["inLost", "inbound packets lost", integer(num(v, "packetsLost"))],
    ["inJitter", "inbound jitter", seconds(num(v, "jitter"))],
    ["jitterBuffer", "jitter buffer delay", fixed(num(v?.interval, "jitterBufferDelayMs") ?? num(v, "avgJitterBufferMs"), 1, " ms")],
    ["inFreezes", "freezes", integer(num(v, "freezeCount"))],
    ["outFps", "outbound fps", fixed(num(o, "framesPerSecond"))],
    ["outSize", "outbound resolution", size(o)],
    ["outBitrate", "outbound video bitrate", bitrate(num(o, "bitrate"))],
    ["outLimit", "quality limitation", o?.qualityLimitationReason ?? DASH],
    ["audioBitrate", "inbound audio bitrate", bitrate(num(a, "bitrate"))],
    ["rtt", "round-trip time", seconds(num(c, "currentRoundTripTime"))],
    ["outAvailable", "available outgoing bitrate", bitrate(num(c, "availableOutgoingBitrate"))],
    ["pair", "selected candidate pair", pair(c?.selectedCandidatePair)],
  ];
}

/** Rows of the server metrics panel: [key, text] for every field the server sent. */
export function metricsRows(m) {
  if (!m || typeof m !== "object") return [];
  return Object.entries(m).map(([k, v]) => [k, typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : v == null ? DASH : String(v)]);
}

/** Glass-to-glass latency, ms, of a `pixelLatency` event (null when it carries none). */
export function pixelLatencyMs(e) {
  return num(e, "e2eLatencyMs");
}

/** Total latency, ms, of a `compositeLatency` event, and its parts as text. */
export function compositeLatency(e) {
  const total = num(e, "compositeE2eMs");
  const parts = [
    ["client RTT", num(e, "clientProxyRttMs")],
    ["server RTT", num(e, "serverProxyRttMs")],
    ["pipeline", num(e, "pipelineLatencyMs")],
  ]
    .filter(([, v]) => v != null)
    .map(([k, v]) => `${k} ${v.toFixed(0)} ms`)
    .join(", ");
  return { total, parts };
}

/** Text of a `pixelLatencyReport`: the period's latency and the counts since probing began. */
export function latencyReport(r) {
  const p = r?.period;
  const ms = (k) => (num(p, k) == null ? DASH : `${num(p, k).toFixed(0)} ms`);
  const rate = num(r, "deliveryRate");
  return `avg ${ms("avgLatencyMs")}, p95 ${ms("p95LatencyMs")}, delivered ${rate == null ? DASH : `${(rate * 100).toFixed(0)}%`} of ${r?.sent ?? DASH}, lost ${r?.lost ?? DASH}, corrupted ${r?.corrupted ?? DASH}`;
}

/** The header badge of a `connectionQuality` verdict: "good", "poor: latency", "fair: stall (warming up)". */
export function qualityBadge(q) {
  if (!q?.quality) return DASH;
  const factor = q.limitingFactor && q.limitingFactor !== "none" ? `: ${q.limitingFactor}` : "";
  return `${q.quality}${factor}${q.warmingUp ? " (warming up)" : ""}`;
}

/** Rows of the connection quality panel: [key, label, text] from a verdict. */
export function qualityRows(q) {
  const m = q?.metrics ?? null;
  const pct = (v) => (v == null ? DASH : `${(v * 100).toFixed(1)} %`);
  return [
    ["verdict", "verdict", q?.quality ?? DASH],
    ["factor", "limiting factor", q?.limitingFactor ?? DASH],
    ["ttff", "time to first frame", integer(num(m, "ttffMs"), " ms")],
    ["rtt", "round-trip time", integer(num(m, "rttMs"), " ms")],
    ["g2g", "glass-to-glass", integer(num(m, "g2gMs"), " ms")],
    ["fps", "received fps", fixed(num(m, "fps"))],
    ["loss", "packet loss", pct(num(m, "packetLoss"))],
    ["g2gDrops", "latency probes lost", pct(num(m, "g2gDropRatio"))],
    ["jitter", "upstream jitter", fixed(num(m, "upstreamJitterMs"), 1, " ms")],
    ["upstream", "available upstream", integer(num(m, "availableUpstreamKbps"), " kbit/s")],
  ];
}

/** Summary line of a `checkConnectivity()` result: "good, transport udp, RTT 3 ms[, first frame 812 ms, 5 samples]". */
export function preflightText(r) {
  const m = r?.metrics ?? null;
  const parts = [r?.quality ?? DASH, `transport ${m?.transport ?? DASH}`, `RTT ${integer(num(m, "rttMs"), " ms")}`];
  if (num(m, "ttffMs") != null) parts.push(`first frame ${integer(num(m, "ttffMs"), " ms")}`);
  if (num(m, "sampleCount") != null) parts.push(`${m.sampleCount} samples`);
  return parts.join(", ");
}

/** Text of a `diagnostic` event's data for the log. */
export function diagnosticText(d) {
  const data = d?.data;
  switch (d?.name) {
    case "selectedCandidatePair":
      return pair(data);
    case "phaseTiming":
      return `${data?.phase ?? "?"} ${fixed(num(data, "durationMs"), 0, " ms")}`;
    default:
      return brief(data);
  }
}

/** One-line text of any payload for the log (objects as compact JSON). */
function brief(data) {
  if (data == null) return "";
  if (typeof data !== "object") return String(data);
  try {
    return JSON.stringify(data);
  } catch {
    return String(data);
  }
}
