//! Server-side events that message a user: push campaigns and journeys (with the endpoint
//! embedded as a JSON string), campaign/journey and transactional emails, and SMS receipts.
//! None carries a top-level `endpoint`; `client.client_id` names the endpoint.

use super::{Gen, Program};
use crate::catalog::{ACCOUNT_ID, APP_ID, MAIL_FROM};
use crate::clock::{iso, HOUR_MS, MINUTE_MS, SECOND_MS};
use crate::users::User;
use serde_json::{json, Value};

/// One email: who it goes to and what it says.
struct Mail<'a> {
    client_id: &'a str,
    attributes: Value,
    subject: &'a str,
    opened: bool,
}

/// A server-side event (campaign, journey, email, SMS): no `endpoint`, empty session.
fn server_event(kind: &str, at: i64, arrival: i64, client_id: &str) -> Value {
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

impl Gen<'_> {
    /// The endpoint as a JSON string at `client_context.custom.endpoint`; one in ten is as sparse
    /// as the documentation's example (no `Id`, empty `User`).
    fn embedded_endpoint(&mut self, u: &User, at: i64) -> Value {
        let endpoint = if self.draw.chance(0.1) {
            json!({
                "ChannelType": u.channel.name(),
                "EndpointStatus": "ACTIVE",
                "OptOut": "NONE",
                "RequestId": self.draw.uuid(),
                "EffectiveDate": iso(at),
                "User": {},
            })
        } else {
            self.endpoint(u, at)
        };
        json!({ "custom": { "endpoint": endpoint.to_string() } })
    }

    /// A push campaign send, sometimes followed by the notification being opened.
    pub(super) fn campaign(&mut self, u: &User, force_open: bool) {
        let end = self.opts.end_ms;
        let c = self.program(false);
        let latest = if force_open { end - 8 * HOUR_MS } else { end };
        let t0 = self.time_in(u.from_ms, latest);
        let opened = force_open || self.draw.chance(0.25);
        let open_at = t0 + self.draw.range(MINUTE_MS, 8 * HOUR_MS);
        let mut steps = vec![("_campaign.send", t0)];
        if opened && open_at <= end {
            steps.push(("_campaign.opened_notification", open_at));
        }
        for (kind, at) in steps {
            let arrival = at + self.server_delay();
            let mut e = server_event(kind, at, arrival, &u.endpoint_id);
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
    pub(super) fn journey(&mut self, u: &User) {
        let j = self.program(true);
        let at = self.time_in(u.from_ms, self.opts.end_ms);
        let arrival = at + self.server_delay();
        let mut e = server_event("_journey.send", at, arrival, &u.endpoint_id);
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
    pub(super) fn email(&mut self, u: &User, force_open: bool) {
        let journey = self.draw.chance(0.3);
        let program: Program = self.program(journey);
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
        let opened = force_open || self.draw.chance(0.35);
        let mail = Mail {
            client_id: &u.endpoint_id,
            attributes,
            subject: program.subject,
            opened,
        };
        self.email_burst(u, &mail);
    }

    /// A transactional email: `client_id` is a fresh random UUID that names no known endpoint.
    pub(super) fn transactional_email(&mut self, u: &User) {
        let client_id = self.draw.uuid();
        let opened = self.draw.chance(0.5);
        let mail = Mail {
            client_id: &client_id,
            attributes: json!({}),
            subject: "ご注文ありがとうございます",
            opened,
        };
        self.email_burst(u, &mail);
    }

    /// `_email.send`, `_email.delivered` and, when opened, `_email.open` of one message.
    fn email_burst(&mut self, u: &User, mail: &Mail) {
        let end = self.opts.end_ms;
        let latest = if mail.opened { end - HOUR_MS } else { end };
        let t0 = self.time_in(u.from_ms, latest);
        let message_id = format!("{}-{}-000000", self.draw.hex(16), self.draw.uuid());
        let delivered_at = t0 + self.draw.range(SECOND_MS, 30 * SECOND_MS);
        let open_at = delivered_at + self.draw.range(2 * MINUTE_MS, 36 * HOUR_MS);
        let open_at = if open_at > end {
            delivered_at + self.draw.range(2 * MINUTE_MS, 10 * MINUTE_MS)
        } else {
            open_at
        };
        let mut steps = vec![("_email.send", t0), ("_email.delivered", delivered_at)];
        if mail.opened && open_at <= end {
            steps.push(("_email.open", open_at));
        }
        for (kind, at) in steps {
            let (feedback, detail_key, detail) = self.mail_detail(u, kind, at, at - t0);
            let arrival = at + self.server_delay();
            let mut e = server_event(kind, at, arrival, mail.client_id);
            e["device"] = json!({});
            let mut attributes = mail.attributes.clone();
            attributes["feedback"] = json!(feedback);
            e["attributes"] = attributes;
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
                        "subject": mail.subject,
                    },
                },
            });
            mail_event[detail_key] = detail;
            e["facets"] = json!({ "email_channel": { "mail_event": mail_event } });
            self.out.push(e);
        }
    }

    /// (`attributes.feedback`, detail key, detail) of an email event of `kind`;
    /// `since_send` is the time since `_email.send`.
    fn mail_detail(
        &mut self,
        u: &User,
        kind: &str,
        at: i64,
        since_send: i64,
    ) -> (&'static str, &'static str, Value) {
        match kind {
            "_email.send" => ("send", "send", json!({})),
            "_email.delivered" => (
                "received",
                "delivery",
                json!({
                    "smtp_response": "250 2.0.0 OK",
                    "reporting_mta": "a27-30.smtp-out.ap-northeast-1.amazonses.com",
                    "recipients": [u.email],
                    "processing_time_millis": since_send,
                }),
            ),
            _ => (
                "opened",
                "open",
                json!({
                    "timestamp": at,
                    "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)",
                    "ip_address": format!("203.0.113.{}", self.draw.range(1, 255)),
                }),
            ),
        }
    }

    /// A delivered SMS to the user's phone; the carrier receipt may arrive hours late.
    pub(super) fn sms(&mut self, u: &User) {
        let at = self.time_in(u.from_ms, self.opts.end_ms);
        let arrival = at + self.sms_delay();
        let mut e = server_event("_SMS.SUCCESS", at, arrival, &u.endpoint_id);
        let c = self.program(false);
        e["attributes"] = json!({
            "sender_request_id": self.draw.uuid(),
            "campaign_id": c.id,
            "campaign_activity_id": c.activity_id,
            "treatment_id": "0",
            "origination_phone_number": "+81345678901",
            "destination_phone_number": u.phone,
            "record_status": "DELIVERED",
            "iso_country_code": "JP",
            "number_of_message_parts": "1",
            "message_id": self.draw.hex(24),
            "message_type": "Promotional",
        });
        let price = self.draw.pick(&[645.0, 774.0, 1290.0]);
        e["metrics"] = json!({ "price_in_millicents_usd": price });
        self.out.push(e);
    }
}
