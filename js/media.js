// The SDK's media plumbing, driven from the wasm (src/web/media.rs): the browser's
// per-frame and media APIs are called from here, where a call costs nothing to cross, while
// every decision stays in Rust. Per frame this module asks the wasm two things at most:
// whether to stamp a probe (`probe(now)`, the latency tracker) and the strip of its
// sequence number (`strip(seq, rows, fullRange)`, the marker codec); a reader hands the
// wasm the strip's pixels to decode (`onRead`).
//
//   watchFrames(video, onFrame): one call per presented frame
//   hiddenVideo(stream): a muted, playing, invisible <video> of the stream
//   startStamper(stream, canvasOnly, probe, strip): the stamped stream, see below
//   startReader(video, owned, onRead): reads the strip of each presented frame
//   testPicture(width, height, fps): a moving picture, what a preflight's test session sends
//   avatarAudio(): the silent audio track of a live_avatar session, and play(clip) into it
//   imageBytes(image): the bytes of a reference image (a Blob/File, or a URL fetched)
//
// Each start returns a handle whose stop() releases everything it made; the caller's
// tracks are never stopped.

const W = 24;
const H = 4;
const now = () => performance.now();

/**
 * Calls `onFrame(now, metadata)` at each presented frame of `video`
 * (`requestVideoFrameCallback`), else at each display refresh (`requestAnimationFrame`,
 * `metadata` undefined). The next callback is requested before `onFrame` runs.
 */
export function watchFrames(video, onFrame) {
  const vfc = typeof video.requestVideoFrameCallback === "function";
  let id = 0;
  let live = true;
  const request = () => {
    id = vfc ? video.requestVideoFrameCallback(tick) : requestAnimationFrame(tick);
  };
  const tick = (t, metadata) => {
    if (!live) return;
    request();
    onFrame(t, metadata);
  };
  request();
  return {
    vfc,
    stop() {
      if (!live) return;
      live = false;
      if (vfc) video.cancelVideoFrameCallback(id);
      else cancelAnimationFrame(id);
    },
  };
}

/**
 * A muted, autoplaying `<video>` of `stream`, in the document but invisible (browsers only
 * present frames of elements that are rendered), playing. Styled through the CSSOM, which a
 * strict `style-src` allows.
 */
export function hiddenVideo(stream) {
  const video = document.createElement("video");
  video.muted = true;
  video.autoplay = true;
  video.setAttribute("playsinline", "");
  video.setAttribute("aria-hidden", "true");
  Object.assign(video.style, {
    position: "fixed", left: "0", top: "0", width: "2px", height: "2px",
    opacity: "0", pointerEvents: "none", zIndex: "-1",
  });
  video.srcObject = stream;
  if (!document.body) throw new Error("no document body for the hidden video");
  document.body.append(video);
  video.play().catch(() => {});
  return video;
}

function dropVideo(video) {
  video.srcObject = null;
  video.remove();
}

// `frame.copyTo(options)` into a buffer of its own, resized when a copy needs another size:
// resolves to [plane layouts, bytes].
function frameCopier() {
  let buf = new Uint8Array(0);
  return async (frame, options) => {
    const size = frame.allocationSize(options);
    if (buf.length !== size) buf = new Uint8Array(size);
    return [await frame.copyTo(buf, options), buf];
  };
}

function canvas2d(width, height, options) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d", options);
  if (!ctx) throw new Error("no 2D context for the canvas");
  return ctx;
}

