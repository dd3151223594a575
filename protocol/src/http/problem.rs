//! RFC 9457 problem details: the body of every 4xx and 5xx answer of every HTTP API.

use serde::{Deserialize, Serialize};

/// The media type of a problem body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// What went wrong with a request, for machines (`type`, `status`) and people (`title`,
/// `detail`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the kind of problem.
    pub title: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::http_status))]
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Problem {
    /// A problem of kind `slug` (made into `urn:zone-cluster:problem:<slug>`).
    pub fn new(
        status: u16,
        slug: &str,
        title: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            problem_type: format!("urn:zone-cluster:problem:{slug}"),
            title: title.into(),
            status,
            detail: Some(detail.into()),
        }
    }
}
