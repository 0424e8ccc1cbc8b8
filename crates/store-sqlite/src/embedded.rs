//! The embedded store: one SQLite file (rusqlite, bundled SQLite), the default for local runs.
//!
//! A commit is one SQLite transaction, so user state, memberships, counters, daily history,
//! links and outbox entries are saved together or not at all. Calls run in tokio's blocking
//! pool (`spawn_blocking`) under a mutex taken there, so no SQLite work runs on an async worker
//! and no lock is held across an `.await`.

use async_trait::async_trait;
use audience_core::{decode_state, ChangeKind, MembershipChange, Millis};
use audience_store::validate::encode_commit;
use audience_store::*;
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA cache_size = -65536;
PRAGMA temp_store = MEMORY;
CREATE TABLE IF NOT EXISTS users (key TEXT PRIMARY KEY, version INTEGER NOT NULL, state TEXT NOT NULL, next_flip INTEGER);
CREATE INDEX IF NOT EXISTS users_due ON users(next_flip) WHERE next_flip IS NOT NULL;
CREATE TABLE IF NOT EXISTS links (endpoint TEXT PRIMARY KEY, user TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members (segment TEXT NOT NULL, user TEXT NOT NULL, entered_at INTEGER NOT NULL, PRIMARY KEY (segment, user));
CREATE TABLE IF NOT EXISTS segment_counts (segment TEXT PRIMARY KEY, members INTEGER NOT NULL, entered INTEGER NOT NULL, exited INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS daily (segment TEXT NOT NULL, day INTEGER NOT NULL, entered INTEGER NOT NULL, exited INTEGER NOT NULL, PRIMARY KEY (segment, day));
CREATE TABLE IF NOT EXISTS outbox (destination TEXT NOT NULL, segment TEXT NOT NULL, user TEXT NOT NULL, op TEXT NOT NULL, at INTEGER NOT NULL, change_id TEXT NOT NULL, PRIMARY KEY (destination, segment, user));
CREATE TABLE IF NOT EXISTS ledger (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS destination_state (destination TEXT NOT NULL, segment TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (destination, segment));
CREATE TABLE IF NOT EXISTS batches (batch_id TEXT PRIMARY KEY, day INTEGER NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (record TEXT PRIMARY KEY, at INTEGER NOT NULL, letter TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (user TEXT PRIMARY KEY, at INTEGER NOT NULL, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS size_snapshots (at INTEGER PRIMARY KEY, sizes TEXT NOT NULL);
";

/// The SQLite-backed store.
pub struct EmbeddedStore {
    conn: Arc<Mutex<Connection>>,
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store at `path`; parent directories are created.
    pub fn open(path: &Path) -> StoreResult<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Other(format!("cannot create directory {}: {e}", parent.display()))
            })?;
        }
        let conn = Connection::open(path).map_err(|e| {
            StoreError::Other(format!(
                "cannot open embedded store {}: {e}",
                path.display()
            ))
        })?;
        Self::init(conn, &path.display().to_string())
    }

    /// An in-memory store (tests).
    pub fn in_memory() -> StoreResult<Self> {
        let conn = Connection::open_in_memory().map_err(sql("open in-memory store"))?;
        Self::init(conn, ":memory:")
    }

    fn init(conn: Connection, name: &str) -> StoreResult<Self> {
        conn.execute_batch(SCHEMA).map_err(|e| {
            StoreError::Other(format!("cannot initialise embedded store {name}: {e}"))
        })?;
        Ok(EmbeddedStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection in tokio's blocking pool, so SQLite's disk work never stalls
    /// the async runtime. The connection mutex is taken and released on that blocking thread:
    /// it is never held across an `.await`. Callers give `f` owned copies of what it needs.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().map_err(|_| {
                StoreError::Other("embedded store lock poisoned by an earlier panic".into())
            })?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Other(format!("embedded store task did not finish: {e}")))?
    }
}

pub(crate) fn sql(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError::Other(format!("embedded store: {what}: {e}"))
}

fn to_json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Other(format!("cannot serialise: {e}")))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(key: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        message: e.to_string(),
    })
}

pub(crate) fn op_text(op: ChangeKind) -> &'static str {
    match op {
        ChangeKind::Entered => "add",
        ChangeKind::Exited => "remove",
    }
}

