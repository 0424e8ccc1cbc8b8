//! Against moto's Kinesis: [`RangeReader`] returns exactly the records of an inclusive
//! sequence range of one shard, in order, and names the part of a range the shard does not
//! hold.

use audience_kinesis::{
    read_all, KinesisSender, MissingRange, OutRecord, RangeReader, ReadRecord, RetryPolicy,
    SenderOptions, ShardRange,
};

use crate::util::{create_stream, Moto};

async fn read_range(
    client: &aws_sdk_kinesis::Client,
    range: ShardRange,
) -> (Vec<ReadRecord>, Vec<MissingRange>) {
    let mut reader =
        RangeReader::new(client, range).with_poll_wait(std::time::Duration::from_millis(10));
    let mut got = Vec::new();
    while let Some(page) = reader.next_page().await.expect("read the range") {
        got.extend(page);
    }
    (got, reader.missing())
}

#[tokio::test]
async fn a_range_reads_exactly_its_records_and_names_what_is_missing() {
    let moto = Moto::start();
    let client = moto.kinesis().await;
    create_stream(&client, "ranged", 2).await;
    let records: Vec<OutRecord> = (0..300)
        .map(|i| OutRecord::new(format!("user-{i}"), format!("record {i}").into_bytes()))
        .collect();
    let sender = KinesisSender::new(
        client.clone(),
        "ranged",
        SenderOptions {
            rate_per_sec: None,
            retry: RetryPolicy::fast(3),
        },
    );
    assert_eq!(sender.send(records, |_| {}).await.unwrap().sent, 300);
    let all = read_all(&client, "ranged").await.unwrap();
    let shard = all[0].shard_id.clone();
    let on_shard: Vec<ReadRecord> = all.into_iter().filter(|r| r.shard_id == shard).collect();
    assert!(on_shard.len() > 40, "{} records on {shard}", on_shard.len());

    let wanted = &on_shard[10..on_shard.len() - 10];
    let range = |start: &str, end: &str| ShardRange {
        stream: "ranged".into(),
        shard_id: shard.clone(),
        start: start.into(),
        end: end.into(),
    };
    let (got, missing) = read_range(
        &client,
        range(
            &wanted[0].sequence_number,
            &wanted[wanted.len() - 1].sequence_number,
        ),
    )
    .await;
    assert_eq!(got, wanted, "exactly the range, in order");
    assert!(missing.is_empty(), "{missing:?}");

    // One record.
    let one = &on_shard[3].sequence_number;
    let (got, missing) = read_range(&client, range(one, one)).await;
    assert_eq!(got, vec![on_shard[3].clone()]);
    assert!(missing.is_empty(), "{missing:?}");

    // A range that runs past the shard's last record: the tail is named.
    let last = &on_shard[on_shard.len() - 1].sequence_number;
    let beyond = format!("{last}000"); // a larger integer, whatever the digits
    let (got, missing) = read_range(&client, range(&on_shard[5].sequence_number, &beyond)).await;
    assert_eq!(got, on_shard[5..], "the records that are there are read");
    assert_eq!(
        missing.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec![format!("({last}, {beyond}]")]
    );
}
