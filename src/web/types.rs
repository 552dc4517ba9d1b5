//! The TypeScript declarations of the public API (`shared/API.md`), added to the generated
//! `.d.ts`: every option, event payload and method typed, `on`/`off` generic over the event
//! map. The exported Rust items behind them are marked `skip_typescript`.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_API: &'static str = r#"
/** The realtime model names. */
export type RealTimeModels = "mirage" | "mirage_v2" | "lucy_v2v_720p_rt" | "lucy_2_rt" | "live_avatar";
/** A registry entry (`models.realtime(name)`), read-only. */
export type ModelDefinition = {
  name: RealTimeModels; urlPath: string; fps: number; width: number; height: number;
  queueUrlPath?: string; inputSchema?: unknown;
};
/** A model of your own: the same fields with any name. */
export type CustomModelDefinition = Omit<ModelDefinition, "name"> & { name: string };

export type LogLevel = "debug" | "info" | "warn" | "error";
export type Logger = Record<LogLevel, (message: string, data?: Record<string, unknown>) => void>;

/** Options of `createDecartClient` (and the legacy `createRealtimeClient`). */
export type DecartClientOptions = {
  apiKey?: string;
  /** Base of every realtime URL. Default `"wss://api3.decart.ai"`. */
  realtimeBaseUrl?: string;
  /** Added to the user agent and the telemetry tags. */
  integration?: string;
  /** Gets every SDK log line (default: `noopLogger`). */
  logger?: Logger;
  /** Opt-in telemetry (default `false`). */
  telemetry?: boolean | { enabled?: boolean; url?: string; intervalMs?: number };
  /** HTTP API base (checked, never used for realtime). */
  baseUrl?: string;
  /** HTTP proxy (not for realtime; not together with `apiKey`). */
  proxy?: string;
  /** Allow `ws://` to a non-loopback host. */
  allowInsecure?: boolean;
};

export type ConnectionState = "connecting" | "connected" | "generating" | "disconnected" | "reconnecting";

export type RealTimeClientInitialState = { prompt?: { text: string; enhance?: boolean }; image?: Blob | File | string };
export type ModelState = RealTimeClientInitialState;

export type LatencyTrackingOptions = {
  /** `compositeLatency` per `metrics_report`. */
  composite?: boolean;
  /** Stamp the published camera with pixel markers and read them back. */
  pixelMarker?: boolean;
  /** Stamp period, ms (default 2000; 0 = every frame). */
  probeIntervalMs?: number;
  /** The page's element showing the remote stream, where markers are read. */
  videoElement?: HTMLVideoElement;
  /** Without `videoElement`, read markers from the remote stream itself. */
  readFromRemoteStream?: boolean;
};

export type RealTimeClientConnectOptions = {
  model: ModelDefinition | CustomModelDefinition | RealTimeModels;
  onRemoteStream: (stream: MediaStream) => void;
  initialState?: RealTimeClientInitialState;
  customizeOffer?: (offer: RTCSessionDescriptionInit) => void | Promise<void>;
  transport?: "webrtc" | "ivs";
  /** `true` = composite, pixel markers and reading from the remote stream. */
  latencyTracking?: boolean | LatencyTrackingOptions;
  extraQueryParams?: Record<string, string | number | boolean>;
  /** IVS stage jitter buffer minimum delay: ms (0–10000) or a preset. */
  jitterBufferMinDelay?: number | "default" | "low" | "medium" | "high";
  /** Stats interval, ms (at least 500; default 1000). */
  statsIntervalMs?: number;
  /** The amazon-ivs-web-broadcast module (bundlers). */
  ivsModule?: unknown;
  /** The IVS Web Broadcast SDK script URL (default: the official CDN, pinned version). */
  ivsSdkUrl?: string;
  /** Disconnect on `pagehide` (default true). */
  leaveOnPageHide?: boolean;
  /** Reconnect after a dropped session (default true). */
  reconnect?: boolean;
  /** Retries after a failed attempt (default 5; `maxAttempts` = it + 1). */
  maxRetries?: number;
  /** Abandons the connect (every attempt and retry): rejects with `ABORTED`. */
  signal?: AbortSignal;
  /** Extra ICE servers (e.g. your TURN servers). */
  iceServers?: RTCIceServer[];
  /** Ask the service for TURN and force relay over `udp` or `tcp` (`all`: add TURN, not forced). */
  iceTransportPolicy?: "udp" | "tcp" | "all";
};

