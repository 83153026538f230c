//! The TLS connector for the URL's `sslmode` (see `config::DatabaseTls`): rustls, the bundled
//! web PKI roots or the PEM file `sslrootcert` names. tokio-postgres calls it only as `sslmode`
//! says; a certificate that does not verify fails the connection, never downgrades it.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::DatabaseTls;
use crate::db::DbError;

pub fn connector(tls: &DatabaseTls) -> Result<MakeRustlsConnect, DbError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| DbError::Task(format!("TLS set-up: {e}")))?;
    let config = match tls {
        // `disable` never uses it.
        DatabaseTls::Prefer | DatabaseTls::Disable => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
        DatabaseTls::Verify { roots } => {
            let mut store = rustls::RootCertStore::empty();
            match roots {
                None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
                Some(path) => {
                    let unreadable = |e: &dyn std::fmt::Display| {
                        DbError::Postgres(format!(
                            "sslrootcert {}: cannot read PEM certificates: {e}",
                            path.display()
                        ))
                    };
                    let certs = CertificateDer::pem_file_iter(path)
                        .map_err(|e| unreadable(&e))?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| unreadable(&e))?;
                    let (added, _) = store.add_parsable_certificates(certs);
                    if added == 0 {
                        return Err(unreadable(&"no certificate in it"));
                    }
                }
            }
            builder.with_root_certificates(store).with_no_client_auth()
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

/// `sslmode=prefer`, as libpq: the traffic encrypted, the server's certificate taken as it comes
/// (its handshake signature is still checked, so the session key is the certificate's).
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
