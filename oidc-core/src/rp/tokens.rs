//! Access tokens for the relying party: a valid access token on demand, bearer-token
//! protection, and the client credentials grant. (Being written.)
