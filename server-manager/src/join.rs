//! Player routing: `POST /v1/join`. The token names the account; character-api says which
//! account owns the character and where it stands; the area gets an owner if it has none
//! (coalesced with concurrent joins); the owner is told to expect the player with a fresh
//! single-use ticket and preloads their data; the client gets `{zone_url, ticket, area,
//! expires_at}`. An area at its player capacity is refused by its zone, and the client is
//! answered 503 with `Retry-After`.

use std::time::{Duration, Instant};

use protocol::cluster::{ErrorKind, Expect, ExpectReady, ZoneVerb};
use protocol::http::manager::{JoinRequest, JoinResponse};
use protocol::{AccountId, AreaId, Ticket};

use crate::characters::{CharacterError, CharacterView};
use crate::error::ApiError;
use crate::manager::Manager;
use crate::nats::ZoneCallError;
use crate::registry::{AllocError, Owner};

/// How many times a join follows a stale map entry (the zone said it no longer holds the
/// epoch) before giving up.
const ATTEMPTS: usize = 3;
/// How often a join waiting on a zone's answer checks that the zone still owns the area.
const OWNER_CHECK: Duration = Duration::from_millis(100);

impl Manager {
    /// Routes `account`'s character to the zone of its area.
    pub async fn join(
        &self,
        account: AccountId,
        req: JoinRequest,
    ) -> Result<JoinResponse, ApiError> {
        let character = self
            .characters()
            .get(req.character_id)
            .await
            .map_err(|e| match e {
                CharacterError::NotFound(id) => {
                    ApiError::NotFound(format!("character {id} does not exist"))
                }
                CharacterError::Upstream(msg) => ApiError::Upstream(msg),
            })?;
        if character.account_id != account {
            return Err(ApiError::Forbidden(format!(
                "character {} does not belong to this account",
                character.id
            )));
        }
        let area = self.area_of(&character);
        let mut last_error = None;
        for _ in 0..ATTEMPTS {
            let owner = self.ensure(area).await.map_err(|e| self.alloc_error(e))?;
            self.registry().touch(area, Instant::now());
            let ticket = Ticket::new_random();
            let ttl = u64::try_from(self.config().ticket_ttl.as_millis()).unwrap_or(u64::MAX);
            let expires_at = service_kit::time::now_millis().saturating_add(ttl);
            let expect = Expect {
                zone: owner.zone,
                area,
                epoch: owner.epoch,
                account,
                character: character.id,
                ticket,
                expires_at,
            };
            let call = self.link().call::<_, ExpectReady>(
                owner.zone,
                ZoneVerb::Expect,
                &expect,
                self.config().expect_timeout,
            );
            // A zone that stalled or was cut off does not answer; once the manager judges
            // it gone and the area has another owner (or none, being reallocated), the
            // join follows the area instead of waiting out the call: a player whose zone
            // stalled plays again as soon as the area is reallocated.
            let result = tokio::select! {
                result = call => result,
                () = self.owner_changes(area, &owner) => {
                    last_error = Some(ZoneCallError::NoResponders);
                    continue;
                }
            };
            match result {
                Ok(ready) => {
                    let zone_url = if ready.ws_url.is_empty() {
                        owner.ws_url
                    } else {
                        ready.ws_url
                    };
                    return Ok(JoinResponse {
                        zone_url,
                        ticket,
                        area,
                        expires_at,
                    });
                }
                Err(e) if e.is_wrong_epoch() => {
                    // The map was stale (the zone lost or gave up the area): forget that
                    // owner and route again.
                    self.registry()
                        .forget_owner_if(area, owner.zone, owner.epoch, Instant::now());
                    self.feed().mark_dirty();
                    last_error = Some(e);
                }
                Err(ZoneCallError::NoResponders) => {
                    // Nobody listens for the owner: it died (its connections closed at
                    // once). Its area is given to another zone when its heartbeats are
                    // missed (3 s): the join waits for that, as it would for a stalled
                    // owner, and follows the area; the player is in as soon as it can be.
                    let waited = tokio::time::timeout(
                        self.config().expect_timeout,
                        self.owner_changes(area, &owner),
                    )
                    .await;
                    if waited.is_err() {
                        return Err(self.zone_error(ZoneCallError::NoResponders));
                    }
                    last_error = Some(ZoneCallError::NoResponders);
                }
                Err(e) => return Err(self.zone_error(e)),
            }
        }
        Err(self.zone_error(last_error.unwrap_or(ZoneCallError::NoResponders)))
    }

    /// Returns once `area` is no longer `owner`'s under its epoch (checked every 100 ms).
    async fn owner_changes(&self, area: AreaId, owner: &Owner) {
        loop {
            tokio::time::sleep(OWNER_CHECK).await;
            let now = self.registry().owner(area);
            if now.is_none_or(|o| o.zone != owner.zone || o.epoch != owner.epoch) {
                return;
            }
        }
    }

    /// The area a character joins: its saved area, else the area under its position, else
    /// the first spawn area (a character saved under a different grid still gets in).
    fn area_of(&self, c: &CharacterView) -> AreaId {
        let grid = &self.config().grid;
        if grid.contains(c.area) {
            c.area
        } else if let Some(a) = grid.area_at(c.position.x, c.position.z) {
            a
        } else {
            self.config()
                .spawn_areas
                .first()
                .copied()
                .unwrap_or(AreaId::new(0, 0))
        }
    }

    fn alloc_error(&self, e: AllocError) -> ApiError {
        let retry_after = self.config().retry_after;
        match e {
            AllocError::NoIdleZone => ApiError::NoIdleZone { retry_after },
            AllocError::OutsideGrid(a) => ApiError::NotFound(format!("area {a} does not exist")),
            AllocError::Busy(_) | AllocError::ZoneFailed(_) => ApiError::ZoneUnavailable {
                detail: e.to_string(),
                retry_after,
            },
            AllocError::Store(msg) => ApiError::Internal(msg),
        }
    }

    fn zone_error(&self, e: ZoneCallError) -> ApiError {
        let retry_after = self.config().retry_after;
        match &e {
            ZoneCallError::Refused(r) if r.kind == ErrorKind::Upstream => ApiError::Upstream(
                format!("the zone could not preload the player: {}", r.message),
            ),
            // A full area takes nobody until someone leaves: come back later.
            ZoneCallError::Refused(r) if r.kind == ErrorKind::Full => ApiError::ZoneUnavailable {
                detail: format!("the area is full: {}", r.message),
                retry_after,
            },
            _ => ApiError::ZoneUnavailable {
                detail: format!("the area's zone did not take the player: {e}"),
                retry_after,
            },
        }
    }
}
