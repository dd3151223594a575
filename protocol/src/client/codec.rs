//! The frame codec: `[1 byte packet id][MessagePack payload]`, one packet per WebSocket
//! binary message. Decoding checks the frame size first, then the id, then the payload's
//! shape, then that nothing trails it, then the payload's own limits; every failure is a
//! [`DecodeError`] and none panics.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::msgpack as mp;
use crate::client::packets::*;

/// The protocol version a client sends in `Hello`; changes whenever the format does.
pub const PROTOCOL_VERSION: u16 = 3;

/// Why a frame is not a packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A frame with no bytes at all.
    #[error("empty frame")]
    Empty,
    /// A frame over the size limit of its direction.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A first byte that names no packet.
    #[error("unknown packet id {0:#04x}")]
    UnknownPacket(u8),
    /// A payload that is not MessagePack of the packet's shape.
    #[error("malformed {packet}: {reason}")]
    Malformed {
        /// The packet the id named.
        packet: &'static str,
        /// What the MessagePack decoder found.
        reason: String,
    },
    /// Bytes left over after the payload.
    #[error("{count} trailing bytes after {packet}")]
    TrailingBytes {
        /// The packet the id named.
        packet: &'static str,
        /// How many bytes were left.
        count: usize,
    },
    /// A well-formed payload outside the packet's limits (e.g. chat too long).
    #[error("invalid {packet}: {reason}")]
    Invalid {
        /// The packet the id named.
        packet: &'static str,
        /// Which limit it broke.
        reason: String,
    },
}

impl DecodeError {
    /// The `Error` packet code to answer this with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooLarge { .. } => ErrorCode::FRAME_TOO_LARGE,
            Self::UnknownPacket(_) => ErrorCode::UNKNOWN_PACKET,
            Self::Empty
            | Self::Malformed { .. }
            | Self::TrailingBytes { .. }
            | Self::Invalid { .. } => ErrorCode::MALFORMED,
        }
    }

    /// A short fixed label for metrics (`rejected_packets{reason=...}`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLarge { .. } => "too_large",
            Self::UnknownPacket(_) => "unknown_packet",
            Self::Malformed { .. } => "malformed",
            Self::TrailingBytes { .. } => "trailing_bytes",
            Self::Invalid { .. } => "invalid",
        }
    }
}

/// Why a packet could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The encoded frame would exceed the size limit of its direction.
    #[error("encoded frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The serializer refused the value.
    #[error("cannot encode: {0}")]
    Serialize(String),
}

