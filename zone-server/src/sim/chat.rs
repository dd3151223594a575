//! Chat: a message goes to everyone in the area, or to the players within local reach of
//! the speaker.

use protocol::EntityId;
use protocol::client::ServerPacket;
use protocol::client::packets::{self as pk, ChatChannel};

use super::{LOCAL_CHAT_RADIUS, Simulation, TickOutput};

impl Simulation {
    /// A player says something on a channel.
    pub(super) fn chat(&mut self, id: EntityId, chat: pk::Chat, out: &mut TickOutput) {
        let Some(player) = self.players.get(&id) else {
            return;
        };
        let message = ServerPacket::Chat(pk::ChatMessage {
            from: id,
            name: player.character.name.clone(),
            channel: chat.channel,
            text: chat.text,
        });
        match chat.channel {
            ChatChannel::Area => {
                for &other in self.players.keys() {
                    out.frames.push((other, message.clone()));
                }
            }
            ChatChannel::Local => {
                let at = player.character.position;
                self.near.clear();
                self.spatial
                    .within(at.x, at.z, LOCAL_CHAT_RADIUS, &mut self.near);
                for &(_, other) in &self.near {
                    if self.players.contains_key(&other) {
                        out.frames.push((other, message.clone()));
                    }
                }
            }
        }
    }
}
