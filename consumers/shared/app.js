// The consumer apps' one use of the SDK: the suite copies this file into every app under
// consumers/ (as src/index.js) before building it, so an API rename is one edit here.
//
// As a web developer would: import the package by name and use it on the next line (no
// init()), send Chromium's fake camera to the reference server given as
// `?server=ws://HOST:PORT`, show the remote video, and leave `window.consumer` for the suite
// to read the outcome and disconnect. Imported under Node, only `model` is evaluated.
import { createDecartClient, models } from "realtime-video-sdk";

/** The registry entry the app connects with, read as soon as the import resolves. */
export const model = models.realtime("mirage");

/**
 * Connects the camera and shows what comes back in `video`.
 * @param {HTMLVideoElement} video
 */
async function connect(video) {
  const server = new URLSearchParams(location.search).get("server");
  const { realtime } = createDecartClient({ realtimeBaseUrl: server ?? "", apiKey: "consumer-app-key" });
  const camera = await navigator.mediaDevices.getUserMedia({ video: true });
  return realtime.connect(camera, {
    model,
    onRemoteStream: (stream) => {
      video.srcObject = stream;
    },
  });
}

/** The stack of an error thrown from inside the wasm (the SDK refuses an empty API key). */
function errorStack() {
  try {
    createDecartClient({ realtimeBaseUrl: "ws://127.0.0.1:1", apiKey: "" });
    return "no error";
  } catch (e) {
    return e instanceof Error ? String(e.stack) : String(e);
  }
}

function mount() {
  const status = document.createElement("p");
  const video = document.createElement("video");
  video.muted = true;
  video.autoplay = true;
  video.playsInline = true;
  document.body.append(status, video);

  const consumer = {
    phase: "connecting",
    detail: "",
    model: model.name,
    errorStack,
    /** @returns {string} the connection state right after disconnecting */
    disconnect: () => "never connected",
    /** The state of the remote video track ("live", then "ended" once the session is closed). */
    remoteTrack: () => {
      const track = video.srcObject instanceof MediaStream ? video.srcObject.getVideoTracks()[0] : undefined;
      return track?.readyState ?? "none";
    },
  };
  /** @param {string} phase @param {string} [detail] */
  const show = (phase, detail = "") => {
    consumer.phase = phase;
    consumer.detail = detail;
    status.textContent = detail ? `${phase}: ${detail}` : phase;
  };
  Object.assign(window, { consumer });
  show("connecting");
  connect(video).then(
    (client) => {
      consumer.disconnect = () => {
        client.disconnect();
        return client.getConnectionState();
      };
      show("connected");
    },
    (/** @type {unknown} */ e) => {
      const err = /** @type {{code?: string, message?: string}} */ (e ?? {});
      show("failed", `${err.code ?? ""} ${err.message ?? String(e)}`.trim());
    },
  );
}

if (typeof document !== "undefined") mount();