export type SetInput = { prompt?: string; enhance?: boolean; image?: Blob | File | string | null };

export type RealTimeClient = {
  set(input: SetInput): Promise<void>;
  setPrompt(prompt: string, options?: { enhance?: boolean }): Promise<void>;
  setImage(image: Blob | File | string | null, options?: { prompt?: string; enhance?: boolean; timeout?: number }): Promise<void>;
  /** Only for `live_avatar` connected with `null`: resolves with the clip length (s). */
  playAudio?: (audio: Blob | File | ArrayBuffer | AudioBuffer) => Promise<number>;
  isConnected(): boolean;
  getConnectionState(): ConnectionState;
  /** The latest connection-quality verdict; `null` before the first stats sample. */
  getConnectionQuality(): ConnectionQuality | null;
  disconnect(): void;
  on<K extends keyof RealTimeEvents>(event: K, listener: (data: RealTimeEvents[K]) => void): void;
  off<K extends keyof RealTimeEvents>(event: K, listener?: (data: RealTimeEvents[K]) => void): void;
  readonly sessionId: string | null;
  readonly subscribeToken: string | null;
  free(): void;
};

export type SubscribeOptions = {
  token: string;
  onRemoteStream: (stream: MediaStream) => void;
  ivsModule?: unknown;
  ivsSdkUrl?: string;
  jitterBufferMinDelay?: number | "default" | "low" | "medium" | "high";
  statsIntervalMs?: number;
  leaveOnPageHide?: boolean;
  reconnect?: boolean;
  maxRetries?: number;
  signal?: AbortSignal;
  iceServers?: RTCIceServer[];
  iceTransportPolicy?: "udp" | "tcp" | "all";
};
export type SubscribeEvents = { connectionChange: ConnectionState; error: DecartSDKError; diagnostic: DiagnosticEvent };
export type RealTimeSubscribeClient = {
  isConnected(): boolean;
  getConnectionState(): ConnectionState;
  disconnect(): void;
  on<K extends keyof RealTimeEvents>(event: K, listener: (data: RealTimeEvents[K]) => void): void;
  off<K extends keyof RealTimeEvents>(event: K, listener?: (data: RealTimeEvents[K]) => void): void;
};

export type RealtimeApi = {
  connect(stream: MediaStream | null, options: RealTimeClientConnectOptions): Promise<RealTimeClient>;
  subscribe(options: SubscribeOptions): Promise<RealTimeSubscribeClient & RealTimeClient>;
  /** A preflight check: ICE gathering and the service's round trip; `deep` adds a short test session. */
  checkConnectivity(options?: ConnectivityCheckOptions): Promise<ConnectivityCheckResult>;
};

export type ConnectionQualityLevel = "good" | "fair" | "poor" | "critical";
export type QualityLimitingFactor = "bandwidth" | "latency" | "loss" | "stall" | "cpu" | "none";
/** The `connectionQuality` event's payload and `getConnectionQuality()`'s value. */
export type ConnectionQuality = {
  quality: ConnectionQualityLevel;
  /** What limits the quality most; `"none"` exactly when it is `"good"`. */
  limitingFactor: QualityLimitingFactor;
  /** The first 5 s: the quality is then `"fair"` at worst. */
  warmingUp: boolean;
  /** Smoothed figures, `null` when unknown. */
  metrics: {
    rttMs: number | null; g2gMs: number | null; ttffMs: number | null; fps: number | null;
    packetLoss: number | null; upstreamJitterMs: number | null; g2gDropRatio: number | null;
    availableUpstreamKbps: number | null;
  };
};
export type ConnectivityCheckOptions = {
  /** Gather with these instead of the service's ICE servers. */
  iceServers?: RTCIceServer[];
  /** Bound of ICE gathering, ms (100–60000, default 5000). */
  iceGatherTimeoutMs?: number;
  /** Abandons the check: rejects with `ABORTED`. */
  signal?: AbortSignal;
  /** Also run a short test session and measure it. */
  deep?: boolean;
  /** The test session's model (default `"mirage"`). */
  model?: ModelDefinition | CustomModelDefinition | RealTimeModels;
  /** Length of the test session once connected, ms (1000–60000, default 5000). */
  durationMs?: number;
};
export type ConnectivityCheckResult = {
  quality: ConnectionQualityLevel;
  metrics: {
    transport: "udp" | "relay" | "failed";
    rttMs: number | null;
    /** Deep checks only. */
    ttffMs?: number | null; g2gMs?: number | null; packetLoss?: number | null;
    upstreamJitterMs?: number | null; sampleCount?: number;
  };
  /** Why, most severe first; empty when there is nothing to say. */
  reasons: string[];
};
export type DecartClient = { realtime: RealtimeApi };

