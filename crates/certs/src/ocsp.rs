//! OCSP (RFC 6960): reading a request and writing the CA-signed answer.
//!
//! Pure like the rest of the crate: the service looks each serial up and passes the
//! statuses in. A question about a certificate of another issuer (its `CertID` hashes do
//! not match this CA's name and key) is answered `unknown`, never `good`.

use aws_lc_rs::digest::{self, SHA1_FOR_LEGACY_USE_ONLY, SHA256};
use rcgen::SigningKey;
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::der::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use x509_cert::der::{Any, Decode, Encode};
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse,
    ResponderId, ResponseData, RevokedInfo, SingleResponse, Version,
};

use crate::ca::Ca;
use crate::serial::to_hex;
use crate::{Error, Result};

const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// Most certificates one request may ask about (openssl sends one per `-serial`/`-cert`).
pub const MAX_OCSP_ITEMS: usize = 32;

/// How long an answer may be cached by a relying party.
const NEXT_UPDATE: time::Duration = time::Duration::hours(1);

/// A parsed OCSP request: the certificates asked about, and the nonce to echo.
#[derive(Debug, Clone)]
pub struct OcspQuery {
    items: Vec<OcspItem>,
    nonce: Option<Extension>,
}

#[derive(Debug, Clone)]
struct OcspItem {
    cert_id: CertId,
    /// The serial (as stored: lowercase hex) when the `CertID` names this CA.
    serial: Option<String>,
}

/// What the service knows of one serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcspStatus {
    /// Issued by this CA and not revoked.
    Good,
    /// Revoked at that time.
    Revoked(OffsetDateTime),
    /// Not issued by this CA (or not known to the store).
    Unknown,
}

impl OcspQuery {
    /// The serials to look up, one per item; `None` for an item about another issuer
    /// (its status is `unknown` whatever is passed for it).
    pub fn serials(&self) -> impl Iterator<Item = Option<&str>> {
        self.items.iter().map(|i| i.serial.as_deref())
    }

    /// The same query known to be about certificates of another issuer: every item is
    /// answered `unknown`.
    pub fn foreign(mut self) -> Self {
        for i in &mut self.items {
            i.serial = None;
        }
        self
    }
}

/// The unsigned `malformedRequest` answer (RFC 6960 §2.3), for a body that is not an
/// OCSP request.
pub fn ocsp_malformed() -> Vec<u8> {
    OcspResponse::malformed_request()
        .to_der()
        .unwrap_or_default()
}

fn malformed(reason: impl ToString) -> Error {
    Error::Malformed {
        what: "OCSP request",
        reason: reason.to_string(),
    }
}

fn encode_err(e: x509_cert::der::Error) -> Error {
    Error::Crypto(format!("OCSP encoding: {e}"))
}

fn gen_time(t: OffsetDateTime) -> Result<OcspGeneralizedTime> {
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| Error::InvalidInput("time before 1970".into()))?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map(OcspGeneralizedTime)
        .map_err(encode_err)
}

/// What OCSP needs of the CA, worked out once when the CA is loaded: its certificate
/// (attached to every answer) and the name and key hashes a `CertID` names it by.
#[derive(Debug, Clone)]
pub(crate) struct OcspIssuer {
    cert: Certificate,
    /// (name hash, key hash) with SHA-1 and with SHA-256.
    sha1: (Vec<u8>, Vec<u8>),
    sha256: (Vec<u8>, Vec<u8>),
}

impl OcspIssuer {
    pub(crate) fn new(ca_der: &[u8]) -> Result<OcspIssuer> {
        let cert = Certificate::from_der(ca_der).map_err(|e| Error::Malformed {
            what: "CA certificate",
            reason: e.to_string(),
        })?;
        let name = cert.tbs_certificate.subject.to_der().map_err(encode_err)?;
        let key = cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        let hashes = |alg: &'static digest::Algorithm| {
            (
                digest::digest(alg, &name).as_ref().to_vec(),
                digest::digest(alg, key).as_ref().to_vec(),
            )
        };
        let (sha1, sha256) = (hashes(&SHA1_FOR_LEGACY_USE_ONLY), hashes(&SHA256));
        Ok(OcspIssuer { cert, sha1, sha256 })
    }

    /// The hashes a `CertID` carries for this CA with the given algorithm; `None` for an
    /// algorithm we do not answer for (then the item is `unknown`).
    fn hashes(&self, alg: &ObjectIdentifier) -> Option<&(Vec<u8>, Vec<u8>)> {
        if *alg == SHA1 {
            Some(&self.sha1)
        } else if *alg == SHA_256 {
            Some(&self.sha256)
        } else {
            None
        }
    }
}

