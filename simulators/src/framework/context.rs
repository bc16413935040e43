//! What a launch tells each simulator it builds: its clock, the development PKI directory and the port
//! offset. A simulator derives every setting that depends on where the launch put things — the PKI
//! it trusts and presents, where it calls the integrator back — from this, never from the process
//! environment nor from the requests it happens to receive, so that it agrees with the connectors
//! beside it (`snodo up`) from its first moment, before any request has reached it.
//!
//! It also holds the one answer to "which development PKI directory when none is configured"
//! ([`default_pki_dir`]), shared by the `snodo` binary, the simulators and the certification tools.

use std::ffi::OsString;
use std::path::PathBuf;

use super::SimClock;

/// The port `snodo up`'s inbound listener has before any offset (the connectors' configuration
/// default): where the development set-ups of the simulators call the comune back.
pub const DEVELOPMENT_INBOUND_PORT: u16 = 7443;

/// The environment variable naming the development PKI directory for every command.
pub const DEV_PKI_DIR_VARIABLE: &str = "SNODO_DEV_PKI_DIR";

/// What a simulator is built with.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The clock its components share (the framework's [`super::Instance`] gets the same one).
    pub clock: SimClock,
    /// The development PKI directory of the launch: the simulator's own certificates and keys (whom
    /// it trusts, what it presents when it calls out) come from here, as the launch's HTTPS server
    /// certificate does.
    pub pki_dir: PathBuf,
    /// How far the launch moved every listener from its default port: the simulators' own and,
    /// since `snodo up --listener-offset` moves all of them together, the integrator's too.
    pub port_offset: u16,
}

/// A port moved past 65535 by the offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("port {port} + offset {offset} is past 65535")]
pub struct PortPastRange {
    pub port: u16,
    pub offset: u16,
}

/// A simulator that could not be built (an unusable PKI directory, a schema that does not compile,
/// …): the simulator's own error, boxed because the framework does not know the simulators' types.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct BuildError(Box<dyn std::error::Error + Send + Sync>);

impl BuildError {
    pub fn new(source: impl std::error::Error + Send + Sync + 'static) -> BuildError {
        BuildError(Box::new(source))
    }
}

impl BuildContext {
    /// A fresh clock, the default PKI directory and no offset: a simulator built outside a launch.
    pub fn standalone() -> BuildContext {
        BuildContext {
            clock: SimClock::new(),
            pki_dir: default_pki_dir(),
            port_offset: 0,
        }
    }

    /// `port` moved by the launch's offset.
    pub fn moved_port(&self, port: u16) -> Result<u16, PortPastRange> {
        port.checked_add(self.port_offset).ok_or(PortPastRange {
            port,
            offset: self.port_offset,
        })
    }

    /// The base URL of `snodo up`'s inbound listener in the development set-up, moved by the offset
    /// like every other listener (`https://127.0.0.1:7443` with none).
    pub fn development_inbound_url(&self) -> Result<String, PortPastRange> {
        Ok(format!(
            "https://127.0.0.1:{}",
            self.moved_port(DEVELOPMENT_INBOUND_PORT)?
        ))
    }
}

/// The development PKI directory when no command option or configuration names one:
/// `SNODO_DEV_PKI_DIR`, else `$XDG_CACHE_HOME/snodo/devpki`, else `~/.cache/snodo/devpki`. A cache
/// directory, kept across runs, so that an integrator trusts the development CA once (it is renewed
/// only near expiry).
pub fn default_pki_dir() -> PathBuf {
    pki_dir_from(
        std::env::var_os(DEV_PKI_DIR_VARIABLE),
        std::env::var_os("XDG_CACHE_HOME"),
        std::env::var_os("HOME"),
    )
}

/// [`default_pki_dir`]'s rule on given values (an empty variable counts as unset, as shells leave
/// `VAR=` behind).
fn pki_dir_from(explicit: Option<OsString>, cache_home: Option<OsString>, home: Option<OsString>) -> PathBuf {
    let set = |value: Option<OsString>| value.filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set(explicit) {
        return dir;
    }
    set(cache_home)
        .or_else(|| set(home).map(|home| home.join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("snodo")
        .join("devpki")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(text: &str) -> Option<OsString> {
        Some(OsString::from(text))
    }

    #[test]
    fn the_pki_directory_variable_wins_over_the_cache_directories() {
        assert_eq!(
            pki_dir_from(some("/srv/pki"), some("/c"), some("/home/u")),
            PathBuf::from("/srv/pki")
        );
        assert_eq!(
            pki_dir_from(None, some("/c"), some("/home/u")),
            PathBuf::from("/c/snodo/devpki")
        );
        assert_eq!(
            pki_dir_from(None, None, some("/home/u")),
            PathBuf::from("/home/u/.cache/snodo/devpki")
        );
        assert_eq!(
            pki_dir_from(some(""), some(""), some("/home/u")),
            PathBuf::from("/home/u/.cache/snodo/devpki"),
            "empty variables are unset ones"
        );
        assert_eq!(
            pki_dir_from(None, None, None),
            std::env::temp_dir().join("snodo").join("devpki")
        );
    }

    #[test]
    fn the_inbound_listener_moves_by_the_launch_offset() {
        let mut context = BuildContext::standalone();
        assert_eq!(
            context.development_inbound_url().unwrap(),
            "https://127.0.0.1:7443"
        );
        context.port_offset = 110;
        assert_eq!(
            context.development_inbound_url().unwrap(),
            "https://127.0.0.1:7553"
        );
        context.port_offset = 60_000;
        assert_eq!(
            context.development_inbound_url(),
            Err(PortPastRange {
                port: 7443,
                offset: 60_000
            })
        );
    }
}
