//! Erasing one user from the embedded store: one SQLite transaction removes the state, ends
//! its memberships (members, counters and daily history count the exits), turns its pending
//! additions into exits and writes the erasure's exit entries, removes links in both
//! directions, its quarantine entry and the dead letters of that quarantine. The due index is
//! the `users` row itself, so it goes with it.

use crate::embedded::{apply_change, from_json, op_text, sql};
use audience_core::ChangeKind;
use audience_store::{Erased, ErasedVersion, Quarantined, StoreError, StoreResult, UserErasure};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeSet;

/// Segments whose member rows list `user` (a scan of the members table: erasures are rare).
pub fn memberships_of(c: &Connection, user: &str) -> StoreResult<Vec<String>> {
    let mut stmt = c
        .prepare_cached("SELECT segment FROM members WHERE user = ?1 ORDER BY segment")
        .map_err(sql("prepare memberships"))?;
    let rows = stmt
        .query_map([user], |r| r.get(0))
        .map_err(sql("read memberships"))?;
    rows.collect::<Result<Vec<String>, _>>()
        .map_err(sql("read memberships"))
}

/// Erases one user in one transaction (nothing is written on a version conflict).
pub fn erase(c: &mut Connection, e: &UserErasure) -> StoreResult<Erased> {
    let tx = c.transaction().map_err(sql("begin erasure"))?;
    let user = e.user.as_str();
    let current: Option<i64> = tx
        .query_row("SELECT version FROM users WHERE key = ?1", [user], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sql("read version"))?;
    if let ErasedVersion::Read(expected) = e.version {
        if current.unwrap_or(0) as u64 != expected {
            return Err(StoreError::VersionConflict {
                user: user.to_string(),
            });
        }
    }
    let mut out = Erased {
        state: tx
            .execute("DELETE FROM users WHERE key = ?1", [user])
            .map_err(sql("delete user"))? as u64,
        ..Erased::default()
    };
    let members = memberships_of(&tx, user)?;
    for change in &e.changes {
        // Only a membership the index holds is ended, so a repeated erasure counts nothing.
        if members.contains(&change.segment) {
            apply_change(&tx, change)?;
            out.memberships += 1;
        }
    }
    let mut touched: BTreeSet<(String, String)> = BTreeSet::new();
    {
        let mut stmt = tx
            .prepare("SELECT destination, segment FROM outbox WHERE user = ?1 AND op = ?2")
            .map_err(sql("prepare outbox"))?;
        let rows = stmt
            .query_map(params![user, op_text(ChangeKind::Entered)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(sql("read outbox"))?;
        for row in rows {
            touched.insert(row.map_err(sql("read outbox"))?);
        }
    }
    tx.execute(
        "UPDATE outbox SET op = ?2, at = ?3, change_id = ?4 WHERE user = ?1 AND op = ?5",
        params![
            user,
            op_text(ChangeKind::Exited),
            e.at,
            e.change_id,
            op_text(ChangeKind::Entered)
        ],
    )
    .map_err(sql("turn additions into exits"))?;
    for o in &e.outbox {
        tx.execute(
            "INSERT INTO outbox (destination, segment, user, op, at, change_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(destination, segment, user) DO UPDATE SET op = excluded.op, at = excluded.at, change_id = excluded.change_id",
            params![o.destination, o.segment, o.user, op_text(o.op), o.at, o.change_id],
        )
        .map_err(sql("write exit entry"))?;
        touched.insert((o.destination.clone(), o.segment.clone()));
    }
    out.outbox = touched.len() as u64;
    out.links = tx
        .execute("DELETE FROM links WHERE user = ?1 OR endpoint = ?1", [user])
        .map_err(sql("delete links"))? as u64;
    for identity in &e.identities {
        out.links += tx
            .execute(
                "DELETE FROM links WHERE endpoint = ?1 AND user = ?2",
                params![identity, user],
            )
            .map_err(sql("delete link"))? as u64;
    }
    let quarantined: Option<String> = tx
        .query_row(
            "SELECT entry FROM quarantine WHERE user = ?1",
            [user],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql("read quarantine"))?;
    if let Some(text) = quarantined {
        // An unreadable entry still goes; only its record list is lost.
        let records = from_json::<Quarantined>(&format!("quarantine {user}"), &text)
            .map(|q| q.records)
            .unwrap_or_default();
        for record in records {
            out.dead_letters += tx
                .execute("DELETE FROM dead_letters WHERE record = ?1", [record])
                .map_err(sql("delete dead letter"))? as u64;
        }
        out.quarantine = tx
            .execute("DELETE FROM quarantine WHERE user = ?1", [user])
            .map_err(sql("delete quarantine entry"))? as u64;
    }
    // The dead letters of the user's quarantine name it in their message (more than the
    // entry lists: it keeps 100 record IDs).
    let needle = quarantine_message_prefix(user);
    out.dead_letters += tx
        .execute(
            "DELETE FROM dead_letters WHERE json_extract(letter, '$.message') LIKE ?1 ESCAPE '\\'",
            [format!("{}%", like_escape(&needle))],
        )
        .map_err(sql("delete dead letters naming the user"))? as u64;
    tx.commit().map_err(sql("commit erasure"))?;
    Ok(out)
}

/// How the message of a quarantined user's dead letter starts (`audience_pipeline::batch`).
pub fn quarantine_message_prefix(user: &str) -> String {
    format!("user `{user}` is quarantined")
}

fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
