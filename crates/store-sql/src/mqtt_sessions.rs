//! Kept MQTT sessions: a row each (`mqtt_sessions`), and the messages logged for one
//! while its client is away (`mqtt_session_messages`).

use async_trait::async_trait;
use sqlx::QueryBuilder;
use switchyard_domain::{AwayMessage, StoredMessage, StoredMqttSession};
use switchyard_store::{MqttSessionRepo, Result};
use uuid::Uuid;

use crate::{
    SqlStore,
    dialect::{Dialect, Ex, Sql, Val, json, push_values, sql},
};

/// Rows of the message log per statement.
const LOG_CHUNK: usize = 500;

#[async_trait]
impl<D: Dialect> MqttSessionRepo for SqlStore<D> {
    async fn save_mqtt_sessions(
        &self,
        holder: Option<Uuid>,
        sessions: &[StoredMqttSession],
    ) -> Result<()> {
        if sessions.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        for s in sessions {
            sql::<D>("DELETE FROM mqtt_sessions WHERE client_id = $1 AND mqtt_id = $2")
                .id(s.client_id)
                .text(&s.mqtt_id)
                .execute(&mut tx)
                .await?;
            sql::<D>(
                "DELETE FROM mqtt_session_messages \
                 WHERE client_id = $1 AND mqtt_id = $2 AND epoch <> $3",
            )
            .id(s.client_id)
            .text(&s.mqtt_id)
            .bind(Val::Int(s.epoch))
            .execute(&mut tx)
            .await?;
            sql::<D>(
                "INSERT INTO mqtt_sessions (client_id, mqtt_id, expires_at, state, node, epoch) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .id(s.client_id)
            .text(&s.mqtt_id)
            .time(s.expires_at)
            .json(&s.state)
            .opt_id(holder)
            .bind(Val::Int(s.epoch))
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await.map_err(D::err)
    }

    async fn take_mqtt_sessions(&self, held_too: bool) -> Result<Vec<StoredMqttSession>> {
        let select = if held_too {
            "SELECT * FROM mqtt_sessions"
        } else {
            "SELECT * FROM mqtt_sessions WHERE node IS NULL"
        };
        let mut tx = self.write_tx().await?;
        let rows = sql::<D>(select).fetch_all(&mut tx).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(take_row::<D>(&mut tx, r).await?);
        }
        tx.commit().await.map_err(D::err)?;
        Ok(out)
    }

    async fn mqtt_session(
        &self,
        client_id: Uuid,
        mqtt_id: &str,
    ) -> Result<Option<(Option<Uuid>, StoredMqttSession)>> {
        let row = sql::<D>("SELECT * FROM mqtt_sessions WHERE client_id = $1 AND mqtt_id = $2")
            .id(client_id)
            .text(mqtt_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((D::opt_id(&r, "node")?, stored_session::<D>(&r)?)))
            .transpose()
    }

    async fn take_mqtt_session(
        &self,
        client_id: Uuid,
        mqtt_id: &str,
    ) -> Result<Option<StoredMqttSession>> {
        let mut tx = self.write_tx().await?;
        let row = sql::<D>("SELECT * FROM mqtt_sessions WHERE client_id = $1 AND mqtt_id = $2")
            .id(client_id)
            .text(mqtt_id)
            .fetch_optional(&mut tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let s = take_row::<D>(&mut tx, &row).await?;
        tx.commit().await.map_err(D::err)?;
        Ok(Some(s))
    }

    async fn drop_mqtt_session(&self, client_id: Uuid, mqtt_id: &str, holder: Uuid) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let gone = sql::<D>(
            "DELETE FROM mqtt_sessions WHERE client_id = $1 AND mqtt_id = $2 AND node = $3",
        )
        .id(client_id)
        .text(mqtt_id)
        .id(holder)
        .execute(&mut tx)
        .await?;
        if gone > 0 {
            sql::<D>("DELETE FROM mqtt_session_messages WHERE client_id = $1 AND mqtt_id = $2")
                .id(client_id)
                .text(mqtt_id)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await.map_err(D::err)
    }

    async fn append_mqtt_messages(&self, messages: &[AwayMessage]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        for part in messages.chunks(LOG_CHUNK) {
            let bodies: Vec<_> = part.iter().map(|m| json(&m.message)).collect();
            let mut qb = QueryBuilder::<D>::new(
                "INSERT INTO mqtt_session_messages (client_id, mqtt_id, epoch, message) ",
            );
            push_values(&mut qb, part.iter().zip(&bodies), |t, (m, body)| {
                t.v(Val::Id(m.client_id))
                    .v(Val::Text(&m.mqtt_id))
                    .v(Val::Int(m.epoch))
                    .v(Val::Json(body));
            });
            Sql::from(qb.build()).execute(Ex::Conn(&mut *tx)).await?;
        }
        tx.commit().await.map_err(D::err)
    }
}

/// Removes a session's row and its logged messages; the session with those of its
/// away period appended.
async fn take_row<D: Dialect>(
    tx: &mut sqlx::Transaction<'static, D>,
    r: &D::Row,
) -> Result<StoredMqttSession> {
    let mut s = stored_session::<D>(r)?;
    if s.epoch != 0 {
        let logged = sql::<D>(
            "SELECT message FROM mqtt_session_messages \
             WHERE client_id = $1 AND mqtt_id = $2 AND epoch = $3 ORDER BY seq",
        )
        .id(s.client_id)
        .text(&s.mqtt_id)
        .bind(Val::Int(s.epoch))
        .fetch_all(&mut *tx)
        .await?;
        for m in &logged {
            s.state
                .messages
                .push(D::json::<StoredMessage>(m, "message")?);
        }
    }
    sql::<D>("DELETE FROM mqtt_session_messages WHERE client_id = $1 AND mqtt_id = $2")
        .id(s.client_id)
        .text(&s.mqtt_id)
        .execute(&mut *tx)
        .await?;
    sql::<D>("DELETE FROM mqtt_sessions WHERE client_id = $1 AND mqtt_id = $2")
        .id(s.client_id)
        .text(&s.mqtt_id)
        .execute(&mut *tx)
        .await?;
    Ok(s)
}

fn stored_session<D: Dialect>(r: &D::Row) -> Result<StoredMqttSession> {
    Ok(StoredMqttSession {
        client_id: D::id(r, "client_id")?,
        mqtt_id: D::text(r, "mqtt_id")?,
        expires_at: D::time(r, "expires_at")?,
        state: D::json(r, "state")?,
        epoch: D::int(r, "epoch")?,
    })
}
