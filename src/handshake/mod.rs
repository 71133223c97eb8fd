//! TEMPORARY placeholder until the handshake module lands (will be overwritten).
#![allow(missing_docs)]
use alloc::string::String;
use alloc::vec::Vec;
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionOffer {
    pub name: String,
    pub params: Vec<(String, Option<String>)>,
}
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {}
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    #[error("x")]
    X,
}
