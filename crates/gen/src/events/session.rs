//! App sessions: `_session.start`, maybe `_userauth.sign_in`, custom events, maybe a
//! purchase, `_session.stop` — each carrying the user's full endpoint, as the Amplify SDK
//! sends them.

use super::Gen;
use crate::catalog::{Product, ACCOUNT_ID, APP_ID, IDENTITY_POOL, PRODUCTS, SEARCHES};
use crate::clock::{iso, DAY_MS, SECOND_MS};
use crate::users::{Channel, User};
use serde_json::{json, Map, Value};

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

/// Session identity shared by the events of one app session.
struct SessionCtx {
    id: String,
    start: i64,
}

/// The parts of an app event that depend on its kind.
struct AppEvent {
    kind: &'static str,
    at: i64,
    stop: Option<i64>,
    attributes: Value,
    metrics: Option<Value>,
}

impl Gen<'_> {
    /// An app session: start, maybe sign-in, a few custom events, maybe a purchase, stop.
    /// With `force_all`, every step kind appears; with `end_at`, the stop lands exactly there.
    pub(super) fn session(&mut self, u: &User, force_all: bool, end_at: Option<i64>) {
        let plan = self.plan_session(force_all);
        let length = plan.last().map_or(0, |(_, offset)| *offset);
        let t0 = match end_at {
            Some(end) => end - length,
            None => self.session_start(u, length),
        };
        let ctx = SessionCtx {
            id: self.draw.uuid(),
            start: t0,
        };
        let mut product = self.draw.pick(PRODUCTS);
        for (step, offset) in plan {
            let at = t0 + offset;
            if step == Step::View {
                product = self.draw.pick(PRODUCTS);
            }
            let event = self.step_event(step, at, product);
            let event = self.app_event(u, &ctx, event);
            self.out.push(event);
        }
    }

    /// The steps of a session with their offsets from its start, in order.
    fn plan_session(&mut self, force_all: bool) -> Vec<(Step, i64)> {
        let mut plan = vec![(Step::Start, 0)];
        let mut t = 0;
        if force_all || self.draw.chance(0.25) {
            t += self.draw.range(2 * SECOND_MS, 20 * SECOND_MS);
            plan.push((Step::SignIn, t));
        }
        let customs = if force_all { 3 } else { self.draw.int(1, 6) };
        for k in 0..customs {
            t += self.draw.range(5 * SECOND_MS, 180 * SECOND_MS);
            let step = if force_all {
                [Step::Search, Step::View, Step::Cart][k as usize % 3]
            } else {
                let r = self.draw.unit();
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
        if force_all || (carted && self.draw.chance(0.45)) || self.draw.chance(0.03) {
            t += self.draw.range(20 * SECOND_MS, 300 * SECOND_MS);
            plan.push((Step::Purchase, t));
        }
        t += self.draw.range(5 * SECOND_MS, 120 * SECOND_MS);
        plan.push((Step::Stop, t));
        plan
    }

    /// When a session of `length` ms starts: within the user's app activity; active users
    /// come back, so a third of their sessions fall in their last two weeks.
    fn session_start(&mut self, u: &User, length: i64) -> i64 {
        let recent = (u.app_until_ms - 14 * DAY_MS).max(u.from_ms);
        let lo = if !u.dormant && self.draw.chance(0.35) {
            recent
        } else {
            u.from_ms
        };
        self.time_in(lo, u.app_until_ms - length)
    }

    /// Kind, attributes and metrics of one step; `product` is the item last viewed.
    fn step_event(&mut self, step: Step, at: i64, product: Product) -> AppEvent {
        let (item, category, price) = product;
        let (kind, attributes, metrics) = match step {
            Step::Start => ("_session.start", json!({}), None),
            Step::Stop => ("_session.stop", json!({}), None),
            Step::SignIn => ("_userauth.sign_in", json!({}), None),
            Step::Search => ("search", json!({ "query": self.draw.pick(SEARCHES) }), None),
            Step::View => (
                "view_item",
                json!({ "item_id": item, "category": category }),
                None,
            ),
            Step::Cart => (
                "add_to_cart",
                json!({ "item_id": item, "category": category }),
                Some(json!({ "quantity": self.draw.int(1, 3) })),
            ),
            Step::Purchase => (
                "_monetization.purchase",
                json!({ "_currency": "JPY", "_product_id": item }),
                Some(json!({ "_item_price": price, "_quantity": self.draw.int(1, 5) })),
            ),
        };
        AppEvent {
            kind,
            at,
            stop: (step == Step::Stop).then_some(at),
            attributes,
            metrics,
        }
    }

    /// The full endpoint object an app event carries (and campaign events embed as a string).
    pub(super) fn endpoint(&mut self, u: &User, at: i64) -> Value {
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
            "RequestId": self.draw.uuid(),
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

    /// A complete app event of `u` in session `ctx`.
    fn app_event(&mut self, u: &User, ctx: &SessionCtx, e: AppEvent) -> Value {
        let (make, model, platform, version) = u.device;
        let web = u.channel == Channel::Email;
        let mut session = json!({ "session_id": ctx.id, "start_timestamp": ctx.start });
        if let Some(stop) = e.stop {
            session["stop_timestamp"] = json!(stop);
        }
        let version_name = if web {
            format!("{model}/{version}")
        } else {
            u.app_version.to_string()
        };
        let mut event = json!({
            "event_type": e.kind,
            "event_timestamp": e.at,
            "arrival_timestamp": e.at + self.app_delay(),
            "event_version": "3.1",
            "application": {
                "app_id": APP_ID,
                "cognito_identity_pool_id": IDENTITY_POOL,
                "sdk": {},
                "version_name": version_name,
            },
            "client": { "client_id": u.endpoint_id, "cognito_id": u.cognito_id },
            "device": {
                "make": make,
                "model": model,
                "platform": { "name": platform.to_lowercase() },
            },
            "session": session,
            "attributes": e.attributes,
            "endpoint": self.endpoint(u, e.at),
            "awsAccountId": ACCOUNT_ID,
        });
        if let Some(metrics) = e.metrics {
            event["metrics"] = metrics;
        }
        event
    }
}
