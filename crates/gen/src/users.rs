//! The generated users: who is an app user, where they live, their endpoint and channel, LINE
//! link, plan, device, activity weight and whether they went dormant. Depends only on `seed`,
//! `users`, `end_ms` and `days`, never on the event count.

use crate::catalog::{
    Device, ANDROID_DEVICES, APP_VERSIONS, HYOGO, IOS_DEVICES, PREFECTURES, REGION, WEB_DEVICES,
};
use crate::clock::{window_start, DAY_MS, HOUR_MS};
use crate::draw::{Draw, Stream};
use crate::options::GenOptions;

/// The channel of a user's endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    Apns,
    Gcm,
    Email,
    Sms,
}

impl Channel {
    /// Pinpoint's `ChannelType` / `delivery_type`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Channel::Apns => "APNS",
            Channel::Gcm => "GCM",
            Channel::Email => "EMAIL",
            Channel::Sms => "SMS",
        }
    }

    /// Whether campaigns and journeys reach the user by push notification.
    pub(crate) fn is_push(self) -> bool {
        matches!(self, Channel::Apns | Channel::Gcm)
    }
}

/// One generated user and the endpoint the events name.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) id: String,
    /// App users send app events with a full `endpoint`; the others appear only through
    /// email/SMS events that name their endpoint ID.
    pub(crate) app: bool,
    pub(crate) endpoint_id: String,
    pub(crate) channel: Channel,
    pub(crate) address: String,
    pub(crate) email: String,
    pub(crate) phone: String,
    pub(crate) pref: &'static str,
    pub(crate) city: &'static str,
    pub(crate) plan: &'static str,
    pub(crate) line_user_id: Option<String>,
    pub(crate) cognito_id: String,
    pub(crate) device: Device,
    pub(crate) app_version: &'static str,
    pub(crate) cohort: u32,
    pub(crate) points: f64,
    pub(crate) opted_out: bool,
    pub(crate) inactive: bool,
    /// Relative activity (Zipf by a random rank).
    pub(crate) weight: f64,
    /// When the user was first seen.
    pub(crate) from_ms: i64,
    /// Last moment of app activity: `end_ms` unless the user went dormant.
    pub(crate) app_until_ms: i64,
    pub(crate) dormant: bool,
}

/// The traits fixed as exact shares of all users before each user is drawn.
struct Shares {
    app: Vec<bool>,
    hyogo: Vec<bool>,
    line: Vec<bool>,
    /// Activity rank (1 = most active), a random permutation of `1..=n`.
    ranks: Vec<usize>,
}

impl Shares {
    fn draw(draw: &mut Draw, n: usize) -> Self {
        let app = pick_share(draw, n, 0.85);
        let hyogo = pick_share(draw, n, 0.15);
        let line = pick_share(draw, n, 0.60);
        let mut ranks: Vec<usize> = (1..=n).collect();
        draw.shuffle(&mut ranks);
        Shares {
            app,
            hyogo,
            line,
            ranks,
        }
    }
}

/// Draws the users `user-0001` … in order.
pub(crate) fn build_users(opts: &GenOptions) -> Vec<User> {
    let mut draw = Draw::from_seed(opts.seed, Stream::Users);
    let shares = Shares::draw(&mut draw, opts.users);
    (0..opts.users)
        .map(|i| build_user(&mut draw, opts, &shares, i))
        .collect()
}

/// Draws user number `i + 1`.
fn build_user(draw: &mut Draw, opts: &GenOptions, shares: &Shares, i: usize) -> User {
    let app = shares.app[i];
    let (pref, city) = if shares.hyogo[i] {
        HYOGO
    } else {
        draw_prefecture(draw)
    };
    let channel = draw_channel(draw, app);
    let device = match channel {
        Channel::Apns => draw.pick(IOS_DEVICES),
        Channel::Gcm => draw.pick(ANDROID_DEVICES),
        _ => draw.pick(WEB_DEVICES),
    };
    let number = i + 1;
    let email = format!("member{number:04}@mail.example.jp");
    let phone = format!(
        "+81{}0{:08}",
        draw.pick(&[7, 8, 9]),
        draw.int(0, 99_999_999)
    );
    let address = match channel {
        Channel::Apns => draw.hex(64),
        Channel::Gcm => format!("{}:APA91b{}", draw.hex(11), draw.hex(48)),
        Channel::Email => email.clone(),
        Channel::Sms => phone.clone(),
    };
    let rank = shares.ranks[i];
    let from_ms = draw_first_seen(draw, opts);
    // The three most active users never go dormant; about a fifth of the others do.
    let dormant = app && rank > 3 && draw.chance(0.2);
    let app_until_ms = if dormant {
        let gap = draw.int(15, 45) * DAY_MS;
        (opts.end_ms - gap).max(from_ms + HOUR_MS).min(opts.end_ms)
    } else {
        opts.end_ms
    };
    User {
        id: format!("user-{number:04}"),
        app,
        endpoint_id: draw.uuid(),
        channel,
        address,
        email,
        phone,
        pref,
        city,
        plan: if draw.chance(0.2) { "gold" } else { "free" },
        line_user_id: shares.line[i].then(|| format!("U{}", draw.hex(32))),
        cognito_id: format!("{REGION}:{}", draw.uuid()),
        device,
        app_version: draw.pick(APP_VERSIONS),
        cohort: draw.int(0, 99) as u32,
        points: (draw.int(0, 199) * 10) as f64,
        opted_out: draw.chance(0.08),
        inactive: draw.chance(0.03),
        weight: 1.0 / (rank as f64).powf(1.1),
        from_ms,
        app_until_ms,
        dormant,
    }
}

/// A prefecture other than 兵庫県, by the weights of [`PREFECTURES`].
fn draw_prefecture(draw: &mut Draw) -> (&'static str, &'static str) {
    let total: f64 = PREFECTURES.iter().map(|p| p.2).sum();
    let mut x = draw.unit() * total;
    for &(pref, city, weight) in PREFECTURES {
        if x < weight {
            return (pref, city);
        }
        x -= weight;
    }
    (PREFECTURES[0].0, PREFECTURES[0].1)
}

/// App users: 45% APNS, 40% GCM, 15% web (EMAIL endpoint). Others: 75% EMAIL, 25% SMS.
fn draw_channel(draw: &mut Draw, app: bool) -> Channel {
    if app {
        let r = draw.unit();
        if r < 0.45 {
            Channel::Apns
        } else if r < 0.85 {
            Channel::Gcm
        } else {
            Channel::Email
        }
    } else if draw.chance(0.75) {
        Channel::Email
    } else {
        Channel::Sms
    }
}

/// Most users (65%) were first seen in the window's first tenth, the rest in its first 80%.
fn draw_first_seen(draw: &mut Draw, opts: &GenOptions) -> i64 {
    let start = window_start(opts);
    let span = opts.end_ms - start;
    if draw.chance(0.65) {
        start + draw.int(0, span / 10)
    } else {
        start + draw.int(0, span * 8 / 10)
    }
}

/// Exactly `round(share * n)` distinct indices out of `0..n`, chosen at random.
fn pick_share(draw: &mut Draw, n: usize, share: f64) -> Vec<bool> {
    let count = ((n as f64) * share).round() as usize;
    let mut idx: Vec<usize> = (0..n).collect();
    draw.shuffle(&mut idx);
    let mut chosen = vec![false; n];
    for &i in idx.iter().take(count) {
        chosen[i] = true;
    }
    chosen
}
