/*
 * IVS stage emulator of the realtime reference server.
 *
 * A stand-in for the part of the Amazon IVS Web Broadcast SDK (`amazon-ivs-web-broadcast`
 * 1.41.0) that real-time stages use: `Stage`, `LocalStageStream`, `RemoteStageStream`, the
 * strategy callbacks, the stage events and the enums, with the same names and string
 * values. Media is real WebRTC to the reference server, signaled over the WebSocket
 * `/v1/stage/{stage_id}/signal` derived from the participant token's `whip_url`
 * (server/src/stage_signal.rs describes the messages).
 *
 * Loaded as a classic script it defines the global `IVSBroadcastClient`, like the SDK's
 * UMD build; the server also serves it as an ES module (`/ivs-emulator.mjs`) with the same
 * named exports. Plain modern JS without eval: it runs under a strict
 * Content-Security-Policy.
 */
var IVSBroadcastClient = (function () {
  "use strict";

  const __version = "1.41.0-reference-emulator";

  // ---- Enums (values as in amazon-ivs-web-broadcast 1.41.0) ----

  const StageEvents = Object.freeze({
    STAGE_CONNECTION_STATE_CHANGED: "stageConnectionStateChanged",
    STAGE_PARTICIPANT_JOINED: "stageParticipantJoined",
    STAGE_PARTICIPANT_LEFT: "stageParticipantLeft",
    STAGE_PARTICIPANT_STREAMS_ADDED: "stageParticipantStreamsAdded",
    STAGE_PARTICIPANT_STREAMS_REMOVED: "stageParticipantStreamsRemoved",
    STAGE_STREAM_MUTE_CHANGED: "stageStreamMuteChanged",
    STAGE_STREAM_SEI_MESSAGE_RECEIVED: "stageStreamSeiMessageReceived",
    STAGE_STREAM_LAYERS_CHANGED: "stageStreamLayersChanged",
    STAGE_STREAM_LAYER_SELECTED: "stageStreamLayerSelected",
    STAGE_STREAM_ADAPTION_CHANGED: "stageStreamAdaptionChanged",
    STAGE_PARTICIPANT_SUBSCRIBE_STATE_CHANGED: "stageParticipantSubscribeStateChanged",
    STAGE_PARTICIPANT_PUBLISH_STATE_CHANGED: "stageParticipantPublishStateChanged",
    STAGE_SUBSCRIBER_COUNT_CHANGED: "stageSubscriberCountChanged",
    ERROR: "error",
    STAGE_LEFT: "stageLeft",
    STAGE_PARTICIPANT_METADATA_CHANGED: "stageParticipantMetadataChanged",
    STAGE_PARTICIPANT_SUBTITLE_CUE_RECEIVED: "stageParticipantSubtitleCueReceived",
  });

  const StageConnectionState = Object.freeze({
    DISCONNECTED: "disconnected",
    CONNECTING: "connecting",
    CONNECTED: "connected",
    ERRORED: "errored",
  });

  const ConnectionState = Object.freeze({
    CLOSED: "closed",
    COMPLETED: "completed",
    CONNECTED: "connected",
    CONNECTING: "connecting",
    DISCONNECTED: "disconnected",
    FAILED: "failed",
    IDLE: "idle",
    NEW: "new",
    NONE: "none",
  });

  const SubscribeType = Object.freeze({ NONE: "none", AUDIO_ONLY: "audio_only", AUDIO_VIDEO: "audio_video" });

  const StageSubscribeStreamType = Object.freeze({ AUDIO: "audio", VIDEO: "video", SUBTITLES: "subtitles" });

  const StreamType = Object.freeze({ AUDIO: "audio", VIDEO: "video", SUBTITLE: "subtitle" });

  const StageLeftReason = Object.freeze({
    UNKNOWN: "unknown",
    USER_INITIATED: "user-initiated",
    TOKEN_REUSED: "token-reused",
    PARTICIPANT_DISCONNECTED: "participant-disconnected",
    STAGE_DELETED: "stage-deleted",
    FAILED_EXCHANGE: "failed-exchange",
    REAL_TIME_CONNECTION_FORCED_LEAVE: "real-time-connection-forced-leave",
    REAL_TIME_CONNECTION_TOKEN_REVOCATION: "real-time-connection-token-revocation",
  });

  const StageErrorCategory = Object.freeze({
    JOIN_ERROR: "JOIN_ERROR",
    PUBLISH_ERROR: "PUBLISH_ERROR",
    SUBSCRIBE_ERROR: "SUBSCRIBE_ERROR",
  });

  // A numeric TypeScript enum: names to numbers and numbers back to names.
  const StageErrorCode = (function () {
    const names = [
      "TOKEN_MALFORMED", "TOKEN_EXPIRED", "TIMEOUT", "FAILED", "CANCELED", "STAGE_AT_CAPACITY",
      "CODEC_MISMATCH", "TOKEN_NOT_ALLOWED", "STAGE_DELETED", "PARTICIPANT_DISCONNECTED",
      "TOKEN_EXCHANGE_REQUEST_INVALID", "TOKEN_EXCHANGE_FAILED",
    ];
    const e = {};
    names.forEach(function (name, i) {
      e[name] = i + 1;
      e[i + 1] = name;
    });
    return Object.freeze(e);
  })();

  const ERROR_MESSAGES = {
    1: "Token is malformed",
    2: "Token expired and is no longer valid",
    3: "Operation timed out",
    4: "Operation failed",
    5: "Operation canceled",
    6: "Stage at capacity",
    7: "Client codec is not supported",
    8: "Token not allowed to perform operation",
    9: "Stage has been deleted, unable to join",
    10: "Participant has been disconnected, unable to join",
    11: "Token exchange failed due to invalid or incompatible token",
    12: "Token exchange failed",
  };

  const StageParticipantPublishState = Object.freeze({
    NOT_PUBLISHED: "not_published",
    ATTEMPTING_PUBLISH: "attempting_publish",
    PUBLISHED: "published",
    ERRORED: "errored",
  });

  const StageParticipantSubscribeState = Object.freeze({
    NOT_SUBSCRIBED: "not_subscribed",
    ATTEMPTING_SUBSCRIBE: "attempting_subscribe",
    SUBSCRIBED: "subscribed",
    ERRORED: "errored",
  });

  const JitterBufferMinDelay = Object.freeze({ DEFAULT: "default", LOW: "low", MEDIUM: "medium", HIGH: "high" });

  const LocalStageStreamEvents = Object.freeze({
    LOCAL_STREAM_MUTE_CHANGED: "localStreamMutedChanged",
    LOCAL_STREAM_INSERT_SEI_MSG_REQUEST: "localStreamInsertSeiMsgRequest",
  });

  const RemoteStageStreamEvents = Object.freeze({
    LAYERS_CHANGED: "LAYERS_CHANGED",
    LAYER_SELECTED: "LAYER_SELECTED",
    ADAPTION_CHANGED: "ADAPTION_CHANGED",
  });

  const StageStreamLayerSelectedReason = Object.freeze({ UNAVAILABLE: "unavailable", SELECTED: "selected" });

  const StreamCongestionMode = Object.freeze({
    BALANCED: "balanced",
    MAINTAIN_FRAMERATE: "maintain-framerate",
    MAINTAIN_RESOLUTION: "maintain-resolution",
  });

  const STAGE_MAX_AUDIO_BITRATE_KBPS = 128;
  const STAGE_MAX_AUDIO_BITRATE_KBPS_DEFAULT = 64;
  const STAGE_MAX_BITRATE = 2500;
  const STAGE_MAX_FRAMERATE = 30;
  const STAGE_MAX_RESOLUTION = 1280;
  const STAGE_MIN_AUDIO_BITRATE_KBPS = 12;
  const STAGE_MIN_BITRATE = 50;
  const STAGE_MIN_FRAMERATE = 10;
  const STAGE_MIN_RESOLUTION = 160;

  // Jitter buffer presets in ms (the SDK's tables, while publishing / subscribe only).
  const JITTER_PRESETS_PUBLISHING = { default: 0, low: 50, medium: 150, high: 250 };
  const JITTER_PRESETS_SUBSCRIBE_ONLY = { default: 0, low: 100, medium: 200, high: 300 };

  const JOIN_TIMEOUT_MS = 15000;

  // ---- Helpers ----

  /** Reports an exception from application code without breaking the emulator's state. */
  function report(error) {
    queueMicrotask(function () {
      throw error;
    });
  }

  /** Calls an optional application callback; a throw is reported and gives `fallback`. */
  function callOptional(target, name, args, fallback) {
    if (!target || typeof target[name] !== "function") return fallback;
    try {
      return target[name].apply(target, args);
    } catch (e) {
      report(e);
      return fallback;
    }
  }

  /** An Error shaped like the SDK's StageError: name, code, category, message. */
  class StageError extends Error {
    constructor(code, category, detail) {
      const base = ERROR_MESSAGES[code] || "Operation failed";
      super("[" + category + "] " + base + (detail && detail !== base ? ": " + detail : ""));
      this.name = "StageError";
      this.code = code;
      this.category = category;
      this.details = detail || "";
    }
  }

  function decodeToken(token) {
    const parts = token.split(".");
    if (parts.length !== 3) throw new Error("not a JWT");
    let b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    if (!claims || typeof claims !== "object" || typeof claims.whip_url !== "string") {
      throw new Error("the token has no whip_url");
    }
    return claims;
  }

  /** The stage signaling URL: the token's `whip_url` (http[s]://…/v1/stage/ID) + /signal. */
  function signalingUrl(whipUrl) {
    const url = new URL(whipUrl);
    if (url.protocol === "http:") url.protocol = "ws:";
    else if (url.protocol === "https:") url.protocol = "wss:";
    else throw new Error("unsupported whip_url scheme " + url.protocol);
    url.pathname = url.pathname.replace(/\/+$/, "") + "/signal";
    url.search = "";
    url.hash = "";
    return url.toString();
  }

  /** A StageParticipantInfo from the signaling's participant description. */
  function participantInfo(p, isLocal) {
    return {
      id: p.id,
      userId: p.user_id || "",
      attributes: Object.assign({}, p.attributes || {}),
      capabilities: new Set(p.capabilities || []),
      isLocal: isLocal,
      userInfo: {},
      videoStopped: false,
      audioMuted: false,
      isPublishing: !!p.is_publishing,
    };
  }

  /** The kinds (["video", "audio"] subset) a shouldSubscribeToParticipant answer asks for. */
  function subscribeKinds(answer) {
    if (Array.isArray(answer)) {
      return ["video", "audio"].filter(function (k) {
        return answer.indexOf(k) >= 0;
      });
    }
    if (answer === SubscribeType.AUDIO_VIDEO) return ["video", "audio"];
    if (answer === SubscribeType.AUDIO_ONLY) return ["audio"];
    return [];
  }

  function jitterTargetMs(config, publishing) {
    const minDelay = config && config.jitterBuffer ? config.jitterBuffer.minDelay : undefined;
    if (typeof minDelay === "number" && isFinite(minDelay) && minDelay >= 0) return minDelay;
    if (typeof minDelay === "string") {
      const table = publishing ? JITTER_PRESETS_PUBLISHING : JITTER_PRESETS_SUBSCRIBE_ONLY;
      if (minDelay in table) return table[minDelay];
    }
    return undefined;
  }

  function applyJitterTarget(receiver, ms) {
    if (ms === undefined) return;
    try {
      if ("jitterBufferTarget" in receiver) receiver.jitterBufferTarget = ms;
      else if ("playoutDelayHint" in receiver) receiver.playoutDelayHint = ms / 1000;
    } catch (e) {
      // A value the browser refuses leaves its default in place.
    }
  }

  // ---- Events ----

  class TypedEmitter {
    constructor() {
      this._listeners = new Map();
    }
    on(event, callback, context) {
      if (typeof callback !== "function") return;
      if (!this._listeners.has(event)) this._listeners.set(event, []);
      this._listeners.get(event).push({ callback: callback, context: context });
    }
    off(event, callback, context) {
      const list = this._listeners.get(event);
      if (!list) return;
      const i = list.findIndex(function (l) {
        return l.callback === callback && (context === undefined || l.context === context);
      });
      if (i >= 0) list.splice(i, 1);
      if (!list.length) this._listeners.delete(event);
    }
    hasListenersFor(event) {
      const list = this._listeners.get(event);
      return !!(list && list.length);
    }
    emit(event) {
      const args = Array.prototype.slice.call(arguments, 1);
      const list = (this._listeners.get(event) || []).slice();
      for (const l of list) {
        try {
          l.callback.apply(l.context, args);
        } catch (e) {
          report(e);
        }
      }
    }
    removeAllListeners() {
      this._listeners.clear();
    }
  }

  // ---- Streams ----

  class StageStream extends TypedEmitter {
    constructor(track, getStats) {
      super();
      this.id = track.id;
      this.streamType = track.kind === "audio" ? StreamType.AUDIO : StreamType.VIDEO;
      this.mediaStreamTrack = track;
      this.isMuted = !track.enabled;
      this._getStats = getStats;
      const self = this;
      this.setGetStats = function (fn) {
        self._getStats = fn;
      };
      this.requestRTCStats = function () {
        return self._getStats ? Promise.resolve(self._getStats()) : Promise.resolve(undefined);
      };
      this.getStats = this.requestRTCStats;
    }
    cleanup() {
      this._getStats = undefined;
    }
  }

  class LocalStageStream extends StageStream {
    constructor(track, config) {
      if (!track || (track.kind !== "audio" && track.kind !== "video")) {
        throw new TypeError("LocalStageStream needs an audio or video MediaStreamTrack");
      }
      super(track);
      this.mediaConfig = Object.assign({}, config || {});
      const self = this;
      this.setMuted = function (mute) {
        const muted = !!mute;
        self.mediaStreamTrack.enabled = !muted;
        if (self.isMuted === muted) return;
        self.isMuted = muted;
        self.emit(LocalStageStreamEvents.LOCAL_STREAM_MUTE_CHANGED, self);
      };
      this.insertSeiMessage = function () {
        return Promise.reject(new Error("SEI messages are not emulated"));
      };
      this.requestQualityStats = function () {
        return Promise.resolve(undefined);
      };
    }
  }

  class RemoteStageStream extends TypedEmitter {
    constructor(receiver, participant) {
      super();
      const track = receiver.track;
      this._receiver = receiver;
      this._id = track.id;
      this._participantInfo = participant;
      this._streamType = track.kind === "audio" ? StreamType.AUDIO : StreamType.VIDEO;
      this._track = track;
      const self = this;
      this.setGetStats = function () {};
      this.requestRTCStats = function () {
        return self._receiver ? self._receiver.getStats() : Promise.resolve(undefined);
      };
      this.getStats = this.requestRTCStats;
      this.requestQualityStats = function () {
        return Promise.resolve(undefined);
      };
      this.setMuted = function () {};
      this.getLayers = function () {
        return [];
      };
      this.getSelectedLayer = function () {
        return undefined;
      };
      this.getLowestQualityLayer = function () {
        return undefined;
      };
      this.getHighestQualityLayer = function () {
        return undefined;
      };
    }
    get id() {
      return this._id;
    }
    get participantInfo() {
      return this._participantInfo;
    }
    get streamType() {
      return this._streamType;
    }
    get mediaStreamTrack() {
      return this._track;
    }
    get isMuted() {
      return false;
    }
    set isMuted(muted) {}
    get isAdapting() {
      return false;
    }
    cleanup() {
      this._receiver = undefined;
      this.removeAllListeners();
    }
  }

  // ---- Stage ----

  function newPeerConnection() {
    return new RTCPeerConnection({ iceServers: [] });
  }

  class Stage extends TypedEmitter {
    constructor(token, strategy, configuration) {
      super();
      if (typeof token !== "string") {
        const e = new Error("Stage token must be a string");
        e.name = "StageTokenTypeError";
        e.code = 19000;
        throw e;
      }
      this._token = token;
      this._strategy = strategy;
      this._configuration = configuration;
      this._state = StageConnectionState.DISCONNECTED;
      this._ws = null;
      this._local = null; // StageParticipantInfo of the local participant
      this._remotes = new Map(); // id -> {info, streams: [kinds], sub}
      this._publish = null; // {pc, streams, connected}
      this._pendingJoin = null;
      this._joinTimer = null;
      this._everConnected = false;
      this._fatal = null; // a fatal error the server announced, emitted when it disconnects us
      const self = this;
      this.leave = function () {
        self._leave();
      };
      this.refreshStrategy = function () {
        self._applyStrategy();
      };
    }

    replaceStrategy(strategy) {
      this._strategy = strategy;
      this._applyStrategy();
    }

    join() {
      if (this._state === StageConnectionState.CONNECTING || this._state === StageConnectionState.CONNECTED) {
        return this._pendingJoin ? this._pendingJoin.promise : Promise.resolve();
      }
      let url;
      try {
        url = signalingUrl(decodeToken(this._token).whip_url);
      } catch (e) {
        return Promise.reject(new StageError(StageErrorCode.TOKEN_MALFORMED, StageErrorCategory.JOIN_ERROR, String(e && e.message)));
      }
      const pending = {};
      pending.promise = new Promise(function (resolve, reject) {
        pending.resolve = resolve;
        pending.reject = reject;
      });
      this._pendingJoin = pending;
      this._local = null;
      this._remotes = new Map();
      this._everConnected = false;
      this._setState(StageConnectionState.CONNECTING);
      let ws;
      try {
        ws = new WebSocket(url);
      } catch (e) {
        this._fail(new StageError(StageErrorCode.FAILED, StageErrorCategory.JOIN_ERROR, String(e && e.message)), null, false);
        return pending.promise;
      }
      this._ws = ws;
      const self = this;
      ws.addEventListener("open", function () {
        if (self._ws === ws) self._send({ type: "join", token: self._token });
      });
      ws.addEventListener("message", function (ev) {
        if (self._ws !== ws) return;
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch (e) {
          return;
        }
        self._onMessage(msg);
      });
      ws.addEventListener("close", function () {
        if (self._ws !== ws) return;
        self._ws = null;
        const detail = self._everConnected ? "stage signaling connection lost" : "stage signaling connection failed";
        const error = self._fatal || new StageError(StageErrorCode.FAILED, StageErrorCategory.JOIN_ERROR, detail);
        self._fail(error, StageLeftReason.UNKNOWN, false);
      });
      this._joinTimer = setTimeout(function () {
        self._joinTimer = null;
        if (self._state === StageConnectionState.CONNECTING) {
          self._fail(new StageError(StageErrorCode.TIMEOUT, StageErrorCategory.JOIN_ERROR, "no answer to join"), null, false);
        }
      }, JOIN_TIMEOUT_MS);
      return pending.promise;
    }

    _send(msg) {
      if (this._ws && this._ws.readyState === WebSocket.OPEN) this._ws.send(JSON.stringify(msg));
    }

    _setState(state) {
      if (this._state === state) return;
      this._state = state;
      this.emit(StageEvents.STAGE_CONNECTION_STATE_CHANGED, state);
    }

    _settleJoin(error) {
      if (this._joinTimer) {
        clearTimeout(this._joinTimer);
        this._joinTimer = null;
      }
      const pending = this._pendingJoin;
      this._pendingJoin = null;
      if (!pending) return;
      if (error) pending.reject(error);
      else pending.resolve();
    }

    _onMessage(msg) {
      switch (msg.type) {
        case "joined":
          return this._onJoined(msg);
        case "participant_joined":
          return this._onRemoteJoined(msg.participant);
        case "participant_updated":
          return this._onRemoteUpdated(msg.participant);
        case "participant_left":
          return this._onRemoteLeft(msg.participant_id);
        case "answer":
          return this._onAnswer(msg.target, msg.sdp);
        case "candidate":
          return this._onCandidate(msg.target, msg.candidate);
        case "error": {
          const category = msg.category || StageErrorCategory.JOIN_ERROR;
          const error = new StageError(msg.code || StageErrorCode.FAILED, category, msg.message);
          if (msg.fatal) {
            this._fatal = error;
            return;
          }
          if (category === StageErrorCategory.PUBLISH_ERROR && this._publish) {
            this._unpublish(false);
            this.emit(StageEvents.STAGE_PARTICIPANT_PUBLISH_STATE_CHANGED, this._local, StageParticipantPublishState.ERRORED);
          }
          this.emit(StageEvents.ERROR, error);
          return;
        }
        case "left":
          return this._fail(this._fatal, msg.reason || StageLeftReason.UNKNOWN, true);
        default:
          return;
      }
    }

    _onJoined(msg) {
      this._local = participantInfo(msg.participant, true);
      this._everConnected = true;
      this._setState(StageConnectionState.CONNECTED);
      this._settleJoin(null);
      this.emit(StageEvents.STAGE_PARTICIPANT_JOINED, this._local);
      for (const p of msg.participants || []) this._onRemoteJoined(p, true);
      this._applyStrategy();
    }

    _onRemoteJoined(p, batch) {
      if (!p || !p.id || (this._local && p.id === this._local.id)) return;
      const remote = { info: participantInfo(p, false), streams: p.streams || [], sub: null };
      this._remotes.set(p.id, remote);
      this.emit(StageEvents.STAGE_PARTICIPANT_JOINED, remote.info);
      if (!batch) this._evaluateSubscription(remote);
    }

    _onRemoteUpdated(p) {
      const remote = p && this._remotes.get(p.id);
      if (!remote) return this._onRemoteJoined(p);
      remote.info.isPublishing = !!p.is_publishing;
      remote.streams = p.streams || [];
      if (!remote.info.isPublishing) this._unsubscribe(remote, false);
      this._evaluateSubscription(remote);
    }

    _onRemoteLeft(id) {
      const remote = this._remotes.get(id);
      if (!remote) return;
      this._unsubscribe(remote, false);
      this._remotes.delete(id);
      this.emit(StageEvents.STAGE_PARTICIPANT_LEFT, remote.info);
    }

    _applyStrategy() {
      if (this._state !== StageConnectionState.CONNECTED || !this._local) return;
      this._evaluatePublish();
      for (const remote of this._remotes.values()) this._evaluateSubscription(remote);
    }

    // -- publishing --

    _evaluatePublish() {
      const local = this._local;
      let wanted = [];
      if (callOptional(this._strategy, "shouldPublishParticipant", [local], false)) {
        const streams = callOptional(this._strategy, "stageStreamsToPublish", [], []);
        wanted = (Array.isArray(streams) ? streams : []).filter(function (s, i, all) {
          return s instanceof LocalStageStream && s.mediaStreamTrack.readyState !== "ended" && all.indexOf(s) === i;
        });
      }
      const current = this._publish ? this._publish.streams : [];
      const same =
        wanted.length === current.length &&
        wanted.every(function (s) {
          return current.indexOf(s) >= 0;
        });
      if (same) return;
      this._unpublish(true);
      if (!wanted.length) return;
      if (!local.capabilities.has("publish")) {
        const detail = "this participant's token does not allow publishing";
        this.emit(StageEvents.ERROR, new StageError(StageErrorCode.TOKEN_NOT_ALLOWED, StageErrorCategory.PUBLISH_ERROR, detail));
        return;
      }
      this._startPublish(wanted);
    }

    _startPublish(streams) {
      const pc = newPeerConnection();
      const pub = { pc: pc, streams: streams, connected: false };
      this._publish = pub;
      for (const s of streams) {
        const transceiver = pc.addTransceiver(s.mediaStreamTrack, { direction: "sendonly" });
        s.setGetStats(function () {
          return transceiver.sender.getStats();
        });
      }
      this.emit(StageEvents.STAGE_PARTICIPANT_PUBLISH_STATE_CHANGED, this._local, StageParticipantPublishState.ATTEMPTING_PUBLISH);
      this._wirePeer(pc, "publish", function () {
        return this._publish === pub;
      }, function (state) {
        if (state === "connected" && !pub.connected) {
          pub.connected = true;
          this._local.isPublishing = true;
          this.emit(StageEvents.STAGE_PARTICIPANT_PUBLISH_STATE_CHANGED, this._local, StageParticipantPublishState.PUBLISHED);
          this.emit(StageEvents.STAGE_PARTICIPANT_STREAMS_ADDED, this._local, streams.slice());
        } else if (state === "failed") {
          this.emit(StageEvents.ERROR, new StageError(StageErrorCode.FAILED, StageErrorCategory.PUBLISH_ERROR, "publish connection failed"));
          this.emit(StageEvents.STAGE_PARTICIPANT_PUBLISH_STATE_CHANGED, this._local, StageParticipantPublishState.ERRORED);
        }
      });
      const self = this;
      pc.createOffer()
        .then(function (offer) {
          return pc.setLocalDescription(offer).then(function () {
            if (self._publish === pub) self._send({ type: "publish", sdp: offer.sdp });
          });
        })
        .catch(function (e) {
          if (self._publish !== pub) return;
          self.emit(StageEvents.ERROR, new StageError(StageErrorCode.FAILED, StageErrorCategory.PUBLISH_ERROR, String(e && e.message)));
        });
    }

    _unpublish(notify) {
      const pub = this._publish;
      if (!pub) return;
      this._publish = null;
      pub.pc.close();
      for (const s of pub.streams) s.setGetStats(undefined);
      if (notify) this._send({ type: "unpublish" });
      if (pub.connected && this._local) {
        this._local.isPublishing = false;
        this.emit(StageEvents.STAGE_PARTICIPANT_STREAMS_REMOVED, this._local, pub.streams.slice());
        this.emit(StageEvents.STAGE_PARTICIPANT_PUBLISH_STATE_CHANGED, this._local, StageParticipantPublishState.NOT_PUBLISHED);
      }
    }

    // -- subscribing --

    _evaluateSubscription(remote) {
      if (this._state !== StageConnectionState.CONNECTED || !this._local) return;
      let kinds = [];
      if (remote.info.isPublishing && this._local.capabilities.has("subscribe")) {
        const answer = callOptional(this._strategy, "shouldSubscribeToParticipant", [remote.info], SubscribeType.NONE);
        kinds = subscribeKinds(answer).filter(function (k) {
          return remote.streams.indexOf(k) >= 0;
        });
      }
      const current = remote.sub ? remote.sub.kinds : [];
      if (kinds.length === current.length && kinds.every(function (k) { return current.indexOf(k) >= 0; })) {
        if (remote.sub) this._applySubscribeConfiguration(remote);
        return;
      }
      this._unsubscribe(remote, true);
      if (kinds.length) this._startSubscribe(remote, kinds);
    }

    _applySubscribeConfiguration(remote) {
      const config = callOptional(this._strategy, "subscribeConfiguration", [remote.info], undefined);
      const ms = jitterTargetMs(config, !!this._publish);
      for (const t of remote.sub.pc.getTransceivers()) applyJitterTarget(t.receiver, ms);
    }

    _startSubscribe(remote, kinds) {
      const pc = newPeerConnection();
      const sub = { pc: pc, kinds: kinds, streams: null };
      remote.sub = sub;
      for (const kind of kinds) pc.addTransceiver(kind, { direction: "recvonly" });
      this._applySubscribeConfiguration(remote);
      this.emit(StageEvents.STAGE_PARTICIPANT_SUBSCRIBE_STATE_CHANGED, remote.info, StageParticipantSubscribeState.ATTEMPTING_SUBSCRIBE);
      this._wirePeer(pc, remote.info.id, function () {
        return remote.sub === sub;
      }, function (state) {
        if (state === "connected" && !sub.streams) {
          sub.streams = pc.getTransceivers().map(function (t) {
            return new RemoteStageStream(t.receiver, remote.info);
          });
          this.emit(StageEvents.STAGE_PARTICIPANT_SUBSCRIBE_STATE_CHANGED, remote.info, StageParticipantSubscribeState.SUBSCRIBED);
          this.emit(StageEvents.STAGE_PARTICIPANT_STREAMS_ADDED, remote.info, sub.streams.slice());
        } else if (state === "failed") {
          this.emit(StageEvents.ERROR, new StageError(StageErrorCode.FAILED, StageErrorCategory.SUBSCRIBE_ERROR, "subscribe connection failed"));
          this.emit(StageEvents.STAGE_PARTICIPANT_SUBSCRIBE_STATE_CHANGED, remote.info, StageParticipantSubscribeState.ERRORED);
        }
      });
      const self = this;
      pc.createOffer()
        .then(function (offer) {
          return pc.setLocalDescription(offer).then(function () {
            if (remote.sub === sub) self._send({ type: "subscribe", participant_id: remote.info.id, sdp: offer.sdp });
          });
        })
        .catch(function (e) {
          if (remote.sub !== sub) return;
          self.emit(StageEvents.ERROR, new StageError(StageErrorCode.FAILED, StageErrorCategory.SUBSCRIBE_ERROR, String(e && e.message)));
        });
    }

    _unsubscribe(remote, notify) {
      const sub = remote.sub;
      if (!sub) return;
      remote.sub = null;
      sub.pc.close();
      if (notify) this._send({ type: "unsubscribe", participant_id: remote.info.id });
      if (sub.streams) {
        this.emit(StageEvents.STAGE_PARTICIPANT_STREAMS_REMOVED, remote.info, sub.streams.slice());
        this.emit(StageEvents.STAGE_PARTICIPANT_SUBSCRIBE_STATE_CHANGED, remote.info, StageParticipantSubscribeState.NOT_SUBSCRIBED);
        for (const s of sub.streams) s.cleanup();
      }
    }

    // -- peer connections --

    /** Trickles `pc`'s candidates for `target` and reports its connection state. */
    _wirePeer(pc, target, isCurrent, onState) {
      const self = this;
      pc.addEventListener("icecandidate", function (ev) {
        if (!isCurrent.call(self)) return;
        self._send({ type: "candidate", target: target, candidate: ev.candidate ? ev.candidate.toJSON() : null });
      });
      pc.addEventListener("connectionstatechange", function () {
        if (isCurrent.call(self)) onState.call(self, pc.connectionState);
      });
    }

    _peerFor(target) {
      if (target === "publish") return this._publish ? this._publish.pc : null;
      const remote = this._remotes.get(target);
      return remote && remote.sub ? remote.sub.pc : null;
    }

    _onAnswer(target, sdp) {
      const pc = this._peerFor(target);
      if (!pc || typeof sdp !== "string") return;
      const self = this;
      pc.setRemoteDescription({ type: "answer", sdp: sdp }).catch(function (e) {
        const category = target === "publish" ? StageErrorCategory.PUBLISH_ERROR : StageErrorCategory.SUBSCRIBE_ERROR;
        self.emit(StageEvents.ERROR, new StageError(StageErrorCode.FAILED, category, String(e && e.message)));
      });
    }

    _onCandidate(target, candidate) {
      const pc = this._peerFor(target);
      if (!pc || !candidate) return;
      pc.addIceCandidate(candidate).catch(function () {
        // An unusable candidate is not an error of the stage.
      });
    }

    // -- leaving --

    /** Closes every peer connection, telling listeners which streams went away. */
    _closeMedia() {
      for (const remote of this._remotes.values()) this._unsubscribe(remote, false);
      this._unpublish(false);
    }

    _closeSocket() {
      const ws = this._ws;
      this._ws = null;
      if (ws) {
        try {
          ws.close(1000, "leave");
        } catch (e) {
          // Already closing.
        }
      }
    }

    _leave() {
      if (this._state === StageConnectionState.DISCONNECTED || this._state === StageConnectionState.ERRORED) return;
      this._send({ type: "leave" });
      this._closeSocket();
      this._closeMedia();
      this._settleJoin(new StageError(StageErrorCode.CANCELED, StageErrorCategory.JOIN_ERROR, "left before the join completed"));
      const wasConnected = this._everConnected;
      this._setState(StageConnectionState.DISCONNECTED);
      if (wasConnected) this.emit(StageEvents.STAGE_LEFT, StageLeftReason.USER_INITIATED);
    }

    /**
     * The stage ends without the application asking: `error` (if any) is emitted, the
     * state becomes errored (disconnected when the server only disconnected us, without
     * an error), and STAGE_LEFT follows with `reason` when the server sent one
     * (`fromServer`) or the stage had been connected.
     */
    _fail(error, reason, fromServer) {
      if (this._state === StageConnectionState.DISCONNECTED || this._state === StageConnectionState.ERRORED) return;
      this._fatal = null;
      this._closeSocket();
      this._closeMedia();
      if (error) this.emit(StageEvents.ERROR, error);
      this._settleJoin(error || new StageError(StageErrorCode.PARTICIPANT_DISCONNECTED, StageErrorCategory.JOIN_ERROR, "disconnected by the stage"));
      const wasConnected = this._everConnected;
      const hadReason = reason !== null && reason !== undefined;
      this._setState(error ? StageConnectionState.ERRORED : StageConnectionState.DISCONNECTED);
      if (hadReason && (wasConnected || fromServer)) this.emit(StageEvents.STAGE_LEFT, reason);
    }
  }

  function isSupported() {
    return typeof RTCPeerConnection === "function" && typeof WebSocket === "function";
  }

  const api = {
    Stage,
    LocalStageStream,
    RemoteStageStream,
    StageStream,
    StageEvents,
    StageConnectionState,
    ConnectionState,
    SubscribeType,
    StageSubscribeStreamType,
    StreamType,
    StageLeftReason,
    StageErrorCategory,
    StageErrorCode,
    StageParticipantPublishState,
    StageParticipantSubscribeState,
    JitterBufferMinDelay,
    LocalStageStreamEvents,
    RemoteStageStreamEvents,
    StageStreamLayerSelectedReason,
    StreamCongestionMode,
    STAGE_MAX_AUDIO_BITRATE_KBPS,
    STAGE_MAX_AUDIO_BITRATE_KBPS_DEFAULT,
    STAGE_MAX_BITRATE,
    STAGE_MAX_FRAMERATE,
    STAGE_MAX_RESOLUTION,
    STAGE_MIN_AUDIO_BITRATE_KBPS,
    STAGE_MIN_BITRATE,
    STAGE_MIN_FRAMERATE,
    STAGE_MIN_RESOLUTION,
    isSupported,
    __version,
  };
  return Object.freeze(api);
})();
