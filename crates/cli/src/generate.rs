//! Realistic Pinpoint event fixtures: a deterministic generator of users, raw Pinpoint events
//! (app, session, monetization, auth, campaign, journey, email and SMS events), the Lambda
//! Kinesis envelopes that carry them, and the matching user-attribute export rows.
//!
//! Everything here is pure: the same [`GenOptions`] give the same output, byte for byte (all
//! randomness comes from `StdRng::seed_from_u64`). The shapes follow the Pinpoint event-stream
//! documentation and the real Amplify app event in fixtures/seed-002-event.json (see fixtures/README.md for what is modelled
//! and why). Users are drawn once from the seed, independent of the event count, so
//! [`user_attribute_rows`] always matches the users of [`generate_events`].

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

const SECOND_MS: i64 = 1_000;
const MINUTE_MS: i64 = 60 * SECOND_MS;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

const APP_ID: &str = "3c8d5f0e9a2b4e71b6d04f2a1c9e8b57";
const ACCOUNT_ID: &str = "123456789012";
const REGION: &str = "ap-northeast-1";
const IDENTITY_POOL: &str = "ap-northeast-1:6b1f0c2e-4d7a-4e8b-9c3f-2a5d8e7b1c40";
const STREAM_ARN: &str = "arn:aws:kinesis:ap-northeast-1:123456789012:stream/pinpoint-events";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/audience-stream-consumer";
const MAIL_FROM: &str = "info@shop.example.jp";
/// First 14 digits of every generated sequence number (then 3 shard digits, then 39 counter digits).
const SEQ_PREFIX: &str = "49599259535682";
/// Largest gap between two consecutive sequence numbers of one shard.
const SEQ_STEP_MAX: u128 = 1 << 40;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOptions {
    /// Seed for every random choice; the same options always give the same output.
    pub seed: u64,
    /// Number of users (`user-0001` …).
    pub users: usize,
    /// Exact number of events to produce.
    pub events: usize,
    /// Newest event time, Unix epoch milliseconds; one event lands exactly on it.
    pub end_ms: i64,
    /// How many days before `end_ms` the events span.
    pub days: u32,
    /// Kinesis shard count for envelopes built from these events.
    pub shards: u32,
}

/// Japanese prefectures other than 兵庫県 (which is assigned to exactly 15% of users), with the
/// city reported in `Location.City` and a relative weight.
const PREFECTURES: &[(&str, &str, f64)] = &[
    ("東京都", "Tokyo", 0.27),
    ("大阪府", "Osaka", 0.16),
    ("神奈川県", "Yokohama", 0.12),
    ("愛知県", "Nagoya", 0.08),
    ("福岡県", "Fukuoka", 0.07),
    ("京都府", "Kyoto", 0.05),
    ("北海道", "Sapporo", 0.04),
    ("埼玉県", "Saitama", 0.03),
    ("千葉県", "Chiba", 0.03),
    ("広島県", "Hiroshima", 0.03),
    ("宮城県", "Sendai", 0.02),
];
const HYOGO: (&str, &str) = ("兵庫県", "Kobe");

/// (product id, category, price in JPY).
const PRODUCTS: &[(&str, &str, i64)] = &[
    ("sku-1001", "シューズ", 8_900),
    ("sku-1002", "シューズ", 12_800),
    ("sku-2001", "アウター", 19_800),
    ("sku-2002", "アウター", 29_800),
    ("sku-3001", "トップス", 2_990),
    ("sku-3002", "トップス", 4_990),
    ("sku-4001", "バッグ", 15_800),
    ("sku-5001", "雑貨", 300),
    ("sku-5002", "雑貨", 980),
    ("sku-6001", "コスメ", 1_650),
    ("sku-6002", "コスメ", 3_300),
    ("sku-7001", "食品", 540),
];
const SEARCHES: &[&str] = &[
    "スニーカー",
    "ダウンジャケット",
    "トートバッグ",
    "リップ",
    "ギフト",
    "セール",
];
const SUBJECTS: &[&str] = &[
    "【期間限定】冬のセール開催中",
    "ポイント2倍キャンペーンのお知らせ",
    "新作アイテム入荷しました",
    "お気に入りの商品が値下がりしました",
    "会員限定クーポンをお届けします",
    "カートに商品が残っています",
];
const APP_VERSIONS: &[&str] = &["2.14.0", "2.15.1", "2.16.0"];

/// (make, model, platform, platform version) per device family.
const IOS_DEVICES: &[(&str, &str, &str, &str)] = &[
    ("Apple", "iPhone15,2", "iOS", "17.5.1"),
    ("Apple", "iPhone16,1", "iOS", "18.1"),
    ("Apple", "iPhone14,5", "iOS", "16.7.8"),
];
const ANDROID_DEVICES: &[(&str, &str, &str, &str)] = &[
    ("Google", "Pixel 8", "Android", "14"),
    ("samsung", "SC-51D", "Android", "14"),
    ("SHARP", "SH-53D", "Android", "13"),
    ("Sony", "SO-51D", "Android", "13"),
];
/// Web app users look like the seed's Amplify JavaScript client.
const WEB_DEVICES: &[(&str, &str, &str, &str)] = &[
    ("Gecko", "Chrome", "macintel", "131.0.6778.86"),
    ("Gecko", "Chrome", "win32", "131.0.6778.86"),
    ("Gecko", "Safari", "iphone", "18.1"),
];

/// The channel of a user's endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Apns,
    Gcm,
    Email,
    Sms,
}

impl Channel {
    fn name(self) -> &'static str {
        match self {
            Channel::Apns => "APNS",
            Channel::Gcm => "GCM",
            Channel::Email => "EMAIL",
            Channel::Sms => "SMS",
        }
    }

    fn is_push(self) -> bool {
        matches!(self, Channel::Apns | Channel::Gcm)
    }
}

/// One generated user and the endpoint the events name.
#[derive(Debug, Clone)]
struct User {
    id: String,
    /// App users send app events with a full `endpoint`; the others appear only through
    /// email/SMS events that name their endpoint ID.
    app: bool,
    endpoint_id: String,
    channel: Channel,
    address: String,
    email: String,
    phone: String,
    pref: &'static str,
    city: &'static str,
    plan: &'static str,
    line_user_id: Option<String>,
    cognito_id: String,
    device: (&'static str, &'static str, &'static str, &'static str),
    app_version: &'static str,
    cohort: u32,
    points: f64,
    opted_out: bool,
    inactive: bool,
    /// Relative activity (Zipf by a random rank).
    weight: f64,
    /// When the user was first seen.
    from_ms: i64,
    /// Last moment of app activity: `end_ms` unless the user went dormant.
    app_until_ms: i64,
    dormant: bool,
}

/// A campaign or journey that messages users.
#[derive(Debug, Clone)]
struct Campaign {
    id: String,
    activity_id: String,
    run_id: String,
    subject: &'static str,
}

