// The IVS stage emulator check (server/tests/browser/ivs-check.sh): drives the emulator the
// way the SDK does, by hand. Results go to window.result.
import { markedCanvasStream, readMarkers } from './markers.js';
import * as Mod from '/ivs-emulator.mjs';

const IVS = window.IVSBroadcastClient;
const { Stage, LocalStageStream, StageEvents, StageConnectionState, SubscribeType } = IVS;
window.result = null;
const sleep = ms => new Promise(r => setTimeout(r, ms));

/** Records every stage event as [ms, name, detail]. */
function record(stage, t0) {
  const events = [];
  const describe = a => a === undefined ? undefined
    : a instanceof Error ? `${a.name} ${a.code} ${a.category} "${a.message}"`
    : Array.isArray(a) ? a.map(s => s.streamType)
    : typeof a === 'object' && a && 'isLocal' in a ? (a.isLocal ? 'local' : a.id.replace(/_.*/, ''))
    : a;
  for (const [key, name] of Object.entries(StageEvents)) {
    stage.on(name, (...args) => events.push([Math.round(performance.now() - t0), key, ...args.map(describe)]));
  }
  return events;
}

/** Opens an IVS session and returns {ws, ready, messages}. */
async function ivsSession(extra = '') {
  const ws = new WebSocket(`ws://${location.host}/v1/stream-ivs?api_key=k&model=mirage${extra}`);
  const messages = [];
  let ready;
  const gotReady = new Promise(r => ready = r);
  ws.addEventListener('message', ev => {
    const m = JSON.parse(ev.data); messages.push(m);
    if (m.type === 'ivs_stage_ready') ready(m);
  });
  const sid = await new Promise(r => ws.addEventListener('message', ev => { const m = JSON.parse(ev.data); if (m.type === 'session_id') r(m.session_id); }));
  return { ws, sid, ready: await gotReady, messages };
}

