import type { ErrorCode, Logger, LogLevel } from "./realtime_video_sdk.js";
/** Every error code (keys equal values). */
export declare const ERROR_CODES: { readonly [K in ErrorCode]: K };
/** Forwards calls at or above `minLevel` (default "warn") to the console, prefixed "[DecartSDK]". */
export declare function createConsoleLogger(minLevel?: LogLevel): Logger;
/** Drops everything (the default logger). */
export declare const noopLogger: Logger;
/**
 * Whether this browser has what the SDK needs (WebAssembly with the features it is built with,
 * WebSocket, RTCPeerConnection, MediaStream); with `latencyTracking`, also the frame APIs of
 * latency tracking. Also importable without the wasm from `realtime-video-sdk/support`.
 */
export declare function isBrowserSupported(options?: { latencyTracking?: boolean }): boolean;