#[async_trait]
impl StateStore for EmbeddedStore {
    async fn load_users(&self, keys: &[String]) -> StoreResult<UserLoad> {
        let keys = keys.to_vec();
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT state FROM users WHERE key = ?1")
                .map_err(sql("prepare load"))?;
            let mut out = UserLoad {
                states: HashMap::with_capacity(keys.len()),
                unreadable: BTreeMap::new(),
            };
            for key in &keys {
                let bytes: Option<Vec<u8>> = stmt
                    .query_row([key], |r| Ok(state_bytes(r.get_ref(0)?)))
                    .optional()
                    .map_err(sql("load user"))?;
                if let Some(bytes) = bytes {
                    match decode_state(&bytes) {
                        Ok(state) => {
                            out.states.insert(key.clone(), state);
                        }
                        Err(e) => {
                            out.unreadable.insert(key.clone(), e.to_string());
                        }
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn load_links(&self, endpoint_ids: &[String]) -> StoreResult<HashMap<String, String>> {
        let endpoint_ids = endpoint_ids.to_vec();
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT user FROM links WHERE endpoint = ?1")
                .map_err(sql("prepare links"))?;
            let mut out = HashMap::new();
            for id in &endpoint_ids {
                if let Some(user) = stmt
                    .query_row([id], |r| r.get::<_, String>(0))
                    .optional()
                    .map_err(sql("load link"))?
                {
                    out.insert(id.clone(), user);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn commit_user(&self, commit: &UserCommit) -> StoreResult<()> {
        let state = encode_commit(commit)?;
        let commit = commit.clone();
        self.with(move |c| {
            let tx = c.transaction().map_err(sql("begin"))?;
            write_commit(&tx, &commit, &state)?;
            tx.commit().map_err(sql("commit"))
        })
        .await
    }

    /// One SQLite transaction for the whole batch, a savepoint per user: a user whose commit
    /// fails (e.g. a version conflict) is rolled back alone; the others stand.
    async fn commit_users(&self, commits: &[UserCommit]) -> Vec<StoreResult<()>> {
        let mut encoded: Vec<Option<StoreResult<Vec<u8>>>> =
            commits.iter().map(|c| Some(encode_commit(c))).collect();
        let count = commits.len();
        let commits = commits.to_vec();
        let outcome = self
            .with(move |c| {
                let mut tx = c.transaction().map_err(sql("begin"))?;
                let mut results = Vec::with_capacity(commits.len());
                for (commit, state) in commits.iter().zip(encoded.iter_mut()) {
                    let json = match state.take() {
                        Some(Ok(bytes)) => bytes,
                        Some(Err(e)) => {
                            results.push(Err(e));
                            continue;
                        }
                        None => {
                            results.push(Err(StoreError::Other("commit encoded twice".into())));
                            continue;
                        }
                    };
                    let sp = tx.savepoint().map_err(sql("savepoint"))?;
                    match write_commit(&sp, commit, &json) {
                        Ok(()) => {
                            sp.commit().map_err(sql("release savepoint"))?;
                            results.push(Ok(()));
                        }
                        Err(e) => {
                            drop(sp); // rolls back this user only
                            results.push(Err(e));
                        }
                    }
                }
                tx.commit().map_err(sql("commit batch"))?;
                Ok(results)
            })
            .await;
        match outcome {
            Ok(results) => results,
            Err(e) => {
                let message = e.to_string();
                (0..count)
                    .map(|_| Err(StoreError::Other(message.clone())))
                    .collect()
            }
        }
    }

    async fn user_count(&self) -> StoreResult<u64> {
        self.with(move |c| {
            c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(sql("count users"))
        })
        .await
    }

    async fn segment_counts(&self) -> StoreResult<BTreeMap<String, SegmentCounts>> {
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT segment, members, entered, exited FROM segment_counts")
                .map_err(sql("prepare counts"))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        SegmentCounts {
                            members: r.get(1)?,
                            entered: r.get::<_, i64>(2)? as u64,
                            exited: r.get::<_, i64>(3)? as u64,
                        },
                    ))
                })
                .map_err(sql("read counts"))?;
            rows.collect::<Result<BTreeMap<_, _>, _>>()
                .map_err(sql("read counts"))
        })
        .await
    }

    async fn daily_history(
        &self,
        segment: &str,
        from_day: i32,
        to_day: i32,
    ) -> StoreResult<Vec<DailyCounts>> {
        let segment = segment.to_owned();
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT day, entered, exited FROM daily WHERE segment = ?1 AND day BETWEEN ?2 AND ?3 ORDER BY day")
                .map_err(sql("prepare history"))?;
            let rows = stmt
                .query_map(params![segment, from_day, to_day], |r| {
                    Ok(DailyCounts {
                        day: r.get(0)?,
                        entered: r.get::<_, i64>(1)? as u64,
                        exited: r.get::<_, i64>(2)? as u64,
                    })
                })
                .map_err(sql("read history"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql("read history"))
        }).await
    }

