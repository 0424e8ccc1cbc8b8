//! Dashboards over the state store.
//!
//! - [`read`] builds a [`Dashboard`] read model from any [`audience_store::StateStore`]:
//!   aggregates only (no user IDs or attribute values), from key lookups and queries on
//!   pre-aggregated items, in at most (segments + 3) store reads, counted by
//!   [`CountingStore`].
//! - [`html`] renders it as one self-contained HTML page (inline CSS, tables, server-drawn SVG
//!   charts from [`svg`], no JavaScript, no external URL).
//! - [`serve`] serves the page and a read-only JSON API with axum, answering only the `Host`
//!   names in [`AllowedHosts`] ([`allowed_hosts`], against DNS rebinding).

pub mod allowed_hosts;
pub mod counting;
pub mod error;
pub mod format;
pub mod html;
pub mod messages;
pub mod model;
pub mod read;
pub mod series;
pub mod serve;
pub mod svg;

pub use allowed_hosts::{AllowedHosts, HostName};
pub use counting::{counting_store, Counted, CountingStore};
pub use error::DashboardError;
pub use html::{render_page, PageOptions};
pub use model::{Dashboard, Granularity};
pub use read::{load, LoadOptions};
pub use serve::{router, ServeState};
