//! Reference images given as a Blob/File, a `data:` URL, an `http(s):`/`blob:` URL (fetched)
//! or raw base64, read into the base64 the protocol carries. The bytes of a Blob or a URL are
//! read by `imageBytes` of `js/media.js`.

use crate::core::error::{int, join, ErrorCode, SdkError};
use crate::core::options::{classify_image_string, ImageString};
use crate::web::error::Result;
use crate::web::js::await_js;
use crate::web::media;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Blob;

/// The image as base64: `IMAGE_ERROR` when it is not one, `NETWORK_ERROR` when a URL cannot be
/// fetched.
pub async fn to_base64(image: JsValue) -> Result<String> {
    let (source, code, failed) = match image.as_string() {
        Some(s) => match classify_image_string(&s)? {
            ImageString::DataUrl(b) | ImageString::Base64(b) => return Ok(b),
            ImageString::Url(url) => (
                JsValue::from(url),
                ErrorCode::NetworkError,
                "the image could not be fetched",
            ),
        },
        None if image.is_instance_of::<Blob>() => {
            (image, ErrorCode::ImageError, "the image could not be read")
        }
        None => {
            return Err(SdkError::new(
                ErrorCode::ImageError,
                "the image is not usable: expected a Blob, File, data: URL, http(s) URL or base64 string",
            ))
        }
    };
    let bytes = await_js(media::image_bytes(&source), code, failed).await?;
    if let Some(status) = bytes.as_f64() {
        return Err(SdkError::new(
            ErrorCode::NetworkError,
            join(&["the image fetch answered HTTP ", &int(status as u64)]),
        ));
    }
    let bytes = js_sys::Uint8Array::new(&bytes).to_vec();
    if bytes.is_empty() {
        return Err(SdkError::new(ErrorCode::ImageError, "the image is empty"));
    }
    Ok(crate::core::base64::encode(&bytes))
}
