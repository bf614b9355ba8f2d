//! The thin layer over the `kafka-protocol` crate: framing, request header
//! decoding that survives hostile input, ApiVersions negotiation (with the
//! KIP-511 fallback) and response encoding.
//!
//! ```text
//!  socket ─► frame::FrameReader ─► codec::decode_request ─► api::dispatch
//!                                        │ unknown key / malformed: close
//!                                        │ unsupported ApiVersions: KIP-511 v0 answer
//!  socket ◄────────────── codec::encode_response ◄──────────────┘
//! ```
//!
//! The crate decodes a frame safely only after these checks: a frame shorter
//! than the fixed 8-byte prelude makes its header decoder panic, and an unknown
//! API key hides the correlation id, so both are read here first. Wire counts
//! that size allocations are defused by the broker's allocator (`crate::alloc`).

pub mod codec;
pub mod frame;
pub mod versions;

pub use kafka_protocol::ResponseError;
