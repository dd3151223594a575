//! What every service's OpenAPI document (`GET /openapi.json`) shares around its own
//! operations: the bearer security schemes its operations name, and the request-body limit
//! the kit's extractors enforce, stated in the description so that an outside client (or a
//! fuzzer) knows where `413` begins. Each service keeps its own title, description and tags.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use actix_web::http::header::ContentType;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// A service's whole document: its `frame` (info and tags) merged with its `operations`,
/// with the named security `schemes` and the `body_limit` (bytes) the server enforces.
pub fn document(
    frame: OpenApi,
    operations: OpenApi,
    schemes: Vec<(&str, SecurityScheme)>,
    body_limit: usize,
) -> OpenApi {
    let mut doc = frame.merge_from(operations);
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, scheme) in schemes {
        components.add_security_scheme(name, scheme);
    }
    if let Some(description) = &mut doc.info.description {
        description.push_str(&format!(
            " A request body is at most {body_limit} bytes (`413` past that)."
        ));
    }
    doc
}

/// The `GET /openapi.json` answer: the document `build` makes, serialized once into `cache`
/// on first request (it never changes while the process runs).
pub fn response(cache: &'static OnceLock<String>, build: impl FnOnce() -> OpenApi) -> HttpResponse {
    let json = cache.get_or_init(|| {
        build()
            .to_pretty_json()
            .expect("an OpenAPI document always serializes")
    });
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(json.as_str())
}

/// An `Authorization: Bearer <token>` scheme; `format` names the token's form (e.g. `JWT`)
/// when it has one.
pub fn bearer(description: &str, format: Option<&str>) -> SecurityScheme {
    let mut scheme = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .description(Some(description));
    if let Some(format) = format {
        scheme = scheme.bearer_format(format);
    }
    SecurityScheme::Http(scheme.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::{InfoBuilder, OpenApiBuilder};

    #[test]
    fn the_document_names_its_schemes_and_its_body_limit() {
        let frame = OpenApiBuilder::new()
            .info(
                InfoBuilder::new()
                    .title("t")
                    .description(Some("A service.")),
            )
            .build();
        let doc = document(
            frame,
            OpenApi::default(),
            vec![("bearer", bearer("the token", None))],
            1024,
        );
        let json = serde_json::to_value(&doc).expect("serializes");
        assert_eq!(
            json["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert!(
            json["info"]["description"]
                .as_str()
                .is_some_and(|d| d.ends_with("at most 1024 bytes (`413` past that)."))
        );
    }
}
