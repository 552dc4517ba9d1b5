// Compiled with `tsc --noEmit --strict` by the test command: the package's `.d.ts` must type
// a page written for the reference SDK, read every field of every payload with its exact
// type (a wrong type fails the check), and refuse what is wrong (`@ts-expect-error`).
import init, {
  createDecartClient, createRealtimeClient, models, isRealtimeModel, isRealtimeError,
  ERROR_CODES, createConsoleLogger, noopLogger, readMarker, stampMarker, version, isBrowserSupported,
  type DecartClientOptions, type RealTimeClient, type RealTimeClientConnectOptions,
  type ConnectionState, type ModelDefinition, type WebRTCStats, type DiagnosticEvent,
  type PixelLatencyEvent, type PixelLatencyReport, type PixelLatencyMeasurement,
  type CompositeLatencyEstimate, type MetricsReport, type DecartSDKError, type Logger,
  type SubscribeOptions, type ErrorCode, type TelemetryReport, type ConnectionQuality,
  type ConnectionQualityLevel, type QualityLimitingFactor, type ConnectivityCheckOptions,
  type ConnectivityCheckResult,
} from "../../pkg/index.js";

const n = (x: number): number => x;
const nn = (x: number | null): number | null => x;
const s = (x: string): string => x;
const sn = (x: string | null): string | null => x;
const b = (x: boolean): boolean => x;

function readStats(st: WebRTCStats): void {
  n(st.timestamp);
  const v = st.video;
  if (v) {
    [v.framesDecoded, v.framesDropped, v.framesReceived, v.packetsReceived, v.packetsLost, v.freezeCount,
      v.nackCount, v.firCount, v.pliCount, v.bytesReceived, v.totalFreezesDuration, v.framesPerSecond,
      v.frameWidth, v.frameHeight, v.jitter, v.bitrate, v.packetsLostDelta, v.framesDroppedDelta,
      v.freezeCountDelta, v.nackCountDelta, v.freezeDurationDelta, v.avgInterFrameDelayMs,
      v.interFrameDelayVarianceMs, v.jitterBufferTargetDelayMs, v.jitterBufferMinimumDelayMs,
      v.avgJitterBufferMs, v.avgDecodeTimeMs, v.avgProcessingDelayMs].forEach(n);
    v.unavailable.forEach(s);
    [v.id, v.codec, v.decoderImplementation].forEach(sn);
    nn(v.keyFramesDecoded);
    const i = v.interval;
    [i.framesDecodedDelta, i.framesReceivedDelta, i.bytesReceivedDelta, i.packetsReceivedDelta, i.firCountDelta,
      i.pliCountDelta, i.interFrameDelayMeanMs, i.interFrameDelayStddevMs, i.jitterBufferDelayMs,
      i.jitterBufferTargetDelayMs, i.jitterBufferMinimumDelayMs, i.decodeTimePerFrameMs,
      i.processingTimePerFrameMs].forEach(nn);
  }
  const a = st.audio;
  if (a) {
    [a.bytesReceived, a.packetsReceived, a.packetsLost, a.jitter, a.bitrate, a.packetsLostDelta].forEach(n);
    nn(a.interval.packetsReceivedDelta);
    [a.id, a.codec].forEach(sn);
  }
  const o = st.outboundVideo;
  if (o) {
    s(o.qualityLimitationReason);
    Object.values(o.qualityLimitationDurations).forEach(n);
    [o.bytesSent, o.packetsSent, o.retransmittedBytesSent, o.retransmittedPacketsSent, o.nackCount, o.firCount,
      o.pliCount, o.framesPerSecond, o.frameWidth, o.frameHeight, o.bitrate, o.avgPacketSendDelayMs,
      o.avgEncodeTimeMs].forEach(n);
    [o.targetBitrateKbps, o.framesEncoded, o.framesSent, o.targetBitrate].forEach(nn);
    [o.encoderImplementation, o.id, o.codec].forEach(sn);
    [o.interval.packetsSentDelta, o.interval.framesEncodedDelta, o.interval.packetSendDelayMs,
      o.interval.encodeTimePerFrameMs].forEach(nn);
  }
  nn(st.connection.currentRoundTripTime);
  nn(st.connection.availableOutgoingBitrate);
  for (const p of st.connection.selectedCandidatePairs) {
    for (const c of [p.local, p.remote]) {
      s(c.address); n(c.port); s(c.protocol); s(c.candidateType);
    }
  }
  const pair = st.connection.selectedCandidatePair;
  if (pair) {
    s(pair.id); sn(pair.state); nn(pair.bytesSent); s(pair.local.candidateType);
    sn(pair.local.relayProtocol ?? null);
  }
  const g = st.glassToGlass;
  if (g) [g.ttffMs, g.medianMs, g.p90Ms].forEach(nn);
}

