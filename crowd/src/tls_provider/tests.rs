//! The provider against TLS servers with the keys and versions a Crowd server has
//! (Java's keytool makes RSA keys; Crowd on Java 8 speaks TLS 1.2 at most), and
//! against the ones it leaves out. Certificates are made by openssl, as an admin would.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConnection, ServerConfig, ServerConnection};

use super::crowd_provider;

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("crowd-client-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A self-signed certificate for 127.0.0.1 with a key made by `openssl genpkey` with
/// `algorithm` arguments; returns (certificate, key) PEM paths.
fn self_signed(dir: &Path, algorithm: &[&str]) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=crowd.test",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(algorithm)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is installed (tests/deps installs it)");
    assert!(status.success(), "openssl req {algorithm:?}");
    (cert, key)
}

/// Serves one TLS handshake with `server`, then writes "ok"; returns whether the
/// client, configured as for a ca_file `cert` (our provider), completed it and read "ok".
fn handshake(cert: &Path, server: ServerConfig) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(server);
    let serving = std::thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut conn = ServerConnection::new(server).unwrap();
        while conn.is_handshaking() {
            if conn.complete_io(&mut tcp).is_err() {
                return;
            }
        }
        let _ = conn.writer().write_all(b"ok");
        let _ = conn.complete_io(&mut tcp);
    });
    // The configuration every connection to Crowd uses, trusting `cert` as ca_file.
    let config = crate::transport::build_tls_config(cert).unwrap();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut conn =
        ClientConnection::new(Arc::new(config), "127.0.0.1".try_into().unwrap()).unwrap();
    let mut stream = rustls::Stream::new(&mut conn, &mut tcp);
    let mut answer = [0u8; 2];
    let result = stream
        .read_exact(&mut answer)
        .map_err(|e| e.to_string())
        .and_then(|()| match &answer {
            b"ok" => Ok(()),
            other => Err(format!("read {other:?}")),
        });
    drop(tcp);
    serving.join().unwrap();
    result
}

/// A server with `cert` and `key`, offering `versions` and, if given, only `suites`.
fn server(
    cert: &Path,
    key: &Path,
    versions: &[&'static rustls::SupportedProtocolVersion],
    suites: Option<Vec<rustls::SupportedCipherSuite>>,
) -> ServerConfig {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(suites) = suites {
        provider.cipher_suites = suites;
    }
    ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_file(cert).unwrap()],
            PrivateKeyDer::from_pem_file(key).unwrap(),
        )
        .unwrap()
}

const RSA: &[&str] = &["-newkey", "rsa:2048"];
const P256: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
const P384: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"];

#[test]
fn rsa_and_ecdsa_servers_over_tls_1_2_and_1_3() {
    for (name, algorithm) in [("rsa", RSA), ("p256", P256), ("p384", P384)] {
        let scratch = Scratch::new(name);
        let (cert, key) = self_signed(&scratch.0, algorithm);
        for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
            handshake(&cert, server(&cert, &key, &[version], None))
                .unwrap_or_else(|e| panic!("{name} {version:?}: {e}"));
        }
    }
}

#[test]
fn what_is_left_out_is_refused() {
    use rustls::crypto::ring::cipher_suite as suite;
    let scratch = Scratch::new("ed25519");
    let (cert, key) = self_signed(&scratch.0, &["-newkey", "ed25519"]);
    let refused = handshake(&cert, server(&cert, &key, &[&rustls::version::TLS13], None));
    // The client does not offer Ed25519, so the server has nothing to sign with.
    let refused = refused.expect_err("an Ed25519 certificate was accepted");
    assert!(refused.contains("HandshakeFailure"), "{refused}");

    let scratch = Scratch::new("chacha");
    let (cert, key) = self_signed(&scratch.0, RSA);
    let chacha_only = vec![
        suite::TLS13_CHACHA20_POLY1305_SHA256,
        suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ];
    let all = [&rustls::version::TLS12, &rustls::version::TLS13];
    let refused = handshake(&cert, server(&cert, &key, &all, Some(chacha_only)));
    let refused = refused.expect_err("a ChaCha20-only server was accepted");
    assert!(refused.contains("HandshakeFailure"), "{refused}");
}

#[test]
fn no_client_key_is_ever_loaded() {
    let scratch = Scratch::new("client-key");
    let (_, key) = self_signed(&scratch.0, P256);
    let key = PrivateKeyDer::from_pem_file(&key).unwrap();
    assert!(crowd_provider().key_provider.load_private_key(key).is_err());
}
