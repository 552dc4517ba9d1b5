//! The realtime model registry.

use crate::core::error::SdkError;
use serde::{Deserialize, Serialize};

/// A realtime model: its name, URL path, frame rate and frame size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelDefinition {
    /// Model name, sent as the `model` query parameter.
    pub name: String,
    /// URL path of the session endpoint, e.g. `/v1/stream`.
    pub url_path: String,
    /// Frames per second the model runs at.
    pub fps: u32,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
}

/// The path every realtime model uses.
pub const STREAM_PATH: &str = "/v1/stream";

const REGISTRY: [(&str, u32, u32, u32); 5] = [
    ("mirage", 25, 1280, 704),
    ("mirage_v2", 22, 1280, 704),
    ("lucy_v2v_720p_rt", 25, 1280, 704),
    ("lucy_2_rt", 20, 1280, 720),
    ("live_avatar", 25, 1280, 720),
];

fn entry((name, fps, width, height): (&str, u32, u32, u32)) -> ModelDefinition {
    ModelDefinition {
        name: name.to_string(),
        url_path: STREAM_PATH.to_string(),
        fps,
        width,
        height,
    }
}

/// Every built-in realtime model.
pub fn all() -> Vec<ModelDefinition> {
    REGISTRY.into_iter().map(entry).collect()
}

/// The built-in model called `name`.
pub fn realtime(name: &str) -> Result<ModelDefinition, SdkError> {
    REGISTRY
        .into_iter()
        .find(|m| m.0 == name)
        .map(entry)
        .ok_or_else(|| {
            let names: Vec<&str> = REGISTRY.iter().map(|m| m.0).collect();
            SdkError::invalid_option(
                "model",
                &format!("one of {} (got \"{name}\")", names.join(", ")),
            )
        })
}

impl ModelDefinition {
    /// Checks a custom model definition: non-empty name, a path starting with `/`,
    /// fps 1..=120, width and height 16..=4096.
    pub fn validate(self) -> Result<Self, SdkError> {
        if self.name.trim().is_empty() {
            return Err(SdkError::invalid_option("model.name", "a non-empty string"));
        }
        if !self.url_path.starts_with('/') || self.url_path.contains(['?', '#', ' ']) {
            return Err(SdkError::invalid_option(
                "model.urlPath",
                "a URL path starting with \"/\"",
            ));
        }
        if !(1..=120).contains(&self.fps) {
            return Err(SdkError::invalid_option(
                "model.fps",
                "an integer from 1 to 120",
            ));
        }
        for (field, v) in [("model.width", self.width), ("model.height", self.height)] {
            if !(16..=4096).contains(&v) {
                return Err(SdkError::invalid_option(
                    field,
                    "an integer from 16 to 4096",
                ));
            }
        }
        Ok(self)
    }

    /// True for models that send audio only and receive audio and video.
    pub fn is_avatar(&self) -> bool {
        self.name == "live_avatar"
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn registry_has_the_five_models() {
        let m = realtime("lucy_2_rt").unwrap();
        assert_eq!((m.fps, m.width, m.height), (20, 1280, 720));
        assert_eq!(m.url_path, "/v1/stream");
        assert_eq!(realtime("mirage_v2").unwrap().fps, 22);
        assert_eq!(all().len(), 5);
        assert!(realtime("live_avatar").unwrap().is_avatar());
    }

    #[test]
    fn unknown_model_names_the_choices() {
        let e = realtime("nope").unwrap_err();
        assert!(
            e.message.contains("`model`")
                && e.message.contains("mirage")
                && e.message.contains("nope")
        );
    }

    #[test]
    fn custom_definitions_are_checked() {
        let ok = ModelDefinition {
            name: "x".into(),
            url_path: "/v1/custom".into(),
            fps: 30,
            width: 640,
            height: 360,
        };
        assert!(ok.clone().validate().is_ok());
        let e = ModelDefinition {
            fps: 0,
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.message.contains("model.fps"));
        let e = ModelDefinition {
            url_path: "v1".into(),
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.message.contains("model.urlPath"));
        let e = ModelDefinition { height: 5000, ..ok }
            .validate()
            .unwrap_err();
        assert!(e.message.contains("model.height"));
    }

    #[test]
    fn definitions_serialize_camel_case() {
        let v = serde_json::to_value(realtime("mirage").unwrap()).unwrap();
        assert_eq!(v["urlPath"], "/v1/stream");
    }
}
