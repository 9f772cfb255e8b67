//! Errors: each names the file, line or policy field it concerns.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    ListLine {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: not a readable MaxMind DB file: {message}")]
    Geo { path: PathBuf, message: String },
    #[error("policy: {field}: {message}")]
    Policy { field: String, message: String },
    #[error("saved authentication profiles: {message}")]
    Profiles { message: String },
    #[error("policy {path}: {message}")]
    PolicyFile { path: PathBuf, message: String },
}
