//! Text from outside (the provider's `error_description`, a discovery document's `issuer`, a
//! token header's `alg`, a transport's message...) made safe to write to a log line or an
//! error page: every control character (CR and LF, which would forge log lines; ESC, which
//! starts terminal escape sequences), the Unicode line separators and bidirectional overrides,
//! and the backslash itself (so that an escaped `\n` and a literal one stay apart) are written
//! as Rust escapes. Everything else is kept, so ordinary text reads unchanged.
//!
//! One helper for every place: error `Display`s that embed outside strings, the error view,
//! and `tracing` fields that carry outside data (`tracing::warn!(x = %log_safe(&v), ..)`).

use std::fmt;

/// Displays the wrapped text with control characters escaped (see the [module](self) docs).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct LogSafe<'a>(pub &'a str);

/// Wraps outside text for logging or display: `%log_safe(&description)`.
pub fn log_safe(text: &str) -> LogSafe<'_> {
    LogSafe(text)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || c == '\\'
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

impl fmt::Display for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(needs_escape) {
            f.write_str(&rest[..i])?;
            let c = rest[i..].chars().next().unwrap_or_default();
            write!(f, "{}", c.escape_default())?;
            rest = &rest[i + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

impl fmt::Debug for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CR, LF, ESC, other controls, line separators, bidi overrides and the backslash come out
    /// escaped; ordinary text, quotes and non-ASCII letters are kept as they are.
    #[test]
    fn escapes_what_could_forge_or_hide_a_line() {
        let hostile = "bad\r\nINFO forged \u{1b}[31mred\u{7}\t\u{0}\u{2028}\u{202e}\\n";
        let shown = log_safe(hostile).to_string();
        assert_eq!(
            shown,
            r"bad\r\nINFO forged \u{1b}[31mred\u{7}\t\u{0}\u{2028}\u{202e}\\n"
        );
        assert!(!shown.chars().any(needs_escape_unless_backslash));
        assert_eq!(
            log_safe("Zoë said \"hi\" <b>").to_string(),
            "Zoë said \"hi\" <b>"
        );
        assert_eq!(format!("{:?}", log_safe("a\nb")), r#""a\nb""#);
    }

    /// Errors that embed outside text escape it in `Display` (what `tracing` fields with `%e`
    /// print) and in the error view's description.
    #[test]
    fn errors_escape_outside_text() {
        use crate::error::{Error, IdTokenError, ProtocolError, ProviderError};
        let forged = "x\r\nWARN forged \u{1b}[0m";
        let escaped = r"x\r\nWARN forged \u{1b}[0m";
        let errors = [
            Error::Provider(ProviderError {
                error: forged.into(),
                error_description: Some(forged.into()),
            }),
            Error::Provider(ProviderError {
                error: forged.into(),
                error_description: None,
            }),
            ProtocolError::DiscoveryIssuerMismatch {
                expected: "https://op".into(),
                found: forged.into(),
            }
            .into(),
            ProtocolError::IdToken(IdTokenError::AlgorithmNotAllowed(forged.into())).into(),
            Error::Transport {
                endpoint: crate::error::Endpoint::Token,
                source: crate::error::TransportError::Other(forged.into()),
            },
        ];
        for e in errors {
            for shown in [e.to_string(), e.error_description()] {
                assert!(shown.contains(escaped), "{shown:?}");
                assert!(!shown.contains(['\r', '\n', '\u{1b}']), "{shown:?}");
            }
        }
    }

    fn needs_escape_unless_backslash(c: char) -> bool {
        c != '\\' && needs_escape(c)
    }
}
