//! Certs service routes (contract §12): the HEAD API, the document-era paths the 0.17
//! SDK calls, and the unauthenticated CA/CRL endpoints. Authorization is in core.
//!
//! Path parameters sharing a position must share a name in the router, so every
//! `/{domainID}/certs/{id}…` route names it `id`: a serial for view/revoke/renew, a client
//! id for `…/{id}/delete` and the document-era `DELETE /{domainID}/certs/{id}`.

use crate::extract::{Ctx, Id, Ids};
use crate::params::Auth;
use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use switchyard_api_types::{
    CaRes, CertRes, CertsPage, CrlRes, IssueCertLegacyReq, IssueCertReq, RenewCertRes,
    RevokeCertsRes, SerialsPage, SubjectOptions,
};
use switchyard_core::certs::{CertView, IssueOptions};
use switchyard_domain::Page;

use crate::{
    Api, AppState,
    convert::ts,
    doc, empty,
    error::ApiResult,
    extract::path_id as id,
    extract::{AppJson, MaybeJson, Q},
};

pub fn routes(a: Api) -> Api {
    let t = "certs";
    a.route(
        Method::POST,
        "/{domainID}/certs/issue/{clientID}",
        doc(t, "Issue a certificate and key for a client")
            .body("IssueCertReq")
            .ok(201, Some("CertRes")),
        issue,
    )
    .route(
        Method::GET,
        "/{domainID}/certs",
        doc(
            t,
            "List certificates (offset, limit, entity_id); keys are not listed",
        )
        .query(crate::params::CERTS)
        .ok(200, Some("CertsPage")),
        list,
    )
    .route(
        Method::GET,
        "/{domainID}/certs/{id}",
        doc(t, "View a certificate (with its key) by serial").ok(200, Some("CertRes")),
        view,
    )
    .route(
        Method::PATCH,
        "/{domainID}/certs/{id}/revoke",
        doc(t, "Revoke a certificate by serial").ok(204, None),
        revoke,
    )
    .route(
        Method::PATCH,
        "/{domainID}/certs/{id}/renew",
        doc(
            t,
            "Renew a certificate: new serial and key, same common name; the old one is revoked",
        )
        .ok(200, Some("RenewCertRes")),
        renew,
    )
    .route(
        Method::DELETE,
        "/{domainID}/certs/{id}/delete",
        doc(t, "Revoke every certificate of a client (id = client id)").ok(204, None),
        revoke_all,
    )
    .route(
        Method::POST,
        "/{domainID}/certs",
        doc(
            t,
            "Issue a certificate (document-era form: client_id and ttl)",
        )
        .body("IssueCertLegacyReq")
        .ok(201, Some("CertRes")),
        issue_legacy,
    )
    .route(
        Method::GET,
        "/{domainID}/serials/{clientID}",
        doc(t, "A client's certificates (document-era form)").query(crate::params::CERTS).ok(200, Some("SerialsPage")),
        serials,
    )
    .route(
        Method::DELETE,
        "/{domainID}/certs/{id}",
        doc(
            t,
            "Revoke every certificate of a client (document-era form, id = client id)",
        )
        .ok(200, Some("RevokeCertsRes")),
        revoke_legacy,
    )
    .route(
        Method::POST,
        "/{domainID}/certs/csrs/{clientID}",
        doc(t, "Sign a client's CSR (base64 DER or PEM in `csr`; `?ttl=`)")
            .body("CsrReq")
            .query(crate::params::TTL)
            .ok(200, Some("CertRes")),
        sign_csr,
    )
    .route(
        Method::POST,
        "/certs/csrs/{clientID}",
        doc(
            t,
            "Sign a client's CSR as an agent (Authorization: Bearer <MG_CERTS_SECRET>; `?ttl=`)",
        ).auth(Auth::Agent)
        .body("CsrReq")
        .query(crate::params::TTL)
        .ok(200, Some("CertRes")),
        sign_csr_internal,
    )
    .route(
        Method::POST,
        "/certs/ocsp",
        doc(
            t,
            "OCSP responder: a DER request (application/ocsp-request) or JSON {serial_number | certificate}; answers the signed DER response (no authentication)",
        ).auth(Auth::Public)
        .body("OcspReq")
        .raw_bodies(&["application/ocsp-request"])
        .media("application/ocsp-response")
        .ok(200, None),
        ocsp,
    )
    .route(
        Method::GET,
        "/certs/crl",
        doc(t, "The current CRL, DER as base64 (no authentication)").auth(Auth::Public).ok(200, Some("CrlRes")),
        crl,
    )
    .route(
        Method::GET,
        "/certs/view-ca",
        doc(t, "The CA certificate (no authentication)").auth(Auth::Public).ok(200, Some("CaRes")),
        view_ca,
    )
    .route(
        Method::GET,
        "/certs/download-ca",
        doc(
            t,
            "The CA certificate as a ZIP bundle (ca.crt), or PEM with Accept: application/x-pem-file (no authentication)",
        ).auth(Auth::Public),
        download_ca,
    )
}

