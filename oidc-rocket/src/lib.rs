//! OpenID Connect for rocket (being written).
