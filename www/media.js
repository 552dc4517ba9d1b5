// Camera input for the page: the real camera, or a synthetic source when there is none
// (or when asked for): a moving canvas pattern and a short tone once a second, the tone
// played while the pattern flashes so audio/video sync can be judged by eye and ear.

const WIDTH = 640;
const HEIGHT = 360;
const FPS = 30;

/**
 * Opens the input. `kind` is "camera" (falls back to synthetic) or "synthetic".
 * Resolves to `{stream, label, fallbackReason, stop()}`.
 */
export async function openInput(kind) {
  if (kind === "camera") {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      return { stream, label: describe(stream, "camera"), fallbackReason: null, stop: () => stopTracks(stream) };
    } catch (e) {
      const input = synthetic();
      return { ...input, fallbackReason: `${e.name ?? "Error"}: ${e.message ?? e}` };
    }
  }
  return synthetic();
}

function synthetic() {
  const canvas = document.createElement("canvas");
  canvas.width = WIDTH;
  canvas.height = HEIGHT;
  const ctx = canvas.getContext("2d");
  const start = performance.now();
  // A timer rather than requestAnimationFrame: frames keep coming in a background tab.
  const timer = setInterval(() => drawPattern(ctx, (performance.now() - start) / 1000), 1000 / FPS);
  drawPattern(ctx, 0);
  const stream = canvas.captureStream(FPS);
  const audio = toneTrack();
  if (audio.track) stream.addTrack(audio.track);
  return {
    stream,
    label: describe(stream, "synthetic pattern"),
    fallbackReason: null,
    stop: () => {
      clearInterval(timer);
      stopTracks(stream);
      audio.close();
    },
  };
}

function drawPattern(ctx, t) {
  const flash = t % 1 < 0.1;
  ctx.fillStyle = flash ? "#f0f0f0" : `hsl(${(t * 40) % 360} 55% 35%)`;
  ctx.fillRect(0, 0, WIDTH, HEIGHT);
  ctx.fillStyle = "#ffd54a";
  const x = WIDTH / 2 + (WIDTH / 3) * Math.sin(t * 1.5);
  const y = HEIGHT / 2 + (HEIGHT / 4) * Math.cos(t * 2.1);
  ctx.beginPath();
  ctx.arc(x, y, 40, 0, 2 * Math.PI);
  ctx.fill();
  ctx.fillStyle = "#fff";
  ctx.font = "bold 28px monospace";
  ctx.fillText(`${t.toFixed(2)} s`, 24, 48);
}

/** A 440 Hz tone of 100 ms at the start of every second, quiet; no track without Web Audio. */
function toneTrack() {
  const AudioContextClass = window.AudioContext ?? window.webkitAudioContext;
  if (!AudioContextClass) return { track: null, close: () => {} };
  const ac = new AudioContextClass();
  const osc = ac.createOscillator();
  const gain = ac.createGain();
  const out = ac.createMediaStreamDestination();
  osc.frequency.value = 440;
  gain.gain.value = 0;
  osc.connect(gain).connect(out);
  osc.start();
  // Schedule the beeps a few seconds ahead, topped up every second.
  let next = Math.ceil(ac.currentTime);
  const schedule = () => {
    while (next < ac.currentTime + 3) {
      gain.gain.setValueAtTime(0.05, next);
      gain.gain.setValueAtTime(0, next + 0.1);
      next += 1;
    }
  };
  schedule();
  const timer = setInterval(schedule, 1000);
  return {
    track: out.stream.getAudioTracks()[0] ?? null,
    close: () => {
      clearInterval(timer);
      ac.close().catch(() => {});
    },
  };
}

function describe(stream, source) {
  const v = stream.getVideoTracks()[0]?.getSettings() ?? {};
  const size = v.width && v.height ? `${v.width}×${v.height}` : `${WIDTH}×${HEIGHT}`;
  const audio = stream.getAudioTracks().length ? " + audio" : "";
  return `${source}: ${size}${audio}`;
}

function stopTracks(stream) {
  for (const t of stream.getTracks()) t.stop();
}
