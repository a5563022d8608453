//! How a [`RestClient`](super::RestClient) reaches Crowd: ureq's HTTP over our own
//! choice of connection parts, for speed without giving up the deadline.
//!
//! - TLS (rustls with ring) is configured once per process and trust file: the roots
//!   are read and parsed once, and TLS sessions resume across the transactions of a
//!   long-lived process (a screen locker, a threaded PAM consumer). ureq would build
//!   a new configuration for every connection made with a per-request timeout.
//! - A url naming an IP address is connected to as it is. Only a host name is looked
//!   up, by ureq's resolver, which runs the lookup in a short-lived thread so that
//!   DNS, too, is bounded by the deadline.
//!
//! The connector and resolver are ureq's `unversioned` API, which is why ureq's
//! version is pinned exactly in Cargo.toml.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use ureq::config::Config;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::time::{Duration as UreqDuration, Instant as UreqInstant};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, TcpConnector,
    Transport, TransportAdapter,
};

use super::CrowdError;

/// The system trust store: the CA bundle of the distribution, first found wins.
/// Fixed paths, never `SSL_CERT_FILE` and the like: under sudo the environment is the
/// invoking user's, who must not choose whom the module trusts.
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Arch
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // Fedora, RHEL
    "/etc/pki/tls/certs/ca-bundle.crt",   // older RHEL
    "/etc/ssl/ca-bundle.pem",             // openSUSE
];

/// TLS configurations kept per process; a host uses one, a test process a few.
const MAX_CACHED_CONFIGS: usize = 8;

/// An agent whose connections use the process's TLS configuration for `ca_file`
/// (or the system trust store) and resolve IP-literal hosts without a lookup.
pub(super) fn agent(config: Config, ca_file: Option<&Path>) -> Result<ureq::Agent, CrowdError> {
    let tls = tls_config(ca_file)?;
    let connector = ().chain(TcpConnector::default()).chain(TlsConnector(tls));
    Ok(ureq::Agent::with_parts(
        config,
        connector,
        LiteralResolver::default(),
    ))
}

/// The file a TLS configuration was built from, as it was then: a changed file (a
/// renewed CA bundle) has another identity and gets a new configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TrustFile {
    path: PathBuf,
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
}

impl TrustFile {
    fn of(path: &Path) -> std::io::Result<TrustFile> {
        let m = std::fs::metadata(path)?;
        Ok(TrustFile {
            path: path.to_owned(),
            device: m.dev(),
            inode: m.ino(),
            size: m.size(),
            modified: (m.mtime(), m.mtime_nsec()),
        })
    }
}

/// The shared TLS configuration trusting `ca_file` alone, or the system trust store.
fn tls_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, CrowdError> {
    let file = match ca_file {
        Some(path) => TrustFile::of(path).map_err(|e| {
            CrowdError::Setup(format!("cannot read ca_file {}: {e}", path.display()))
        })?,
        None => SYSTEM_CA_BUNDLES
            .iter()
            .find_map(|p| TrustFile::of(Path::new(p)).ok())
            .ok_or_else(|| {
                CrowdError::Setup(format!(
                    "no system trust store (looked for {}): set ca_file",
                    SYSTEM_CA_BUNDLES.join(", ")
                ))
            })?,
    };
    static CACHE: Mutex<Vec<(TrustFile, Arc<ClientConfig>)>> = Mutex::new(Vec::new());
    // A poisoned lock only means another thread panicked while building; the list
    // itself is always whole.
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, config)) = cache.iter().find(|(f, _)| *f == file) {
        return Ok(config.clone());
    }
    let config = Arc::new(build_tls_config(&file.path)?);
    cache.retain(|(f, _)| f.path != file.path);
    if cache.len() >= MAX_CACHED_CONFIGS {
        cache.remove(0);
    }
    cache.push((file, config.clone()));
    Ok(config)
}

pub(crate) fn build_tls_config(path: &Path) -> Result<ClientConfig, CrowdError> {
    let pem = std::fs::read(path)
        .map_err(|e| CrowdError::Setup(format!("cannot read ca_file {}: {e}", path.display())))?;
    let mut roots = RootCertStore::empty();
    let (added, _unusable) = roots
        .add_parsable_certificates(CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok));
    if added == 0 {
        return Err(CrowdError::Setup(format!(
            "no certificates in {}",
            path.display()
        )));
    }
    let provider = Arc::new(super::tls_provider::crowd_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CrowdError::Setup(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Wraps an `https` connection in TLS with a shared configuration.
#[derive(Debug)]
struct TlsConnector(Arc<ClientConfig>);

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .authority()
            .map(|a| a.host().trim_start_matches('[').trim_end_matches(']'))
            .unwrap_or_default();
        let name = ServerName::try_from(host)
            .map_err(|_| ureq::Error::Tls("the url's host is not a valid TLS server name"))?
            .to_owned();
        let mut conn = ClientConnection::new(self.0.clone(), name)?;
        let mut socket = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        // What is left of this connection's time once TCP has connected.
        socket.set_timeout(time_left(details));
        conn.complete_io(&mut socket)?;
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned::new(conn, socket),
        })))
    }
}

