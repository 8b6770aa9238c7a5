//! Guides that are documentation only, in the manner of rustls' `manual`.

#[doc = include_str!("security.md")]
pub mod security {}

#[doc = include_str!("concurrency.md")]
pub mod concurrency {}

#[doc = include_str!("secrets.md")]
pub mod secrets {}

#[doc = include_str!("error_pages.md")]
pub mod error_pages {}

#[doc = include_str!("deployment.md")]
pub mod deployment {}

#[doc = include_str!("claims.md")]
pub mod claims {}

#[doc = include_str!("instances.md")]
pub mod instances {}
