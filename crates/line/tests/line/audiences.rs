//! Audience calls against the fake: create/add by JSON and by file, get, list, rename,
//! delete, statuses, and client-side limits (nothing sent when a limit is broken).

use audience_line::fake::{user_ids, FakeOp};
use audience_line::limits::{MAX_IDS_PER_FILE, MAX_IDS_PER_JSON};
use audience_line::{AudienceStatus, JobStatus, LineError, ListAudiences};

use crate::util::fake_and_client;

#[tokio::test]
async fn create_then_add_by_json_builds_the_member_set() {
    let (fake, client) = fake_and_client().await;
    let first = user_ids(1, 30);
    let created = client
        .create_upload_audience("seg:vip:v1", false, Some("initial"), &first)
        .await
        .unwrap();
    let id = created.audience_group_id;
    assert!(id > i64::from(u32::MAX), "IDs are int64: {id}");
    assert_eq!(created.description.as_deref(), Some("seg:vip:v1"));
    assert!(created.expire_timestamp.unwrap() > created.created.unwrap());

    // 30 members: upload audiences have no minimum size, so it is READY.
    let detail = client.get_audience(id).await.unwrap();
    assert_eq!(detail.audience_group.status, AudienceStatus::Ready);
    assert_eq!(detail.audience_group.failed_type, None);
    assert!(detail.audience_group.is_usable());
    assert_eq!(detail.audience_group.audience_count, Some(30));

    let more = user_ids(25, 30); // overlaps 25..=30
    client
        .add_to_upload_audience(id, &more, None)
        .await
        .unwrap();
    let detail = client.get_audience(id).await.unwrap();
    assert_eq!(detail.audience_group.status, AudienceStatus::Ready);
    assert!(detail.audience_group.is_usable());
    assert_eq!(detail.audience_group.audience_count, Some(54));
    assert_eq!(detail.jobs.len(), 2);
    assert_eq!(detail.jobs[0].job_status, Some(JobStatus::Finished));
    assert_eq!(detail.jobs[1].description.as_deref(), Some("initial"));

    let members = fake.members(id).unwrap();
    let expected: std::collections::BTreeSet<String> = user_ids(1, 54).into_iter().collect();
    assert_eq!(members, expected);

    let log = fake.requests();
    let ops: Vec<_> = log.iter().map(|r| (r.op, r.status, r.ids)).collect();
    assert_eq!(
        ops,
        vec![
            (Some(FakeOp::Create), 202, Some(30)),
            (Some(FakeOp::Get), 200, None),
            (Some(FakeOp::Add), 202, Some(30)),
            (Some(FakeOp::Get), 200, None),
        ]
    );
}

#[tokio::test]
async fn by_file_create_and_add_use_the_data_base_and_send_only_set_fields() {
    let (fake, client) = fake_and_client().await;
    let created = client
        .create_upload_audience_by_file("seg:file", false, None, &user_ids(1, 100))
        .await
        .unwrap();
    let id = created.audience_group_id;
    client
        .add_to_upload_audience_by_file(id, &user_ids(1000, 50), Some("delta 2"))
        .await
        .unwrap();
    assert_eq!(fake.members(id).unwrap().len(), 150);
    let file_requests: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v2/bot/audienceGroup/upload/byFile")
        .collect();
    assert_eq!(file_requests.len(), 2);
    assert_eq!(file_requests[0].method, "POST");
    assert_eq!(file_requests[0].ids, Some(100));
    assert_eq!(
        file_requests[0].form_fields.as_deref().unwrap(),
        ["description", "isIfaAudience", "file"]
    );
    assert_eq!(file_requests[1].method, "PUT");
    assert_eq!(file_requests[1].audience_group_id, Some(id));
    assert_eq!(
        file_requests[1].form_fields.as_deref().unwrap(),
        ["audienceGroupId", "uploadDescription", "file"]
    );
    let detail = client.get_audience(id).await.unwrap();
    assert_eq!(detail.jobs[0].description.as_deref(), Some("delta 2"));
}

#[tokio::test]
async fn limits_are_checked_before_sending() {
    let (fake, client) = fake_and_client().await;
    let too_many = user_ids(1, MAX_IDS_PER_JSON + 1);
    let err = client
        .create_upload_audience("seg:big", false, None, &too_many)
        .await
        .unwrap_err();
    assert!(matches!(err, LineError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("10001"), "{err}");
    assert!(!err.is_retryable());
    let err = client
        .add_to_upload_audience(5_000_000_000_001, &too_many, None)
        .await
        .unwrap_err();
    assert!(matches!(err, LineError::Invalid { .. }), "{err}");

    // Exactly 10,000 is fine.
    let created = client
        .create_upload_audience("seg:max", false, None, &user_ids(1, MAX_IDS_PER_JSON))
        .await
        .unwrap();
    assert_eq!(
        fake.members(created.audience_group_id).unwrap().len(),
        MAX_IDS_PER_JSON
    );

    let file_too_many: Vec<String> = (0..=MAX_IDS_PER_FILE as u64)
        .map(audience_line::fake::user_id)
        .collect();
    let err = client
        .add_to_upload_audience_by_file(created.audience_group_id, &file_too_many, None)
        .await
        .unwrap_err();
    assert!(matches!(err, LineError::Invalid { .. }), "{err}");

    let err = client
        .create_upload_audience(&"a".repeat(121), false, None, &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("121 characters"), "{err}");
    let err = client
        .create_upload_audience("", false, None, &[])
        .await
        .unwrap_err();
    assert!(matches!(err, LineError::Invalid { .. }), "{err}");
    let err = client
        .create_upload_audience("ok", false, Some(&"d".repeat(301)), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, LineError::Invalid { .. }), "{err}");
    let err = client
        .add_to_upload_audience(created.audience_group_id, &[], None)
        .await
        .unwrap_err();
    assert!(matches!(err, LineError::Invalid { .. }), "{err}");

    // 120 multi-byte characters (360 bytes) is a valid name, for the client and the fake.
    let name = "あ".repeat(120);
    client
        .create_upload_audience(&name, false, None, &[])
        .await
        .unwrap();

    // Only the two valid creates reached the fake.
    let creates = fake.requests_for(FakeOp::Create);
    assert_eq!(creates.len(), 2);
    assert!(fake.requests_for(FakeOp::Add).is_empty());
    assert!(fake.requests_for(FakeOp::AddByFile).is_empty());
}

