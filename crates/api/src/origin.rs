//! Cross-site request refusal. The session cookie is sent by the browser
//! with any request to this API, also one another site's page makes (a form
//! post, a `no-cors` fetch). A request that may change something is accepted
//! only from this API's own origin or an origin in `CORS_ALLOWED_ORIGINS`;
//! requests without an `Origin` (curl, scripts, servers) are not a browser's
//! cross-site request and pass, unless the browser marks them cross-site.

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::uri::Authority;
use axum::http::{HeaderName, HeaderValue, Method, header};
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

    /// Whether a request from `origin` to `authority` (the host and port
    /// the request was sent to) may change something.
    fn allows(&self, origin: &str, authority: Option<&Authority>) -> bool {
        let listed = self
            .listed
            .iter()
            .any(|o| o.as_bytes().eq_ignore_ascii_case(origin.as_bytes()));
        if listed {
            return true;
        }
        // Same origin: the Origin's host and port are the ones the request
        // went to. An Origin is a scheme and an authority, nothing more.
        let Some((scheme, rest)) = origin.split_once("://") else {
            return false;
        };
        let default_port = if scheme.eq_ignore_ascii_case("https") {
            443
        } else if !self.https_only && scheme.eq_ignore_ascii_case("http") {
            80
        } else {
            return false;
        };
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return false;
        }
        let (Ok(from), Some(to)) = (rest.parse::<Authority>(), authority) else {
            return false;
        };
        from.host().eq_ignore_ascii_case(to.host())
            && from.port_u16().unwrap_or(default_port) == to.port_u16().unwrap_or(default_port)
    }
}

/// The authority a request was sent to, as hyper hands it over: over
/// HTTP/2 the `:authority` pseudo-header is the URI's authority (there may
/// be no `Host`); over HTTP/1.1 it is the `Host` header, unless the request
/// line carries an absolute URI, whose authority then wins (RFC 9112 3.2.2).
fn request_authority(req: &Request) -> Option<Authority> {
    if let Some(authority) = req.uri().authority() {
        return Some(authority.clone());
    }
    let host = req.headers().get(header::HOST)?;
    Authority::try_from(host.as_bytes()).ok()
}

/// The origin to refuse, if any.
fn refusal(allowed: &AllowedOrigins, req: &Request) -> Option<String> {
    let mut origins = req.headers().get_all(header::ORIGIN).iter();
    match (origins.next(), origins.next()) {
        (Some(origin), None) => match origin.to_str() {
            Ok(origin) => (!allowed.allows(origin, request_authority(req).as_ref()))
                .then(|| origin.to_owned()),
            // A browser sends an ASCII serialization; anything else is not
            // an origin to trust, and must not pass as an absent one.
            Err(_) => Some("an Origin that is not visible ASCII".to_owned()),
        },
        (Some(_), Some(_)) => Some("a request with several Origin headers".to_owned()),
        (None, _) => {
            let site = req.headers().get(HeaderName::from_static("sec-fetch-site"));
            (site.is_some_and(|s| s.as_bytes() == b"cross-site")).then(|| "another site".to_owned())
        }
    }
}

