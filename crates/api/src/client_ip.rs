//! The client's IP address, for rate limits, session binding and a user's
//! list of sessions.
//!
//! SKELETON: the socket's peer only; `TRUSTED_PROXIES` and
//! `X-Forwarded-For` are read by the finished version.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::error::ApiError;

/// The client's IP address as this service can trust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!(
                    "no peer address: serve with into_make_service_with_connect_info"
                ))
            })?;
        Ok(ClientIp(peer))
    }
}
