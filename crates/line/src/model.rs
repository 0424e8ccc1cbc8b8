//! Typed request/response bodies of LINE's Manage Audience API (manage-audience.yml).
//!
//! Enumerations keep values this crate does not know as `Unknown(String)` so that a new
//! status from LINE never breaks decoding. Unknown JSON fields are ignored for the same reason.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this crate does not know.
            Unknown(String),
        }

        impl $name {
            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Unknown(s) => s.as_str(),
                }
            }

            /// Parses a wire value (never fails: unknown values become `Unknown`).
            pub fn parse(s: &str) -> Self {
                match s {
                    $($text => $name::$variant,)+
                    other => $name::Unknown(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Ok($name::parse(&s))
            }
        }
    };
}

string_enum!(
    /// Audience status (`AudienceGroupStatus`).
    AudienceStatus {
        /// Being built; can last hours.
        InProgress => "IN_PROGRESS",
        /// Usable (check `failed_type` too).
        Ready => "READY",
        /// Failed (see `failed_type`).
        Failed => "FAILED",
        /// Past `expireTimestamp`; deleted about a month later.
        Expired => "EXPIRED",
        /// Inactive.
        Inactive => "INACTIVE",
        /// Being re-activated.
        Activating => "ACTIVATING",
    }
);

string_enum!(
    /// Why an audience or job failed (`AudienceGroupFailedType` / `AudienceGroupJobFailedType`).
    FailedType {
        /// Fewer than 50 users matched.
        AudienceInsufficient => "AUDIENCE_GROUP_AUDIENCE_INSUFFICIENT",
        /// LINE-side error.
        InternalError => "INTERNAL_ERROR",
    }
);

string_enum!(
    /// Upload job status (`AudienceGroupJobStatus`).
    JobStatus {
        /// Waiting.
        Queued => "QUEUED",
        /// Running.
        Working => "WORKING",
        /// Done (may still carry a `failed_type`).
        Finished => "FINISHED",
        /// Failed.
        Failed => "FAILED",
    }
);

/// Answer of create (JSON or by file): `CreateAudienceGroupResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedAudience {
    /// The new audience's ID.
    pub audience_group_id: i64,
    /// `MESSAGING_API`.
    #[serde(default)]
    pub create_route: Option<String>,
    /// `UPLOAD`.
    #[serde(default, rename = "type")]
    pub audience_type: Option<String>,
    /// The audience's name.
    #[serde(default)]
    pub description: Option<String>,
    /// Creation time (UNIX seconds).
    #[serde(default)]
    pub created: Option<i64>,
    /// `READ_WRITE` for audiences of this channel.
    #[serde(default)]
    pub permission: Option<String>,
    /// Expiry time (UNIX seconds).
    #[serde(default)]
    pub expire_timestamp: Option<i64>,
    /// Whether the audience holds IFAs instead of user IDs.
    #[serde(default)]
    pub is_ifa_audience: Option<bool>,
}

/// One audience (`AudienceGroup`), as returned by get and list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudienceGroup {
    /// Audience ID.
    pub audience_group_id: i64,
    /// `UPLOAD`, `CLICK`, ...
    #[serde(default, rename = "type")]
    pub audience_type: Option<String>,
    /// The audience's name.
    #[serde(default)]
    pub description: Option<String>,
    /// Status; absent is treated as `Unknown("")`.
    #[serde(default = "unknown_status")]
    pub status: AudienceStatus,
    /// Why the audience failed, if it did.
    #[serde(default)]
    pub failed_type: Option<FailedType>,
    /// Number of users in the audience.
    #[serde(default)]
    pub audience_count: Option<i64>,
    /// Creation time (UNIX seconds).
    #[serde(default)]
    pub created: Option<i64>,
    /// `READ` or `READ_WRITE`.
    #[serde(default)]
    pub permission: Option<String>,
    /// `MESSAGING_API`, `OA_MANAGER`, `AD_MANAGER`, `POINT_AD`.
    #[serde(default)]
    pub create_route: Option<String>,
    /// Whether the audience holds IFAs.
    #[serde(default)]
    pub is_ifa_audience: Option<bool>,
    /// Expiry time (UNIX seconds).
    #[serde(default)]
    pub expire_timestamp: Option<i64>,
}

fn unknown_status() -> AudienceStatus {
    AudienceStatus::Unknown(String::new())
}

impl AudienceGroup {
    /// Usable for sending: status READY and no `failed_type` (see line-facts.md).
    pub fn is_usable(&self) -> bool {
        self.status == AudienceStatus::Ready && self.failed_type.is_none()
    }
}

