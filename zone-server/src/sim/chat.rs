//! Chat: a message goes to everyone in the area, or to the players within local reach of
//! the speaker, on both sides of a border (`border_acts.rs` sends it across).

use protocol::EntityId;
use protocol::client::ServerPacket;
use protocol::client::packets::{self as pk, ChatChannel};

use super::{BorderChatLine, LOCAL_CHAT_RADIUS, Simulation, TickOutput};

impl Simulation {
    /// A player says something on a channel.
    pub(super) fn chat(&mut self, id: EntityId, chat: pk::Chat, out: &mut TickOutput) {
        let Some(player) = self.players.get(&id) else {
            return;
        };
        let (name, at) = (player.character.name.clone(), player.character.position);
        let message = ServerPacket::Chat(pk::ChatMessage {
            from: id,
            name: name.clone(),
            channel: chat.channel,
            text: chat.text.clone(),
        });
        match chat.channel {
            ChatChannel::Area => {
                for &other in self.players.keys() {
                    out.send(other, message.clone());
                }
            }
            ChatChannel::Local => {
                self.near.clear();
                self.spatial
                    .within(at.x, at.z, LOCAL_CHAT_RADIUS, &mut self.near);
                for &(_, slot) in &self.near {
                    let other = self.frame[slot as usize].0;
                    if self.players.contains_key(&other) {
                        out.send(other, message.clone());
                    }
                }
                let line = BorderChatLine {
                    speaker: id,
                    name,
                    position: at,
                    text: chat.text,
                };
                self.chat_across_border(&line, out);
            }
        }
    }
}
