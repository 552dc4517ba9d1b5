//! `live_avatar` without a user stream: the session publishes a silent audio track from an
//! `AudioContext`, into which `playAudio()` plays clips. Dropping it closes the context,
//! which ends the track.

use crate::core::error::{ErrorCode, SdkError};
use crate::web::error::{from_js, Result};
use futures_channel::oneshot;
use gloo_events::EventListener;
use js_sys::{ArrayBuffer, Promise};
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AudioBuffer, AudioContext, Blob, MediaStream, MediaStreamAudioDestinationNode};

/// The audio source of an avatar session.
pub struct AvatarAudio {
    context: AudioContext,
    destination: MediaStreamAudioDestinationNode,
}

impl Drop for AvatarAudio {
    fn drop(&mut self) {
        for t in self.destination.stream().get_tracks().iter() {
            if let Ok(t) = t.dyn_into::<web_sys::MediaStreamTrack>() {
                t.stop();
            }
        }
        let _ = self.context.close();
    }
}

impl AvatarAudio {
    /// A new context and its (silent) destination stream.
    pub fn new() -> Result<AvatarAudio> {
        let context = AudioContext::new().map_err(|e| {
            from_js(
                ErrorCode::MediaError,
                "could not create an AudioContext",
                &e,
            )
        })?;
        let destination = context.create_media_stream_destination().map_err(|e| {
            from_js(
                ErrorCode::MediaError,
                "could not create the audio destination",
                &e,
            )
        })?;
        Ok(AvatarAudio {
            context,
            destination,
        })
    }

    /// The stream to publish (one audio track).
    pub fn stream(&self) -> MediaStream {
        self.destination.stream()
    }

    /// Decodes `audio` (an `AudioBuffer`, a `Blob`/`File` or an `ArrayBuffer` of an encoded
    /// clip), plays it into the published track and resolves when it has played.
    pub async fn play(&self, audio: JsValue) -> Result<f64> {
        let buffer: AudioBuffer = if audio.is_instance_of::<AudioBuffer>() {
            audio.unchecked_into()
        } else {
            let bytes: ArrayBuffer = if let Some(b) = audio.dyn_ref::<Blob>() {
                JsFuture::from(b.array_buffer())
                    .await
                    .map_err(|e| from_js(ErrorCode::MediaError, "the audio could not be read", &e))?
                    .unchecked_into()
            } else if audio.is_instance_of::<ArrayBuffer>() {
                // decodeAudioData detaches its argument: keep the caller's buffer intact.
                audio.unchecked_into::<ArrayBuffer>().slice(0)
            } else {
                return Err(SdkError::invalid_option(
                    "audio",
                    "an AudioBuffer, Blob, File or ArrayBuffer",
                ));
            };
            let p: Promise = self.context.decode_audio_data(&bytes).map_err(|e| {
                from_js(ErrorCode::MediaError, "the audio could not be decoded", &e)
            })?;
            JsFuture::from(p)
                .await
                .map_err(|e| from_js(ErrorCode::MediaError, "the audio could not be decoded", &e))?
                .unchecked_into()
        };
        let _ = self.context.resume();
        let source = self.context.create_buffer_source().map_err(|e| {
            from_js(
                ErrorCode::MediaError,
                "could not create an audio source",
                &e,
            )
        })?;
        source.set_buffer(Some(&buffer));
        source
            .connect_with_audio_node(&self.destination)
            .map_err(|e| {
                from_js(
                    ErrorCode::MediaError,
                    "could not connect the audio source",
                    &e,
                )
            })?;
        let (tx, rx) = oneshot::channel::<()>();
        let mut tx = Some(tx);
        let _ended = EventListener::once(&source, "ended", move |_| {
            if let Some(tx) = tx.take() {
                let _ = tx.send(());
            }
        });
        source
            .start()
            .map_err(|e| from_js(ErrorCode::MediaError, "could not start the audio", &e))?;
        // Resolves when the clip ended; if the context closes first (disconnect) the
        // listener is dropped with it and this reports the interruption.
        rx.await
            .map_err(|_| SdkError::new(ErrorCode::Aborted, "playback was interrupted"))?;
        Ok(buffer.duration())
    }
}