/**
 * Wraps the first video track of `stream` and stamps the strip of a probe into the frames
 * the latency tracker picks (`probe(now)`: a sequence number, or -1 for none). Returns
 * `{stream, processor, stats, stop()}`: `stream` carries the stamped video track and
 * `stream`'s own audio tracks.
 *
 * Where `MediaStreamTrackProcessor`, `MediaStreamTrackGenerator` and `VideoFrame` exist
 * (and `canvasOnly` is false), frames are read from a processor on a clone of the track and
 * written to a generator: an unprobed frame passes through untouched; a probed one is
 * replaced by a copy with the same timestamp that carries the strip, made in the frame's own
 * pixel format where it is I420, NV12 or 4-byte RGB (`copyTo`, the strip rows written into
 * the copy), else by drawing it to a canvas. Otherwise a hidden `<video>` plays a clone of the
 * track and each presented frame is drawn to a canvas whose `captureStream(0)` track emits
 * one frame per draw.
 */
export function startStamper(stream, canvasOnly, probe, strip) {
  const input = stream.getVideoTracks()[0];
  if (!input) throw new Error("the stream has no video track to stamp");
  const g = globalThis;
  const processor = !canvasOnly && !!(g.MediaStreamTrackProcessor && g.MediaStreamTrackGenerator && g.VideoFrame);
  const stats = {
    framesIn: 0, framesOut: 0, framesStamped: 0, stampedInFormat: 0, stampFailures: 0,
    stampMsTotal: 0, stampMsMax: 0, passMsTotal: 0,
  };
  const stamped = (t0, inFormat) => {
    const dt = now() - t0;
    stats.framesStamped++;
    stats.stampedInFormat += inFormat;
    stats.stampMsTotal += dt;
    stats.stampMsMax = Math.max(stats.stampMsMax, dt);
  };
  const ctx = canvas2d(W, H, { alpha: false, desynchronized: true });
  const canvas = ctx.canvas;
  const fit = (w, h) => {
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
  };
  const stripOf = (seq, rows, fullRange) => {
    const bytes = strip(seq, rows, fullRange);
    if (!bytes.length) throw new Error("the marker codec gave no strip");
    return bytes;
  };
  const putStrip = (seq, h) => {
    const rgba = stripOf(seq, 0, false);
    ctx.putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.length), W, H), 0, h - H);
  };
  const source = input.clone();
  const copy = frameCopier();
  let stopped = false;
  // Releases what the path made (set by the path as soon as it has made something).
  let release = () => {};
  const stop = () => {
    if (stopped) return;
    stopped = true;
    release();
    source.stop();
  };
  const output = new MediaStream();
  try {
    const out = processor ? pump() : draw();
    // A marker is one pixel per bit, so it can only be read at the size it was stamped: with
    // "detail" a browser short of bandwidth or CPU lowers the frame rate, not the resolution.
    out.contentHint = input.contentHint || "detail";
    output.addTrack(out);
    for (const t of stream.getAudioTracks()) output.addTrack(t);
  } catch (e) {
    stop();
    throw e;
  }
  return { stream: output, processor, stats, stop };

  function pump() {
    const reader = new MediaStreamTrackProcessor({ track: source }).readable.getReader();
    let generator;
    let writer;
    release = () => {
      reader.cancel().catch(() => {});
      writer?.abort().catch(() => {});
      generator?.stop();
    };
    generator = new MediaStreamTrackGenerator({ kind: "video" });
    writer = generator.writable.getWriter();
    (async () => {
      let inFormat = true;
      let warned = false;
      for (;;) {
        let chunk;
        try {
          chunk = await reader.read();
        } catch {
          break;
        }
        const frame = chunk.value;
        if (chunk.done || !frame) break;
        if (stopped) {
          frame.close();
          break;
        }
        const t0 = now();
        const seq = probe(t0);
        let next = frame;
        if (seq < 0) {
          stats.framesIn++;
          stats.passMsTotal += now() - t0;
        } else {
          try {
            let copy = null;
            if (inFormat) {
              try {
                copy = await stampInFormat(frame, seq);
              } catch {
                inFormat = false;
              }
              if (stopped) {
                copy?.close();
                frame.close();
                break;
              }
            }
            const native = copy ? 1 : 0;
            copy ??= stampByCanvas(frame, seq);
            frame.close();
            if (stopped) {
              copy.close();
              break;
            }
            stats.framesIn++;
            stamped(t0, native);
            next = copy;
          } catch (e) {
            if (!warned) {
              warned = true;
              console.warn("realtime: could not stamp a latency marker", e);
            }
            stats.framesIn++;
            stats.stampFailures++;
          }
        }
        // The generator takes the written frame over (and closes it).
        try {
          await writer.write(next);
        } catch {
          break;
        }
        if (stopped) break;
        stats.framesOut++;
      }
    })();
    return generator;
  }

  function stampByCanvas(frame, seq) {
    const w = frame.displayWidth;
    const h = frame.displayHeight;
    if (w < W || h < H) throw new Error("frame smaller than the marker");
    fit(w, h);
    ctx.drawImage(frame, 0, 0);
    putStrip(seq, h);
    const init = { timestamp: frame.timestamp ?? 0 };
    if (frame.duration != null) init.duration = frame.duration;
    return new VideoFrame(canvas, init);
  }

  // A copy of the frame in its own format with the strip written over its bottom-left
  // corner (for YUV: the luma of the gray values and neutral chroma, from an even row so
  // that the chroma rows are the frame's); null for a format this does not handle.
  async function stampInFormat(frame, seq) {
    const format = frame.format;
    const yuv = format === "I420" || format === "I420A" || format === "NV12";
    if (!yuv && !["RGBA", "RGBX", "BGRA", "BGRX"].includes(format)) return null;
    const { width: w, height: h } = frame.visibleRect;
    if (!(w >= W && h >= H)) throw new Error("frame smaller than the marker");
    const top = (h - H) & ~1;
    const rows = h - top;
    // Asked before the copy: nothing calls into the wasm after an await.
    const bytes = stripOf(seq, yuv ? rows : 0, yuv && frame.colorSpace?.fullRange === true);
    const [planes, dest] = await copy(frame);
    // Row `row` of plane `p`; a layout that does not add up throws (`set` throws outside
    // the buffer).
    const put = (p, row, part) => {
      const at = planes[p]?.offset + row * planes[p]?.stride;
      if (!Number.isInteger(at) || at < 0) throw new Error("copyTo gave no plane layout");
      dest.set(part, at);
    };
    if (yuv) {
      const cw = W / 2;
      const crows = (rows + 1) >> 1;
      const u = W * rows;
      const v = u + cw * crows;
      for (let r = rows - H; r < rows; r++) put(0, top + r, bytes.subarray(r * W, (r + 1) * W));
      for (let r = 0; r < crows; r++) {
        const cb = bytes.subarray(u + r * cw, u + (r + 1) * cw);
        const cr = bytes.subarray(v + r * cw, v + (r + 1) * cw);
        if (format === "NV12") {
          const both = new Uint8Array(W);
          for (let i = 0; i < cw; i++) {
            both[2 * i] = cb[i];
            both[2 * i + 1] = cr[i];
          }
          put(1, top / 2 + r, both);
        } else {
          put(1, top / 2 + r, cb);
          put(2, top / 2 + r, cr);
        }
      }
    } else {
      for (let r = 0; r < H; r++) put(0, h - H + r, bytes.subarray(r * W * 4, (r + 1) * W * 4));
    }
    const init = {
      format, codedWidth: w, codedHeight: h, displayWidth: frame.displayWidth,
      displayHeight: frame.displayHeight, timestamp: frame.timestamp ?? 0, layout: planes,
      colorSpace: frame.colorSpace,
    };
    if (frame.duration != null) init.duration = frame.duration;
    return new VideoFrame(dest, init);
  }

  function draw() {
    const track = canvas.captureStream(0).getVideoTracks()[0];
    if (!track) throw new Error("canvas captureStream gave no track");
    release = () => track.stop();
    const video = hiddenVideo(new MediaStream([source]));
    let frames;
    release = () => {
      frames?.stop();
      track.stop();
      dropVideo(video);
    };
    frames = watchFrames(video, () => {
      const w = video.videoWidth;
      const h = video.videoHeight;
      if (stopped || w < W || h < H) return;
      const t0 = now();
      fit(w, h);
      try {
        ctx.drawImage(video, 0, 0);
      } catch {
        return;
      }
      const seq = probe(t0);
      let ok = true;
      if (seq >= 0) {
        try {
          putStrip(seq, h);
        } catch {
          ok = false;
        }
      }
      try {
        track.requestFrame();
        stats.framesOut++;
      } catch {}
      stats.framesIn++;
      if (seq < 0) stats.passMsTotal += now() - t0;
      else if (ok) stamped(t0, 0);
      else stats.stampFailures++;
    });
    return track;
  }
}

