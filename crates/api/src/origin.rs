//! Cross-site request refusal. The session cookie is sent by the browser
//! with any request to this API, also one another site's page makes (a form
//! post, a `no-cors` fetch). A request that may change something is accepted
//! only from this API's own origin or an origin in `CORS_ALLOWED_ORIGINS`;
//! requests without an `Origin` (curl, scripts, servers) are not a browser's
//! cross-site request and pass, unless the browser marks them cross-site.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ProblemKind};

#[derive(Debug)]
pub struct AllowedOrigins(Vec<HeaderValue>);

impl AllowedOrigins {
    pub fn new(origins: &[HeaderValue]) -> Arc<Self> {
        Arc::new(AllowedOrigins(origins.to_vec()))
    }

    fn allows(&self, origin: &str, host: Option<&str>) -> bool {
        if self
            .0
            .iter()
            .any(|o| o.as_bytes().eq_ignore_ascii_case(origin.as_bytes()))
        {
            return true;
        }
        // Same origin: the Origin's authority is the Host the request went to.
        let authority = origin.split_once("://").map(|(_, a)| a).unwrap_or("");
        host.is_some_and(|h| !authority.is_empty() && authority.eq_ignore_ascii_case(h))
    }
}

/// The origin to refuse, if any.
fn refusal(allowed: &AllowedOrigins, req: &Request) -> Option<String> {
    let header_str = |name: HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok());
    let host = header_str(header::HOST);
    match header_str(header::ORIGIN) {
        Some(origin) => (!allowed.allows(origin, host)).then(|| origin.to_owned()),
        None => (header_str(HeaderName::from_static("sec-fetch-site")) == Some("cross-site"))
            .then(|| "another site".to_owned()),
    }
}

pub async fn refuse_cross_site_writes(
    State(allowed): State<Arc<AllowedOrigins>>,
    req: Request,
    next: Next,
) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let refused = refusal(&allowed, &req);
    match refused {
        None => next.run(req).await,
        Some(origin) => {
            tracing::warn!(origin = %origin, method = %req.method(), "refused a cross-site request that would change something");
            ApiError::new(
                ProblemKind::CrossSiteRequest,
                format!(
                    "Requests that change something must come from this API's own origin or one listed in CORS_ALLOWED_ORIGINS; {origin} is neither."
                ),
            )
            .into_response()
        }
    }
}
