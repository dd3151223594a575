//! The connected clients' links and the fan-out of encoded frames to them. A link is held
//! exactly while its player is connected to this zone; removing it (to close, transfer or
//! forget the client) is the only way a client stops getting frames. Each client's queue is
//! bounded: one that falls behind is reported, never waited for.

use bytes::Bytes;
use protocol::client::ServerPacket;
use protocol::client::packets::{ErrorCode, Transfer};
use protocol::{EntityId, Ticket};
use rustc_hash::FxHashMap;
use tokio::sync::mpsc::error::TrySendError;

use crate::sim::Frame;
use crate::zone::{Link, Outbound};

/// The links of one zone's clients, with the buffers frames are encoded in.
#[derive(Debug)]
pub(super) struct Outbox {
    links: FxHashMap<EntityId, Link>,
    /// One encoding buffer reused for every frame.
    buf: Vec<u8>,
    /// Bytes sent per client this tick (a histogram's samples), reused across ticks.
    bytes_per_client: FxHashMap<EntityId, usize>,
    /// The zone's metrics label.
    label: String,
}

impl Outbox {
    pub(super) fn new(label: String) -> Self {
        Self {
            links: FxHashMap::default(),
            buf: Vec::with_capacity(4096),
            bytes_per_client: FxHashMap::default(),
            label,
        }
    }

    /// The connected players.
    pub(super) fn players(&self) -> Vec<EntityId> {
        self.links.keys().copied().collect()
    }

    /// A player was admitted: their opening packets go first, then every tick's frames.
    pub(super) fn connect(&mut self, player: EntityId, link: Link, opening: Vec<ServerPacket>) {
        for packet in opening {
            self.send(&link, &packet);
        }
        self.links.insert(player, link);
    }

    /// The connection ended on the client's side; whether it was still this zone's.
    pub(super) fn disconnected(&mut self, player: EntityId) -> bool {
        self.links.remove(&player).is_some()
    }

    /// Sends the client a last `Error` and closes its connection.
    pub(super) fn close(&mut self, player: EntityId, code: ErrorCode, why: &str) {
        if let Some(link) = self.links.remove(&player) {
            let _ = link.try_send(Outbound::Close(code, why.to_owned()));
        }
    }

    /// Tells a client where to go next; dropping the link then closes the connection once
    /// the `Transfer` is written. False if the client was not connected.
    pub(super) fn transfer(&mut self, player: EntityId, ws_url: String, ticket: Ticket) -> bool {
        let Some(link) = self.links.remove(&player) else {
            return false;
        };
        self.send(&link, &ServerPacket::Transfer(Transfer { ws_url, ticket }));
        true
    }

    /// Sends one tick's frames, counting bytes per client; returns the clients whose queue
    /// was full (too slow to keep), each once. The bytes of frames already encoded are
    /// taken, not copied.
    pub(super) fn fan_out(&mut self, frames: &mut [(EntityId, Frame)]) -> Vec<EntityId> {
        self.bytes_per_client.clear();
        let mut too_slow = Vec::new();
        for (player, frame) in frames {
            let Some(link) = self.links.get(player) else {
                continue;
            };
            let bytes = match frame {
                Frame::Encoded(bytes) => Bytes::from(std::mem::take(bytes)),
                Frame::Packet(packet) => {
                    self.buf.clear();
                    if let Err(e) = packet.encode_into(&mut self.buf) {
                        tracing::error!(error = %e, "cannot encode a frame");
                        continue;
                    }
                    Bytes::copy_from_slice(&self.buf)
                }
            };
            *self.bytes_per_client.entry(*player).or_default() += bytes.len();
            match link.try_send(Outbound::Frame(bytes)) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => too_slow.push(*player),
                Err(TrySendError::Closed(_)) => {}
            }
        }
        let mut bytes_total = 0;
        for bytes in self.bytes_per_client.values() {
            metrics::histogram!("zone_client_tick_bytes").record(*bytes as f64);
            bytes_total += bytes;
        }
        metrics::counter!("zone_bytes_out_total", "zone" => self.label.clone())
            .increment(bytes_total as u64);
        too_slow.sort_unstable();
        too_slow.dedup();
        too_slow
    }

    fn send(&mut self, link: &Link, packet: &ServerPacket) {
        self.buf.clear();
        if packet.encode_into(&mut self.buf).is_ok() {
            let _ = link.try_send(Outbound::Frame(Bytes::copy_from_slice(&self.buf)));
        }
    }
}