/**
 * Reads the 24 × 4 bottom-left strip of each frame `video` presents and hands it to the wasm:
 * `onRead(t0, pixels, stride, rows, fullRange, now, metadata)` (it returns the time its
 * decoding and bookkeeping ended), where `stride` 0 means RGBA
 * pixels of the strip, else the luma plane of the bottom `rows` rows (`fullRange`: its value
 * range). Where the browser can copy the frame (`VideoFrame.copyTo`), only the strip's rows
 * are copied, in the decoder's own format (else converted to RGBA); otherwise the strip is
 * drawn into a 24 × 4 canvas. Each way is given up for good at its first failure.
 * `owned`: the element is removed on stop. Returns `{vfc, stats, stop()}`.
 */
export function startReader(video, owned, onRead) {
  let ctx;
  try {
    ctx = canvas2d(W, H, { willReadFrequently: true, alpha: false });
  } catch (e) {
    if (owned) dropVideo(video);
    throw e;
  }
  // 1:1 copy of the strip: no filtering across the bit boundaries.
  ctx.imageSmoothingEnabled = false;
  const stats = { framesRead: 0, readMsTotal: 0, readMsMax: 0, readFailures: 0 };
  let native = !!globalThis.VideoFrame;
  let rgba = native;
  const copy = frameCopier();

  // [pixels, stride, rows, fullRange] of the current frame; null when there is none to read.
  async function readFrame() {
    if (video.videoWidth === 0) return null;
    const frame = new VideoFrame(video);
    try {
      const { x, y, width: w, height: h } = frame.visibleRect;
      if (w < W || h < H) return null;
      if (native && ["I420", "I420A", "NV12"].includes(frame.format)) {
        // A 4:2:0 rect starts on an even row: one more row above the strip when needed.
        const top = Math.floor((y + h - H) / 2) * 2;
        const rows = y + h - top;
        const [layout, bytes] = await copy(frame, { rect: { x, y: top, width: W, height: rows } });
        const { offset, stride } = layout[0] ?? {};
        if (!Number.isInteger(offset) || !(Number.isInteger(stride) && stride >= W)) throw new Error("copyTo gave no plane layout");
        return [bytes.subarray(offset), stride, rows, frame.colorSpace?.fullRange === true];
      }
      if (!rgba) throw new Error("no RGBA copies");
      const [, bytes] = await copy(frame, { rect: { x, y: y + h - H, width: W, height: H }, format: "RGBA" });
      return [bytes, 0, H, false];
    } finally {
      frame.close();
    }
  }

  function readCanvas() {
    const w = video.videoWidth;
    const h = video.videoHeight;
    if (w < W || h < H) return null;
    try {
      ctx.drawImage(video, 0, h - H, W, H, 0, 0, W, H);
      return [ctx.getImageData(0, 0, W, H).data, 0, H, false];
    } catch {
      return null;
    }
  }

  async function read() {
    while (native || rgba) {
      try {
        return await readFrame();
      } catch {
        if (native) native = false;
        else rgba = false;
      }
    }
    return readCanvas();
  }

  let stopped = false;
  let busy = false;
  let waiting = null;
  const frames = watchFrames(video, async (t, metadata) => {
    // One read at a time; a frame presented meanwhile is read next.
    if (busy) {
      waiting = [t, metadata];
      return;
    }
    busy = true;
    try {
      for (let next = [t, metadata]; next && !stopped; next = waiting, waiting = null) {
        const t0 = now();
        const strip = await read();
        if (stopped) break;
        if (!strip) {
          stats.readFailures++;
          continue;
        }
        // The read's cost ends where the wasm has decoded the strip and booked it, before
        // the events it hands to the page.
        const dt = onRead(t0, ...strip, next[0], next[1]) - t0;
        stats.framesRead++;
        stats.readMsTotal += dt;
        stats.readMsMax = Math.max(stats.readMsMax, dt);
      }
    } finally {
      busy = false;
    }
  });
  return {
    vfc: frames.vfc,
    stats,
    stop() {
      if (stopped) return;
      stopped = true;
      frames.stop();
      if (owned) dropVideo(video);
    },
  };
}

