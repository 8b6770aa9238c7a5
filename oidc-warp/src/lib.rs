//! OpenID Connect for warp (being written).
