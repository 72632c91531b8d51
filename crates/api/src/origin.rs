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
pub struct AllowedOrigins {
    listed: Vec<HeaderValue>,
    /// With Secure cookies the API is served over HTTPS: its own origin is
    /// an `https://` one, and a plain-HTTP page of the same host is not it.
    https_only: bool,
}

impl AllowedOrigins {
    pub fn new(origins: &[HeaderValue], https_only: bool) -> Arc<Self> {
        Arc::new(AllowedOrigins {
            listed: origins.to_vec(),
            https_only,
        })
    }

    fn allows(&self, origin: &str, host: Option<&str>) -> bool {
        let listed = self
            .listed
            .iter()
            .any(|o| o.as_bytes().eq_ignore_ascii_case(origin.as_bytes()));
        if listed {
            return true;
        }
        // Same origin: the Origin's authority is the Host the request went to.
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false;
        };
        let scheme_ok = scheme.eq_ignore_ascii_case("https")
            || (!self.https_only && scheme.eq_ignore_ascii_case("http"));
        scheme_ok
            && host.is_some_and(|h| !authority.is_empty() && authority.eq_ignore_ascii_case(h))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_origin_listed_origins_and_schemes() {
        let spa = [HeaderValue::from_static("https://app.example.com")];
        let plain = AllowedOrigins::new(&spa, false);
        assert!(plain.allows("http://127.0.0.1:8080", Some("127.0.0.1:8080")));
        assert!(plain.allows("HTTPS://API.example.com", Some("api.example.com")));
        assert!(plain.allows("https://app.example.com", Some("api.example.com")));
        assert!(
            !plain.allows("http://127.0.0.1:9090", Some("127.0.0.1:8080")),
            "another port"
        );
        assert!(!plain.allows("null", Some("127.0.0.1:8080")));
        assert!(!plain.allows("http://evil.example", Some("127.0.0.1:8080")));
        assert!(!plain.allows("ftp://127.0.0.1:8080", Some("127.0.0.1:8080")));

        let secure = AllowedOrigins::new(&spa, true);
        assert!(secure.allows("https://api.example.com", Some("api.example.com")));
        assert!(
            !secure.allows("http://api.example.com", Some("api.example.com")),
            "plain HTTP page of the HTTPS API's host"
        );
    }
}