/**
 * A small moving picture from a canvas at `fps` (a bar sweeping over a background that
 * changes every 25 frames): what a preflight's test session publishes, since the service
 * transforms video and a session that sends nothing gets nothing back. Returns
 * `{stream, stop()}`.
 */
export function testPicture(width, height, fps) {
  const ctx = canvas2d(width, height);
  const stream = ctx.canvas.captureStream(fps);
  const colors = ["#204060", "#406020", "#602040", "#606060"];
  let n = 0;
  const paint = () => {
    ctx.fillStyle = colors[Math.floor(n / 25) % colors.length];
    ctx.fillRect(0, 0, width, height);
    ctx.fillStyle = "#e0e0e0";
    ctx.fillRect((n * 8) % width, 0, 24, height);
    n++;
  };
  paint();
  const timer = setInterval(paint, 1000 / Math.max(1, fps));
  return {
    stream,
    stop() {
      clearInterval(timer);
      for (const t of stream.getTracks()) t.stop();
    },
  };
}

/**
 * `live_avatar` without a user stream: the session publishes the silent audio track of an
 * `AudioContext`'s stream destination, into which `play(audio)` plays a clip (an
 * `AudioBuffer`, or a `Blob`/`File`/`ArrayBuffer` of an encoded one) and resolves with its
 * duration once it has played. Returns `{stream, play(audio), stop()}`; `stop()` ends the
 * track and closes the context.
 */
