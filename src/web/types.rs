//! TypeScript declarations of the option and event types (added to the generated `.d.ts`).

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Stable error codes of `RealtimeError.code`. */
export type RealtimeErrorCode =
  | "INVALID_OPTIONS" | "NOT_CONNECTED" | "WEBSOCKET_ERROR" | "SIGNALING_ERROR" | "ICE_FAILED"
  | "TIMEOUT" | "SERVER_ERROR" | "UNAUTHORIZED" | "INVALID_TOKEN" | "IVS_LOAD_FAILED"
  | "IVS_STAGE_ERROR" | "MEDIA_ERROR" | "IMAGE_ERROR" | "NETWORK_ERROR" | "PROTOCOL_ERROR"
  | "ABORTED" | "INTERNAL";

/** Every error the SDK throws or rejects with. */
export interface RealtimeError extends Error {
  name: "RealtimeError";
  code: RealtimeErrorCode;
  cause?: string;
}

/** True when `e` is an error of this SDK. */
export declare function isRealtimeError(e: unknown): e is RealtimeError;

export interface RealtimeClientOptions {
  /** `ws://`/`wss://` (or `http(s)://`) base of the realtime service. */
  baseUrl: string;
  apiKey: string;
  /** Added to the user agent, e.g. "my-app/1.2". */
  integration?: string;
  /** Opt-in telemetry. */
  telemetry?: boolean | { enabled?: boolean; url?: string; intervalMs?: number };
  /** Allow `ws://` to a non-loopback host. */
  allowInsecure?: boolean;
}

export interface ModelDefinition {
  name: string;
  urlPath: string;
  fps: number;
  width: number;
  height: number;
}

export type RealtimeModelName = "mirage" | "mirage_v2" | "lucy_v2v_720p_rt" | "lucy_2_rt" | "live_avatar";

export type Transport = "webrtc" | "ivs";

export type ConnectionState = "connecting" | "connected" | "generating" | "reconnecting" | "disconnected";

export interface ConnectOptions {
  model: RealtimeModelName | ModelDefinition;
  onRemoteStream: (stream: MediaStream) => void;
  transport?: Transport;
  initialState?: {
    prompt?: { text: string; enhance?: boolean };
    image?: Blob | File | string;
  };
  /** Edit the SDP offer before it is sent (may be async). */
  customizeOffer?: (offer: RTCSessionDescriptionInit) => void | Promise<void>;
  latencyTracking?: boolean | {
    composite?: boolean;
    pixelMarker?: boolean;
    /** 0 = every frame. Default 2000. */
    probeIntervalMs?: number;
    videoElement?: HTMLVideoElement;
  };
  extraQueryParams?: Record<string, string | number | boolean>;
  /** IVS subscribe jitter buffer minimum delay, ms. */
  jitterBufferMinDelay?: number;
  /** Stats polling interval, ms (at least 500; default 1000). */
  statsIntervalMs?: number;
  /** IVS Web Broadcast SDK module, for bundler users. */
  ivsModule?: unknown;
  /** IVS Web Broadcast SDK script URL (default: the official CDN, pinned version). */
  ivsSdkUrl?: string;
  /** Disconnect on `pagehide` (default true). */
  leaveOnPageHide?: boolean;
  /** Reconnect after a dropped session (default true). */
  reconnect?: boolean;
  /** Retries after a failed connect attempt, with backoff 1 s, 2 s, 4 s... up to 10 s (default 5). */
  maxRetries?: number;
  /** Abandons the connect (every attempt and retry) when aborted; connect() rejects with ABORTED. */
  signal?: AbortSignal;
}

export interface SubscribeOptions {
  token: string;
  onRemoteStream: (stream: MediaStream) => void;
  /** For `ivs` tokens: the IVS Web Broadcast SDK module, or its script URL. */
  ivsModule?: unknown;
  ivsSdkUrl?: string;
  jitterBufferMinDelay?: number;
  statsIntervalMs?: number;
  leaveOnPageHide?: boolean;
  reconnect?: boolean;
  maxRetries?: number;
  signal?: AbortSignal;
}

export interface ErrorEvent {
  code: RealtimeErrorCode;
  message: string;
  data?: string;
}

export type DiagnosticKind =
  | "phaseTiming" | "iceCandidate" | "iceStateChange" | "peerConnectionStateChange"
  | "signalingStateChange" | "selectedCandidatePair" | "reconnect" | "videoStall"
  /** IVS transport: the stage's connection state, and streams of a remote participant. */
  | "stageConnectionStateChange" | "stageStreamsAdded";

export interface DiagnosticEvent {
  kind: DiagnosticKind;
  /** Date.now() when it happened. */
  timestamp: number;
  data: unknown;
}

export interface CandidateInfo {
  address: string | null;
  port: number | null;
  protocol: string | null;
  candidateType: string | null;
  relayProtocol: string | null;
}

export interface CandidatePairInfo {
  id: string;
  state: string | null;
  nominated: boolean | null;
  currentRoundTripTime: number | null;
  availableOutgoingBitrate: number | null;
  bytesSent: number | null;
  bytesReceived: number | null;
  local: CandidateInfo | null;
  remote: CandidateInfo | null;
}

/** Parsed `getStats()` sample. Fields follow the W3C names; `null` where the browser has none. */
export interface StatsEvent {
  timestamp: number;
  video: ({ framesPerSecond: number | null; frameWidth: number | null; frameHeight: number | null;
            bitrate: number | null; packetsLost: number | null; [field: string]: unknown }) | null;
  audio: ({ bitrate: number | null; [field: string]: unknown }) | null;
  outboundVideo: ({ bitrate: number | null; qualityLimitationReason: string | null; [field: string]: unknown }) | null;
  connection: {
    currentRoundTripTime: number | null;
    availableOutgoingBitrate: number | null;
    selectedCandidatePair: CandidatePairInfo | null;
    selectedCandidatePairs: CandidatePairInfo[];
  };
}

export interface ServerMetricsEvent {
  frame_recv_ms: number | null; pipeline_latency_ms: number | null; input_fps: number | null;
  output_fps: number | null; video_in_depth: number | null; video_out_depth: number | null;
  skipped_in_frames: number | null; skipped_out_frames: number | null;
  event_loop_latency_ms: number | null; rtt_ms: number | null; jitter_ms: number | null;
  inbound_loss_rate: number | null; bitrate_kbps: number | null; encoder_target_bitrate_kbps: number | null;
}

export interface RealtimeEvents {
  connectionChange: ConnectionState;
  error: ErrorEvent;
  generationTick: { seconds: number };
  diagnostic: DiagnosticEvent;
  stats: StatsEvent;
  serverMetrics: ServerMetricsEvent;
  remoteStream: MediaStream;
  pixelLatency: PixelLatency;
  pixelLatencyEvent: PixelLatencyEvent;
  pixelLatencyReport: PixelLatencyReport;
  compositeLatency: CompositeLatency;
}

export type MarkerRead = { kind: "seq"; seq: number } | { kind: "none" } | { kind: "corrupted" };
"#;
