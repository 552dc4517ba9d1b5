//! The realtime model registry (`shared/API.md` §1.2, values from `PROTOCOL.md`).

use crate::core::error::{join, ErrorCode, SdkError};
use crate::core::json::{Json, Obj};

/// A realtime model: its name, URL path, frame rate and frame size.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// The built-in realtime models: name, fps, width, height.
pub const REGISTRY: [(&str, u32, u32, u32); 5] = [
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

/// True exactly for the names of the built-in realtime models (`isRealtimeModel`).
pub fn is_realtime(name: &str) -> bool {
    REGISTRY.iter().any(|m| m.0 == name)
}

/// `MODEL_NOT_FOUND`: `Model <name> not found`.
pub fn not_found(name: &str) -> SdkError {
    SdkError::new(
        ErrorCode::ModelNotFound,
        join(&["Model ", name, " not found"]),
    )
}

/// The built-in model called `name`, else `MODEL_NOT_FOUND`.
pub fn realtime(name: &str) -> Result<ModelDefinition, SdkError> {
    REGISTRY
        .into_iter()
        .find(|m| m.0 == name)
        .map(entry)
        .ok_or_else(|| not_found(name))
}

/// Highest frame rate and frame side a custom definition may give.
const MAX_FPS: u32 = 1000;
const MAX_SIDE: u32 = 16_384;

impl ModelDefinition {
    /// Checks a custom model definition: a non-empty name, a path starting with `/`, and
    /// fps, width and height of at least 1.
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
        let checks = [
            ("model.fps", self.fps, MAX_FPS, "an integer from 1 to 1000"),
            (
                "model.width",
                self.width,
                MAX_SIDE,
                "an integer from 1 to 16384",
            ),
            (
                "model.height",
                self.height,
                MAX_SIDE,
                "an integer from 1 to 16384",
            ),
        ];
        for (field, v, max, expected) in checks {
            if !(1..=max).contains(&v) {
                return Err(SdkError::invalid_option(field, expected));
            }
        }
        Ok(self)
    }

    /// True for models that send audio only and receive audio and video.
    pub fn is_avatar(&self) -> bool {
        self.name == "live_avatar"
    }

    /// `{name, urlPath, fps, width, height}`, the registry entry as pages see it.
    pub fn to_json(&self) -> Json {
        Obj::new()
            .set("name", self.name.as_str())
            .set("urlPath", self.url_path.as_str())
            .set("fps", self.fps)
            .set("width", self.width)
            .set("height", self.height)
            .build()
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
        let mirage = realtime("mirage").unwrap();
        assert_eq!((mirage.fps, mirage.width, mirage.height), (25, 1280, 704));
        assert_eq!(all().len(), 5);
        assert!(realtime("live_avatar").unwrap().is_avatar());
        assert!(all().iter().all(|m| is_realtime(&m.name)));
        assert!(!is_realtime("nope") && !is_realtime("Mirage"));
    }

    #[test]
    fn unknown_model_is_model_not_found() {
        let e = realtime("nope").unwrap_err();
        assert_eq!(e.code, ErrorCode::ModelNotFound);
        assert_eq!(e.message, "Model nope not found");
    }

    #[test]
    fn custom_definitions_are_checked() {
        let ok = ModelDefinition {
            name: "x".into(),
            url_path: "/v1/custom".into(),
            fps: 30,
            width: 1,
            height: 360,
        };
        assert!(ok.clone().validate().is_ok());
        for (bad, field) in [
            (
                ModelDefinition {
                    fps: 0,
                    ..ok.clone()
                },
                "model.fps",
            ),
            (
                ModelDefinition {
                    url_path: "v1".into(),
                    ..ok.clone()
                },
                "model.urlPath",
            ),
            (
                ModelDefinition {
                    height: 0,
                    ..ok.clone()
                },
                "model.height",
            ),
            (
                ModelDefinition {
                    name: " ".into(),
                    ..ok.clone()
                },
                "model.name",
            ),
        ] {
            let e = bad.validate().unwrap_err();
            assert!(e.message.contains(field), "{e}");
        }
    }

    #[test]
    fn definitions_use_camel_case() {
        let v = realtime("mirage").unwrap().to_json();
        assert_eq!(v.str("urlPath"), Some("/v1/stream"));
        assert_eq!(v.num("fps"), Some(25.0));
    }
}