/// The connection's timeout less the time spent since it started.
fn time_left(details: &ConnectionDetails) -> NextTimeout {
    let mut timeout = details.timeout;
    if let (UreqDuration::Exact(after), UreqInstant::Exact(start), UreqInstant::Exact(now)) =
        (timeout.after, details.now, (details.current_time)())
    {
        timeout.after = UreqDuration::Exact(after.saturating_sub(now - start));
    }
    timeout
}

/// A TLS connection as a ureq transport.
struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsTransport")
    }
}

impl Drop for TlsTransport {
    fn drop(&mut self) {
        // The output buffer holds the last requests in clear: the Authorization header
        // (the application's secret) and a body that may carry a user's password.
        zeroize::Zeroize::zeroize(self.buffers.output());
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        use std::io::Write;
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        use std::io::Read;
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

/// Resolves an IP-literal host by parsing it; hands host names to ureq's resolver,
/// once per name for the life of the agent (one PAM transaction): ureq asks before
/// every request, even one that reuses the open connection.
#[derive(Debug, Default)]
struct LiteralResolver {
    looked_up: Mutex<Vec<(String, ResolvedSocketAddrs)>>,
}

impl Resolver for LiteralResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if let Some(addr) = literal_address(uri) {
            let mut addrs = self.empty();
            addrs.push(addr);
            return Ok(addrs);
        }
        let key = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or_default(),
            uri.authority().map(|a| a.as_str()).unwrap_or_default()
        );
        let mut looked_up = self.looked_up.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, addrs)) = looked_up.iter().find(|(k, _)| *k == key) {
            return Ok(addrs.clone());
        }
        let addrs = DefaultResolver::default().resolve(uri, config, timeout)?;
        looked_up.push((key, addrs.clone()));
        Ok(addrs)
    }
}

/// The socket address of a url whose host is an IP address.
fn literal_address(uri: &ureq::http::Uri) -> Option<SocketAddr> {
    let authority = uri.authority()?;
    let host = authority.host();
    let ip: IpAddr = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()?;
    let port = authority.port_u16().or(match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    })?;
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> ureq::http::Uri {
        s.parse().expect("uri")
    }

    #[test]
    fn ip_literals_need_no_lookup() {
        let cases = [
            ("https://127.0.0.1:8443/crowd", Some("127.0.0.1:8443")),
            ("https://10.0.0.5/crowd", Some("10.0.0.5:443")),
            ("http://10.0.0.5/crowd", Some("10.0.0.5:80")),
            ("https://[::1]:8443/crowd", Some("[::1]:8443")),
            ("https://[2001:db8::7]/crowd", Some("[2001:db8::7]:443")),
            ("https://crowd.example.org/crowd", None),
            ("https://localhost:8443/crowd", None),
            // Not an address, whatever it looks like: left to the resolver.
            ("https://127.1:8443/crowd", None),
        ];
        for (url, expected) in cases {
            let expected = expected.map(|a| a.parse::<SocketAddr>().expect("addr"));
            assert_eq!(literal_address(&uri(url)), expected, "{url}");
        }
    }

    #[test]
    fn one_tls_configuration_per_trust_file_until_it_changes() {
        let dir = std::env::temp_dir().join(format!("pam_crowd-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let ca = dir.join("ca.pem");
        // Any CA certificate will do: the double's.
        let double = crowd_double::Double::start(
            crowd_double::Fixture::default(),
            crowd_double::Transport::Https,
        );
        let one = std::fs::read_to_string(double.ca_file().expect("CA")).expect("read CA");
        let pem = |n: usize| one.repeat(n);
        std::fs::write(&ca, pem(1)).expect("write");
        let first = tls_config(Some(&ca)).expect("config");
        let again = tls_config(Some(&ca)).expect("config");
        assert!(Arc::ptr_eq(&first, &again), "the roots were loaded twice");
        // A renewed bundle (another size, another mtime) is read again.
        std::fs::write(&ca, pem(2)).expect("rewrite");
        let renewed = tls_config(Some(&ca)).expect("config");
        assert!(
            !Arc::ptr_eq(&first, &renewed),
            "a changed ca_file was not reread"
        );
        std::fs::write(&ca, "not a certificate\n").expect("rewrite");
        assert!(
            matches!(tls_config(Some(&ca)), Err(CrowdError::Setup(m)) if m.contains("no certificates"))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