/// One upload job (`AudienceGroupJob`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Job ID.
    #[serde(default)]
    pub audience_group_job_id: Option<i64>,
    /// Audience ID.
    #[serde(default)]
    pub audience_group_id: Option<i64>,
    /// The job's `uploadDescription`.
    #[serde(default)]
    pub description: Option<String>,
    /// `DIFF_ADD`.
    #[serde(default, rename = "type")]
    pub job_type: Option<String>,
    /// Job status.
    #[serde(default)]
    pub job_status: Option<JobStatus>,
    /// Why the job failed (a FINISHED job can carry one).
    #[serde(default)]
    pub failed_type: Option<FailedType>,
    /// Accounts added by the job.
    #[serde(default)]
    pub audience_count: Option<i64>,
    /// Creation time (UNIX seconds).
    #[serde(default)]
    pub created: Option<i64>,
}

/// Answer of get: `GetAudienceDataResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudienceGroupDetail {
    /// The audience.
    pub audience_group: AudienceGroup,
    /// Its upload jobs (at most 50, newest first).
    #[serde(default)]
    pub jobs: Vec<Job>,
}

/// Answer of list: `GetAudienceGroupsResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudienceGroupPage {
    /// Audiences on this page.
    #[serde(default)]
    pub audience_groups: Vec<AudienceGroup>,
    /// True when this is not the last page.
    #[serde(default)]
    pub has_next_page: bool,
    /// Audiences matching the filter.
    #[serde(default)]
    pub total_count: Option<i64>,
    /// Of those, how many are READ_WRITE.
    #[serde(default)]
    pub read_write_audience_group_total_count: Option<i64>,
    /// Page number.
    #[serde(default)]
    pub page: Option<i64>,
    /// Page size.
    #[serde(default)]
    pub size: Option<i64>,
}

/// Filter and page of [`crate::LineClient::list_audiences`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListAudiences {
    /// Partial, case-insensitive match on the audience name.
    pub description: Option<String>,
    /// Only audiences with this status.
    pub status: Option<AudienceStatus>,
    /// Only audiences created this way (e.g. `MESSAGING_API`).
    pub create_route: Option<String>,
    /// LINE's default is true (other channels' public audiences are listed too); this
    /// crate's default is false: only this channel's audiences.
    pub includes_external_public_groups: bool,
    /// Page, 1 or higher.
    pub page: u32,
    /// Page size, 1..=40.
    pub size: u32,
}

impl Default for ListAudiences {
    fn default() -> Self {
        ListAudiences {
            description: None,
            status: None,
            create_route: None,
            includes_external_public_groups: false,
            page: 1,
            size: 40,
        }
    }
}

impl ListAudiences {
    /// Audiences this channel created through the Messaging API whose name contains
    /// `description`, first page of 40.
    pub fn own_by_description(description: impl Into<String>) -> Self {
        ListAudiences {
            description: Some(description.into()),
            create_route: Some("MESSAGING_API".into()),
            ..ListAudiences::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_spec_example_with_unknown_values() {
        let body = r#"{"audienceGroup":{"audienceGroupId":1234567890123,"createRoute":"OA_MANAGER",
            "type":"UPLOAD","description":"audienceGroupName_01","status":"READY","audienceCount":1887,
            "created":1608617466,"permission":"READ","isIfaAudience":false,"expireTimestamp":1624342266},
            "jobs":[{"audienceGroupJobId":12345678,"audienceGroupId":1234567890123,"description":"audience_list.txt",
            "type":"DIFF_ADD","status":"FINISHED","failedType":"AUDIENCE_GROUP_AUDIENCE_INSUFFICIENT",
            "audienceCount":0,"created":1608617472,"jobStatus":"FINISHED"}]}"#;
        let d: AudienceGroupDetail = serde_json::from_str(body).unwrap();
        assert_eq!(d.audience_group.status, AudienceStatus::Ready);
        assert!(d.audience_group.is_usable());
        assert_eq!(d.jobs[0].job_status, Some(JobStatus::Finished));
        assert_eq!(
            d.jobs[0].failed_type,
            Some(FailedType::AudienceInsufficient)
        );
        let s: AudienceStatus = serde_json::from_str("\"SOMETHING_NEW\"").unwrap();
        assert_eq!(s, AudienceStatus::Unknown("SOMETHING_NEW".into()));
        let g: AudienceGroup =
            serde_json::from_str(r#"{"audienceGroupId":1,"status":"READY","failedType":null}"#)
                .unwrap();
        assert!(g.failed_type.is_none());
    }
}
