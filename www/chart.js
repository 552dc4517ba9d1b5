// A small time-series line chart on a <canvas>: a sliding window of the last `windowS`
// seconds, one line per series, a legend with each series' latest value kept in the DOM.
// A series' color is its legend swatch's CSS color (`.swatch-KEY` in style.css).

const PAD = { left: 44, right: 8, top: 8, bottom: 18 };

export class LineChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {HTMLElement} legend element that receives one entry per series
   * @param {{series: {key: string, label: string}[], unit: string, windowS?: number}} spec
   */
  constructor(canvas, legend, { series, unit, windowS = 60 }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.unit = unit;
    this.windowS = windowS;
    this.series = series.map((s) => {
      const { swatch, value } = legendEntry(legend, s);
      return { ...s, points: [], value, color: getComputedStyle(swatch).backgroundColor };
    });
    this.clear();
  }

  /** Adds a sample of series `key` at `t` seconds (performance.now() / 1000). */
  add(key, t, v) {
    if (typeof v !== "number" || !Number.isFinite(v)) return;
    const s = this.series.find((x) => x.key === key);
    if (!s) return;
    s.points.push({ t, v });
    s.value.textContent = `${fmt(v)} ${this.unit}`;
    const oldest = t - this.windowS * 2;
    while (s.points.length && s.points[0].t < oldest) s.points.shift();
    this.canvas.dataset.samples = String(this.samples());
  }

  /** Number of samples held, all series together. */
  samples() {
    return this.series.reduce((n, s) => n + s.points.length, 0);
  }

  /** Forgets every sample and draws the empty chart. */
  clear() {
    for (const s of this.series) {
      s.points = [];
      s.value.textContent = "—";
    }
    this.canvas.dataset.samples = "0";
    this.draw(performance.now() / 1000);
  }

  /** Draws the window ending at `now` (seconds). */
  draw(now) {
    const { canvas, ctx } = this;
    const scale = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || canvas.width;
    const h = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(w * scale) || canvas.height !== Math.round(h * scale)) {
      canvas.width = Math.round(w * scale);
      canvas.height = Math.round(h * scale);
    }
    ctx.setTransform(scale, 0, 0, scale, 0, 0);
    ctx.fillStyle = "#181818";
    ctx.fillRect(0, 0, w, h);

    const t0 = now - this.windowS;
    const visible = this.series.flatMap((s) => s.points.filter((p) => p.t >= t0));
    const max = niceMax(Math.max(0, ...visible.map((p) => p.v)));
    const x = (t) => PAD.left + ((t - t0) / this.windowS) * (w - PAD.left - PAD.right);
    const y = (v) => h - PAD.bottom - (v / max) * (h - PAD.top - PAD.bottom);

    ctx.font = "10px system-ui, sans-serif";
    ctx.lineWidth = 1;
    ctx.strokeStyle = "#333";
    ctx.fillStyle = "#999";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4;
      ctx.beginPath();
      ctx.moveTo(PAD.left, Math.round(y(v)) + 0.5);
      ctx.lineTo(w - PAD.right, Math.round(y(v)) + 0.5);
      ctx.stroke();
      ctx.fillText(fmt(v), PAD.left - 4, y(v));
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (let s = 0; s <= this.windowS; s += 15) {
      ctx.fillText(s === this.windowS ? "now" : `-${this.windowS - s}s`, x(t0 + s), h - PAD.bottom + 4);
    }

    ctx.lineJoin = "round";
    this.series.forEach((s, i) => {
      const pts = s.points.filter((p) => p.t >= t0);
      if (!pts.length) return;
      // Later lines thinner, so that lines that coincide stay visible.
      ctx.lineWidth = Math.max(1, 4 - 1.25 * i);
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.beginPath();
      pts.forEach((p, i) => (i ? ctx.lineTo(x(p.t), y(p.v)) : ctx.moveTo(x(p.t), y(p.v))));
      ctx.stroke();
      const last = pts[pts.length - 1];
      ctx.beginPath();
      ctx.arc(x(last.t), y(last.v), 3, 0, 2 * Math.PI);
      ctx.fill();
    });
  }
}

function legendEntry(legend, s) {
  const item = document.createElement("span");
  item.className = `legend-item legend-${s.key}`;
  const swatch = document.createElement("span");
  swatch.className = `swatch swatch-${s.key}`;
  const label = document.createElement("span");
  label.textContent = `${s.label} `;
  const value = document.createElement("span");
  value.className = "legend-value";
  value.dataset.series = s.key;
  item.append(swatch, label, value);
  legend.append(item);
  return { swatch, value };
}

/** The smallest 1/2/5 × 10^n at or above `v` (at least 1), for the y axis. */
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v) {
  if (Number.isInteger(v) || Math.abs(v) >= 100) return String(Math.round(v));
  return v.toFixed(Math.abs(v) >= 1 ? 1 : 2);
}