/** `createDecartClient(options?)`: synchronous, no network. */
export declare function createDecartClient(options?: DecartClientOptions): DecartClient;
/** The legacy entry: the same `connect`/`subscribe`. */
export declare function createRealtimeClient(options?: DecartClientOptions): RealtimeApi;
export declare const models: {
  realtime(name: RealTimeModels): ModelDefinition;
  list(): ModelDefinition[];
  video(name: string): never;
  image(name: string): never;
};
/** True exactly for the five realtime model names. */
export declare function isRealtimeModel(name: string): name is RealTimeModels;

/** Every code of `ERROR_CODES`. */
export type ErrorCode =
  | "INVALID_API_KEY" | "INVALID_BASE_URL" | "MODEL_NOT_FOUND" | "INVALID_OPTIONS"
  | "WEBRTC_WEBSOCKET_ERROR" | "WEBRTC_ICE_ERROR" | "WEBRTC_TIMEOUT_ERROR" | "WEBRTC_SERVER_ERROR"
  | "WEBRTC_SIGNALING_ERROR" | "INVALID_INPUT" | "PROCESSING_ERROR" | "QUEUE_SUBMIT_ERROR"
  | "QUEUE_STATUS_ERROR" | "QUEUE_RESULT_ERROR" | "JOB_NOT_COMPLETED" | "TOKEN_CREATE_ERROR"
  | "NOT_CONNECTED" | "UNAUTHORIZED" | "INVALID_TOKEN" | "IVS_LOAD_FAILED" | "IVS_STAGE_ERROR"
  | "MEDIA_ERROR" | "IMAGE_ERROR" | "NETWORK_ERROR" | "PROTOCOL_ERROR" | "ABORTED" | "INTERNAL";
/** The `error` event's payload (a `RealtimeError`). */
export type DecartSDKError = { code: string; message: string; data?: Record<string, unknown>; cause?: Error; detailCode?: ErrorCode };
/** Everything the SDK throws, rejects with or emits. */
export interface RealtimeError extends Error {
  name: "RealtimeError";
  code: ErrorCode;
  /** The most specific code (e.g. `UNAUTHORIZED` under `WEBRTC_SERVER_ERROR`). */
  detailCode: ErrorCode;
  data?: Record<string, unknown>;
  cause?: Error;
}
export declare function isRealtimeError(e: unknown): e is RealtimeError;

export type ConnectionPhase = "websocket" | "avatar-image" | "initial-prompt" | "webrtc-handshake" | "ivs-stage-setup" | "total";
type Cand = { candidateType: string; protocol: string; address?: string; port?: number; relayProtocol?: string | null };
type StateChange = { state: string; previousState: string; timestampMs: number };
export type PhaseTimingEvent = { phase: ConnectionPhase; durationMs: number; success: boolean; error?: string;
  steps?: { stageToken?: number; ivsSdk?: number; stage?: number } };
export type IceCandidateEvent = { source: "local" | "remote"; candidateType: "host" | "srflx" | "prflx" | "relay" | "unknown";
  protocol: "udp" | "tcp" | "unknown"; address?: string; port?: number; candidate: string };