/// Session identity shared by the events of one app session.
struct SessionCtx {
    id: String,
    start: i64,
}

/// What a session burst contains, before times are fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Start,
    SignIn,
    View,
    Cart,
    Search,
    Purchase,
    Stop,
}

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
    order.shuffle(&mut gen.rng);
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
        let x = gen.rng.random::<f64>() * total;
        let i = cumulative.partition_point(|c| *c <= x).min(users.len() - 1);
        gen.random_burst(&users[i]);
    }
    let mut out = gen.out;
    out.truncate(opts.events);
    out.sort_by_key(|e| e["event_timestamp"].as_i64().unwrap_or(i64::MIN));
    out
}

/// Wraps events in a Lambda Kinesis event (`{"Records":[…]}`), as the event source mapping
/// would deliver them.
///
/// Records appear in arrival order (`arrival_timestamp`, stable), so event times are out of order
/// as in production. Each record gets a random signed-32-bit partition key unrelated to the user
/// (as Pinpoint's are); the shard is a hash of the key. Sequence numbers are 56-digit decimal
/// strings: a fixed 14-digit prefix, the 3-digit shard number, then a 39-digit counter that starts
/// at `first_seq` on every shard and grows by 1..=2^40 per record, so a later envelope built with
/// a larger `first_seq` continues every shard in order. `shards` is clamped to 1..=999.
pub fn to_kinesis_envelope(events: &[Value], shards: u32, first_seq: u128) -> Value {
    let shards = shards.clamp(1, 999);
    let seed = (first_seq as u64) ^ ((first_seq >> 64) as u64) ^ (u64::from(shards) << 48);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| arrival_ms(&events[i]));
    let mut counters = vec![first_seq; shards as usize];
    let mut last_arrival = vec![f64::MIN; shards as usize];
    let mut records = Vec::with_capacity(events.len());
    for i in order {
        let event = &events[i];
        let partition_key = rng.random::<i32>().to_string();
        let shard = (fnv1a(partition_key.as_bytes()) % u64::from(shards)) as usize;
        let counter = counters[shard];
        counters[shard] = counter.saturating_add(rng.random_range(1..=SEQ_STEP_MAX));
        let sequence = format!("{SEQ_PREFIX}{shard:03}{counter:039}");
        let arrived_ms = arrival_ms(event).unwrap_or(0) + rng.random_range(20..900);
        let arrived = (arrived_ms as f64 / 1000.0).max(last_arrival[shard]);
        last_arrival[shard] = arrived;
        records.push(json!({
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": partition_key,
                "sequenceNumber": sequence,
                "data": BASE64.encode(event.to_string()),
                "approximateArrivalTimestamp": arrived,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": format!("shardId-{shard:012}:{sequence}"),
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": ROLE_ARN,
            "awsRegion": REGION,
            "eventSourceARN": STREAM_ARN,
        }));
    }
    json!({ "Records": records })
}

/// User-attribute export rows, one per user, like the LINE-audience article's
/// `{"id":"456","pref":"兵庫県"}`: `id`, `pref`, `plan`, `endpointId`, and `lineUserId` when the
/// user has linked LINE.
pub fn user_attribute_rows(opts: &GenOptions) -> Vec<Value> {
    build_users(opts)
        .into_iter()
        .map(|u| {
            let mut row = Map::new();
            row.insert("id".into(), json!(u.id));
            row.insert("pref".into(), json!(u.pref));
            row.insert("plan".into(), json!(u.plan));
            if let Some(line) = u.line_user_id {
                row.insert("lineUserId".into(), json!(line));
            }
            row.insert("endpointId".into(), json!(u.endpoint_id));
            Value::Object(row)
        })
        .collect()
}

/// The event's arrival time (falling back to its event time), for ordering records.
fn arrival_ms(event: &Value) -> Option<i64> {
    event
        .get("arrival_timestamp")
        .and_then(Value::as_i64)
        .or_else(|| event.get("event_timestamp").and_then(Value::as_i64))
}

/// FNV-1a, a stable stand-in for Kinesis' MD5 partition-key hashing.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn window_start(opts: &GenOptions) -> i64 {
    opts.end_ms - i64::from(opts.days.max(1)) * DAY_MS
}

/// Exactly `round(share * n)` distinct indices out of `0..n`, chosen at random.
fn pick_share(rng: &mut StdRng, n: usize, share: f64) -> Vec<bool> {
    let count = ((n as f64) * share).round() as usize;
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(rng);
    let mut chosen = vec![false; n];
    for &i in idx.iter().take(count) {
        chosen[i] = true;
    }
    chosen
}

fn pick<T: Copy>(rng: &mut StdRng, xs: &[T]) -> T {
    xs[rng.random_range(0..xs.len())]
}

fn hex(rng: &mut StdRng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect()
}

/// A random version-4 UUID in its usual text form.
fn uuid(rng: &mut StdRng) -> String {
    let h = hex(rng, 32);
    let variant = char::from(b"89ab"[rng.random_range(0..4)]);
    format!(
        "{}-{}-4{}-{}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        variant,
        &h[17..20],
        &h[20..32]
    )
}

/// ISO-8601 UTC with milliseconds, as Pinpoint writes `EffectiveDate`/`CreationDate`.
fn iso(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_string())
}