function readQuality(q: ConnectionQuality): void {
  const level: ConnectionQualityLevel = q.quality;
  const factor: QualityLimitingFactor = q.limitingFactor;
  s(level); s(factor); b(q.warmingUp);
  const m = q.metrics;
  [m.rttMs, m.g2gMs, m.ttffMs, m.fps, m.packetLoss, m.upstreamJitterMs, m.g2gDropRatio,
    m.availableUpstreamKbps].forEach(nn);
}

function readPreflight(r: ConnectivityCheckResult): void {
  const level: ConnectionQualityLevel = r.quality;
  s(level);
  const t: "udp" | "relay" | "failed" = r.metrics.transport;
  s(t); nn(r.metrics.rttMs);
  [r.metrics.ttffMs, r.metrics.g2gMs, r.metrics.packetLoss, r.metrics.upstreamJitterMs].forEach((x) => nn(x ?? null));
  n(r.metrics.sampleCount ?? 0);
  r.reasons.forEach(s);
}

function readDiagnostic(d: DiagnosticEvent): void {
  s(d.kind); n(d.timestamp);
  switch (d.name) {
    case "phaseTiming":
      s(d.data.phase); n(d.data.durationMs); b(d.data.success); d.data.error?.toUpperCase();
      n(d.data.steps?.ivsSdk ?? 0);
      break;
    case "iceCandidate":
      s(d.data.source); s(d.data.candidateType); s(d.data.protocol); d.data.address?.trim(); n(d.data.port ?? 0);
      s(d.data.candidate);
      break;
    case "iceStateChange":
    case "peerConnectionStateChange":
    case "signalingStateChange":
      s(d.data.state); s(d.data.previousState); n(d.data.timestampMs);
      break;
    case "selectedCandidatePair":
      s(d.data.local.candidateType); s(d.data.remote.protocol); n(d.data.local.port ?? 0);
      nn(d.data.currentRoundTripTime);
      break;
    case "reconnect":
      n(d.data.attempt); n(d.data.maxAttempts); n(d.data.durationMs); b(d.data.success); d.data.error?.trim();
      break;
    case "reconnectAttempt":
      n(d.data.attempt); n(d.data.maxAttempts);
      break;
    case "videoStall":
      b(d.data.stalled); n(d.data.durationMs);
      break;
    case "stageConnectionStateChange":
      s(d.data);
      break;
    case "stageStreamsAdded":
      s(d.data.participantId); n(d.data.tracks);
      break;
  }
}

function readLatency(e: PixelLatencyEvent, r: PixelLatencyReport, m: PixelLatencyMeasurement, c: CompositeLatencyEstimate): void {
  n(e.timestamp);
  if (e.status === "lost") { n(e.seq); n(e.timeoutMs); }
  if (e.status === "ok" || e.status === "ok_reordered") { n(e.e2eLatencyMs); n(e.seq); }
  if (e.status === "corrupted") { const none: null = e.seq; void none; }
  [r.sent, r.received, r.lost, r.corrupted, r.outOfOrder, r.deliveryRate, r.timestamp, r.pending].forEach(n);
  s(r.mode); n(r.totals.sent); nn(r.period.medianLatencyMs); n(r.period.startMs);
  [m.seq, m.e2eLatencyMs, m.timestamp, m.sentAt, m.readAt].forEach(n);
  b(m.outOfOrder); nn(m.displayLatencyMs); n(m.frame?.callbackTime ?? 0);
  [c.clientProxyRttMs, c.serverProxyRttMs, c.pipelineLatencyMs, c.compositeE2eMs].forEach(n);
  c.unavailable.forEach(s);
}

function readError(e: DecartSDKError): void {
  s(e.code); s(e.message); e.cause?.message.trim(); e.data?.phase; e.detailCode?.toLowerCase();
}

