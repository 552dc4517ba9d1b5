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