function waitFor(stage, event, pred = () => true, ms = 10000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${event}`)), ms);
    const fn = (...args) => { if (pred(...args)) { clearTimeout(t); stage.off(event, fn); resolve(args); } };
    stage.on(event, fn);
  });
}

async function statsOf(streams) {
  const out = {};
  for (const s of streams) {
    const report = await s.requestRTCStats();
    report && report.forEach(r => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') out.inboundVideo = { framesDecoded: r.framesDecoded, framesPerSecond: r.framesPerSecond, jitterBufferTargetDelay: r.jitterBufferTargetDelay };
      if (r.type === 'inbound-rtp' && r.kind === 'audio') out.inboundAudio = { packetsReceived: r.packetsReceived };
      if (r.type === 'outbound-rtp' && r.kind === 'video') out.outboundVideo = { framesEncoded: r.framesEncoded, framesPerSecond: r.framesPerSecond };
      if (r.type === 'candidate-pair' && r.nominated) out.pair = r.state;
      if (r.type === 'local-candidate') out.localAddress = r.address;
    });
  }
  return out;
}

/** The main flow: publish, get the server participant's echo back, a viewer subscribes. */
async function mainFlow() {
  const t0 = performance.now();
  const marked = markedCanvasStream();
  const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
  const local = [
    new LocalStageStream(marked.stream.getVideoTracks()[0], { simulcast: { enabled: false } }),
    new LocalStageStream(mic.getAudioTracks()[0]),
  ];
  const session = await ivsSession();
  const { client_token, client_publish_participant_id } = session.ready;
  const strategy = {
    stageStreamsToPublish: () => local,
    shouldPublishParticipant: () => true,
    shouldSubscribeToParticipant: p => (p.isLocal || p.id === client_publish_participant_id) ? SubscribeType.NONE : SubscribeType.AUDIO_VIDEO,
    subscribeConfiguration: () => ({ jitterBuffer: { minDelay: 40 } }),
  };
  const stage = new Stage(client_token, strategy);
  const events = record(stage, t0);
  const connected = waitFor(stage, StageEvents.STAGE_CONNECTION_STATE_CHANGED, s => s === StageConnectionState.CONNECTED);
  const remote = waitFor(stage, StageEvents.STAGE_PARTICIPANT_STREAMS_ADDED, p => !p.isLocal, 15000);
  await stage.join();
  await connected;
  session.ws.send(JSON.stringify({ type: 'ivs_joined' }));
  const [serverInfo, streams] = await remote;
  const video = document.getElementById('client');
  video.srcObject = new MediaStream(streams.map(s => s.mediaStreamTrack));
  const markers = readMarkers(video);
  await sleep(2500);
  const first = markers.seen.size;
  await sleep(3000);

  // A viewer joins with a viewer token.
  const tok = await (await fetch(`/v1/subscribe-ivs/${session.sid}`, { headers: { 'x-api-key': 'k' } })).json();
  const vstage = new Stage(tok.subscribe_token, {
    stageStreamsToPublish: () => [],
    shouldPublishParticipant: () => false,
    shouldSubscribeToParticipant: p => p.id === tok.server_publish_participant_id ? SubscribeType.AUDIO_VIDEO : SubscribeType.NONE,
    subscribeConfiguration: () => ({ jitterBuffer: { minDelay: 0 } }),
  });
  const vevents = record(vstage, t0);
  const vremote = waitFor(vstage, StageEvents.STAGE_PARTICIPANT_STREAMS_ADDED, p => p.id === tok.server_publish_participant_id, 15000);
  await vstage.join();
  const [, vstreams] = await vremote;
  const vvideo = document.getElementById('viewer');
  vvideo.srcObject = new MediaStream(vstreams.map(s => s.mediaStreamTrack));
  const vmarkers = readMarkers(vvideo);
  await sleep(4000);

  const metrics = session.messages.filter(m => m.type === 'metrics_report').slice(-3).map(m => ({ input_fps: m.input_fps, output_fps: m.output_fps, bitrate_kbps: m.bitrate_kbps }));
  const out = {
    serverParticipant: serverInfo.id,
    serverParticipantMatchesToken: serverInfo.id === tok.server_publish_participant_id,
    remoteStreams: streams.map(s => ({ type: s.streamType, participant: s.participantInfo.id === serverInfo.id, id: typeof s.id })),
    jitterBufferTarget: streams.map(s => s._receiver && s._receiver.jitterBufferTarget),
    clientStats: await statsOf(streams),
    localStats: await statsOf(local.slice(0, 1)),
    markers: { afterFirst: first, total: markers.seen.size, corrupted: markers.corrupted, last: markers.last, sent: marked.seq },
    viewerMarkers: { total: vmarkers.seen.size, corrupted: vmarkers.corrupted, last: vmarkers.last },
    viewerStats: await statsOf(vstreams),
    sessionMessages: [...new Set(session.messages.map(m => m.type))],
    metrics,
  };
  // The viewer leaves; then the client.
  vstage.leave();
  stage.leave();
  session.ws.close();
  out.clientEvents = events.map(e => e.slice(1).join(' ')).filter(e => !e.startsWith('STAGE_PARTICIPANT_SUBSCRIBE') && !e.startsWith('STAGE_PARTICIPANT_PUBLISH'));
  out.viewerEvents = vevents.map(e => e.slice(1).join(' ')).filter(e => !e.startsWith('STAGE_PARTICIPANT_SUBSCRIBE') && !e.startsWith('STAGE_PARTICIPANT_PUBLISH'));
  clearInterval(marked.timer);
  return out;
}

/** A fault scenario: the client's stage events, and whether join() rejected. */
async function faultFlow(fault, ms) {
  const t0 = performance.now();
  const session = await ivsSession(`&fault_ivs=${fault}`);
  const marked = markedCanvasStream();
  const local = [new LocalStageStream(marked.stream.getVideoTracks()[0])];
  const stage = new Stage(session.ready.client_token, {
    stageStreamsToPublish: () => local,
    shouldPublishParticipant: () => true,
    shouldSubscribeToParticipant: p => p.isLocal ? SubscribeType.NONE : SubscribeType.AUDIO_VIDEO,
  });
  const events = record(stage, t0);
  let join;
  try { await stage.join(); join = 'resolved'; } catch (e) { join = `rejected ${e.name} ${e.code} ${e.category}`; }
  if (join === 'resolved') session.ws.send(JSON.stringify({ type: 'ivs_joined' }));
  await sleep(ms);
  stage.leave();
  session.ws.close();
  clearInterval(marked.timer);
  return { join, events: events.map(e => e.slice(1).join(' ')).filter(e => !e.startsWith('STAGE_PARTICIPANT_SUBSCRIBE') && !e.startsWith('STAGE_PARTICIPANT_PUBLISH')) };
}

/**
 * The server crashes (ivs-check.sh kills and restarts it when asked): the stage must report
 * ERROR, errored and STAGE_LEFT, and a new session on the restarted server must work.
 */
async function restartFlow() {
  const t0 = performance.now();
  const session = await ivsSession();
  const marked = markedCanvasStream();
  const local = [new LocalStageStream(marked.stream.getVideoTracks()[0])];
  const strategy = {
    stageStreamsToPublish: () => local,
    shouldPublishParticipant: () => true,
    shouldSubscribeToParticipant: p => p.isLocal ? SubscribeType.NONE : SubscribeType.AUDIO_VIDEO,
  };
  const stage = new Stage(session.ready.client_token, strategy);
  const events = record(stage, t0);
  const remote = waitFor(stage, StageEvents.STAGE_PARTICIPANT_STREAMS_ADDED, p => !p.isLocal, 15000);
  await stage.join();
  session.ws.send(JSON.stringify({ type: 'ivs_joined' }));
  await remote;
  const left = waitFor(stage, StageEvents.STAGE_LEFT, () => true, 15000);
  window.restartNow = true;
  await left;
  while (!window.restarted) await sleep(200);
  // A new session on the restarted server.
  const again = await ivsSession();
  const stage2 = new Stage(again.ready.client_token, strategy);
  const remote2 = waitFor(stage2, StageEvents.STAGE_PARTICIPANT_STREAMS_ADDED, p => !p.isLocal, 15000);
  await stage2.join();
  again.ws.send(JSON.stringify({ type: 'ivs_joined' }));
  const [, streams] = await remote2;
  stage2.leave();
  again.ws.close();
  clearInterval(marked.timer);
  return {
    events: events.map(e => e.slice(1).join(' ')).filter(e => !e.startsWith('STAGE_PARTICIPANT_SUBSCRIBE') && !e.startsWith('STAGE_PARTICIPANT_PUBLISH')),
    recovered: streams.map(s => s.streamType),
  };
}

/**
 * When the server serves the real package at /vendor/ (ivs-check.sh passes --vendor), loads
 * its UMD build (it replaces the global) and compares every emulator export with it.
 */
async function compareWithRealSdk() {
  const url = '/vendor/amazon-ivs-web-broadcast.js';
  if (!(await fetch(url, { method: 'HEAD' })).ok) return 'not served';
  const loaded = await new Promise(resolve => {
    const s = document.createElement('script');
    s.src = url; s.onload = () => resolve(true); s.onerror = () => resolve(false);
    document.head.appendChild(s);
  });
  const real = window.IVSBroadcastClient;
  if (!loaded || !real || real === IVS) return 'failed to load';
  const mismatches = [];
  for (const [k, v] of Object.entries(Mod)) {
    if (k === 'default' || k === '__version') continue;
    const ok = typeof v === 'function' ? typeof real[k] === 'function' : JSON.stringify(real[k]) === JSON.stringify(v);
    if (!ok) mismatches.push(k);
  }
  return { version: real.__version, compared: Object.keys(Mod).length - 2, mismatches };
}

async function run() {
  // The module is a separate instance of the same source: same names, same values.
  const same = (a, b) => typeof a === 'function' ? typeof b === 'function' && a.name === b.name : JSON.stringify(a) === JSON.stringify(b);
  const keys = Object.keys(IVS);
  const moduleMatches = keys.length > 20 && keys.every(k => same(Mod[k], IVS[k])) && Object.keys(Mod).filter(k => k !== 'default').length === keys.length
    && Object.keys(Mod.default).length === keys.length;
  const r = { moduleMatches, exports: Object.keys(IVS).length };
  r.main = await mainFlow();
  r.disconnect_during_setup = await faultFlow('disconnect_during_setup', 500);
  r.no_server_streams = await faultFlow('no_server_streams', 3000);
  r.stage_error_after_ms = await faultFlow('stage_error_after_ms:1500', 2500);
  r.restart = await restartFlow();
  r.realSdk = await compareWithRealSdk();
  // A token the server never issued.
  const bad = new Stage('not.a.token', { stageStreamsToPublish: () => [], shouldPublishParticipant: () => false, shouldSubscribeToParticipant: () => 'none' });
  try { await bad.join(); r.badToken = 'resolved'; } catch (e) { r.badToken = `rejected ${e.name} ${e.code} ${e.category}`; }
  window.result = r;
}
run().catch(e => { window.result = { error: String(e && e.stack || e) }; });
