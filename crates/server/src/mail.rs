//! The SMTP mailer core sends password-reset e-mails with (lettre, async on tokio).

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, SinglePart, header::ContentTransferEncoding, header::ContentType},
    transport::smtp::authentication::Credentials,
};

use crate::Settings;

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// The mailer from the `MG_EMAIL_*` settings; `None` when no host is set.
    pub fn from_settings(s: &Settings) -> Result<Option<SmtpMailer>, String> {
        let host = s.email_host.trim();
        if host.is_empty() {
            return Ok(None);
        }
        let builder = match s.email_tls.as_str() {
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
            "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
            "none" => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                host,
            )),
            other => {
                return Err(format!(
                    "SWITCHYARD_EMAIL_TLS must be tls, starttls or none, got {other}"
                ));
            }
        }
        .map_err(|e| format!("MG_EMAIL_HOST {host}: {e}"))?;
        let mut builder = builder.port(s.email_port);
        if !s.email_username.is_empty() {
            builder = builder.credentials(Credentials::new(
                s.email_username.clone(),
                s.email_password.clone(),
            ));
        }
        let from: Mailbox = format!("{} <{}>", s.email_from_name, s.email_from_address)
            .parse()
            .map_err(|e| format!("MG_EMAIL_FROM_ADDRESS: {e}"))?;
        Ok(Some(SmtpMailer {
            transport: builder.build(),
            from,
        }))
    }
}

#[async_trait::async_trait]
impl switchyard_core::Mailer for SmtpMailer {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        let to: Mailbox = to.parse().map_err(|e| format!("recipient: {e}"))?;
        // Base64: the link line is longer than 7bit/quoted-printable lines may be, and
        // must reach the reader whole.
        let part = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .header(ContentTransferEncoding::Base64)
            .body(body.to_string());
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .singlepart(part)
            .map_err(|e| e.to_string())?;
        self.transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