    async fn list_members(
        &self,
        segment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let (segment, after) = (segment.to_owned(), after.map(str::to_owned));
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT user FROM members WHERE segment = ?1 AND user > ?2 ORDER BY user LIMIT ?3")
                .map_err(sql("prepare members"))?;
            let rows = stmt
                .query_map(params![segment, after.as_deref().unwrap_or(""), limit as i64], |r| r.get(0))
                .map_err(sql("list members"))?;
            rows.collect::<Result<Vec<String>, _>>().map_err(sql("list members"))
        }).await
    }

    async fn pending_summary(&self) -> StoreResult<Vec<PendingSummary>> {
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT destination, segment, SUM(op = 'add'), SUM(op = 'remove'), MIN(at) FROM outbox
                     GROUP BY destination, segment ORDER BY destination, segment",
                )
                .map_err(sql("prepare pending"))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(PendingSummary {
                        destination: r.get(0)?,
                        segment: r.get(1)?,
                        additions: r.get::<_, i64>(2)? as u64,
                        exits: r.get::<_, i64>(3)? as u64,
                        oldest_at: r.get(4)?,
                    })
                })
                .map_err(sql("read pending"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql("read pending"))
        }).await
    }

    async fn pending(
        &self,
        destination: &str,
        segment: &str,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEntry>> {
        let (destination, segment) = (destination.to_owned(), segment.to_owned());
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT user, op, at, change_id FROM outbox WHERE destination = ?1 AND segment = ?2 ORDER BY at, user LIMIT ?3",
                )
                .map_err(sql("prepare outbox"))?;
            let rows = stmt
                .query_map(params![destination, segment, limit as i64], |r| {
                    let op: String = r.get(1)?;
                    Ok(OutboxEntry {
                        destination: destination.to_string(),
                        segment: segment.to_string(),
                        user: r.get(0)?,
                        op: if op == "remove" { ChangeKind::Exited } else { ChangeKind::Entered },
                        at: r.get(2)?,
                        change_id: r.get(3)?,
                    })
                })
                .map_err(sql("read outbox"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql("read outbox"))
        }).await
    }

    async fn ack_pending(&self, entries: &[OutboxEntry]) -> StoreResult<usize> {
        let entries = entries.to_vec();
        self.with(move |c| {
            let tx = c.transaction().map_err(sql("begin ack"))?;
            let mut removed = 0;
            for e in &entries {
                removed += tx
                    .execute(
                        "DELETE FROM outbox WHERE destination = ?1 AND segment = ?2 AND user = ?3 AND change_id = ?4",
                        params![e.destination, e.segment, e.user, e.change_id],
                    )
                    .map_err(sql("ack outbox"))?;
            }
            tx.commit().map_err(sql("commit ack"))?;
            Ok(removed)
        }).await
    }

    async fn append_ledger(&self, entry: &LedgerEntry) -> StoreResult<()> {
        let text = to_json(entry)?;
        let at = entry.at;
        self.with(move |c| {
            c.execute(
                "INSERT INTO ledger (at, entry) VALUES (?1, ?2)",
                params![at, text],
            )
            .map(|_| ())
            .map_err(sql("append ledger"))
        })
        .await
    }

    async fn ledger(&self, limit: usize) -> StoreResult<Vec<LedgerEntry>> {
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT seq, entry FROM ledger ORDER BY seq DESC LIMIT ?1")
                .map_err(sql("prepare ledger"))?;
            let rows = stmt
                .query_map([limit as i64], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(sql("read ledger"))?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, text) = row.map_err(sql("read ledger"))?;
                out.push(from_json(&format!("ledger {seq}"), &text)?);
            }
            Ok(out)
        })
        .await
    }

    async fn due_users(&self, now: Millis, limit: usize) -> StoreResult<Vec<String>> {
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT key FROM users WHERE next_flip IS NOT NULL AND next_flip <= ?1 ORDER BY next_flip, key LIMIT ?2")
                .map_err(sql("prepare due"))?;
            let rows = stmt
                .query_map(params![now, limit as i64], |r| r.get(0))
                .map_err(sql("read due"))?;
            rows.collect::<Result<Vec<String>, _>>().map_err(sql("read due"))
        }).await
    }

    async fn scan_users(&self, after: Option<&str>, limit: usize) -> StoreResult<ScanPage> {
        let after = after.map(str::to_owned);
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT key, state FROM users WHERE key > ?1 ORDER BY key LIMIT ?2")
                .map_err(sql("prepare scan"))?;
            let rows = stmt
                .query_map(params![after.as_deref().unwrap_or(""), limit as i64], |r| {
                    Ok((r.get::<_, String>(0)?, state_bytes(r.get_ref(1)?)))
                })
                .map_err(sql("scan users"))?;
            let mut page = ScanPage::default();
            let mut count = 0;
            for row in rows {
                let (key, bytes) = row.map_err(sql("scan users"))?;
                count += 1;
                match decode_state(&bytes) {
                    Ok(state) => page.users.push(state),
                    Err(e) => {
                        page.unreadable.insert(key.clone(), e.to_string());
                    }
                }
                page.next = Some(key);
            }
            if count < limit {
                page.next = None;
            }
            Ok(page)
        })
        .await
    }

    async fn destination_state(
        &self,
        destination: &str,
        segment: &str,
    ) -> StoreResult<Option<serde_json::Value>> {
        let (destination, segment) = (destination.to_owned(), segment.to_owned());
        self.with(move |c| {
            let text: Option<String> = c
                .query_row(
                    "SELECT value FROM destination_state WHERE destination = ?1 AND segment = ?2",
                    params![destination, segment],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql("read destination state"))?;
            text.map(|t| from_json(&format!("{destination}/{segment}"), &t))
                .transpose()
        })
        .await
    }

    async fn put_destination_state(
        &self,
        destination: &str,
        segment: &str,
        value: &serde_json::Value,
    ) -> StoreResult<()> {
        let text = to_json(value)?;
        let (destination, segment) = (destination.to_owned(), segment.to_owned());
        self.with(move |c| {
            c.execute(
                "INSERT INTO destination_state (destination, segment, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT(destination, segment) DO UPDATE SET value = excluded.value",
                params![destination, segment, text],
            )
            .map(|_| ())
            .map_err(sql("write destination state"))
        })
        .await
    }

    async fn record_batch(&self, batch: &BatchRecord) -> StoreResult<()> {
        let text = to_json(batch)?;
        let (batch_id, day) = (batch.batch_id.clone(), batch.day);
        self.with(move |c| {
            c.execute(
                "INSERT INTO batches (batch_id, day, record) VALUES (?1, ?2, ?3)
                 ON CONFLICT(batch_id) DO UPDATE SET day = excluded.day, record = excluded.record",
                params![batch_id, day, text],
            )
            .map(|_| ())
            .map_err(sql("record batch"))
        })
        .await
    }

    async fn batches(&self, from_day: i32, to_day: i32) -> StoreResult<Vec<BatchRecord>> {
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT batch_id, record FROM batches WHERE day BETWEEN ?1 AND ?2 ORDER BY batch_id")
                .map_err(sql("prepare batches"))?;
            let rows = stmt
                .query_map(params![from_day, to_day], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(sql("read batches"))?;
            let mut out = Vec::new();
            for row in rows {
                let (id, text) = row.map_err(sql("read batches"))?;
                out.push(from_json(&id, &text)?);
            }
            Ok(out)
        }).await
    }

    async fn put_dead_letters(&self, letters: &[DeadLetter]) -> StoreResult<()> {
        let texts = letters
            .iter()
            .map(to_json)
            .collect::<StoreResult<Vec<_>>>()?;
        let keys: Vec<(String, Millis)> =
            letters.iter().map(|l| (l.record.clone(), l.at)).collect();
        self.with(move |c| {
            let tx = c.transaction().map_err(sql("begin dead letters"))?;
            for ((record, at), text) in keys.iter().zip(texts) {
                tx.execute(
                    "INSERT INTO dead_letters (record, at, letter) VALUES (?1, ?2, ?3)
                     ON CONFLICT(record) DO UPDATE SET at = excluded.at, letter = excluded.letter",
                    params![record, at, text],
                )
                .map_err(sql("write dead letter"))?;
            }
            tx.commit().map_err(sql("commit dead letters"))
        })
        .await
    }

    async fn quarantine(&self, entries: &[Quarantined]) -> StoreResult<()> {
        let texts = entries
            .iter()
            .map(to_json)
            .collect::<StoreResult<Vec<_>>>()?;
        let keys: Vec<(String, Millis)> = entries.iter().map(|q| (q.user.clone(), q.at)).collect();
        self.with(move |c| {
            let tx = c.transaction().map_err(sql("begin quarantine"))?;
            for ((user, at), text) in keys.iter().zip(texts) {
                tx.execute(
                    "INSERT INTO quarantine (user, at, entry) VALUES (?1, ?2, ?3)
                     ON CONFLICT(user) DO UPDATE SET at = excluded.at, entry = excluded.entry",
                    params![user, at, text],
                )
                .map_err(sql("write quarantine"))?;
            }
            tx.commit().map_err(sql("commit quarantine"))
        })
        .await
    }

    async fn quarantined(&self, limit: usize) -> StoreResult<Vec<Quarantined>> {
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT user, entry FROM quarantine ORDER BY at DESC, user LIMIT ?1",
                )
                .map_err(sql("prepare quarantine"))?;
            let rows = stmt
                .query_map([limit as i64], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(sql("read quarantine"))?;
            let mut out = Vec::new();
            for row in rows {
                let (user, text) = row.map_err(sql("read quarantine"))?;
                out.push(from_json(&format!("quarantine {user}"), &text)?);
            }
            Ok(out)
        })
        .await
    }

    /// SQLite reads are always consistent: the same query as `list_members`.
    async fn list_members_consistent(
        &self,
        segment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        self.list_members(segment, after, limit).await
    }

    /// One upsert whose update only applies to an expired lease or the holder's own; the row
    /// count says whether it applied.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: Millis,
        until: Millis,
    ) -> StoreResult<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.with(move |c| {
            let changed = c
                .execute(
                    "INSERT INTO leases (name, holder, until) VALUES (?1, ?2, ?3)
                     ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                     WHERE leases.until < ?4 OR leases.holder = excluded.holder",
                    params![name, holder, until, now],
                )
                .map_err(sql("acquire lease"))?;
            Ok(changed == 1)
        }).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.with(move |c| {
            c.execute(
                "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
                params![name, holder],
            )
            .map(|_| ())
            .map_err(sql("release lease"))
        })
        .await
    }

    async fn memberships_of(&self, user: &str) -> StoreResult<Vec<String>> {
        let user = user.to_owned();
        self.with(move |c| crate::erase::memberships_of(c, &user))
            .await
    }

    async fn erase_user(&self, erasure: &UserErasure) -> StoreResult<Erased> {
        let erasure = erasure.clone();
        self.with(move |c| crate::erase::erase(c, &erasure)).await
    }

    async fn lease(&self, name: &str) -> StoreResult<Option<Lease>> {
        let name = name.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT holder, until FROM leases WHERE name = ?1",
                [name],
                |r| {
                    Ok(Lease {
                        holder: r.get(0)?,
                        until: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(sql("read lease"))
        })
        .await
    }

    // `fold_counters`: the default (nothing to fold): `segment_counts` and `daily` already hold
    // one row per segment and per segment and day.

    async fn record_sizes(&self, snapshot: &SizeSnapshot) -> StoreResult<()> {
        let (at, sizes) = (snapshot.at, to_json(&snapshot.sizes)?);
        let oldest = at.saturating_sub(upkeep::SIZE_SNAPSHOT_RETENTION_MS);
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO size_snapshots (at, sizes) VALUES (?1, ?2)",
                params![at, sizes],
            )
            .map_err(sql("write size snapshot"))?;
            c.execute("DELETE FROM size_snapshots WHERE at < ?1", [oldest])
                .map_err(sql("drop old size snapshots"))?;
            Ok(())
        })
        .await
    }

    async fn sizes_at(&self, at: Millis, not_before: Millis) -> StoreResult<Option<SizeSnapshot>> {
        self.with(move |c| {
            let row: Option<(i64, String)> = c
                .query_row(
                    "SELECT at, sizes FROM size_snapshots WHERE at <= ?1 AND at >= ?2 ORDER BY at DESC LIMIT 1",
                    params![at, not_before],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(sql("read size snapshot"))?;
            row.map(|(at, text)| {
                Ok(SizeSnapshot {
                    at,
                    sizes: from_json(&format!("size snapshot {at}"), &text)?,
                })
            })
            .transpose()
        })
        .await
    }
}

