//! Helpers for testing Fjord's Helm charts with the real `helm` binaries:
//! finding and running helm ([`helm`]) and checking rendered custom
//! resources against their CRD's OpenAPI schema ([`schema`]).

pub mod helm;
pub mod schema;
