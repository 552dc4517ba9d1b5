// Pixel markers of shared/PROTOCOL.md for the manual browser checks: stamp a canvas
// stream's frames, read the markers back from a <video>.

/** A 320×240 canvas stream (25 fps) whose frames carry increasing marker numbers. */
export function markedCanvasStream(W = 320, H = 240) {
  const src = document.createElement('canvas'); src.width = W; src.height = H;
  const ctx = src.getContext('2d');
  const state = { seq: 0 };
  function stamp() {
    const seq = state.seq;
    ctx.fillStyle = `hsl(${(seq * 7) % 360},60%,50%)`; ctx.fillRect(0, 0, W, H);
    ctx.fillStyle = '#fff'; ctx.font = '40px sans-serif'; ctx.fillText(String(seq), 100, 120);
    const bits = [1, 0, 1, 0];
    for (let i = 15; i >= 0; i--) bits.push((seq >> i) & 1);
    const n = [(seq >> 12) & 15, (seq >> 8) & 15, (seq >> 4) & 15, seq & 15].reduce((a, b) => a ^ b, 0);
    for (let i = 3; i >= 0; i--) bits.push((n >> i) & 1);
    bits.forEach((b, x) => { const g = b ? 200 : 50; ctx.fillStyle = `rgb(${g},${g},${g})`; ctx.fillRect(x, H - 4, 1, 4); });
    state.seq = (seq + 1) & 0xffff;
  }
  state.timer = setInterval(stamp, 40); stamp();
  state.stream = src.captureStream(25);
  return state;
}

/** Reads markers from `video` on every animation frame; returns live counts. */
export function readMarkers(video) {
  const dst = document.createElement('canvas');
  const dctx = dst.getContext('2d', { willReadFrequently: true });
  const r = { seen: new Set(), corrupted: 0, reads: 0, last: -1 };
  function read() {
    if (video.videoWidth) {
      dst.width = video.videoWidth; dst.height = video.videoHeight;
      dctx.drawImage(video, 0, 0);
      const px = dctx.getImageData(0, dst.height - 4, 24, 4).data;
      const rows = [];
      for (let y = 0; y < 4; y++) {
        const row = []; for (let x = 0; x < 24; x++) row.push(px[(y * 24 + x) * 4] >= 128 ? 1 : 0);
        if (row.slice(0, 4).join('') === '1010') rows.push(row);
      }
      r.reads++;
      if (rows.length) {
        const bit = x => rows.filter(row => row[x]).length * 2 > rows.length ? 1 : 0;
        let s = 0; for (let x = 4; x < 20; x++) s = (s << 1) | bit(x);
        let c = 0; for (let x = 20; x < 24; x++) c = (c << 1) | bit(x);
        const n = [(s >> 12) & 15, (s >> 8) & 15, (s >> 4) & 15, s & 15].reduce((a, b) => a ^ b, 0);
        if (n === c) { r.seen.add(s); r.last = s; } else r.corrupted++;
      }
    }
    requestAnimationFrame(read);
  }
  requestAnimationFrame(read);
  return r;
}
