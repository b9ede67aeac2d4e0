//! TLS on the listening port (`[server.tls]`): rustls with ALPN `h2` and `http/1.1`, the
//! certificate and key read from PEM files at start and again on SIGHUP.
//!
//! A reload swaps the acceptor new connections use; connections open already keep theirs. A
//! reload that fails (a missing or broken file) keeps the running certificate and says why.
//! This module only sets up and swaps acceptors; the accept loop does the handshakes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;

/// The acceptor of the moment, and where its certificate comes from.
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    acceptor: RwLock<TlsAcceptor>,
}

impl Tls {
    /// Reads the certificate chain and key; an error names the file and what is wrong.
    pub fn load(config: &TlsConfig) -> anyhow::Result<Arc<Tls>> {
        let acceptor = acceptor(&config.cert, &config.key)?;
        Ok(Arc::new(Tls {
            cert: config.cert.clone(),
            key: config.key.clone(),
            acceptor: RwLock::new(acceptor),
        }))
    }

    /// The acceptor for a connection accepted now.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor
            .read()
            .expect("never held across a panic")
            .clone()
    }

    /// Reads the files again; new connections get the new certificate. On failure the running
    /// one stays.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = acceptor(&self.cert, &self.key)?;
        *self.acceptor.write().expect("never held across a panic") = fresh;
        Ok(())
    }
}

fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    use anyhow::Context;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read the certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a PEM private key from {}", key.display()))?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the certificate and key do not go together")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
