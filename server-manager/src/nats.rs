//! The link to NATS: requests to one zone (`<prefix>.zone.<identity>.<id>.<verb>.<me>`)
//! with a timeout and typed replies, and answering zones' requests. Connecting (with the
//! manager role's credentials) is `service_kit::nats::connect`.
//!
//! Every payload is named-field MessagePack (`protocol::cluster::encode`/`decode`); every
//! reply is a `Reply<T>`. A request whose payload does not decode gets an `ErrorReply`
//! of kind `malformed` and is counted; it never reaches the registry.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::{Client, Message, Request, RequestErrorKind};
use protocol::ZoneId;
use protocol::cluster::{self, ErrorKind, ErrorReply, Identity, Reply, Subjects, ZoneVerb};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a request to a zone failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneCallError {
    /// Nobody answered in time.
    #[error("the zone did not answer within {0:?}")]
    Timeout(Duration),
    /// Nobody listens on the zone's subject (it is gone).
    #[error("no zone listens on that subject")]
    NoResponders,
    /// The zone answered with an error.
    #[error("the zone refused: {} ({})", .0.message, .0.kind)]
    Refused(ErrorReply),
    /// The zone's answer did not decode.
    #[error("the zone's answer is malformed: {0}")]
    Malformed(String),
    /// NATS failed (disconnected, payload too big).
    #[error("NATS: {0}")]
    Nats(String),
}

impl ZoneCallError {
    /// Whether the zone said it does not hold the epoch named.
    pub fn is_wrong_epoch(&self) -> bool {
        matches!(self, Self::Refused(e) if e.kind == ErrorKind::WrongEpoch)
    }
}

/// Typed requests to zones.
#[derive(Debug, Clone)]
pub struct ZoneLink {
    client: Client,
    subjects: Subjects,
    /// Which NATS identity serves each zone (learned from its reports): a zone's subjects
    /// name it, so only that process can read what is sent to the zone.
    identities: Arc<RwLock<HashMap<ZoneId, Identity>>>,
}

impl ZoneLink {
    /// A link over `client` for the cluster of `subjects`.
    pub fn new(client: Client, subjects: Subjects) -> Self {
        Self {
            client,
            subjects,
            identities: Arc::default(),
        }
    }

    /// Records that `zone` is served by `identity`.
    pub fn bind(&self, zone: ZoneId, identity: Identity) {
        // Every heartbeat binds again: the write lock only when something changes.
        if self.identity_of(zone).as_ref() != Some(&identity) {
            self.identities
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(zone, identity);
        }
    }

    /// The identity serving `zone`, if known.
    pub fn identity_of(&self, zone: ZoneId) -> Option<Identity> {
        self.identities
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&zone)
            .cloned()
    }

    /// The NATS client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The subject builder.
    pub fn subjects(&self) -> &Subjects {
        &self.subjects
    }

    /// Sends `request` to `zone` as `verb` and waits up to `timeout` for a `Reply<Resp>`.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        zone: ZoneId,
        verb: ZoneVerb,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, ZoneCallError> {
        let Some(identity) = self.identity_of(zone) else {
            return Err(ZoneCallError::NoResponders);
        };
        let subject = self.subjects.zone(&identity, zone, verb);
        let req = Request::new()
            .payload(cluster::encode(request).into())
            .timeout(Some(timeout));
        let msg = self
            .client
            .send_request(subject, req)
            .await
            .map_err(|e| match e.kind() {
                RequestErrorKind::TimedOut => ZoneCallError::Timeout(timeout),
                RequestErrorKind::NoResponders => ZoneCallError::NoResponders,
                _ => ZoneCallError::Nats(e.to_string()),
            })?;
        match cluster::decode::<Reply<Resp>>(&msg.payload) {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(refusal)) => Err(ZoneCallError::Refused(refusal)),
            Err(e) => Err(ZoneCallError::Malformed(e.to_string())),
        }
    }
}

/// Answers a request message (does nothing for a message sent without a reply subject).
pub async fn reply<T: Serialize>(client: &Client, msg: &Message, reply: &Reply<T>) {
    if let Some(to) = &msg.reply {
        let payload = cluster::encode(reply);
        if let Err(e) = client.publish(to.clone(), payload.into()).await {
            tracing::warn!("could not answer on {to}: {e}");
        }
    }
}

/// Decodes a zone's message, counting (and answering, for requests) one that is malformed.
pub async fn decode_or_refuse<T: DeserializeOwned, R: Serialize>(
    client: &Client,
    msg: &Message,
    label: &'static str,
) -> Option<T> {
    match cluster::decode::<T>(&msg.payload) {
        Ok(v) => Some(v),
        Err(e) => {
            metrics::counter!(crate::metrics::MALFORMED, "subject" => label).increment(1);
            tracing::debug!(subject = %msg.subject, "malformed {label}: {e}");
            let refusal: Reply<R> = Err(ErrorReply::new(ErrorKind::Malformed, e.to_string()));
            reply(client, msg, &refusal).await;
            None
        }
    }
}
