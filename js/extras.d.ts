import type { ErrorCode, Logger, LogLevel } from "./realtime_video_sdk.js";
/** Every error code (keys equal values). */
export declare const ERROR_CODES: { readonly [K in ErrorCode]: K };
/** Forwards calls at or above `minLevel` (default "warn") to the console, prefixed "[DecartSDK]". */
export declare function createConsoleLogger(minLevel?: LogLevel): Logger;
/** Drops everything (the default logger). */
export declare const noopLogger: Logger;