/// A step of the session routes' guard ([`crate::session::guard`]): refuses
/// a change (any method but GET, HEAD and OPTIONS) from another site with a
/// 403 before `next` sees it.
pub async fn refuse_cross_site_writes<F, Fut>(
    allowed: &AllowedOrigins,
    req: Request,
    next: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next(req).await;
    }
    let refused = refusal(allowed, &req);
    match refused {
        None => next(req).await,
        Some(origin) => {
            tracing::warn!(origin = %origin, method = %req.method(), "refused a cross-site request that would change something");
            // The body is read (and dropped) before answering: an HTTP/2
            // client still sending it would otherwise meet the stream reset
            // that follows an early answer, and some (curl 7.88) then report
            // a framing error instead of the 403. The extractor reads no
            // more than the configured body limit.
            let _ = axum::body::Bytes::from_request(req, &()).await;
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
    use axum::body::Body;

    use super::*;

    fn allows(allowed: &AllowedOrigins, origin: &str, host: &str) -> bool {
        allowed.allows(origin, Some(&host.parse().unwrap()))
    }

    #[test]
    fn own_origin_listed_origins_and_schemes() {
        let spa = [HeaderValue::from_static("https://app.example.com")];
        let plain = AllowedOrigins::new(&spa, false);
        assert!(allows(&plain, "http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(allows(&plain, "HTTPS://API.example.com", "api.example.com"));
        assert!(allows(
            &plain,
            "https://api.example.com",
            "api.example.com:443"
        ));
        assert!(allows(
            &plain,
            "http://api.example.com",
            "api.example.com:80"
        ));
        assert!(allows(&plain, "https://app.example.com", "api.example.com"));
        assert!(
            !allows(&plain, "http://127.0.0.1:9090", "127.0.0.1:8080"),
            "another port"
        );
        assert!(
            !allows(&plain, "https://api.example.com", "api.example.com:80"),
            "another port, by default"
        );
        assert!(!allows(&plain, "null", "127.0.0.1:8080"));
        assert!(!allows(&plain, "http://evil.example", "127.0.0.1:8080"));
        assert!(!allows(&plain, "ftp://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(!allows(&plain, "http://x@127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(!allows(&plain, "http://127.0.0.1:8080/", "127.0.0.1:8080"));
        assert!(!plain.allows("http://127.0.0.1:8080", None), "no authority");

        let secure = AllowedOrigins::new(&spa, true);
        assert!(allows(
            &secure,
            "https://api.example.com",
            "api.example.com"
        ));
        assert!(
            !allows(&secure, "http://api.example.com", "api.example.com"),
            "plain HTTP page of the HTTPS API's host"
        );
    }

    fn post(uri: &str, headers: &[(&str, &[u8])]) -> Request {
        let mut req = Request::builder().method("POST").uri(uri);
        for (name, value) in headers {
            req = req.header(*name, HeaderValue::from_bytes(value).unwrap());
        }
        req.body(Body::empty()).unwrap()
    }

    #[test]
    fn same_origin_is_judged_from_the_authority_hyper_hands_over() {
        let allowed = AllowedOrigins::new(&[], false);
        let origin: (&str, &[u8]) = ("origin", b"http://api.example.com:8080");
        // HTTP/1.1: the Host header.
        let h1 = post(
            "/api/v1/cart/items",
            &[origin, ("host", b"api.example.com:8080")],
        );
        assert_eq!(refusal(&allowed, &h1), None);
        // HTTP/2: the :authority, as the URI's authority, and no Host.
        let h2 = post("http://api.example.com:8080/api/v1/cart/items", &[origin]);
        assert_eq!(refusal(&allowed, &h2), None);
        // An absolute URI's authority wins over a Host that says otherwise.
        let absolute = post(
            "http://evil.example/api/v1/cart/items",
            &[origin, ("host", b"api.example.com:8080")],
        );
        assert!(refusal(&allowed, &absolute).is_some());
        // Neither: nothing to be the same origin as.
        assert!(refusal(&allowed, &post("/api/v1/cart/items", &[origin])).is_some());
    }

    #[test]
    fn an_origin_that_is_not_visible_ascii_or_not_alone_is_refused() {
        let allowed = AllowedOrigins::new(&[], false);
        let host: (&str, &[u8]) = ("host", b"api.example.com");
        let odd = post("/", &[("origin", b"http://api.example.com\xe9"), host]);
        assert!(refusal(&allowed, &odd).is_some());
        let twice = post(
            "/",
            &[
                ("origin", b"http://api.example.com"),
                ("origin", b"http://api.example.com"),
                host,
            ],
        );
        assert!(refusal(&allowed, &twice).is_some());
        // Without an Origin: allowed unless the browser says cross-site.
        assert_eq!(refusal(&allowed, &post("/", &[host])), None);
        let cross = post("/", &[("sec-fetch-site", b"cross-site"), host]);
        assert!(refusal(&allowed, &cross).is_some());
    }
}
