//! Kitchen Memory's HTTP API. `main.rs` only wires; everything here can be
//! started in-process by tests through [`startup::Application`].

pub mod auth;
pub mod client_ip;
pub mod clock;
pub mod config;
pub mod cookies;
pub mod create_admin;
pub mod db;
pub mod error;
pub mod extract;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod origin;
pub mod paging;
pub mod responses;
pub mod rewards;
pub mod routes;
pub mod secret;
mod serve;
pub mod session;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod views;

pub use clock::Clock;
pub use config::Config;
pub use startup::Application;