export type IceStateEvent = StateChange;
export type PeerConnectionStateEvent = StateChange;
export type SignalingStateEvent = StateChange;
export type SelectedCandidatePairEvent = { local: Cand; remote: Cand; id: string; state: string | null; nominated: boolean | null;
  currentRoundTripTime: number | null; availableOutgoingBitrate: number | null; bytesSent: number | null; bytesReceived: number | null };
export type ReconnectEvent = { attempt: number; maxAttempts: number; durationMs: number; success: boolean; error?: string };
export type VideoStallEvent = { stalled: boolean; durationMs: number; fps?: number };
export type DiagnosticEvents = {
  phaseTiming: PhaseTimingEvent;
  iceCandidate: IceCandidateEvent;
  iceStateChange: IceStateEvent;
  peerConnectionStateChange: PeerConnectionStateEvent;
  signalingStateChange: SignalingStateEvent;
  selectedCandidatePair: SelectedCandidatePairEvent;
  reconnect: ReconnectEvent;
  videoStall: VideoStallEvent;
  reconnectAttempt: { attempt: number; maxAttempts: number };
  /** A server message that made no sense where it came, dropped; the session carries on. */
  messageIgnored: { type: string; reason: string };
  stageConnectionStateChange: string;
  stageStreamsAdded: { participantId: string; tracks: number };
};
export type DiagnosticEventName = keyof DiagnosticEvents;
export type DiagnosticEvent = { [K in DiagnosticEventName]: { name: K; data: DiagnosticEvents[K]; kind: K; timestamp: number } }[DiagnosticEventName];

type Interval<K extends string> = { [P in K]: number | null };
export type WebRTCStats = {
  timestamp: number;
  video: {
    framesDecoded: number; framesDropped: number; framesReceived: number; packetsReceived: number; packetsLost: number;
    freezeCount: number; nackCount: number; firCount: number; pliCount: number; bytesReceived: number;
    totalFreezesDuration: number; framesPerSecond: number; frameWidth: number; frameHeight: number; jitter: number;
    bitrate: number; packetsLostDelta: number; framesDroppedDelta: number; freezeCountDelta: number; nackCountDelta: number;
    freezeDurationDelta: number; avgInterFrameDelayMs: number; interFrameDelayVarianceMs: number;
    jitterBufferTargetDelayMs: number; jitterBufferMinimumDelayMs: number; avgJitterBufferMs: number;
    avgDecodeTimeMs: number; avgProcessingDelayMs: number;
    unavailable: string[]; id: string | null; codec: string | null; decoderImplementation: string | null; keyFramesDecoded: number | null;
    interval: Interval<"framesDecodedDelta" | "framesReceivedDelta" | "bytesReceivedDelta" | "packetsReceivedDelta"
      | "firCountDelta" | "pliCountDelta" | "interFrameDelayMeanMs" | "interFrameDelayStddevMs" | "jitterBufferDelayMs"
      | "jitterBufferTargetDelayMs" | "jitterBufferMinimumDelayMs" | "decodeTimePerFrameMs" | "processingTimePerFrameMs">;
  } | null;
  audio: {
    bytesReceived: number; packetsReceived: number; packetsLost: number; jitter: number; bitrate: number; packetsLostDelta: number;
    unavailable: string[]; id: string | null; codec: string | null; interval: Interval<"packetsReceivedDelta">;
  } | null;
  outboundVideo: {
    qualityLimitationReason: string; qualityLimitationDurations: Record<string, number>; bytesSent: number; packetsSent: number;
    retransmittedBytesSent: number; retransmittedPacketsSent: number; nackCount: number; firCount: number; pliCount: number;
    framesPerSecond: number; frameWidth: number; frameHeight: number; bitrate: number; targetBitrateKbps: number | null;
    avgPacketSendDelayMs: number; avgEncodeTimeMs: number;
    unavailable: string[]; id: string | null; codec: string | null; encoderImplementation: string | null; framesEncoded: number | null;
    framesSent: number | null; targetBitrate: number | null;
    interval: Interval<"packetsSentDelta" | "framesEncodedDelta" | "packetSendDelayMs" | "encodeTimePerFrameMs">;
  } | null;
  connection: {
    currentRoundTripTime: number | null;
    availableOutgoingBitrate: number | null;
    selectedCandidatePairs: { local: StatsCandidate; remote: StatsCandidate }[];
    selectedCandidatePair: SelectedCandidatePairEvent | null;
  };
  /** With latency tracking: time to first frame and the recent glass-to-glass latencies, ms. */
  glassToGlass?: { ttffMs: number | null; medianMs: number | null; p90Ms: number | null };
};
export type StatsCandidate = { address: string; port: number; protocol: string; candidateType: string; relayProtocol: string | null };

