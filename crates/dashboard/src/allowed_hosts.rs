//! The `Host` check in front of every route of `serve`, against DNS rebinding: a web page on
//! `evil.example` that points its name at 127.0.0.1 could otherwise read the dashboard with
//! the victim's browser, which would send `Host: evil.example`. A request is answered only
//! when its `Host` (and, for an absolute-form or HTTP/2 request, the URI's authority) is one
//! of [`AllowedHosts`]: the loopback names with or without the bound port, the bound address
//! itself, and names added with `--allow-host`. Anything else — including a missing `Host` —
//! gets **421 Misdirected Request** with a short plain-text body and a warning in the log.
//!
//! Comparison is case-insensitive and exact otherwise: a name allowed without a port matches
//! only a `Host` without a port, and one allowed with a port only that port.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashSet;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

/// The status a request for a foreign or missing `Host` gets.
pub const REFUSED_STATUS: StatusCode = StatusCode::MISDIRECTED_REQUEST;

/// One `host[:port]` a request may name: a lower-case DNS name or IP address (IPv6 in
/// brackets, in its canonical form), and a port or none.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostName {
    host: String,
    port: Option<u16>,
}

/// Why a text is not a `host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a host name with an optional port (such as dash.example.com or dash.example.com:8443): {reason}")]
pub struct HostNameError {
    text: String,
    reason: &'static str,
}

impl HostName {
    /// `host` (a name or IP literal as it appears in a URL) with an optional port.
    fn new(host: &str, port: Option<u16>) -> Result<Self, &'static str> {
        let host = if let Some(inner) = host.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or("an IPv6 address needs its closing `]`")?;
            let ip = Ipv6Addr::from_str(inner).map_err(|_| "not an IPv6 address in [ ]")?;
            format!("[{ip}]")
        } else if host.is_empty() {
            return Err("the host is empty");
        } else if host.contains(':') {
            return Err("an IPv6 address must be written in [ ]");
        } else if let Ok(ip) = Ipv4Addr::from_str(host) {
            ip.to_string()
        } else if host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        {
            host.to_ascii_lowercase()
        } else {
            return Err("only letters, digits, `.`, `-` and `_` may appear in a name");
        };
        Ok(HostName { host, port })
    }

    /// The address a listener is bound to (`127.0.0.1:8080`, `[::1]:8080`).
    pub fn from_socket_addr(addr: SocketAddr) -> Self {
        let host = match addr {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        HostName {
            host,
            port: Some(addr.port()),
        }
    }
}

impl FromStr for HostName {
    type Err = HostNameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason| HostNameError {
            text: text.to_string(),
            reason,
        };
        if text.contains("://") || text.contains('/') {
            return Err(fail("give the name only, without scheme or path"));
        }
        // The port follows the last `:` after any `]` (IPv6 literals hold colons).
        let after_bracket = text.rfind(']').map_or(0, |i| i + 1);
        let (host, port) = match text[after_bracket..].rfind(':') {
            None => (text, None),
            Some(i) => {
                let at = after_bracket + i;
                let digits = &text[at + 1..];
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(fail("the port must be digits"));
                }
                let port = digits
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| fail("the port must be 1 to 65535"))?;
                (&text[..at], Some(port))
            }
        };
        if after_bracket > 0 && host.len() != after_bracket {
            return Err(fail("an IPv6 address must be written in [ ]"));
        }
        HostName::new(host, port).map_err(fail)
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// The `Host` values `serve` answers.
#[derive(Clone, Debug, Default)]
pub struct AllowedHosts {
    names: HashSet<HostName>,
}

impl AllowedHosts {
    /// For a listener bound to `addr`: `localhost`, `127.0.0.1` and `[::1]`, each with and
    /// without `addr`'s port, and `addr` itself (e.g. `192.168.1.5:8080`).
    pub fn for_listener(addr: SocketAddr) -> Self {
        let mut names = HashSet::new();
        for host in ["localhost", "127.0.0.1", "[::1]"] {
            for port in [None, Some(addr.port())] {
                names.insert(HostName {
                    host: host.to_string(),
                    port,
                });
            }
        }
        names.insert(HostName::from_socket_addr(addr));
        AllowedHosts { names }
    }

