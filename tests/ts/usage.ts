// Compiled with `tsc --noEmit --strict` by the test command: the package's `.d.ts` must
// type a page's ordinary use of the SDK, with no `any` leaking into it.
import init, {
  createRealtimeClient, models, isRealtimeError, readMarker, stampMarker, version,
  type ConnectOptions, type RealTimeClient, type StatsEvent, type ConnectionState, type ModelDefinition,
} from "../../pkg/realtime_video_sdk.js";

export async function demo(camera: MediaStream, video: HTMLVideoElement): Promise<void> {
  await init();
  const v: string = version();
  const model: ModelDefinition = models.realtime("lucy_2_rt");
  const all: ModelDefinition[] = models.list();
  console.log(all.length);
  const factory = createRealtimeClient({ baseUrl: "ws://127.0.0.1:8787", apiKey: "key", integration: `page/${v}` });
  const options: ConnectOptions = {
    model: "mirage",
    onRemoteStream: (s: MediaStream) => { video.srcObject = s; },
    initialState: { prompt: { text: "a cat", enhance: true } },
    latencyTracking: { pixelMarker: true, probeIntervalMs: 0 },
    extraQueryParams: { room: "a", n: 1 },
    customizeOffer: async (offer: RTCSessionDescriptionInit) => { offer.sdp = offer.sdp ?? ""; },
  };
  void model;
  try {
    const client: RealTimeClient = await factory.connect(camera, options);
    client.on("connectionChange", (s) => console.log(s));
    await client.setPrompt("a dog", { enhance: false });
    await client.setImage(null, { prompt: "plain" });
    await client.set({ prompt: "x", image: new Blob([]) });
    const state: ConnectionState = client.getConnectionState() as ConnectionState;
    const sid: string | undefined = client.sessionId;
    const token: string | undefined = client.subscribeToken;
    console.log(state, sid, token, client.isConnected());
    const viewer: RealTimeClient = await factory.subscribe({ token: token ?? "", onRemoteStream: (s) => { video.srcObject = s; } });
    viewer.disconnect();
    client.disconnect();
  } catch (e) {
    if (isRealtimeError(e)) {
      const code: string = e.code;
      console.log(code, e.message);
    }
  }
  const stats: StatsEvent | null = null;
  void stats;
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d");
  if (ctx) {
    const img = ctx.getImageData(0, 0, 24, 4);
    stampMarker(img, 7);
    const r = readMarker(img);
    if (r.kind === "seq") console.log(r.seq);
  }
}
