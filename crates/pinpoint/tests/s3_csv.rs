//! Import CSV written by `write_import_csv`, put by `S3Uploader` into moto's S3, read back.

use audience_pinpoint::{write_import_csv, ImportRow, S3Options, S3Uploader};

use crate::util::{read_object, s3_with_bucket, sdk_config, Moto};

fn rows() -> Vec<ImportRow> {
    vec![
        ImportRow {
            channel_type: "EMAIL".into(),
            address: Some("taro@example.com".into()),
            endpoint_id: Some("ep-1".into()),
            user_id: "u-1".into(),
            attributes: vec![
                ("Name".into(), vec!["Yamada, \"Taro\" 山田太郎".into()]),
                ("Interests".into(), vec!["golf".into(), "スキー".into()]),
            ],
        },
        ImportRow {
            channel_type: "SMS".into(),
            address: None,
            endpoint_id: Some("ep-2".into()),
            user_id: "u-2".into(),
            attributes: vec![("Name".into(), vec!["no address".into()])],
        },
        ImportRow {
            channel_type: "SMS".into(),
            address: Some("+819012345678".into()),
            endpoint_id: None,
            user_id: "u-3".into(),
            attributes: vec![("Name".into(), vec!["line\nbreak\tand tab".into()])],
        },
    ]
}

const EXPECTED: &str = "ChannelType,Address,Id,User.UserId,User.UserAttributes.Name,User.UserAttributes.Interests,User.UserAttributes.Interests\n\
EMAIL,taro@example.com,ep-1,u-1,\"Yamada, \"\"Taro\"\" 山田太郎\",golf,スキー\n\
SMS,+819012345678,,u-3,line break and tab,,\n";

#[tokio::test]
async fn csv_read_back_from_moto_equals_expected() {
    let moto = Moto::start();
    let s3 = s3_with_bucket(&moto, "imports-bucket").await;
    let columns = vec!["Name".to_string(), "Interests".to_string()];

    let (bytes, stats) = write_import_csv(&rows(), &columns).unwrap();
    assert_eq!(stats.written, 2);
    assert_eq!(stats.skipped_no_address, 1);
    assert_eq!(stats.sanitized_values, 1);

    let uploader = S3Uploader::new(
        &sdk_config(&moto.url).await,
        S3Options {
            force_path_style: true,
            ..S3Options::default()
        },
    );
    let url = uploader
        .put_import_file("imports-bucket", "pinpoint/", "vip", "v42", bytes)
        .await
        .unwrap();
    assert_eq!(url, "s3://imports-bucket/pinpoint/vip/v42.csv");

    let stored = read_object(&s3, "imports-bucket", "pinpoint/vip/v42.csv").await;
    assert_eq!(String::from_utf8(stored).unwrap(), EXPECTED);
}

#[tokio::test]
async fn file_above_threshold_goes_up_in_parts() {
    let moto = Moto::start();
    let s3 = s3_with_bucket(&moto, "big-bucket").await;
    let uploader = S3Uploader::new(
        &sdk_config(&moto.url).await,
        S3Options {
            force_path_style: true,
            multipart_threshold: 1024 * 1024,
            part_size: 1024, // raised to S3's 5 MiB minimum
        },
    );
    // 6 MiB of CSV lines: two parts (5 MiB + 1 MiB).
    let line = "EMAIL,someone@example.com,,user,value\n";
    let body: Vec<u8> = line
        .bytes()
        .cycle()
        .take(6 * 1024 * 1024 / line.len() * line.len())
        .collect();
    let url = uploader
        .put_object("big-bucket", "seg/v1.csv", body.clone())
        .await
        .unwrap();
    assert_eq!(url, "s3://big-bucket/seg/v1.csv");

    let head = s3
        .head_object()
        .bucket("big-bucket")
        .key("seg/v1.csv")
        .send()
        .await
        .unwrap();
    let etag = head.e_tag().unwrap_or_default();
    assert!(
        etag.trim_matches('"').ends_with("-2"),
        "multipart ETag expected, got {etag}"
    );
    assert_eq!(read_object(&s3, "big-bucket", "seg/v1.csv").await, body);
}

#[tokio::test]
async fn missing_bucket_is_an_error_naming_the_object() {
    let moto = Moto::start();
    let uploader = S3Uploader::new(
        &sdk_config(&moto.url).await,
        S3Options {
            force_path_style: true,
            ..S3Options::default()
        },
    );
    let err = uploader
        .put_import_file("no-such-bucket", "p", "vip", "v1", b"x".to_vec())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("PutObject of s3://no-such-bucket/p/vip/v1.csv"),
        "{text}"
    );
    assert!(text.contains("NoSuchBucket"), "{text}");
}
