//! Shared helpers for the end-to-end tests. (Being written.)