fn cert(c: &CertView) -> CertRes {
    CertRes {
        serial_number: c.serial.clone(),
        certificate: c.certificate.clone(),
        key: c.key.clone(),
        revoked: c.revoked(),
        expiry_time: ts(c.expires_at),
        entity_id: c.client_id.to_string(),
        client_id: c.client_id.to_string(),
    }
}

fn page(p: &Page<CertView>) -> CertsPage {
    CertsPage {
        total: p.total,
        offset: p.offset,
        limit: p.limit,
        certificates: p.items.iter().map(cert).collect(),
    }
}

fn options(ttl: String, ips: Vec<String>, o: SubjectOptions) -> IssueOptions {
    let mut ip_addresses = ips;
    ip_addresses.extend(o.ip_addresses);
    IssueOptions {
        ttl: Some(ttl).filter(|t| !t.trim().is_empty()),
        common_name: Some(o.common_name).filter(|c| !c.trim().is_empty()),
        organization: o.organization,
        organizational_unit: o.organizational_unit,
        country: o.country,
        province: o.province,
        locality: o.locality,
        street_address: o.street_address,
        postal_code: o.postal_code,
        dns_names: o.dns_names,
        ip_addresses,
    }
}

async fn issue(
    Ctx(s, c): Ctx,
    Ids(d, cl): Ids,
    MaybeJson(r): MaybeJson<IssueCertReq>,
) -> ApiResult<Response> {
    let r = r.unwrap_or_default();
    let v = s
        .core
        .issue_cert(&c, d, cl, options(r.ttl, r.ip_addresses, r.options))
        .await?;
    Ok((StatusCode::CREATED, Json(cert(&v))).into_response())
}

async fn sign_csr(
    Ctx(s, c): Ctx,
    Ids(d, cl): Ids,
    crate::extract::Q(q): crate::extract::Q,
    AppJson(r): AppJson<switchyard_api_types::CsrReq>,
) -> ApiResult<Response> {
    let ttl = q.str("ttl").map(str::to_string);
    let v = s
        .core
        .sign_csr(&c, d, cl, &csr_bytes(&r)?, ttl.as_deref())
        .await?;
    Ok(Json(cert(&v)).into_response())
}

fn csr_bytes(r: &switchyard_api_types::CsrReq) -> Result<Vec<u8>, switchyard_core::Error> {
    base64::engine::general_purpose::STANDARD
        .decode(r.csr.trim())
        .map_err(|_| switchyard_core::Error::InvalidInput("csr must be base64".into()))
}

async fn sign_csr_internal(
    State(s): State<AppState>,
    Path(client): Path<String>,
    headers: axum::http::HeaderMap,
    crate::extract::Q(q): crate::extract::Q,
    AppJson(r): AppJson<switchyard_api_types::CsrReq>,
) -> ApiResult<Response> {
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // The secret first: nothing about the body is told to a caller without it.
    s.core.check_certs_secret(secret)?;
    let ttl = q.str("ttl").map(str::to_string);
    let v = s
        .core
        .sign_csr_internal(secret, id(&client)?, &csr_bytes(&r)?, ttl.as_deref())
        .await?;
    Ok(Json(cert(&v)).into_response())
}

/// The OCSP responder. A JSON body (by `Content-Type`) names one certificate; anything
/// else is taken as a DER `OCSPRequest` (`openssl ocsp` sends
/// `application/ocsp-request`).
async fn ocsp(
    State(s): State<AppState>,
    crate::extract::Q(q): crate::extract::Q,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    use switchyard_core::certs::OcspAsk;
    let forced = |v: &str| {
        if v.trim().is_empty() {
            Ok(())
        } else {
            Err(switchyard_core::Error::InvalidInput(
                "forcing an OCSP status is not supported: answers are signed by the CA".into(),
            ))
        }
    };
    forced(q.str("force_status").unwrap_or_default())?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let der = if json {
        let r: switchyard_api_types::OcspReq = serde_json::from_slice(&body)
            .map_err(|e| switchyard_core::Error::InvalidInput(format!("malformed body: {e}")))?;
        forced(&r.status)?;
        let ask = match (r.serial_number.trim(), r.certificate.trim()) {
            ("", "") => {
                return Err(switchyard_core::Error::InvalidInput(
                    "serial_number or certificate is required".into(),
                )
                .into());
            }
            ("", pem) => OcspAsk::Certificate(pem),
            (serial, _) => OcspAsk::Serial(serial),
        };
        s.core.ocsp(ask).await?
    } else if body.is_empty() {
        return Err(switchyard_core::Error::InvalidInput("missing OCSP request".into()).into());
    } else {
        s.core.ocsp(OcspAsk::Der(&body)).await?
    };
    let mut r = (StatusCode::OK, der).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/ocsp-response"),
    );
    Ok(r)
}