/// Draws the users. Depends only on `seed`, `users`, `end_ms` and `days`.
fn build_users(opts: &GenOptions) -> Vec<User> {
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let n = opts.users;
    let app = pick_share(&mut rng, n, 0.85);
    let hyogo = pick_share(&mut rng, n, 0.15);
    let line = pick_share(&mut rng, n, 0.60);
    let mut ranks: Vec<usize> = (1..=n).collect();
    ranks.shuffle(&mut rng);
    let start = window_start(opts);
    let span = opts.end_ms - start;
    let pref_total: f64 = PREFECTURES.iter().map(|p| p.2).sum();
    (0..n)
        .map(|i| {
            let (pref, city) = if hyogo[i] {
                HYOGO
            } else {
                let mut x = rng.random::<f64>() * pref_total;
                let mut chosen = (PREFECTURES[0].0, PREFECTURES[0].1);
                for p in PREFECTURES {
                    if x < p.2 {
                        chosen = (p.0, p.1);
                        break;
                    }
                    x -= p.2;
                }
                chosen
            };
            let channel = if app[i] {
                let r = rng.random::<f64>();
                if r < 0.45 {
                    Channel::Apns
                } else if r < 0.85 {
                    Channel::Gcm
                } else {
                    Channel::Email
                }
            } else if rng.random_bool(0.75) {
                Channel::Email
            } else {
                Channel::Sms
            };
            let device = match channel {
                Channel::Apns => pick(&mut rng, IOS_DEVICES),
                Channel::Gcm => pick(&mut rng, ANDROID_DEVICES),
                _ => pick(&mut rng, WEB_DEVICES),
            };
            let number = i + 1;
            let email = format!("member{number:04}@mail.example.jp");
            let phone = format!(
                "+81{}0{:08}",
                pick(&mut rng, &[7, 8, 9]),
                rng.random_range(0..100_000_000u32)
            );
            let address = match channel {
                Channel::Apns => hex(&mut rng, 64),
                Channel::Gcm => format!("{}:APA91b{}", hex(&mut rng, 11), hex(&mut rng, 48)),
                Channel::Email => email.clone(),
                Channel::Sms => phone.clone(),
            };
            let rank = ranks[i];
            let from_ms = if rng.random_bool(0.65) {
                start + rng.random_range(0..=span / 10)
            } else {
                start + rng.random_range(0..=span * 8 / 10)
            };
            // The three most active users never go dormant; about a fifth of the others do.
            let dormant = app[i] && rank > 3 && rng.random_bool(0.2);
            let app_until_ms = if dormant {
                let gap = rng.random_range(15..=45) * DAY_MS;
                (opts.end_ms - gap).max(from_ms + HOUR_MS).min(opts.end_ms)
            } else {
                opts.end_ms
            };
            User {
                id: format!("user-{number:04}"),
                app: app[i],
                endpoint_id: uuid(&mut rng),
                channel,
                address,
                email,
                phone,
                pref,
                city,
                plan: if rng.random_bool(0.2) { "gold" } else { "free" },
                line_user_id: line[i].then(|| format!("U{}", hex(&mut rng, 32))),
                cognito_id: format!("{REGION}:{}", uuid(&mut rng)),
                device,
                app_version: pick(&mut rng, APP_VERSIONS),
                cohort: rng.random_range(0..100),
                points: f64::from(rng.random_range(0..200u32) * 10),
                opted_out: rng.random_bool(0.08),
                inactive: rng.random_bool(0.03),
                weight: 1.0 / (rank as f64).powf(1.1),
                from_ms,
                app_until_ms,
                dormant,
            }
        })
        .collect()
}

/// Draws `count` campaigns (or journeys) with random IDs.
fn programs(rng: &mut StdRng, count: usize) -> Vec<Campaign> {
    (0..count)
        .map(|k| Campaign {
            id: hex(rng, 32),
            activity_id: hex(rng, 32),
            run_id: hex(rng, 32),
            subject: SUBJECTS[k % SUBJECTS.len()],
        })
        .collect()
}

/// Event-drawing state.
struct Gen<'a> {
    rng: StdRng,
    opts: &'a GenOptions,
    users: &'a [User],
    campaigns: Vec<Campaign>,
    journeys: Vec<Campaign>,
    out: Vec<Value>,
}

impl<'a> Gen<'a> {
    fn new(opts: &'a GenOptions, users: &'a [User]) -> Self {
        let mut rng = StdRng::seed_from_u64(opts.seed ^ 0x9e37_79b9_7f4a_7c15);
        let campaigns = programs(&mut rng, 6);
        let journeys = programs(&mut rng, 3);
        Gen {
            rng,
            opts,
            users,
            campaigns,
            journeys,
            out: Vec::new(),
        }
    }