    /// Also accepts `name` (e.g. a reverse proxy's public name).
    pub fn allow(mut self, name: HostName) -> Self {
        self.names.insert(name);
        self
    }

    /// Whether a request naming `host` (a `Host` header value) is answered.
    pub fn allows(&self, host: &str) -> bool {
        HostName::from_str(host).is_ok_and(|name| self.names.contains(&name))
    }

    /// The accepted names, sorted (for messages).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.names.iter().map(ToString::to_string).collect();
        names.sort();
        names
    }
}

/// The middleware: passes requests whose every `Host` and URI authority is allowed (and
/// that name at least one), refuses the rest with [`REFUSED_STATUS`].
pub async fn check_host(
    State(allowed): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers().get_all(header::HOST);
    let mut named: Vec<String> = headers
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    if let Some(authority) = request.uri().authority() {
        named.push(authority.as_str().to_string());
    }
    if named.is_empty() {
        tracing::warn!(
            path = %request.uri().path(),
            "refused a request without a Host header (421)"
        );
        return refuse("this request names no Host");
    }
    if let Some(foreign) = named.iter().find(|h| !allowed.allows(h)) {
        tracing::warn!(
            host = ?foreign,
            path = %request.uri().path(),
            "refused a request for a Host this dashboard does not serve (421; DNS rebinding, or a name missing from --allow-host)"
        );
        return refuse("this dashboard does not serve the Host this request names");
    }
    next.run(request).await
}

fn refuse(problem: &str) -> Response {
    (
        REFUSED_STATUS,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("421 Misdirected Request: {problem}. Names other than localhost and the bound address must be allowed with `audience-stream serve --allow-host NAME`.\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> HostName {
        text.parse()
            .unwrap_or_else(|e| panic!("{text} should parse: {e}"))
    }

    #[test]
    fn parses_names_ports_and_ip_literals() {
        assert_eq!(name("Dash.Example.COM").to_string(), "dash.example.com");
        assert_eq!(
            name("dash.example.com:8443").to_string(),
            "dash.example.com:8443"
        );
        assert_eq!(name("[::1]:8080").to_string(), "[::1]:8080");
        assert_eq!(name("[0:0:0:0:0:0:0:1]").to_string(), "[::1]");
        assert_eq!(name("[FE80::A]").to_string(), "[fe80::a]");
        assert_eq!(name("127.0.0.1:80").to_string(), "127.0.0.1:80");
        for bad in [
            "",
            ":80",
            "localhost:",
            "localhost:0",
            "localhost:+80",
            "localhost:65536",
            "https://dash.example.com",
            "dash.example.com/",
            "::1",
            "[::1",
            "[::1]x",
            "[nope]",
            "a b",
            "evil.example\r\nX: 1",
        ] {
            assert!(bad.parse::<HostName>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn loopback_and_the_bound_address_with_the_bound_port() {
        let allowed = AllowedHosts::for_listener("192.168.1.5:8080".parse().unwrap());
        for ok in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.1:8080",
            "[::1]",
            "[::1]:8080",
            "192.168.1.5:8080",
        ] {
            assert!(allowed.allows(ok), "{ok}");
        }
        for refused in [
            "localhost:8081",
            "127.0.0.1:1",
            "[::1]:80",
            "192.168.1.5",
            "192.168.1.5:8081",
            "evil.example",
            "evil.example:8080",
            "localhost.",
            "",
        ] {
            assert!(!allowed.allows(refused), "{refused}");
        }
    }

    #[test]
    fn added_names_match_exactly_but_without_case() {
        let allowed = AllowedHosts::for_listener("127.0.0.1:8080".parse().unwrap())
            .allow(name("dash.example.com"))
            .allow(name("proxy.example:8443"));
        assert!(allowed.allows("dash.example.com"));
        assert!(allowed.allows("Dash.Example.Com"));
        assert!(!allowed.allows("dash.example.com:8080"));
        assert!(allowed.allows("PROXY.example:8443"));
        assert!(!allowed.allows("proxy.example"));
        assert!(!allowed.allows("proxy.example:9443"));
        assert!(allowed.names().contains(&"proxy.example:8443".to_string()));
    }
}