export async function page(camera: MediaStream, video: HTMLVideoElement): Promise<void> {
  await init(); // a no-op after the automatic instantiation
  s(version());
  b(isBrowserSupported()); b(isBrowserSupported({ latencyTracking: true }));
  const mirage: ModelDefinition = models.realtime("mirage");
  n(mirage.fps); n(mirage.width); s(mirage.urlPath);
  models.list().forEach((m) => s(m.name));
  const name = "lucy_2_rt" as string;
  if (isRealtimeModel(name)) models.realtime(name);
  const logger: Logger = createConsoleLogger("info");
  const options: DecartClientOptions = { apiKey: "key", realtimeBaseUrl: "ws://127.0.0.1:8787", logger, integration: "page/1" };
  const { realtime } = createDecartClient(options);
  createRealtimeClient({ apiKey: "key", logger: noopLogger, telemetry: { url: "https://t.example", intervalMs: 5000 } });
  const codes: ErrorCode[] = [ERROR_CODES.INVALID_API_KEY, ERROR_CODES.WEBRTC_SERVER_ERROR];
  codes.forEach(s);

  const connect: RealTimeClientConnectOptions = {
    model: mirage,
    onRemoteStream: (stream) => { video.srcObject = stream; },
    initialState: { prompt: { text: "a cat", enhance: true }, image: new Blob([]) },
    latencyTracking: { pixelMarker: true, composite: true, probeIntervalMs: 0, videoElement: video },
    extraQueryParams: { room: "a", n: 1, on: true },
    jitterBufferMinDelay: "low",
    customizeOffer: async (offer) => { offer.sdp = offer.sdp ?? ""; },
    iceServers: [{ urls: "turn:127.0.0.1:3478", username: "u", credential: "c" }],
    iceTransportPolicy: "tcp",
    signal: new AbortController().signal,
  };
  try {
    const client: RealTimeClient = await realtime.connect(camera, connect);
    await realtime.connect(null, { model: "mirage", onRemoteStream: () => {} });
    client.on("connectionChange", (st) => { const x: ConnectionState = st; s(x); });
    client.on("stats", (st) => { n(st.video?.bitrate ?? 0); readStats(st); });
    client.on("diagnostic", readDiagnostic);
    client.on("error", readError);
    client.on("generationTick", (t) => n(t.seconds));
    client.on("serverMetrics", (m: MetricsReport) => { s(m.type); nn(m.pipeline_latency_ms ?? null); });
    client.on("remoteStream", (st) => st.getTracks());
    const onEvent = (e: PixelLatencyEvent) => n(e.timestamp);
    client.on("pixelLatencyEvent", onEvent);
    client.on("pixelLatencyReport", (r) => n(r.deliveryRate));
    client.on("pixelLatency", (m) => n(m.e2eLatencyMs));
    client.on("compositeLatency", (c) => n(c.compositeE2eMs));
    client.on("connectionQuality", readQuality);
    const q: ConnectionQuality | null = client.getConnectionQuality();
    if (q) readQuality(q);
    client.off("pixelLatencyEvent", onEvent);
    client.off("stats");
    await client.set({ prompt: "x", enhance: false, image: null });
    await client.setPrompt("a dog");
    await client.setPrompt("a dog", { enhance: false });
    await client.setImage(null);
    await client.setImage("data:image/png;base64,AAAA", { prompt: "p", enhance: true, timeout: 5000 });
    if (client.playAudio) n(await client.playAudio(new ArrayBuffer(8)));
    const state: ConnectionState = client.getConnectionState();
    const sid: string | null = client.sessionId;
    const token: string | null = client.subscribeToken;
    b(client.isConnected()); s(state); sn(sid);
    const sub: SubscribeOptions = { token: token ?? "", onRemoteStream: (st) => { video.srcObject = st; } };
    const viewer = await realtime.subscribe(sub);
    viewer.on("connectionChange", (st) => s(st));
    viewer.disconnect();
    const detached = client.disconnect;
    detached();

    readPreflight(await realtime.checkConnectivity());
    const check: ConnectivityCheckOptions = {
      iceServers: [{ urls: ["turn:127.0.0.1:3478?transport=udp"], username: "u", credential: "c" }],
      iceGatherTimeoutMs: 3000, signal: new AbortController().signal, deep: true, model: "lucy_2_rt",
      durationMs: 4000,
    };
    readPreflight(await realtime.checkConnectivity(check));
    const detachedCheck = realtime.checkConnectivity;
    readPreflight(await detachedCheck({ deep: false }));

    // @ts-expect-error: not an event
    client.on("nope", () => {});
    // @ts-expect-error: a stats payload has no `latency`
    client.on("stats", (st) => st.latency);
    // @ts-expect-error: `video` may be null under strict
    client.on("stats", (st) => st.video.bitrate);
    // @ts-expect-error: the reference field is e2eLatencyMs
    client.on("pixelLatency", (m) => m.latencyMs);
    // @ts-expect-error: transport is "webrtc" | "ivs"
    await realtime.connect(camera, { model: mirage, onRemoteStream: () => {}, transport: "carrier-pigeon" });
    // @ts-expect-error: onRemoteStream is required
    await realtime.connect(camera, { model: mirage });
    // @ts-expect-error: apiKey is a string
    createDecartClient({ apiKey: 5 });
    // @ts-expect-error: sessionId may be null
    const notNull: string = client.sessionId;
    void notNull;
    // @ts-expect-error: not a model name
    models.realtime("gpt");
    // @ts-expect-error: the verdict may be null before the first sample
    n(client.getConnectionQuality().metrics.fps ?? 0);
    // @ts-expect-error: "slow" is not a quality
    const wrong: ConnectionQualityLevel = "slow";
    void wrong;
    // @ts-expect-error: deep is a boolean
    await realtime.checkConnectivity({ deep: "yes" });
  } catch (e) {
    if (isRealtimeError(e)) {
      const code: ErrorCode = e.code;
      s(code); s(e.detailCode); s(e.message);
    }
  }
  const report: TelemetryReport | null = null;
  void report;
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d");
  if (ctx) {
    const img = ctx.getImageData(0, 0, 24, 4);
    stampMarker(img, 7);
    n(readMarker(img));
  }
}
