// readMarker(imageData), called once per video frame: copies the marker strip's 96 red
// values (24 × 4 pixels at the bottom-left) out of the frame straight into a buffer in the
// wasm memory, and has the wasm decode them (src/core/marker.rs). The frame itself never
// crosses into the wasm, and nothing is allocated per call.
import { __markerRedBuffer, __readMarkerRed } from "./realtime_video_sdk.js";

const WIDTH = 24;
const HEIGHT = 4;
// The buffer four red values at a time (little-endian words, as wasm reads them).
let red = new Uint32Array(0);

/** The marker's sequence number, or -1 (no marker) or -2 (corrupted). */
export function readMarker(imageData) {
  const data = imageData?.data;
  const w = imageData?.width;
  const h = imageData?.height;
  // The view empties when the wasm memory grows.
  if (red.length === 0) red = __markerRedBuffer();
  if (!(data instanceof Uint8ClampedArray) || !Number.isInteger(w) || !Number.isInteger(h) || w < WIDTH || h < HEIGHT || data.length < w * h * 4) {
    // Nothing that could be a marker: the decoder's answer for no sync pattern.
    red.fill(0);
    return __readMarkerRed();
  }
  let i = 0;
  for (let y = h - HEIGHT; y < h; y++) {
    for (let p = y * w * 4, end = p + WIDTH * 4; p < end; p += 16) {
      red[i++] = data[p] | (data[p + 4] << 8) | (data[p + 8] << 16) | (data[p + 12] << 24);
    }
  }
  return __readMarkerRed();
}
