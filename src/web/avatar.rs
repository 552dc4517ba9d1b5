//! `live_avatar` without a user stream: the session publishes a silent audio track from an
//! `AudioContext` (`avatarAudio` of `js/media.js`), into which `playAudio()` plays clips.
//! Dropping it closes the context, which ends the track.

use crate::core::error::{ErrorCode, SdkError};
use crate::web::error::{from_js, Result};
use crate::web::media::{self, Handle};
use js_sys::ArrayBuffer;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AudioBuffer, Blob, MediaStream};

/// The audio source of an avatar session.
pub struct AvatarAudio {
    handle: Handle,
}

impl Drop for AvatarAudio {
    fn drop(&mut self) {
        self.handle.stop();
    }
}

impl AvatarAudio {
    /// A new context and its (silent) destination stream.
    pub fn new() -> Result<AvatarAudio> {
        let handle = media::avatar_audio().map_err(|e| {
            from_js(
                ErrorCode::MediaError,
                "could not create the avatar's audio",
                &e,
            )
        })?;
        Ok(AvatarAudio { handle })
    }

    /// The stream to publish (one audio track).
    pub fn stream(&self) -> MediaStream {
        self.handle.stream()
    }

    /// Decodes `audio` (an `AudioBuffer`, a `Blob`/`File` or an `ArrayBuffer` of an encoded
    /// clip), plays it into the published track and resolves with its duration, s, when it
    /// has played.
    pub async fn play(&self, audio: JsValue) -> Result<f64> {
        let usable = audio.is_instance_of::<AudioBuffer>()
            || audio.is_instance_of::<Blob>()
            || audio.is_instance_of::<ArrayBuffer>();
        if !usable {
            return Err(SdkError::invalid_option(
                "audio",
                "an AudioBuffer, Blob, File or ArrayBuffer",
            ));
        }
        let duration = JsFuture::from(self.handle.play(&audio))
            .await
            .map_err(|e| from_js(ErrorCode::MediaError, "the audio could not be played", &e))?;
        Ok(duration.as_f64().unwrap_or(0.0))
    }
}
