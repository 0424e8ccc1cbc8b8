//! Raw Pinpoint events: [`generate_events`] and the drawing state shared by the kinds of
//! bursts (app sessions in `session`, campaign/journey/email/SMS messages in `messages`).

mod messages;
mod session;
#[cfg(test)]
mod tests;

use crate::catalog::SUBJECTS;
use crate::clock::{HOUR_MS, MINUTE_MS, SECOND_MS};
use crate::draw::{Draw, Stream};
use crate::options::GenOptions;
use crate::users::{build_users, Channel, User};
use serde_json::Value;

/// Generates raw Pinpoint events, sorted by `event_timestamp` (ties keep generation order).
///
/// Exactly `opts.events` events come out (fewer kinds if that is very small: the first bursts
/// cover every event kind when there is room). The newest event is at `opts.end_ms`.
pub fn generate_events(opts: &GenOptions) -> Vec<Value> {
    let users = build_users(opts);
    if users.is_empty() || opts.events == 0 {
        return Vec::new();
    }
    let mut gen = Gen::new(opts, &users);
    gen.coverage();
    let mut order: Vec<usize> = (0..users.len()).collect();
    gen.draw.shuffle(&mut order);
    for i in order {
        if gen.out.len() >= opts.events {
            break;
        }
        gen.random_burst(&users[i]);
    }
    let cumulative: Vec<f64> = users
        .iter()
        .scan(0.0, |acc, u| {
            *acc += u.weight;
            Some(*acc)
        })
        .collect();
    let total = cumulative.last().copied().unwrap_or(0.0);
    while gen.out.len() < opts.events {
        let x = gen.draw.unit() * total;
        let i = cumulative.partition_point(|c| *c <= x).min(users.len() - 1);
        gen.random_burst(&users[i]);
    }
    let mut out = gen.out;
    out.truncate(opts.events);
    out.sort_by_key(|e| e["event_timestamp"].as_i64().unwrap_or(i64::MIN));
    out
}

/// A campaign or journey that messages users.
#[derive(Debug, Clone)]
struct Program {
    id: String,
    activity_id: String,
    run_id: String,
    subject: &'static str,
}

/// Draws `count` campaigns (or journeys) with random IDs.
fn programs(draw: &mut Draw, count: usize) -> Vec<Program> {
    (0..count)
        .map(|k| Program {
            id: draw.hex(32),
            activity_id: draw.hex(32),
            run_id: draw.hex(32),
            subject: SUBJECTS[k % SUBJECTS.len()],
        })
        .collect()
}

/// Event-drawing state.
struct Gen<'a> {
    draw: Draw,
    opts: &'a GenOptions,
    users: &'a [User],
    campaigns: Vec<Program>,
    journeys: Vec<Program>,
    out: Vec<Value>,
}

impl<'a> Gen<'a> {
    fn new(opts: &'a GenOptions, users: &'a [User]) -> Self {
        let mut draw = Draw::from_seed(opts.seed, Stream::Events);
        let campaigns = programs(&mut draw, 6);
        let journeys = programs(&mut draw, 3);
        Gen {
            draw,
            opts,
            users,
            campaigns,
            journeys,
            out: Vec::new(),
        }
    }

    /// One burst of each kind, so every event kind (and a transactional email naming no known
    /// endpoint) is present whatever the seed; the first session ends exactly at `end_ms`.
    fn coverage(&mut self) {
        let users = self.users;
        let end = self.opts.end_ms;
        let by_rank = |pred: &dyn Fn(&User) -> bool| {
            users
                .iter()
                .filter(|u| pred(u))
                .max_by(|a, b| a.weight.total_cmp(&b.weight))
        };
        if let Some(u) = by_rank(&|u| u.app && u.channel.is_push() && !u.dormant) {
            self.session(u, true, Some(end));
            self.campaign(u, true);
            self.journey(u);
            self.email(u, true);
            self.sms(u);
        }
        if let Some(u) = by_rank(&|u| !u.app && u.channel == Channel::Email) {
            self.email(u, true);
            self.transactional_email(u);
        }
    }

    /// One burst for `u`: email-only and SMS-only users get messages; app users mostly
    /// sessions, sometimes a push campaign or journey, an email or an SMS.
    fn random_burst(&mut self, u: &User) {
        let r = self.draw.unit();
        if !u.app {
            match u.channel {
                Channel::Sms => self.sms(u),
                _ if r < 0.05 => self.transactional_email(u),
                _ => self.email(u, false),
            }
        } else if r < 0.70 {
            self.session(u, false, None);
        } else if r < 0.80 && u.channel.is_push() {
            self.campaign(u, false);
        } else if r < 0.85 && u.channel.is_push() {
            self.journey(u);
        } else if r < 0.95 {
            self.email(u, false);
        } else {
            self.sms(u);
        }
    }

    /// A program drawn uniformly from `campaigns` (or `journeys`).
    fn program(&mut self, journey: bool) -> Program {
        let list = if journey {
            &self.journeys
        } else {
            &self.campaigns
        };
        list[self.draw.index(list.len())].clone()
    }

    /// Uniform in `lo..=hi`; `hi` when the interval is empty.
    fn time_in(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            hi
        } else {
            self.draw.int(lo, hi)
        }
    }

    /// SDK events are buffered: usually seconds late, sometimes minutes, rarely hours.
    fn app_delay(&mut self) -> i64 {
        let r = self.draw.unit();
        if r < 0.88 {
            self.draw.range(300, 6 * SECOND_MS)
        } else if r < 0.98 {
            self.draw.range(MINUTE_MS, 30 * MINUTE_MS)
        } else {
            self.draw.range(HOUR_MS, 12 * HOUR_MS)
        }
    }

    /// Campaign, journey and email events arrive within a second or two.
    fn server_delay(&mut self) -> i64 {
        self.draw.range(50, 1_500)
    }

    /// Carrier receipts: mostly within a minute, sometimes up to 72 hours late.
    fn sms_delay(&mut self) -> i64 {
        if self.draw.chance(0.9) {
            self.draw.range(2 * SECOND_MS, 90 * SECOND_MS)
        } else {
            self.draw.range(10 * MINUTE_MS, 72 * HOUR_MS)
        }
    }
}
