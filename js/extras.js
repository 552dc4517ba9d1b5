// The parts of the public API that are plain JavaScript values rather than wasm exports:
// `ERROR_CODES`, `createConsoleLogger` and `noopLogger` (shared/API.md §1, §1.3, §5). The
// package entries re-export them next to the wasm-bindgen glue.

/** Every error code (keys equal values); the wasm's own list is `__errorCodes()`. */
export const ERROR_CODES = Object.freeze(Object.fromEntries([
  "INVALID_API_KEY", "INVALID_BASE_URL", "MODEL_NOT_FOUND", "INVALID_OPTIONS",
  "WEBRTC_WEBSOCKET_ERROR", "WEBRTC_ICE_ERROR", "WEBRTC_TIMEOUT_ERROR", "WEBRTC_SERVER_ERROR",
  "WEBRTC_SIGNALING_ERROR", "INVALID_INPUT", "PROCESSING_ERROR", "QUEUE_SUBMIT_ERROR",
  "QUEUE_STATUS_ERROR", "QUEUE_RESULT_ERROR", "JOB_NOT_COMPLETED", "TOKEN_CREATE_ERROR",
  "NOT_CONNECTED", "UNAUTHORIZED", "INVALID_TOKEN", "IVS_LOAD_FAILED", "IVS_STAGE_ERROR",
  "MEDIA_ERROR", "IMAGE_ERROR", "NETWORK_ERROR", "PROTOCOL_ERROR", "ABORTED", "INTERNAL",
].map((c) => [c, c])));

const LEVELS = ["debug", "info", "warn", "error"];

/** A logger that forwards calls at or above `minLevel` to `console[level]("[DecartSDK]", message[, data])`. */
export function createConsoleLogger(minLevel = "warn") {
  const min = Math.max(0, LEVELS.indexOf(minLevel));
  const logger = {};
  LEVELS.forEach((level, i) => {
    logger[level] = i < min
      ? () => {}
      : (message, data) => (data === undefined
        ? console[level]("[DecartSDK]", message)
        : console[level]("[DecartSDK]", message, data));
  });
  return logger;
}

/** A logger that drops everything (the default). */
export const noopLogger = Object.freeze({ debug() {}, info() {}, warn() {}, error() {} });

// A module that uses the WebAssembly features the SDK is built with: bulk memory
// (`memory.fill`), saturating float-to-int (`i32.trunc_sat_f32_s`) and sign extension
// (`i32.extend8_s`).
const FEATURES = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 5, 3, 1, 0, 1, 10, 21, 1, 19, 0, 65, 0, 65, 0, 65, 0, 252, 11, 0, 67, 0, 0, 128, 63, 252, 0, 192, 11]);

/**
 * Whether this browser has what the SDK needs: WebAssembly with the features it is built
 * with, WebSocket, RTCPeerConnection and MediaStream; with `{latencyTracking: true}` also the
 * frame APIs the latency tracking uses (requestVideoFrameCallback or requestAnimationFrame,
 * and MediaStreamTrackProcessor/Generator or canvas captureStream). Importable without
 * instantiating the wasm: `realtime-video-sdk/support`.
 */
export function isBrowserSupported(options = {}) {
  const g = globalThis;
  const has = (name) => typeof g[name] === "function";
  let wasm = false;
  try {
    wasm = typeof g.WebAssembly === "object" && g.WebAssembly.validate(FEATURES);
  } catch {
    wasm = false;
  }
  const core = wasm && has("WebSocket") && has("RTCPeerConnection") && has("MediaStream") && has("fetch");
  if (!core || !options.latencyTracking) return core;
  const video = g.HTMLVideoElement?.prototype;
  const frames = typeof video?.requestVideoFrameCallback === "function" || has("requestAnimationFrame");
  const stamping = (has("MediaStreamTrackProcessor") && has("MediaStreamTrackGenerator"))
    || typeof g.HTMLCanvasElement?.prototype?.captureStream === "function";
  return frames && stamping;
}
