//! Guides that are documentation only, in the manner of rustls' `manual`.

#[doc = include_str!("security.md")]
pub mod security {}

#[doc = include_str!("concurrency.md")]
pub mod concurrency {}
