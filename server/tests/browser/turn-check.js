// The TURN relay check's page (external: the server's default CSP forbids inline scripts).
// Opens a session with `ice_transport_policy` from this page's `?policy=`, takes the
// server's `turn_config`, and sends a marker-stamped canvas stream over an
// RTCPeerConnection limited to relay candidates; reads the markers back from the echo and
// reports the selected candidate pair from getStats(). Sets `window.result`.
import { markedCanvasStream, readMarkers } from './markers.js';

window.result = null;
const log = [];

function waitFor(ws, type, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} within ${ms} ms`)), ms);
    ws.addEventListener('message', function on(ev) {
      const m = JSON.parse(ev.data);
      if (m.type === type) { clearTimeout(timer); ws.removeEventListener('message', on); resolve(m); }
    });
  });
}

async function selectedPair(pc) {
  const stats = await pc.getStats();
  let pairId = null;
  stats.forEach(s => { if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId; });
  const pair = pairId && stats.get(pairId);
  if (!pair) return null;
  const local = stats.get(pair.localCandidateId) || {};
  const remote = stats.get(pair.remoteCandidateId) || {};
  let framesDecoded = 0;
  stats.forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'video') framesDecoded = s.framesDecoded; });
  return {
    state: pair.state, bytesReceived: pair.bytesReceived, framesDecoded,
    local: { type: local.candidateType, protocol: local.protocol, relayProtocol: local.relayProtocol, address: local.address },
    remote: { type: remote.candidateType, protocol: remote.protocol, address: remote.address },
  };
}

async function run() {
  const policy = new URLSearchParams(location.search).get('policy') || 'all';
  const ws = new WebSocket(`ws://${location.host}/v1/stream?api_key=k&model=mirage&ice_transport_policy=${policy}`);
  const order = [];
  ws.addEventListener('message', ev => order.push(JSON.parse(ev.data).type));
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('websocket failed')); });
  const turn = await waitFor(ws, 'turn_config', 5000);
  const pc = new RTCPeerConnection({
    iceServers: [{ urls: turn.urls, username: turn.username, credential: turn.credential }],
    iceTransportPolicy: 'relay',
  });
  const marked = markedCanvasStream(320, 240);
  marked.stream.getTracks().forEach(t => pc.addTrack(t, marked.stream));
  const localCandidates = [];
  pc.onicecandidate = e => {
    if (e.candidate) localCandidates.push(e.candidate.candidate);
    ws.send(JSON.stringify({ type: 'ice-candidate', candidate: e.candidate ? e.candidate.toJSON() : null }));
  };
  const v = document.getElementById('v');
  pc.ontrack = e => { if (e.track.kind === 'video') v.srcObject = new MediaStream([e.track]); };
  ws.addEventListener('message', async ev => {
    const m = JSON.parse(ev.data);
    if (m.type === 'ice-candidate' && m.candidate) {
      try { await pc.addIceCandidate(m.candidate); } catch (err) { log.push(`addIceCandidate: ${err}`); }
    }
  });
  const answered = waitFor(ws, 'answer', 10000);
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  ws.send(JSON.stringify({ type: 'offer', sdp: offer.sdp }));
  await pc.setRemoteDescription({ type: 'answer', sdp: (await answered).sdp });
  const markers = readMarkers(v);
  const start = performance.now();
  while (performance.now() - start < 15000 && markers.seen.size < 50) await new Promise(r => setTimeout(r, 250));
  window.result = {
    policy, urls: turn.urls, username: turn.username, conn: pc.connectionState,
    turnConfigBeforeAnswer: order.indexOf('turn_config') >= 0 && order.indexOf('turn_config') < order.indexOf('answer'),
    localCandidates, pair: await selectedPair(pc),
    markersSeen: markers.seen.size, corrupted: markers.corrupted, log,
  };
  pc.close(); ws.close();
}
run().catch(e => { window.result = { error: String(e), log }; });
