//! Black-box HTTP tests: one binary, one module per resource.

mod bad_input;
mod cart;
mod health;
mod helpers;
mod openapi;
mod products;
mod session_stores;
mod sessions;
