//! Reference images given as a Blob/File, a `data:` URL, an `http(s):`/`blob:` URL (fetched)
//! or raw base64, read into the base64 the protocol carries.

use crate::core::error::{ErrorCode, SdkError};
use crate::core::options::{classify_image_string, ImageString};
use crate::web::error::{from_js, Result};
use crate::web::js::{await_js, window};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Blob;

/// The image as base64: `IMAGE_ERROR` when it is not one, `NETWORK_ERROR` when a URL cannot be
/// fetched.
pub async fn to_base64(image: JsValue) -> Result<String> {
    if let Some(s) = image.as_string() {
        return match classify_image_string(&s)? {
            ImageString::DataUrl(b) | ImageString::Base64(b) => Ok(b),
            ImageString::Url(url) => {
                let failed = "the image could not be fetched";
                let resp = await_js(
                    window()?.fetch_with_str(&url),
                    ErrorCode::NetworkError,
                    failed,
                )
                .await?;
                let resp: web_sys::Response = resp.unchecked_into();
                if !resp.ok() {
                    return Err(SdkError::new(
                        ErrorCode::NetworkError,
                        crate::core::error::join(&[
                            "the image fetch answered HTTP ",
                            &crate::core::error::int(u64::from(resp.status())),
                        ]),
                    ));
                }
                let blob = resp
                    .blob()
                    .map_err(|e| from_js(ErrorCode::NetworkError, failed, &e))?;
                let blob = await_js(blob, ErrorCode::NetworkError, failed).await?;
                blob_to_base64(blob.unchecked_into()).await
            }
        };
    }
    match image.dyn_into::<Blob>() {
        Ok(b) => blob_to_base64(b).await,
        Err(_) => Err(SdkError::new(
            ErrorCode::ImageError,
            "the image is not usable: expected a Blob, File, data: URL, http(s) URL or base64 string",
        )),
    }
}

async fn blob_to_base64(blob: Blob) -> Result<String> {
    let buf = await_js(
        blob.array_buffer(),
        ErrorCode::ImageError,
        "the image could not be read",
    )
    .await?;
    let bytes = js_sys::Uint8Array::new(&buf).to_vec();
    if bytes.is_empty() {
        return Err(SdkError::new(ErrorCode::ImageError, "the image is empty"));
    }
    Ok(crate::core::base64::encode(&bytes))
}