#[tokio::test]
async fn list_rename_delete() {
    let (fake, client) = fake_and_client().await;
    let a = client
        .create_upload_audience("seg:alpha", false, None, &[])
        .await
        .unwrap()
        .audience_group_id;
    let b = client
        .create_upload_audience("SEG:beta", false, None, &[])
        .await
        .unwrap()
        .audience_group_id;
    client
        .create_upload_audience("other", false, None, &[])
        .await
        .unwrap();

    let page = client
        .list_audiences(&ListAudiences::own_by_description("seg:"))
        .await
        .unwrap();
    let mut ids: Vec<i64> = page
        .audience_groups
        .iter()
        .map(|g| g.audience_group_id)
        .collect();
    ids.sort();
    assert_eq!(ids, vec![a, b]);
    assert_eq!(page.total_count, Some(2));
    assert!(!page.has_next_page);

    let paged = client
        .list_audiences(&ListAudiences {
            size: 1,
            ..ListAudiences::default()
        })
        .await
        .unwrap();
    assert_eq!(paged.audience_groups.len(), 1);
    assert!(paged.has_next_page);
    let list_req = fake.requests_for(FakeOp::List);
    assert_eq!(list_req.len(), 2);

    let err = client
        .list_audiences(&ListAudiences {
            size: 41,
            ..ListAudiences::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, LineError::Invalid { .. }), "{err}");

    client.rename_audience(a, "seg:alpha:v2").await.unwrap();
    let detail = client.get_audience(a).await.unwrap();
    assert_eq!(
        detail.audience_group.description.as_deref(),
        Some("seg:alpha:v2")
    );

    client.delete_audience(a).await.unwrap();
    assert!(fake.members(a).is_none());
    let err = client.get_audience(a).await.unwrap_err();
    assert!(err.has_code("AUDIENCE_GROUP_NOT_FOUND"), "{err}");
    let err = client.delete_audience(a).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
}

#[tokio::test]
async fn in_progress_until_settled_or_made_ready() {
    let (fake, client) = fake_and_client().await;
    fake.set_auto_settle(false);
    let id = client
        .create_upload_audience("seg:slow", false, None, &user_ids(1, 60))
        .await
        .unwrap()
        .audience_group_id;
    let detail = client.get_audience(id).await.unwrap();
    assert_eq!(detail.audience_group.status, AudienceStatus::InProgress);
    assert_eq!(detail.jobs[0].job_status, Some(JobStatus::Queued));
    assert!(fake.settle(id));
    let detail = client.get_audience(id).await.unwrap();
    assert_eq!(detail.audience_group.status, AudienceStatus::Ready);

    let small = client
        .create_upload_audience("seg:small", false, None, &user_ids(1, 3))
        .await
        .unwrap()
        .audience_group_id;
    assert!(fake.make_ready(small));
    assert!(client
        .get_audience(small)
        .await
        .unwrap()
        .audience_group
        .is_usable());

    // More than 10 running jobs on one audience: LINE answers 429.
    let busy = client
        .create_upload_audience("seg:busy", false, None, &[])
        .await
        .unwrap()
        .audience_group_id;
    for n in 0..10 {
        client
            .add_to_upload_audience(busy, &user_ids(n * 10, 10), None)
            .await
            .unwrap();
    }
    let err = client
        .add_to_upload_audience(busy, &user_ids(500, 10), None)
        .await
        .unwrap_err();
    assert!(err.is_rate_limited() && err.is_retryable(), "{err}");
    fake.settle(busy);
    client
        .add_to_upload_audience(busy, &user_ids(500, 10), None)
        .await
        .unwrap();

    // An expired audience refuses uploads (permanent).
    fake.set_status(busy, AudienceStatus::Expired);
    let err = client
        .add_to_upload_audience(busy, &user_ids(900, 1), None)
        .await
        .unwrap_err();
    assert!(
        err.has_code("AUDIENCE_GROUP_CAN_NOT_UPLOAD_STATUS_EXPIRED"),
        "{err}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn small_and_empty_upload_audiences_become_ready() {
    let (fake, client) = fake_and_client().await;
    let empty = client
        .create_upload_audience("seg:gone:v2", false, None, &[])
        .await
        .unwrap()
        .audience_group_id;
    let detail = client.get_audience(empty).await.unwrap();
    assert_eq!(detail.audience_group.status, AudienceStatus::Ready);
    assert!(detail.audience_group.is_usable());
    assert_eq!(detail.audience_group.audience_count, Some(0));
    let three = client
        .create_upload_audience_by_file("seg:few:v2", false, None, &user_ids(1, 3))
        .await
        .unwrap()
        .audience_group_id;
    let detail = client.get_audience(three).await.unwrap();
    assert_eq!(detail.audience_group.status, AudienceStatus::Ready);
    assert_eq!(detail.audience_group.failed_type, None);
    assert_eq!(detail.audience_group.audience_count, Some(3));
    assert_eq!(fake.members(three).unwrap().len(), 3);
}