async fn issue_legacy(
    Ctx(s, c): Ctx,
    Id(d): Id,
    AppJson(r): AppJson<IssueCertLegacyReq>,
) -> ApiResult<Response> {
    let v = s
        .core
        .issue_cert(
            &c,
            d,
            id(&r.client_id)?,
            options(r.ttl, Vec::new(), SubjectOptions::default()),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(cert(&v))).into_response())
}

async fn list(Ctx(s, c): Ctx, Id(d): Id, Q(q): Q) -> ApiResult<Response> {
    let p = s.core.list_certs(&c, d, &q).await?;
    Ok(Json(page(&p)).into_response())
}

async fn serials(Ctx(s, c): Ctx, Ids(d, cl): Ids, Q(q): Q) -> ApiResult<Response> {
    let p = s.core.list_client_certs(&c, d, cl, &q).await?;
    Ok(Json(SerialsPage {
        certs: p.items.iter().map(cert).collect(),
        total: p.total,
        offset: p.offset,
        limit: p.limit,
    })
    .into_response())
}

async fn view(Ctx(s, c): Ctx, Path((d, serial)): Path<(String, String)>) -> ApiResult<Response> {
    let v = s.core.view_cert(&c, id(&d)?, &serial).await?;
    Ok(Json(cert(&v)).into_response())
}

async fn revoke(Ctx(s, c): Ctx, Path((d, serial)): Path<(String, String)>) -> ApiResult<Response> {
    s.core.revoke_cert(&c, id(&d)?, &serial).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn renew(Ctx(s, c): Ctx, Path((d, serial)): Path<(String, String)>) -> ApiResult<Response> {
    let v = s.core.renew_cert(&c, id(&d)?, &serial).await?;
    let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t.as_bytes());
    let mut res = cert(&v);
    res.certificate = b64(&res.certificate);
    res.key = res.key.as_deref().map(b64);
    Ok(Json(RenewCertRes { certificate: res }).into_response())
}

async fn revoke_all(Ctx(s, c): Ctx, Ids(d, cl): Ids) -> ApiResult<Response> {
    s.core.revoke_client_certs(&c, d, cl).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn revoke_legacy(Ctx(s, c): Ctx, Ids(d, cl): Ids) -> ApiResult<Response> {
    let at = s.core.revoke_client_certs(&c, d, cl).await?;
    Ok(Json(RevokeCertsRes {
        revocation_time: ts(at),
    })
    .into_response())
}

async fn crl(State(s): State<AppState>) -> ApiResult<Response> {
    let der = s.core.crl_der().await?;
    Ok(Json(CrlRes {
        crl: base64::engine::general_purpose::STANDARD.encode(der),
    })
    .into_response())
}

async fn view_ca(State(s): State<AppState>) -> ApiResult<Response> {
    let ca = s.core.ca_cert()?;
    Ok(Json(CaRes {
        serial_number: ca.serial,
        common_name: ca.common_name,
        certificate: ca.certificate,
        revoked: false,
        not_before: ts(ca.not_before),
        expiry_time: ts(ca.not_after),
    })
    .into_response())
}

/// The CA certificate as the contract's ZIP bundle (`ca.crt` inside), or as the PEM
/// file itself for a client that asks for `application/x-pem-file` (or
/// `application/x-x509-ca-cert`) in `Accept`.
async fn download_ca(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let ca = s.core.ca_cert()?;
    let wants_pem = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("x-pem-file") || a.contains("x-x509-ca-cert"));
    let (body, ct, name) = if wants_pem {
        (
            ca.certificate.into_bytes(),
            "application/x-pem-file",
            "ca.crt",
        )
    } else {
        (ca_zip(&ca.certificate)?, "application/zip", "ca.zip")
    };
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

fn ca_zip(pem: &str) -> Result<Vec<u8>, switchyard_core::Error> {
    use std::io::Write;
    let fail = |e: String| switchyard_core::Error::Internal(format!("ca bundle: {e}"));
    let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o644);
    zw.start_file("ca.crt", opts)
        .map_err(|e| fail(e.to_string()))?;
    zw.write_all(pem.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    Ok(zw.finish().map_err(|e| fail(e.to_string()))?.into_inner())
}
