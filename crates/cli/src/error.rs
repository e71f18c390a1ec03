//! The CLI's error: what went wrong and which exit code it maps to (1 for a server or
//! runtime failure, 2 for a usage error, as clap does for bad arguments).

use std::fmt;

#[derive(Debug)]
pub enum CliError {
    /// The command line (or the configuration it resolves to) cannot be acted on.
    Usage(String),
    /// The server answered with an error status; `message` is its `{"message"}`.
    Server { status: u16, message: String },
    /// Anything else: transport, files, invalid input data.
    Other(String),
}

pub type CliResult<T> = Result<T, CliError>;

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Server { .. } | CliError::Other(_) => 1,
        }
    }
    pub fn usage(m: impl Into<String>) -> CliError {
        CliError::Usage(m.into())
    }
    pub fn other(m: impl Into<String>) -> CliError {
        CliError::Other(m.into())
    }
    /// The HTTP status, for server errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            CliError::Server { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Other(m) => f.write_str(m),
            CliError::Server { status, message } => write!(f, "{message} (HTTP {status})"),
        }
    }
}

impl std::error::Error for CliError {}

impl From<reqwest::Error> for CliError {
    fn from(e: reqwest::Error) -> Self {
        // reqwest's Display omits the cause ("error sending request"); walk the chain.
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        CliError::Other(msg)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Other(e.to_string())
    }
}