impl Ca {
    /// Reads a DER OCSP request. Unsigned requests are expected (signatures, if any, are
    /// not required and not checked: the answer is public information).
    pub fn ocsp_request(&self, der: &[u8]) -> Result<OcspQuery> {
        let req = OcspRequest::from_der(der).map_err(malformed)?;
        let list = req.tbs_request.request_list;
        if list.is_empty() {
            return Err(malformed("no certificate asked about"));
        }
        if list.len() > MAX_OCSP_ITEMS {
            return Err(malformed(format!(
                "at most {MAX_OCSP_ITEMS} certificates per request"
            )));
        }
        let mut items = Vec::with_capacity(list.len());
        for r in list {
            let id = r.req_cert;
            let ours = self
                .ocsp_issuer()
                .hashes(&id.hash_algorithm.oid)
                .is_some_and(|(name, key)| {
                    id.issuer_name_hash.as_bytes() == name && id.issuer_key_hash.as_bytes() == key
                });
            let serial = ours.then(|| to_hex(id.serial_number.as_bytes()));
            items.push(OcspItem {
                cert_id: id,
                serial,
            });
        }
        let nonce = req
            .tbs_request
            .request_extensions
            .and_then(|exts| exts.into_iter().find(|e| e.extn_id == NONCE));
        Ok(OcspQuery { items, nonce })
    }

    /// A query about one serial of this CA (the JSON form of `POST /certs/ocsp`), with a
    /// SHA-1 `CertID` as OpenSSL builds by default.
    pub fn ocsp_query_for_serial(&self, serial_hex: &str) -> Result<OcspQuery> {
        let bytes = crate::serial::from_hex(serial_hex)?;
        let serial_number = SerialNumber::new(&bytes)
            .map_err(|e| Error::InvalidInput(format!("serial number: {e}")))?;
        let (name, key) = &self.ocsp_issuer().sha1;
        let cert_id = CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: SHA1,
                parameters: Some(Any::from(Null)),
            },
            issuer_name_hash: OctetString::new(name.as_slice()).map_err(encode_err)?,
            issuer_key_hash: OctetString::new(key.as_slice()).map_err(encode_err)?,
            serial_number,
        };
        Ok(OcspQuery {
            items: vec![OcspItem {
                cert_id,
                serial: Some(to_hex(&bytes)),
            }],
            nonce: None,
        })
    }

    /// The signed, successful answer: one `SingleResponse` per item with the status the
    /// service found (`statuses` in the order of [`OcspQuery::serials`]), produced now,
    /// valid for an hour, the request's nonce echoed, signed with the CA key and
    /// identified by its key hash, the CA certificate attached.
    pub fn ocsp_response(
        &self,
        q: &OcspQuery,
        statuses: &[OcspStatus],
        now: OffsetDateTime,
    ) -> Result<Vec<u8>> {
        let this_update = gen_time(now)?;
        let next_update = gen_time(now + NEXT_UPDATE)?;
        let mut responses = Vec::with_capacity(q.items.len());
        for (i, item) in q.items.iter().enumerate() {
            let status = match (item.serial.as_ref(), statuses.get(i)) {
                (Some(_), Some(OcspStatus::Good)) => CertStatus::good(),
                (Some(_), Some(OcspStatus::Revoked(at))) => CertStatus::revoked(RevokedInfo {
                    revocation_time: gen_time(*at)?,
                    revocation_reason: None,
                }),
                _ => CertStatus::unknown(),
            };
            responses.push(SingleResponse {
                cert_id: item.cert_id.clone(),
                cert_status: status,
                this_update,
                next_update: Some(next_update),
                single_extensions: None,
            });
        }
        let issuer = self.ocsp_issuer();
        let tbs = ResponseData {
            version: Version::V1,
            // By key: the SHA-1 of the CA's public key, as RFC 6960 §4.2.1 has it.
            responder_id: ResponderId::ByKey(
                OctetString::new(issuer.sha1.1.as_slice()).map_err(encode_err)?,
            ),
            produced_at: this_update,
            responses,
            response_extensions: q.nonce.clone().map(|n| vec![n]),
        };
        let tbs_der = tbs.to_der().map_err(encode_err)?;
        let key = self.signing_key();
        let signature_algorithm = signature_algorithm(key)?;
        let sig = key
            .sign(&tbs_der)
            .map_err(|e| Error::Crypto(format!("OCSP signature: {e}")))?;
        let basic = BasicOcspResponse {
            tbs_response_data: tbs,
            signature_algorithm,
            signature: BitString::from_bytes(&sig).map_err(encode_err)?,
            // The signer (the CA) travels along, so a client holding only the response
            // (`openssl ocsp -respin`) finds the key that signed it.
            certs: Some(vec![issuer.cert.clone()]),
        };
        OcspResponse::successful(basic)
            .and_then(|r| r.to_der())
            .map_err(encode_err)
    }
}

