//! Tests of the Helm charts live in `tests/`; this library is empty.