/// A stored state's bytes, whether written as a BLOB (binary) or TEXT (earlier JSON).
fn state_bytes(value: ValueRef<'_>) -> Vec<u8> {
    match value {
        ValueRef::Blob(b) | ValueRef::Text(b) => b.to_vec(),
        _ => Vec::new(),
    }
}

/// Writes one user's commit inside a transaction or savepoint (both deref to a connection);
/// fails with `VersionConflict`, writing nothing the caller keeps, when a version moved.
fn write_commit(tx: &rusqlite::Connection, commit: &UserCommit, state: &[u8]) -> StoreResult<()> {
    let key = &commit.state.user;
    let current: Option<i64> = tx
        .query_row("SELECT version FROM users WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sql("read version"))?;
    if current.unwrap_or(0) as u64 != commit.expected_version {
        return Err(StoreError::VersionConflict { user: key.clone() });
    }
    tx.prepare_cached("INSERT INTO users (key, version, state, next_flip) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(key) DO UPDATE SET version = excluded.version, state = excluded.state, next_flip = excluded.next_flip").map_err(sql("prepare"))?.execute(
        params![key, commit.state.version as i64, state, commit.state.next_flip_at],
    )
    .map_err(sql("save user"))?;
    for change in &commit.changes {
        apply_change(tx, change)?;
    }
    for absorbed in &commit.absorbed {
        let version: Option<i64> = tx
            .query_row(
                "SELECT version FROM users WHERE key = ?1",
                [&absorbed.key],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("read absorbed version"))?;
        if version.unwrap_or(0) as u64 != absorbed.version {
            return Err(StoreError::VersionConflict {
                user: absorbed.key.clone(),
            });
        }
        tx.prepare_cached("DELETE FROM users WHERE key = ?1")
            .map_err(sql("prepare"))?
            .execute([&absorbed.key])
            .map_err(sql("delete absorbed user"))?;
        tx.prepare_cached("DELETE FROM outbox WHERE user = ?1")
            .map_err(sql("prepare"))?
            .execute([&absorbed.key])
            .map_err(sql("delete absorbed outbox"))?;
    }
    for e in &commit.outbox {
        tx.prepare_cached("INSERT INTO outbox (destination, segment, user, op, at, change_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(destination, segment, user) DO UPDATE SET op = excluded.op, at = excluded.at, change_id = excluded.change_id").map_err(sql("prepare"))?.execute(
            params![e.destination, e.segment, e.user, op_text(e.op), e.at, e.change_id],
        )
        .map_err(sql("write outbox"))?;
    }
    for (endpoint, user) in &commit.links {
        tx.prepare_cached("INSERT INTO links (endpoint, user) VALUES (?1, ?2) ON CONFLICT(endpoint) DO UPDATE SET user = excluded.user").map_err(sql("prepare"))?.execute(
            params![endpoint, user],
        )
        .map_err(sql("write link"))?;
    }
    Ok(())
}

pub(crate) fn apply_change(
    tx: &rusqlite::Connection,
    change: &MembershipChange,
) -> StoreResult<()> {
    let (segment, user, kind, at, day) = (
        change.segment.as_str(),
        change.user.as_str(),
        change.kind,
        change.at,
        change.day,
    );
    let (delta, entered, exited) = match kind {
        ChangeKind::Entered => (1i64, 1i64, 0i64),
        ChangeKind::Exited => (-1, 0, 1),
    };
    match kind {
        ChangeKind::Entered => tx.prepare_cached("INSERT INTO members (segment, user, entered_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING").map_err(sql("prepare"))?.execute(
            params![segment, user, at],
        ),
        ChangeKind::Exited => tx.prepare_cached("DELETE FROM members WHERE segment = ?1 AND user = ?2").map_err(sql("prepare"))?.execute( params![segment, user]),
    }
    .map_err(sql("write membership"))?;
    tx.prepare_cached("INSERT INTO segment_counts (segment, members, entered, exited) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(segment) DO UPDATE SET members = members + ?2, entered = entered + ?3, exited = exited + ?4").map_err(sql("prepare"))?.execute(
        params![segment, delta, entered, exited],
    )
    .map_err(sql("write counters"))?;
    tx.prepare_cached(
        "INSERT INTO daily (segment, day, entered, exited) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(segment, day) DO UPDATE SET entered = entered + ?3, exited = exited + ?4",
    )
    .map_err(sql("prepare"))?
    .execute(params![segment, day, entered, exited])
    .map_err(sql("write daily history"))?;
    Ok(())
}
