//! Black-box HTTP tests: one binary, one module per resource.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod accounts_state;
mod admin;
mod auth;
mod bad_input;
mod book_recommendations;
mod books;
mod browser_headers;
mod cart;
mod cookies;
mod cross_site;
mod health;
mod helpers;
mod library_welcome;
mod limits;
mod menu;
mod metrics;
mod migrations;
mod openapi;
mod orders;
mod outage;
mod postgres_outage;
mod privacy;
mod products;
mod profile;
mod reading;
mod reading_accounts;
mod reading_settings;
mod redis_cluster;
mod redis_outage;
mod redis_server;
mod session_stores;
mod sessions;
mod signed_in_sessions;
mod visits;