    /// One burst of each kind, so every event kind is present; the first session ends exactly
    /// at `end_ms`.
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
        }
    }

    fn random_burst(&mut self, u: &User) {
        let r = self.rng.random::<f64>();
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

    fn time_in(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            hi
        } else {
            self.rng.random_range(lo..=hi)
        }
    }

    /// SDK events are buffered: usually seconds late, sometimes minutes, rarely hours.
    fn app_delay(&mut self) -> i64 {
        let r = self.rng.random::<f64>();
        if r < 0.88 {
            self.rng.random_range(300..6 * SECOND_MS)
        } else if r < 0.98 {
            self.rng.random_range(MINUTE_MS..30 * MINUTE_MS)
        } else {
            self.rng.random_range(HOUR_MS..12 * HOUR_MS)
        }
    }

    fn server_delay(&mut self) -> i64 {
        self.rng.random_range(50..1_500)
    }

    /// Carrier receipts: mostly within a minute, sometimes up to 72 hours late.
    fn sms_delay(&mut self) -> i64 {
        if self.rng.random_bool(0.9) {
            self.rng.random_range(2 * SECOND_MS..90 * SECOND_MS)
        } else {
            self.rng.random_range(10 * MINUTE_MS..72 * HOUR_MS)
        }
    }

    /// An app session: start, maybe sign-in, a few custom events, maybe a purchase, stop.
    /// With `end_at`, the stop lands exactly there.
    fn session(&mut self, u: &User, force_all: bool, end_at: Option<i64>) {
        let mut plan = vec![(Step::Start, 0)];
        let mut t = 0;
        if force_all || self.rng.random_bool(0.25) {
            t += self.rng.random_range(2 * SECOND_MS..20 * SECOND_MS);
            plan.push((Step::SignIn, t));
        }
        let customs = if force_all {
            3
        } else {
            self.rng.random_range(1..=6)
        };
        for k in 0..customs {
            t += self.rng.random_range(5 * SECOND_MS..180 * SECOND_MS);
            let step = if force_all {
                [Step::Search, Step::View, Step::Cart][k]
            } else {
                let r = self.rng.random::<f64>();
                if r < 0.6 {
                    Step::View
                } else if r < 0.8 {
                    Step::Cart
                } else {
                    Step::Search
                }
            };
            plan.push((step, t));
        }
        let carted = plan.iter().any(|(s, _)| *s == Step::Cart);
        if force_all || (carted && self.rng.random_bool(0.45)) || self.rng.random_bool(0.03) {
            t += self.rng.random_range(20 * SECOND_MS..300 * SECOND_MS);
            plan.push((Step::Purchase, t));
        }
        t += self.rng.random_range(5 * SECOND_MS..120 * SECOND_MS);
        plan.push((Step::Stop, t));

        let t0 = match end_at {
            Some(end) => end - t,
            None => {
                // Active users come back: a third of their sessions fall in their last two weeks.
                let recent = (u.app_until_ms - 14 * DAY_MS).max(u.from_ms);
                let lo = if !u.dormant && self.rng.random_bool(0.35) {
                    recent
                } else {
                    u.from_ms
                };
                self.time_in(lo, u.app_until_ms - t)
            }
        };
        let ctx = SessionCtx {
            id: uuid(&mut self.rng),
            start: t0,
        };
        let mut product = pick(&mut self.rng, PRODUCTS);
        for (step, offset) in plan {
            let at = t0 + offset;
            let (kind, attributes, metrics) = match step {
                Step::Start => ("_session.start", json!({}), None),
                Step::Stop => ("_session.stop", json!({}), None),
                Step::SignIn => ("_userauth.sign_in", json!({}), None),
                Step::Search => (
                    "search",
                    json!({ "query": pick(&mut self.rng, SEARCHES) }),
                    None,
                ),
                Step::View => {
                    product = pick(&mut self.rng, PRODUCTS);
                    (
                        "view_item",
                        json!({ "item_id": product.0, "category": product.1 }),
                        None,
                    )
                }
                Step::Cart => (
                    "add_to_cart",
                    json!({ "item_id": product.0, "category": product.1 }),
                    Some(json!({ "quantity": self.rng.random_range(1..=3) })),
                ),
                Step::Purchase => (
                    "_monetization.purchase",
                    json!({ "_currency": "JPY", "_product_id": product.0 }),
                    Some(json!({
                        "_item_price": product.2,
                        "_quantity": self.rng.random_range(1..=5),
                    })),
                ),
            };
            let stop = (step == Step::Stop).then_some(at);
            let event = self.app_event(u, kind, at, &ctx, stop, attributes, metrics);
            self.out.push(event);
        }
    }

    /// The full endpoint object an app event carries (and campaign events embed as a string).
    fn endpoint(&mut self, u: &User, at: i64) -> Value {
        let (make, model, platform, version) = u.device;
        let mut user_attributes = Map::new();
        user_attributes.insert("plan".into(), json!([u.plan]));
        if let Some(line) = &u.line_user_id {
            user_attributes.insert("lineUserId".into(), json!([line]));
        }
        json!({
            "ChannelType": u.channel.name(),
            "Address": u.address,
            "EndpointStatus": if u.inactive { "INACTIVE" } else { "ACTIVE" },
            "OptOut": if u.opted_out { "ALL" } else { "NONE" },
            "RequestId": uuid(&mut self.rng),
            "Location": { "Country": "JP", "City": u.city },
            "Demographic": {
                "Make": make,
                "Model": model,
                "ModelVersion": version,
                "AppVersion": u.app_version,
                "Platform": platform,
            },
            "EffectiveDate": iso(at),
            "Attributes": { "pref": [u.pref] },
            "Metrics": { "points": u.points },
            "User": { "UserId": u.id, "UserAttributes": user_attributes },
            "ApplicationId": APP_ID,
            "Id": u.endpoint_id,
            "CohortId": u.cohort.to_string(),
            "CreationDate": iso(u.from_ms),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn app_event(
        &mut self,
        u: &User,
        kind: &str,
        at: i64,
        ctx: &SessionCtx,
        stop: Option<i64>,
        attributes: Value,
        metrics: Option<Value>,
    ) -> Value {
        let (make, model, platform, version) = u.device;
        let web = u.channel == Channel::Email;
        let mut session = json!({ "session_id": ctx.id, "start_timestamp": ctx.start });
        if let Some(stop) = stop {
            session["stop_timestamp"] = json!(stop);
        }
        let mut application = json!({
            "app_id": APP_ID,
            "cognito_identity_pool_id": IDENTITY_POOL,
            "sdk": {},
        });
        application["version_name"] = if web {
            json!(format!("{model}/{version}"))
        } else {
            json!(u.app_version)
        };
        let mut event = json!({
            "event_type": kind,
            "event_timestamp": at,
            "arrival_timestamp": at + self.app_delay(),
            "event_version": "3.1",
            "application": application,
            "client": { "client_id": u.endpoint_id, "cognito_id": u.cognito_id },
            "device": {
                "make": make,
                "model": model,
                "platform": { "name": platform.to_lowercase() },
            },
            "session": session,
            "attributes": attributes,
            "endpoint": self.endpoint(u, at),
            "awsAccountId": ACCOUNT_ID,
        });
        if let Some(metrics) = metrics {
            event["metrics"] = metrics;
        }
        event
    }

    /// A server-side event (campaign, journey, email, SMS): no `endpoint`, empty session.
    fn server_event(&mut self, kind: &str, at: i64, arrival: i64, client_id: &str) -> Value {
        json!({
            "event_type": kind,
            "event_timestamp": at,
            "arrival_timestamp": arrival,
            "event_version": "3.1",
            "application": { "app_id": APP_ID, "sdk": {} },
            "client": { "client_id": client_id },
            "device": { "platform": {} },
            "session": {},
            "attributes": {},
            "awsAccountId": ACCOUNT_ID,
        })
    }

    /// The endpoint as a JSON string at `client_context.custom.endpoint`; one in ten is as sparse
    /// as the documentation's example (no `Id`, empty `User`).
    fn embedded_endpoint(&mut self, u: &User, at: i64) -> Value {
        let endpoint = if self.rng.random_bool(0.1) {
            json!({
                "ChannelType": u.channel.name(),
                "EndpointStatus": "ACTIVE",
                "OptOut": "NONE",
                "RequestId": uuid(&mut self.rng),
                "EffectiveDate": iso(at),
                "User": {},
            })
        } else {
            self.endpoint(u, at)
        };
        json!({ "custom": { "endpoint": endpoint.to_string() } })
    }

    /// A push campaign send, sometimes followed by the notification being opened.
    fn campaign(&mut self, u: &User, force_open: bool) {
        let end = self.opts.end_ms;
        let c = self.campaigns[self.rng.random_range(0..self.campaigns.len())].clone();
        let latest = if force_open { end - 8 * HOUR_MS } else { end };
        let t0 = self.time_in(u.from_ms, latest);
        let opened = force_open || self.rng.random_bool(0.25);
        let open_at = t0 + self.rng.random_range(MINUTE_MS..8 * HOUR_MS);
        let mut steps = vec![("_campaign.send", t0)];
        if opened && open_at <= end {
            steps.push(("_campaign.opened_notification", open_at));
        }
        for (kind, at) in steps {
            let arrival = at + self.server_delay();
            let mut e = self.server_event(kind, at, arrival, &u.endpoint_id);
            e["attributes"] = json!({
                "campaign_id": c.id,
                "campaign_activity_id": c.activity_id,
                "treatment_id": "0",
                "delivery_type": u.channel.name(),
                "campaign_send_status": "SUCCESS",
            });
            e["client_context"] = self.embedded_endpoint(u, at);
            self.out.push(e);
        }
    }

    /// A journey push send.
    fn journey(&mut self, u: &User) {
        let j = self.journeys[self.rng.random_range(0..self.journeys.len())].clone();
        let at = self.time_in(u.from_ms, self.opts.end_ms);
        let arrival = at + self.server_delay();
        let mut e = self.server_event("_journey.send", at, arrival, &u.endpoint_id);
        e["attributes"] = json!({
            "journey_id": j.id,
            "journey_activity_id": j.activity_id,
            "journey_run_id": j.run_id,
            "delivery_type": u.channel.name(),
            "journey_send_status": "SUCCESS",
        });
        e["client_context"] = self.embedded_endpoint(u, at);
        self.out.push(e);
    }

    /// A campaign or journey email to the user's endpoint: send, delivered, maybe opened.
    fn email(&mut self, u: &User, force_open: bool) {
        let journey = self.rng.random_bool(0.3);
        let program = if journey {
            self.journeys[self.rng.random_range(0..self.journeys.len())].clone()
        } else {
            self.campaigns[self.rng.random_range(0..self.campaigns.len())].clone()
        };
        let attributes = if journey {
            json!({
                "journey_id": program.id,
                "journey_activity_id": program.activity_id,
                "journey_run_id": program.run_id,
            })
        } else {
            json!({
                "campaign_id": program.id,
                "campaign_activity_id": program.activity_id,
                "treatment_id": "0",
            })
        };
        let opened = force_open || self.rng.random_bool(0.35);
        self.email_burst(u, &u.endpoint_id, attributes, program.subject, opened);
    }

    /// A transactional email: `client_id` is a fresh random UUID that names no known endpoint.
    fn transactional_email(&mut self, u: &User) {
        let client_id = uuid(&mut self.rng);
        let opened = self.rng.random_bool(0.5);
        self.email_burst(
            u,
            &client_id,
            json!({}),
            "ご注文ありがとうございます",
            opened,
        );
    }

    fn email_burst(
        &mut self,
        u: &User,
        client_id: &str,
        attributes: Value,
        subject: &str,
        opened: bool,
    ) {
        let end = self.opts.end_ms;
        let latest = if opened { end - HOUR_MS } else { end };
        let t0 = self.time_in(u.from_ms, latest);
        let message_id = format!("{}-{}-000000", hex(&mut self.rng, 16), uuid(&mut self.rng));
        let delivered_at = t0 + self.rng.random_range(SECOND_MS..30 * SECOND_MS);
        let open_at = delivered_at + self.rng.random_range(2 * MINUTE_MS..36 * HOUR_MS);
        let open_at = if open_at > end {
            delivered_at + self.rng.random_range(2 * MINUTE_MS..10 * MINUTE_MS)
        } else {
            open_at
        };
        let mut steps = vec![("_email.send", t0), ("_email.delivered", delivered_at)];
        if opened && open_at <= end {
            steps.push(("_email.open", open_at));
        }
        for (kind, at) in steps {
            let (feedback, detail_key, detail) = match kind {
                "_email.send" => ("send", "send", json!({})),
                "_email.delivered" => (
                    "received",
                    "delivery",
                    json!({
                        "smtp_response": "250 2.0.0 OK",
                        "reporting_mta": "a27-30.smtp-out.ap-northeast-1.amazonses.com",
                        "recipients": [u.email],
                        "processing_time_millis": at - t0,
                    }),
                ),
                _ => (
                    "opened",
                    "open",
                    json!({
                        "timestamp": at,
                        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)",
                        "ip_address": format!("203.0.113.{}", self.rng.random_range(1..255)),
                    }),
                ),
            };
            let arrival = at + self.server_delay();
            let mut e = self.server_event(kind, at, arrival, client_id);
            e["device"] = json!({});
            let mut attrs = attributes.clone();
            attrs["feedback"] = json!(feedback);
            e["attributes"] = attrs;
            let mut mail_event = json!({
                "mail": {
                    "message_id": message_id,
                    "message_send_timestamp": t0,
                    "from_address": MAIL_FROM,
                    "destination": [u.email],
                    "headers_truncated": false,
                    "common_headers": {
                        "from": format!("Example Shop <{MAIL_FROM}>"),
                        "to": [u.email],
                        "subject": subject,
                    },
                },
            });
            mail_event[detail_key] = detail;
            e["facets"] = json!({ "email_channel": { "mail_event": mail_event } });
            self.out.push(e);
        }
    }

    /// A delivered SMS to the user's phone; the carrier receipt may arrive hours late.
    fn sms(&mut self, u: &User) {
        let at = self.time_in(u.from_ms, self.opts.end_ms);
        let arrival = at + self.sms_delay();
        let mut e = self.server_event("_SMS.SUCCESS", at, arrival, &u.endpoint_id);
        let c = self.campaigns[self.rng.random_range(0..self.campaigns.len())].clone();
        e["attributes"] = json!({
            "sender_request_id": uuid(&mut self.rng),
            "campaign_id": c.id,
            "campaign_activity_id": c.activity_id,
            "treatment_id": "0",
            "origination_phone_number": "+81345678901",
            "destination_phone_number": u.phone,
            "record_status": "DELIVERED",
            "iso_country_code": "JP",
            "number_of_message_parts": "1",
            "message_id": hex(&mut self.rng, 24),
            "message_type": "Promotional",
        });
        let price = [645.0, 774.0, 1290.0][self.rng.random_range(0..3)];
        e["metrics"] = json!({ "price_in_millicents_usd": price });
        self.out.push(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::PathBuf;

    const END_MS: i64 = 1_764_547_200_000;
    /// Counter part of the first sequence number of kinesis-batch-1.json.
    const BATCH_FIRST_SEQ: u128 = 234_855_786_561_806_049_730_141_815_417_165_420_953;
    const MALFORMED_FIRST_SEQ: u128 = 198_765_432_109_876_543_210_987_654_321_098_765_432;

    fn opts(events: usize) -> GenOptions {
        GenOptions {
            seed: 7,
            users: 240,
            events,
            end_ms: END_MS,
            days: 120,
            shards: 4,
        }
    }

    const ALL_KINDS: &[&str] = &[
        "view_item",
        "add_to_cart",
        "search",
        "_session.start",
        "_session.stop",
        "_monetization.purchase",
        "_userauth.sign_in",
        "_campaign.send",
        "_campaign.opened_notification",
        "_journey.send",
        "_email.send",
        "_email.delivered",
        "_email.open",
        "_SMS.SUCCESS",
    ];

    /// The user an event belongs to: the endpoint's user ID, the embedded endpoint's, or the
    /// user owning `client.client_id`.
    fn user_of(e: &Value, by_endpoint: &BTreeMap<String, String>) -> Option<String> {
        if let Some(id) = e["endpoint"]["User"]["UserId"].as_str() {
            return Some(id.to_string());
        }
        if let Some(text) = e["client_context"]["custom"]["endpoint"].as_str() {
            let inner: Value = serde_json::from_str(text).unwrap();
            if let Some(id) = inner["User"]["UserId"].as_str() {
                return Some(id.to_string());
            }
        }
        let client = e["client"]["client_id"].as_str()?;
        by_endpoint.get(client).cloned()
    }

    fn endpoint_owners(o: &GenOptions) -> BTreeMap<String, String> {
        build_users(o)
            .into_iter()
            .map(|u| (u.endpoint_id, u.id))
            .collect()
    }

    #[test]
    fn same_seed_gives_same_events_and_another_seed_does_not() {
        let a = generate_events(&opts(500));
        let b = generate_events(&opts(500));
        assert_eq!(a, b);
        let mut other = opts(500);
        other.seed = 8;
        assert_ne!(a, generate_events(&other));
        assert_eq!(
            user_attribute_rows(&opts(10)),
            user_attribute_rows(&opts(3000))
        );
    }

    #[test]
    fn exact_count_sorted_within_window_ending_at_end_ms() {
        for n in [1, 37, 3000] {
            let events = generate_events(&opts(n));
            assert_eq!(events.len(), n);
            let times: Vec<i64> = events
                .iter()
                .map(|e| e["event_timestamp"].as_i64().unwrap())
                .collect();
            assert!(times.windows(2).all(|w| w[0] <= w[1]));
            assert!(*times.last().unwrap() <= END_MS);
            assert!(times[0] >= END_MS - 120 * DAY_MS);
        }
        let events = generate_events(&opts(3000));
        assert_eq!(events.last().unwrap()["event_timestamp"], json!(END_MS));
        let mut late = 0;
        for e in &events {
            assert_eq!(e["event_version"], "3.1");
            assert_eq!(e["application"]["app_id"], APP_ID);
            assert_eq!(e["awsAccountId"], ACCOUNT_ID);
            let delay =
                e["arrival_timestamp"].as_i64().unwrap() - e["event_timestamp"].as_i64().unwrap();
            assert!(delay > 0, "arrival before event: {e}");
            if delay >= MINUTE_MS {
                late += 1;
            }
        }
        assert!(
            late > 30 && late < 600,
            "{late} events arrived a minute or more late"
        );
        assert!(generate_events(&opts(0)).is_empty());
        let mut nobody = opts(10);
        nobody.users = 0;
        assert!(generate_events(&nobody).is_empty());
    }

    #[test]
    fn every_event_kind_is_present() {
        for n in [60, 3000] {
            let kinds: BTreeSet<String> = generate_events(&opts(n))
                .iter()
                .map(|e| e["event_type"].as_str().unwrap().to_string())
                .collect();
            for kind in ALL_KINDS {
                assert!(kinds.contains(*kind), "{kind} missing from {n} events");
            }
        }
    }

    #[test]
    fn event_shapes_follow_pinpoint() {
        let o = opts(3000);
        let users: BTreeMap<String, User> = build_users(&o)
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect();
        let app_endpoints: BTreeSet<&str> = users
            .values()
            .filter(|u| u.app)
            .map(|u| u.endpoint_id.as_str())
            .collect();
        let other_endpoints: BTreeSet<&str> = users
            .values()
            .filter(|u| !u.app)
            .map(|u| u.endpoint_id.as_str())
            .collect();
        let (mut email_app, mut email_other, mut sparse) = (0, 0, 0);
        for e in generate_events(&o) {
            let kind = e["event_type"].as_str().unwrap();
            let client = e["client"]["client_id"].as_str().unwrap();
            if kind.starts_with("_email.") || kind.starts_with("_SMS.") {
                assert!(e.get("endpoint").is_none() && e.get("client_context").is_none());
                assert_eq!(e["session"], json!({}));
                if app_endpoints.contains(client) {
                    email_app += 1;
                } else if other_endpoints.contains(client) {
                    email_other += 1;
                }
            }
            if kind.starts_with("_email.") {
                let mail_event = &e["facets"]["email_channel"]["mail_event"];
                assert!(mail_event["mail"]["destination"][0].is_string());
                assert_eq!(e["device"], json!({}));
            }
            if kind == "_SMS.SUCCESS" {
                assert_eq!(e["attributes"]["record_status"], "DELIVERED");
                assert!(e["attributes"]["destination_phone_number"]
                    .as_str()
                    .unwrap()
                    .starts_with("+81"));
                assert!(e["metrics"]["price_in_millicents_usd"].is_f64());
            }
            if kind.starts_with("_campaign.") || kind.starts_with("_journey.") {
                let text = e["client_context"]["custom"]["endpoint"].as_str().unwrap();
                let inner: Value = serde_json::from_str(text).unwrap();
                match inner["Id"].as_str() {
                    Some(id) => assert_eq!(id, client),
                    None => sparse += 1,
                }
                assert!(e.get("endpoint").is_none());
            }
            if kind == "_monetization.purchase" {
                assert_eq!(e["attributes"]["_currency"], "JPY");
                let price = e["metrics"]["_item_price"].as_i64().unwrap();
                assert!((300..=30_000).contains(&price));
                let quantity = e["metrics"]["_quantity"].as_i64().unwrap();
                assert!((1..=5).contains(&quantity));
            }
            if let Some(endpoint) = e.get("endpoint") {
                let u = &users[endpoint["User"]["UserId"].as_str().unwrap()];
                assert!(u.app);
                assert_eq!(endpoint["Id"], json!(u.endpoint_id));
                assert_eq!(client, u.endpoint_id);
                assert_eq!(endpoint["Attributes"]["pref"], json!([u.pref]));
                assert_eq!(endpoint["Location"]["Country"], "JP");
                let line = &endpoint["User"]["UserAttributes"]["lineUserId"];
                match &u.line_user_id {
                    Some(id) => assert_eq!(line, &json!([id])),
                    None => assert!(line.is_null()),
                }
            }
        }
        assert!(
            email_app > 20,
            "{email_app} email/SMS events name an app user's endpoint"
        );
        assert!(
            email_other > 20,
            "{email_other} email/SMS events name an email/SMS-only endpoint"
        );
        assert!(
            sparse > 0,
            "no documentation-style sparse embedded endpoint"
        );
    }

    #[test]
    fn users_have_the_requested_mix() {
        let rows = user_attribute_rows(&opts(0));
        assert_eq!(rows.len(), 240);
        assert_eq!(rows[0]["id"], "user-0001");
        assert_eq!(rows[239]["id"], "user-0240");
        let hyogo = rows.iter().filter(|r| r["pref"] == "兵庫県").count();
        assert_eq!(hyogo, 36);
        let line: Vec<&str> = rows
            .iter()
            .filter_map(|r| r["lineUserId"].as_str())
            .collect();
        assert_eq!(line.len(), 144);
        for id in line {
            assert!(id.len() == 33 && id.starts_with('U'));
            assert!(id[1..]
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        }
        let users = build_users(&opts(0));
        assert_eq!(users.iter().filter(|u| u.app).count(), 204);
        let ids: BTreeSet<&str> = users.iter().map(|u| u.endpoint_id.as_str()).collect();
        assert_eq!(ids.len(), 240, "endpoint IDs must be unique");
    }

    #[test]
    fn activity_is_zipf_skewed() {
        let o = opts(3000);
        let owners = endpoint_owners(&o);
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for e in generate_events(&o) {
            if let Some(user) = user_of(&e, &owners) {
                *counts.entry(user).or_default() += 1;
            }
        }
        let mut per_user: Vec<usize> = counts.values().copied().collect();
        per_user.sort_unstable_by(|a, b| b.cmp(a));
        let total: usize = per_user.iter().sum();
        let top12: usize = per_user.iter().take(12).sum();
        assert!(
            top12 * 10 > total * 3,
            "top 5% of users hold {top12} of {total}"
        );
        assert!(
            per_user[0] > 100,
            "most active user has only {}",
            per_user[0]
        );
        let median = per_user[per_user.len() / 2];
        assert!(
            (1..=10).contains(&median),
            "median user has {median} events"
        );
        assert!(
            per_user.len() > 225,
            "only {} users have events",
            per_user.len()
        );
    }

    #[test]
    fn some_app_users_go_dormant() {
        let o = opts(3000);
        let users = build_users(&o);
        let dormant: BTreeSet<&str> = users
            .iter()
            .filter(|u| u.dormant)
            .map(|u| u.id.as_str())
            .collect();
        assert!(dormant.len() > 20, "{} dormant users", dormant.len());
        let mut last_start: BTreeMap<String, i64> = BTreeMap::new();
        for e in generate_events(&o) {
            if e["event_type"] == "_session.start" {
                let user = e["endpoint"]["User"]["UserId"]
                    .as_str()
                    .unwrap()
                    .to_string();
                last_start.insert(user, e["event_timestamp"].as_i64().unwrap());
            }
        }
        let cutoff = END_MS - 14 * DAY_MS;
        let mut dormant_with_sessions = 0;
        for (user, at) in &last_start {
            if dormant.contains(user.as_str()) {
                assert!(*at < cutoff, "dormant {user} started a session at {at}");
                dormant_with_sessions += 1;
            }
        }
        assert!(dormant_with_sessions > 10);
        assert!(last_start.values().filter(|at| **at >= cutoff).count() > 50);
    }

    #[test]
    fn kinesis_envelope_round_trips_with_per_shard_increasing_sequence_numbers() {
        let events = generate_events(&opts(400));
        let envelope = to_kinesis_envelope(&events, 4, BATCH_FIRST_SEQ);
        let records = envelope["Records"].as_array().unwrap();
        assert_eq!(records.len(), events.len());
        let mut decoded = Vec::new();
        let mut last: BTreeMap<String, String> = BTreeMap::new();
        let mut last_arrival = f64::MIN;
        for r in records {
            let k = &r["kinesis"];
            let bytes = BASE64.decode(k["data"].as_str().unwrap()).unwrap();
            decoded.push(serde_json::from_slice::<Value>(&bytes).unwrap());
            let seq = k["sequenceNumber"].as_str().unwrap();
            assert_eq!(seq.len(), 56);
            assert!(seq.chars().all(|c| c.is_ascii_digit()));
            let (shard, _) = r["eventID"].as_str().unwrap().split_once(':').unwrap();
            assert_eq!(r["eventID"], json!(format!("{shard}:{seq}")));
            if let Some(prev) = last.insert(shard.to_string(), seq.to_string()) {
                assert!(prev.as_str() < seq, "{shard}: {prev} then {seq}");
            }
            let pk = k["partitionKey"].as_str().unwrap();
            assert!(pk.parse::<i32>().is_ok() && !pk.contains("user"));
            assert_eq!(r["eventSource"], "aws:kinesis");
            let arrival = k["approximateArrivalTimestamp"].as_f64().unwrap();
            assert!(arrival > 1.7e9 && arrival < 1.8e9);
            last_arrival = last_arrival.max(arrival);
        }
        assert_eq!(last.len(), 4, "records should spread over all 4 shards");
        // Same events, arrival order.
        let mut sorted_in = events.clone();
        let mut sorted_out = decoded.clone();
        let key = |e: &Value| e.to_string();
        sorted_in.sort_by_key(key);
        sorted_out.sort_by_key(key);
        assert_eq!(sorted_in, sorted_out);
        assert_ne!(
            events, decoded,
            "records are in arrival order, not event order"
        );
        assert_eq!(envelope, to_kinesis_envelope(&events, 4, BATCH_FIRST_SEQ));
        assert_eq!(to_kinesis_envelope(&[], 4, 0), json!({ "Records": [] }));
    }

    // ---- fixture files -------------------------------------------------------------------

    fn fixtures_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
    }

    /// Removes insignificant whitespace from JSON text, keeping key order.
    fn minify(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let (mut in_string, mut escaped) = (false, false);
        for c in text.chars() {
            if in_string {
                out.push(c);
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_string = false;
                }
            } else if !c.is_whitespace() {
                in_string = c == '"';
                out.push(c);
            }
        }
        out
    }

    /// `{"Records":[` one record per line `]}`: compact but diffable.
    fn envelope_text(envelope: &Value) -> String {
        let lines: Vec<String> = envelope["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::to_string)
            .collect();
        format!("{{\"Records\":[\n{}\n]}}\n", lines.join(",\n"))
    }

    fn jsonl(values: &[Value]) -> String {
        values.iter().map(|v| format!("{v}\n")).collect()
    }

    fn last_counter(envelope: &Value) -> u128 {
        envelope["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["kinesis"]["sequenceNumber"].as_str().unwrap()[17..]
                    .parse::<u128>()
                    .unwrap()
            })
            .max()
            .unwrap()
    }

    fn seed_kinesis(event_text: &str) -> String {
        let data = BASE64.encode(minify(event_text));
        format!(
            r#"{{
  "Records": [
    {{
      "kinesis": {{
        "kinesisSchemaVersion": "1.0",
        "partitionKey": "-1667896638",
        "sequenceNumber": "49599259535682552348557865618060497301418154171654209538",
        "data": "{data}",
        "approximateArrivalTimestamp": 1567780307.056
      }},
      "eventSource": "aws:kinesis",
      "eventVersion": "1.0",
      "eventID": "shardId-000000000000:49599259535682552348557865618060497301418154171654209538",
      "eventName": "aws:kinesis:record",
      "invokeIdentityArn": "arn:aws:iam::XXXXXXXX:role/service-role/PinpointKinesisLambda-20190906-role-m33cg6kb",
      "awsRegion": "us-west-2",
      "eventSourceARN": "arn:aws:kinesis:us-west-2:XXXXXXXX:stream/pinpointkinesislam-pro"
    }}
  ]
}}
"#
        )
    }

    /// Sets record `i`'s data to `bytes`, Base64-encoded.
    fn set_data(envelope: &mut Value, i: usize, bytes: &[u8]) {
        envelope["Records"][i]["kinesis"]["data"] = json!(BASE64.encode(bytes));
    }

    fn record_event(envelope: &Value, i: usize) -> Value {
        let data = envelope["Records"][i]["kinesis"]["data"].as_str().unwrap();
        serde_json::from_slice(&BASE64.decode(data).unwrap()).unwrap()
    }

    /// Good records at 0, 1, 3, 6, 9, 12; one bad record per failure kind at the others
    /// (documented in fixtures/README.md).
    fn malformed_envelope(events: &[Value]) -> Value {
        let pick_kind = |kind: &str, nth: usize| {
            events
                .iter()
                .filter(|e| e["event_type"] == kind)
                .nth(nth)
                .cloned()
                .unwrap()
        };
        let base = vec![
            pick_kind("_session.start", 0),
            pick_kind("_campaign.send", 0),
            pick_kind("view_item", 0),
            pick_kind("_email.delivered", 0),
            pick_kind("add_to_cart", 0),
            pick_kind("_session.start", 1),
            pick_kind("_SMS.SUCCESS", 0),
            pick_kind("view_item", 1),
            pick_kind("_session.stop", 0),
            pick_kind("_monetization.purchase", 0),
            pick_kind("view_item", 2),
            pick_kind("_session.stop", 1),
            pick_kind("_journey.send", 0),
        ];
        let mut env = to_kinesis_envelope(&base, 2, MALFORMED_FIRST_SEQ);
        // 2: not Base64.
        env["Records"][2]["kinesis"]["data"] = json!("%%% this is not base64 %%%");
        // 4: Base64 of bytes that are not UTF-8 (0xFF 0xFE at byte offset 15).
        set_data(&mut env, 4, b"{\"event_type\":\"\xff\xfe\"}");
        // 5: UTF-8 text that is not JSON.
        set_data(&mut env, 5, b"event_type=_session.start&user=user-0001");
        // 7: JSON that is not an object.
        set_data(&mut env, 7, b"[1,2]");
        // 8: a known field with the wrong type.
        let mut wrong = record_event(&env, 8);
        wrong["event_timestamp"] = json!("yesterday");
        set_data(&mut env, 8, wrong.to_string().as_bytes());
        // 10: no user key (no endpoint, no client, no client_context).
        let mut anonymous = record_event(&env, 10);
        let obj = anonymous.as_object_mut().unwrap();
        for key in ["endpoint", "client", "client_context"] {
            obj.remove(key);
        }
        set_data(&mut env, 10, anonymous.to_string().as_bytes());
        // 11: 200 nested arrays inside an attribute.
        let mut deep = record_event(&env, 11);
        let mut nested = json!("bottom");
        for _ in 0..200 {
            nested = json!([nested]);
        }
        deep["attributes"]["deep"] = nested;
        set_data(&mut env, 11, deep.to_string().as_bytes());
        env
    }

    fn malformed_jsonl(events: &[Value]) -> String {
        let mut lines: Vec<String> = events.iter().take(5).map(Value::to_string).collect();
        let truncated: String = events[5].to_string().chars().take(80).collect();
        lines.insert(2, truncated);
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    /// Every generated fixture file: (path under fixtures/, content).
    fn fixture_files() -> Vec<(&'static str, String)> {
        let seed_event = include_str!("../../../fixtures/seed-002-event.json");
        let o = opts(3000);
        let events = generate_events(&o);
        let half = events.len() / 2;
        let batch1 = to_kinesis_envelope(&events[..half], o.shards, BATCH_FIRST_SEQ);
        let batch2 = to_kinesis_envelope(&events[half..], o.shards, last_counter(&batch1) + 1);
        vec![
            ("seed-002-kinesis.json", seed_kinesis(seed_event)),
            ("events.jsonl", jsonl(&events)),
            ("kinesis-batch-1.json", envelope_text(&batch1)),
            ("kinesis-batch-2.json", envelope_text(&batch2)),
            ("user-attributes.jsonl", jsonl(&user_attribute_rows(&o))),
            (
                "malformed/kinesis-malformed.json",
                envelope_text(&malformed_envelope(&events)),
            ),
            ("malformed/events-malformed.jsonl", malformed_jsonl(&events)),
        ]
    }

    /// Regenerates the committed fixtures:
    /// `cargo test -p audience-stream-cli -- --ignored write_fixtures`.
    #[test]
    #[ignore = "writes fixtures/; run by hand after changing the generator"]
    fn write_fixtures() {
        let dir = fixtures_dir();
        for (name, content) in fixture_files() {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, content).unwrap();
        }
    }

    #[test]
    fn committed_fixtures_match_the_generator() {
        let dir = fixtures_dir();
        for (name, content) in fixture_files() {
            let path = dir.join(name);
            let committed = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            assert!(
                committed == content,
                "fixtures/{name} differs from the generator; regenerate with \
                 `cargo test -p audience-stream-cli -- --ignored write_fixtures`"
            );
        }
    }

    #[test]
    fn seed_fixture_is_the_seed_event_base64d() {
        let text = std::fs::read_to_string(fixtures_dir().join("seed-002-event.json")).unwrap();
        let event: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(event["event_type"], "_session.stop");
        assert_eq!(
            event["endpoint"]["Id"],
            "c3cc0c40-d0ad-11e9-b963-3d4f07405ba8"
        );
        let envelope: Value = serde_json::from_str(&seed_kinesis(&text)).unwrap();
        assert_eq!(record_event(&envelope, 0), event);
    }

    #[test]
    fn malformed_fixture_has_one_record_per_failure_kind() {
        let events = generate_events(&opts(3000));
        let env = malformed_envelope(&events);
        let records = env["Records"].as_array().unwrap();
        assert_eq!(records.len(), 13);
        let decode = |i: usize| BASE64.decode(records[i]["kinesis"]["data"].as_str().unwrap());
        for good in [0, 1, 3, 6, 9, 12] {
            let e: Value = serde_json::from_slice(&decode(good).unwrap()).unwrap();
            assert!(e["client"]["client_id"].is_string());
        }
        assert!(decode(2).is_err());
        assert!(String::from_utf8(decode(4).unwrap()).is_err());
        let text = String::from_utf8(decode(5).unwrap()).unwrap();
        assert!(serde_json::from_str::<Value>(&text).is_err());
        assert!(serde_json::from_slice::<Value>(&decode(7).unwrap())
            .unwrap()
            .is_array());
        let wrong: Value = serde_json::from_slice(&decode(8).unwrap()).unwrap();
        assert_eq!(wrong["event_timestamp"], "yesterday");
        let anonymous: Value = serde_json::from_slice(&decode(10).unwrap()).unwrap();
        assert!(anonymous.get("client").is_none() && anonymous.get("endpoint").is_none());
        let deep = String::from_utf8(decode(11).unwrap()).unwrap();
        assert!(deep.contains(&"[".repeat(200)));
        // serde_json's own recursion limit (128) rejects it too.
        assert!(serde_json::from_str::<Value>(&deep).is_err());
        let lines: Vec<String> = malformed_jsonl(&events).lines().map(String::from).collect();
        assert_eq!(lines.len(), 6);
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(
                serde_json::from_str::<Value>(line).is_ok(),
                i != 2,
                "line {}",
                i + 1
            );
        }
    }
}