export type CompositeLatencyEstimate = { clientProxyRttMs: number; serverProxyRttMs: number; pipelineLatencyMs: number;
  compositeE2eMs: number; unavailable: string[] };
export type PixelLatencyFrame = { callbackTime: number; presentedFrames: number | null; mediaTime: number | null;
  presentationTime: number | null; expectedDisplayTime: number | null; captureTime: number | null; receiveTime: number | null;
  width: number | null; height: number | null };
export type PixelLatencyMeasurement = { seq: number; e2eLatencyMs: number; timestamp: number; outOfOrder: boolean;
  sentAt: number; readAt: number; displayLatencyMs: number | null; mode: "e2e" | "wsProbe"; frame: PixelLatencyFrame | null };
export type PixelLatencyStatus = "ok" | "ok_reordered" | "corrupted" | "lost";
export type PixelLatencyEvent =
  | { status: "ok" | "ok_reordered"; seq: number; e2eLatencyMs: number; timestamp: number }
  | { status: "corrupted"; seq: null; e2eLatencyMs: null; timestamp: number }
  | { status: "lost"; seq: number; e2eLatencyMs: null; timestamp: number; timeoutMs: number };
export type PixelLatencyStats = { sent: number; received: number; lost: number; corrupted: number; outOfOrder: number; deliveryRate: number };
export type PixelLatencyReport = PixelLatencyStats & { timestamp: number; pending: number; mode: "e2e" | "wsProbe";
  totals: PixelLatencyStats;
  period: { startMs: number; endMs: number; avgLatencyMs: number | null; minLatencyMs: number | null; medianLatencyMs: number | null;
    p95LatencyMs: number | null; maxLatencyMs: number | null; deliveryRate: number; received: number; lost: number;
    corrupted: number; outOfOrder: number } };
export type MetricsReport = {
  type: "metrics_report";
  frame_recv_ms?: number | null; pipeline_latency_ms?: number | null; rtt_ms?: number | null; jitter_ms?: number | null;
  inbound_loss_rate?: number | null; bitrate_kbps?: number | null; encoder_target_bitrate_kbps?: number | null;
  input_fps?: number; output_fps?: number; video_in_depth?: number; video_out_depth?: number; skipped_in_frames?: number;
  skipped_out_frames?: number; event_loop_latency_ms?: number;
  [field: string]: unknown;
};

export type RealTimeEvents = {
  connectionChange: ConnectionState;
  error: DecartSDKError;
  generationTick: { seconds: number };
  diagnostic: DiagnosticEvent;
  stats: WebRTCStats;
  compositeLatency: CompositeLatencyEstimate;
  pixelLatency: PixelLatencyMeasurement;
  pixelLatencyEvent: PixelLatencyEvent;
  pixelLatencyReport: PixelLatencyReport;
  serverMetrics: MetricsReport;
  remoteStream: MediaStream;
  connectionQuality: ConnectionQuality;
};

/** Telemetry request body (`telemetry: true`). */
export type TelemetryReport = {
  sessionId: string; timestamp: number; sdkVersion: string; model?: string;
  tags: { session_id: string; sdk_version: string; model?: string; integration?: string; transport?: "webrtc" | "ivs" };
  stats: WebRTCStats[];
  diagnostics: { name: DiagnosticEventName; data: unknown; timestamp: number }[];
};

/** Stamps `seq` (0–65535) as a pixel marker into the bottom-left 24 × 4 pixels, in place. */
export declare function stampMarker(imageData: ImageData, seq: number): void;
"#;