export function avatarAudio() {
  const context = new AudioContext();
  let destination;
  try {
    destination = context.createMediaStreamDestination();
  } catch (e) {
    context.close().catch(() => {});
    throw e;
  }
  return {
    stream: destination.stream,
    async play(audio) {
      let buffer = audio;
      if (!(audio instanceof AudioBuffer)) {
        // decodeAudioData detaches its argument: the caller's buffer stays intact.
        const bytes = audio instanceof Blob ? await audio.arrayBuffer() : audio.slice(0);
        buffer = await context.decodeAudioData(bytes);
      }
      context.resume().catch(() => {});
      const source = context.createBufferSource();
      source.buffer = buffer;
      source.connect(destination);
      await new Promise((resolve) => {
        source.onended = resolve;
        source.start();
      });
      return buffer.duration;
    },
    stop() {
      for (const t of destination.stream.getTracks()) t.stop();
      context.close().catch(() => {});
    },
  };
}

/**
 * The bytes of a reference image: a `Blob`/`File` read, or a URL fetched. Resolves with a
 * `Uint8Array`, or with the HTTP status (a number) when the fetch was answered with an
 * error; rejects when the read or the fetch failed.
 */
export async function imageBytes(image) {
  if (typeof image === "string") {
    const response = await fetch(image);
    if (!response.ok) return response.status;
    image = await response.blob();
  }
  return new Uint8Array(await image.arrayBuffer());
}