/// The X.509 `AlgorithmIdentifier` of what the CA key's `sign` produces.
fn signature_algorithm(key: &rcgen::KeyPair) -> Result<AlgorithmIdentifierOwned> {
    let alg = key.algorithm();
    let (oid, parameters) = if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        (ECDSA_SHA256, None)
    } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        (ECDSA_SHA384, None)
    } else if alg == &rcgen::PKCS_ED25519 {
        (ED25519, None)
    } else if alg == &rcgen::PKCS_RSA_SHA256 {
        (RSA_SHA256, Some(Any::from(Null)))
    } else {
        return Err(Error::Crypto(format!(
            "OCSP signing with {alg:?} is not supported"
        )));
    };
    Ok(AlgorithmIdentifierOwned { oid, parameters })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use x509_ocsp::{OcspResponseStatus, Request, TbsRequest};

    fn ca() -> Ca {
        Ca::generate("Test CA", OffsetDateTime::now_utc()).unwrap()
    }

    fn request(ca: &Ca, serial: &[u8], nonce: Option<&[u8]>) -> Vec<u8> {
        let q = ca.ocsp_query_for_serial(&to_hex(serial)).unwrap();
        let ext = nonce.map(|n| Extension {
            extn_id: NONCE,
            critical: false,
            extn_value: OctetString::new(OctetString::new(n).unwrap().to_der().unwrap()).unwrap(),
        });
        OcspRequest {
            tbs_request: TbsRequest {
                version: Version::V1,
                requestor_name: None,
                request_list: vec![Request {
                    req_cert: q.items[0].cert_id.clone(),
                    single_request_extensions: None,
                }],
                request_extensions: ext.map(|e| vec![e]),
            },
            optional_signature: None,
        }
        .to_der()
        .unwrap()
    }

    fn basic(der: &[u8]) -> BasicOcspResponse {
        let r = OcspResponse::from_der(der).unwrap();
        assert_eq!(r.response_status, OcspResponseStatus::Successful);
        BasicOcspResponse::from_der(r.response_bytes.unwrap().response.as_bytes()).unwrap()
    }

    #[test]
    fn answers_each_status_signed_with_the_nonce() {
        let ca = ca();
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let q = ca
            .ocsp_request(&request(&ca, &[0x12, 0x34], Some(b"nonce-1")))
            .unwrap();
        assert_eq!(q.serials().collect::<Vec<_>>(), vec![Some("1234")]);
        for (status, want) in [
            (OcspStatus::Good, "good"),
            (OcspStatus::Revoked(now), "revoked"),
            (OcspStatus::Unknown, "unknown"),
        ] {
            let b = basic(&ca.ocsp_response(&q, &[status], now).unwrap());
            let got = match &b.tbs_response_data.responses[0].cert_status {
                CertStatus::Good(_) => "good",
                CertStatus::Revoked(_) => "revoked",
                CertStatus::Unknown(_) => "unknown",
            };
            assert_eq!(got, want);
            assert_eq!(
                b.tbs_response_data.nonce().unwrap().0.as_bytes(),
                b"nonce-1"
            );
            // The signature verifies with the CA's public key.
            let tbs = b.tbs_response_data.to_der().unwrap();
            let cert = &ca.ocsp_issuer().cert;
            let pk = cert
                .tbs_certificate
                .subject_public_key_info
                .subject_public_key
                .raw_bytes();
            aws_lc_rs::signature::UnparsedPublicKey::new(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
                pk,
            )
            .verify(&tbs, b.signature.raw_bytes())
            .unwrap();
        }
    }

    #[test]
    fn another_issuer_is_unknown_and_garbage_is_malformed() {
        let ours = ca();
        let theirs = ca();
        let q = ours.ocsp_request(&request(&theirs, &[7], None)).unwrap();
        assert_eq!(q.serials().collect::<Vec<_>>(), vec![None]);
        let b = basic(
            &ours
                .ocsp_response(&q, &[OcspStatus::Good], OffsetDateTime::now_utc())
                .unwrap(),
        );
        assert!(matches!(
            b.tbs_response_data.responses[0].cert_status,
            CertStatus::Unknown(_)
        ));
        assert!(ours.ocsp_request(b"not der").is_err());
        let m = OcspResponse::from_der(&ocsp_malformed()).unwrap();
        assert_eq!(m.response_status, OcspResponseStatus::MalformedRequest);
        assert!(m.response_bytes.is_none());
    }
}
