// The echo check page's script (external: the server's default CSP forbids inline scripts).
import { markedCanvasStream, readMarkers } from './markers.js';
window.result = null; window.log = [];
async function run() {
  const W = 320, H = 240;
  const marked = markedCanvasStream(W, H);
  const stream = marked.stream;
  const audio = await navigator.mediaDevices.getUserMedia({audio: true});
  stream.addTrack(audio.getAudioTracks()[0]);
  const ws = new WebSocket(`ws://${location.host}/v1/stream?api_key=k&model=mirage`);
  const msgs = [];
  const pc = new RTCPeerConnection({iceServers: []});
  stream.getTracks().forEach(t => pc.addTrack(t, stream));
  for (const tr of pc.getTransceivers()) {
    if (tr.sender.track && tr.sender.track.kind === 'video') {
      const caps = RTCRtpReceiver.getCapabilities('video').codecs;
      tr.setCodecPreferences([...caps.filter(c => /vp8/i.test(c.mimeType)), ...caps.filter(c => !/vp8/i.test(c.mimeType))]);
    }
  }
  pc.onicecandidate = e => ws.send(JSON.stringify({type: 'ice-candidate', candidate: e.candidate ? e.candidate.toJSON() : null}));
  const v = document.getElementById('v');
  pc.ontrack = e => { if (e.track.kind === 'video') v.srcObject = new MediaStream([e.track]); };
  await new Promise(r => ws.onopen = r);
  ws.onmessage = async ev => {
    const m = JSON.parse(ev.data); msgs.push(m.type);
    if (m.type === 'answer') await pc.setRemoteDescription({type: 'answer', sdp: m.sdp});
    if (m.type === 'ice-candidate' && m.candidate) { try { await pc.addIceCandidate(m.candidate); } catch (e) { log.push('addIce ' + e); } }
    if (m.type === 'metrics_report') window.lastMetrics = m;
  };
  const offer = await pc.createOffer(); await pc.setLocalDescription(offer);
  ws.send(JSON.stringify({type: 'offer', sdp: offer.sdp}));
  // Read markers from the received video.
  const markers = readMarkers(v);
  await new Promise(r => setTimeout(r, 8000));
  const stats = await pc.getStats(); let inbound = {}, pair = {};
  stats.forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'video') inbound = {framesDecoded: s.framesDecoded, codec: s.codecId, w: s.frameWidth, h: s.frameHeight};
                       if (s.type === 'candidate-pair' && s.nominated) pair = {state: s.state, local: s.localCandidateId, remote: s.remoteCandidateId}; });
  const codecs = []; stats.forEach(s => { if (s.type === 'codec') codecs.push(s.mimeType); });
  window.result = {conn: pc.connectionState, msgs: [...new Set(msgs)], markersSeen: markers.seen.size, maxSeq: Math.max(...markers.seen), sentSeq: marked.seq, corrupted: markers.corrupted, reads: markers.reads, inbound, codecs, pair, metrics: window.lastMetrics, log};
}
run().catch(e => window.result = {error: String(e), log});