/// Limits a payload must keep beyond its MessagePack shape.
trait Validate {
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

fn check_text(what: &str, text: &str, max: usize) -> Result<(), String> {
    if text.len() > max {
        return Err(format!(
            "{what} is {} bytes, the limit is {max}",
            text.len()
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{what} contains control characters"));
    }
    Ok(())
}

impl Validate for Chat {
    fn validate(&self) -> Result<(), String> {
        if self.text.trim().is_empty() {
            return Err("chat text is empty".to_owned());
        }
        check_text("chat text", &self.text, MAX_CHAT_BYTES)
    }
}

impl Validate for QuestAccept {
    fn validate(&self) -> Result<(), String> {
        if self.quest.is_valid() {
            Ok(())
        } else {
            Err(format!("bad quest id `{}`", self.quest))
        }
    }
}

impl Validate for Transfer {
    fn validate(&self) -> Result<(), String> {
        check_text("ws_url", &self.ws_url, MAX_URL_BYTES)
    }
}

impl Validate for Error {
    fn validate(&self) -> Result<(), String> {
        if self.message.len() > MAX_ERROR_MESSAGE_BYTES {
            return Err(format!(
                "error message over {MAX_ERROR_MESSAGE_BYTES} bytes"
            ));
        }
        Ok(())
    }
}

impl Validate for TimeRate {
    fn validate(&self) -> Result<(), String> {
        if !(1..=1000).contains(&self.permille) {
            return Err(format!(
                "time rate {} is not within 1..=1000",
                self.permille
            ));
        }
        Ok(())
    }
}

impl Validate for ChatMessage {
    fn validate(&self) -> Result<(), String> {
        check_text("chat text", &self.text, MAX_CHAT_BYTES)
    }
}

macro_rules! no_limits {
    ($($t:ty),+) => { $(impl Validate for $t {})+ };
}
no_limits!(
    Hello,
    Input,
    Attack,
    Pickup,
    UseItem,
    EquipItem,
    DropItem,
    QuestListRequest,
    Ping,
    Welcome,
    Snapshot,
    Delta,
    Inventory,
    Damage,
    Death,
    Stats,
    QuestLog,
    QuestProgress,
    QuestCompleted,
    InputAck,
    Pong
);

/// A payload through serde (every packet but the per-tick `Delta`, which is most of what
/// a zone encodes and is written by hand: same bytes, pinned by the golden and round-trip
/// tests, a fraction of the time).
pub(crate) fn write_serde<T: Serialize>(payload: &T, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
    rmp_serde::encode::write(buf, payload).map_err(|e| EncodeError::Serialize(e.to_string()))
}

/// Picks a packet's payload writer: the one named in the packet table, else serde.
macro_rules! payload_writer {
    ($p:ident, $buf:ident) => {
        write_serde($p, $buf)
    };
    ($p:ident, $buf:ident, $writer:path) => {
        $writer($p, $buf)
    };
}

fn write_delta(d: &Delta, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
    // Room for the usual frame at once (a walking entity's update takes up to 12 bytes, a
    // removed id up to 9): the buffer grows once rather than every few entities.
    buf.reserve(16 + d.updated.len() * 12 + d.removed.len() * 9);
    mp::array_len(buf, 5);
    mp::uint(buf, u64::from(d.tick));
    mp::uint(buf, u64::from(d.baseline));
    mp::array_len(buf, d.added.len());
    for state in &d.added {
        write_serde(state, buf)?;
    }
    mp::array_len(buf, d.updated.len());
    for u in &d.updated {
        mp::entity_delta(buf, u);
    }
    mp::array_len(buf, d.removed.len());
    for id in &d.removed {
        mp::uint(buf, id.0);
    }
    Ok(())
}

pub(crate) fn encode_frame(
    id: u8,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
    max: usize,
    buf: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = buf.len();
    buf.push(id);
    if let Err(e) = write(buf) {
        buf.truncate(start);
        return Err(e);
    }
    let len = buf.len() - start;
    if len > max {
        buf.truncate(start);
        return Err(EncodeError::TooLarge { len, max });
    }
    Ok(())
}

fn decode_payload<T: DeserializeOwned + Validate>(
    packet: &'static str,
    mut bytes: &[u8],
) -> Result<T, DecodeError> {
    let mut de = rmp_serde::Deserializer::new(&mut bytes);
    let value = T::deserialize(&mut de).map_err(|e| DecodeError::Malformed {
        packet,
        reason: e.to_string(),
    })?;
    if !bytes.is_empty() {
        return Err(DecodeError::TrailingBytes {
            packet,
            count: bytes.len(),
        });
    }
    value
        .validate()
        .map_err(|reason| DecodeError::Invalid { packet, reason })?;
    Ok(value)
}

fn check_frame(frame: &[u8], max: usize) -> Result<(u8, &[u8]), DecodeError> {
    if frame.len() > max {
        return Err(DecodeError::TooLarge {
            len: frame.len(),
            max,
        });
    }
    frame
        .split_first()
        .map(|(id, rest)| (*id, rest))
        .ok_or(DecodeError::Empty)
}

macro_rules! packet_enum {
    (
        $(#[$doc:meta])*
        $name:ident, max_frame = $max:expr;
        $( $(#[$vdoc:meta])* $id:literal => $variant:ident($payload:ty) $(by $writer:path)?, )+
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $( $(#[$vdoc])* $variant($payload), )+
        }

        impl $name {
            /// The largest frame in this direction, id byte included.
            pub const MAX_FRAME: usize = $max;

            /// Every (id, name) of this direction, in id order.
            pub const IDS: &'static [(u8, &'static str)] = &[$( ($id, stringify!($variant)), )+];

            /// The packet id (the frame's first byte).
            pub fn id(&self) -> u8 {
                match self { $( Self::$variant(_) => $id, )+ }
            }

            /// The packet's name, for logs and metrics.
            pub fn name(&self) -> &'static str {
                match self { $( Self::$variant(_) => stringify!($variant), )+ }
            }

            /// Appends the frame to `buf` (left unchanged on error).
            pub fn encode_into(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
                match self {
                    $( Self::$variant(p) => encode_frame($id, |b| payload_writer!(p, b $(, $writer)?), Self::MAX_FRAME, buf), )+
                }
            }

            /// The frame for this packet.
            pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
                let mut buf = Vec::with_capacity(32);
                self.encode_into(&mut buf)?;
                Ok(buf)
            }

            /// The packet in `frame`, or why it is not one.
            pub fn decode(frame: &[u8]) -> Result<Self, DecodeError> {
                let (id, payload) = check_frame(frame, Self::MAX_FRAME)?;
                match id {
                    $( $id => decode_payload(stringify!($variant), payload).map(Self::$variant), )+
                    other => Err(DecodeError::UnknownPacket(other)),
                }
            }
        }

        $(
            impl From<$payload> for $name {
                fn from(p: $payload) -> Self {
                    Self::$variant(p)
                }
            }
        )+
    };
}

packet_enum! {
    /// Everything a client sends to a zone.
    ClientPacket, max_frame = 1024;
    /// Spend a ticket; must be first.
    0x01 => Hello(Hello),
    /// Movement intent.
    0x02 => Input(Input),
    /// Attack an entity.
    0x03 => Attack(Attack),
    /// Pick up a ground item.
    0x04 => Pickup(Pickup),
    /// Use an inventory item.
    0x05 => UseItem(UseItem),
    /// Equip an inventory item.
    0x06 => EquipItem(EquipItem),
    /// Drop inventory items.
    0x07 => DropItem(DropItem),
    /// Say something.
    0x08 => Chat(Chat),
    /// Ask for the quest log.
    0x09 => QuestList(QuestListRequest),
    /// Accept a quest.
    0x0a => QuestAccept(QuestAccept),
    /// Round-trip probe.
    0x0b => Ping(Ping),
}

packet_enum! {
    /// Everything a zone sends to a client.
    ServerPacket, max_frame = 256 * 1024;
    /// Admitted.
    0x40 => Welcome(Welcome),
    /// Full view.
    0x41 => Snapshot(Snapshot),
    /// One tick's changes.
    0x42 => Delta(Delta) by write_delta,
    /// Inventory contents.
    0x43 => Inventory(Inventory),
    /// A chat line.
    0x44 => Chat(ChatMessage),
    /// Damage dealt.
    0x45 => Damage(Damage),
    /// A death.
    0x46 => Death(Death),
    /// Own health and progression.
    0x47 => Stats(Stats),
    /// The quest log.
    0x48 => QuestLog(QuestLog),
    /// Quest objective advanced.
    0x49 => QuestProgress(QuestProgress),
    /// Quest completed.
    0x4a => QuestCompleted(QuestCompleted),
    /// Inputs applied up to a sequence number.
    0x4b => InputAck(InputAck),
    /// Go to another zone.
    0x4c => Transfer(Transfer),
    /// Something went wrong.
    0x4d => Error(Error),
    /// Answer to `Ping`.
    0x4e => Pong(Pong),
    /// The zone's clock rate (time dilation).
    0x4f => TimeRate(TimeRate),
}

impl ServerPacket {
    /// An `Error` packet.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > MAX_ERROR_MESSAGE_BYTES {
            let mut end = MAX_ERROR_MESSAGE_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        Self::Error(Error { code, message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_directions_disjoint() {
        let mut ids: Vec<u8> = ClientPacket::IDS
            .iter()
            .chain(ServerPacket::IDS)
            .map(|(id, _)| *id)
            .collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn decode_errors_are_typed() {
        assert_eq!(ClientPacket::decode(&[]), Err(DecodeError::Empty));
        assert_eq!(
            ClientPacket::decode(&[0x7f]),
            Err(DecodeError::UnknownPacket(0x7f))
        );
        assert!(matches!(
            ClientPacket::decode(&[0x02, 0xc1]),
            Err(DecodeError::Malformed {
                packet: "Input",
                ..
            })
        ));
        let mut frame = ClientPacket::Ping(Ping { nonce: 1 }).encode().unwrap();
        frame.push(0);
        assert_eq!(
            ClientPacket::decode(&frame),
            Err(DecodeError::TrailingBytes {
                packet: "Ping",
                count: 1
            })
        );
        let big = vec![0x0b; 2000];
        assert_eq!(
            ClientPacket::decode(&big),
            Err(DecodeError::TooLarge {
                len: 2000,
                max: 1024
            })
        );
    }

    #[test]
    fn limits_are_checked_after_shape() {
        let long = ClientPacket::Chat(Chat {
            channel: ChatChannel::Local,
            text: "a".repeat(300),
        });
        let frame = long.encode().unwrap();
        assert!(matches!(
            ClientPacket::decode(&frame),
            Err(DecodeError::Invalid { .. })
        ));
        let ctl = ClientPacket::Chat(Chat {
            channel: ChatChannel::Area,
            text: "hi\u{7}".into(),
        })
        .encode()
        .unwrap();
        assert!(matches!(
            ClientPacket::decode(&ctl),
            Err(DecodeError::Invalid { .. })
        ));
        let quest = ClientPacket::QuestAccept(QuestAccept {
            quest: crate::QuestId("../x".into()),
        })
        .encode()
        .unwrap();
        assert!(matches!(
            ClientPacket::decode(&quest),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn oversized_encode_is_refused_and_buffer_untouched() {
        let mut buf = vec![1, 2, 3];
        let chat = ClientPacket::Chat(Chat {
            channel: ChatChannel::Local,
            text: "a".repeat(2000),
        });
        assert!(matches!(
            chat.encode_into(&mut buf),
            Err(EncodeError::TooLarge { .. })
        ));
        assert_eq!(buf, [1, 2, 3]);
    }

    #[test]
    fn error_messages_are_truncated_on_a_char_boundary() {
        let ServerPacket::Error(e) = ServerPacket::error(ErrorCode::INTERNAL, "é".repeat(400))
        else {
            unreachable!()
        };
        assert!(e.message.len() <= MAX_ERROR_MESSAGE_BYTES);
    }
}
