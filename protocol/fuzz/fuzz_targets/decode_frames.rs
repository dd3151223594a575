//! Feeds arbitrary bytes to every decoder that reads untrusted input: client frames (what
//! a zone reads from a socket), server frames (what a client reads), and NATS payloads.
//! Any panic is a bug. Run with `cargo fuzz run decode_frames` from `protocol/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::client::{ClientPacket, ServerPacket};
use protocol::cluster::{self, HandoffPrepare, Heartbeat, Reply, AreaStateTransfer, HandoffAnswer};

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = ClientPacket::decode(data) {
        // Whatever decodes must encode back to a frame that decodes the same.
        let frame = packet.encode().expect("a decoded packet re-encodes");
        assert_eq!(ClientPacket::decode(&frame).as_ref(), Ok(&packet));
    }
    let _ = ServerPacket::decode(data);
    let _ = cluster::decode::<Heartbeat>(data);
    let _ = cluster::decode::<HandoffPrepare>(data);
    let _ = cluster::decode::<AreaStateTransfer>(data);
    let _ = cluster::decode::<Reply<HandoffAnswer>>(data);
});
