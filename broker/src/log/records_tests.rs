//! Unit tests of the record decoder: every codec, varints, headers, hostile input, the cap.

use super::*;
use crate::log::batch::validate_batch;
use crate::log::test_batch::{
    Codec, Record as TestRecord, encode_batch_with, encode_records, put_varlong, wrap_records,
};
use proptest::prelude::*;

const LIMIT: usize = 1 << 20;

fn sample_records(values: &[Vec<u8>]) -> Vec<TestRecord<'_>> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let key: &[u8] = if i % 3 == 0 { b"" } else { b"key" };
            TestRecord::new(key, v, [0, 30, 10, 50, 20][i % 5])
        })
        .collect()
}

fn values(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("value-{i}-").repeat(1 + i % 4).into_bytes())
        .collect()
}

#[test]
fn every_codec_decodes_to_the_records_that_were_encoded() {
    let values = values(40);
    let records = sample_records(&values);
    for codec in Codec::ALL {
        let batch = encode_batch_with(500, 1_000, &records, codec);
        validate_batch(&batch).expect("valid batch");
        let decoded = BatchRecords::new(&batch, LIMIT).expect("decodes");
        let got: Vec<Record<'_>> = decoded
            .records()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{codec:?}: {e}"));
        assert_eq!(got.len(), records.len(), "{codec:?}");
        for (i, (r, v)) in got.iter().zip(&values).enumerate() {
            assert_eq!(r.offset, 500 + i as i64, "{codec:?}");
            assert_eq!(r.timestamp, 1_000 + [0, 30, 10, 50, 20][i % 5], "{codec:?}");
            assert_eq!(r.value, Some(v.as_slice()), "{codec:?}");
            let key: Option<&[u8]> = if i % 3 == 0 { None } else { Some(b"key") };
            assert_eq!(r.key, key, "{codec:?}");
            assert!(r.headers.is_empty());
        }
    }
}

#[test]
fn a_gzip_stream_of_several_members_decodes_as_one() {
    let values = values(6);
    let body = encode_records(&sample_records(&values));
    let (a, b) = body.split_at(body.len() / 2);
    let mut two = Codec::Gzip.compress(a);
    two.extend_from_slice(&Codec::Gzip.compress(b));
    let batch = wrap_records(0, (0, 50), (6, 5), 1, &two);
    assert_eq!(decode_all(&batch, LIMIT), Ok(6));
}

#[test]
fn log_append_time_gives_every_record_the_batch_max_timestamp() {
    let values = values(5);
    let body = encode_records(&sample_records(&values));
    let batch = wrap_records(7, (1_000, 99_000), (5, 4), 0x08, &body);
    let decoded = BatchRecords::new(&batch, LIMIT).expect("decodes");
    let stamps: Vec<(i64, i64)> = decoded
        .records()
        .map(|r| r.map(|r| (r.offset, r.timestamp)))
        .collect::<Result<_, _>>()
        .expect("valid");
    assert_eq!(stamps, (7..12).map(|o| (o, 99_000)).collect::<Vec<_>>());
}

/// One record with a null value and two headers, built field by field.
fn record_with_headers() -> Vec<u8> {
    let mut rec = vec![0u8];
    put_varlong(&mut rec, 5); // timestamp delta
    put_varlong(&mut rec, 0); // offset delta
    put_varlong(&mut rec, 1);
    rec.push(b'k');
    put_varlong(&mut rec, -1); // null value: a tombstone
    put_varlong(&mut rec, 2);
    put_varlong(&mut rec, 2);
    rec.extend_from_slice(b"h1");
    put_varlong(&mut rec, 3);
    rec.extend_from_slice(b"one");
    put_varlong(&mut rec, 2);
    rec.extend_from_slice(b"h2");
    put_varlong(&mut rec, -1);
    let mut body = Vec::new();
    put_varlong(&mut body, rec.len() as i64);
    body.extend_from_slice(&rec);
    body
}

#[test]
fn headers_and_null_values_decode() {
    let batch = wrap_records(0, (10, 15), (1, 0), 0, &record_with_headers());
    let decoded = BatchRecords::new(&batch, LIMIT).expect("decodes");
    let record = decoded.records().next().expect("one").expect("valid");
    assert_eq!((record.offset, record.timestamp), (0, 15));
    assert_eq!((record.key, record.value), (Some(&b"k"[..]), None));
    assert_eq!(
        record.headers,
        vec![
            RecordHeader {
                key: b"h1",
                value: Some(b"one")
            },
            RecordHeader {
                key: b"h2",
                value: None
            },
        ]
    );
}

#[test]
fn varints_decode_at_their_edges_and_refuse_overlong_or_overflowing_encodings() {
    let varint = |bytes: &[u8]| {
        let mut pos = 0;
        read_varint(bytes, &mut pos).map(|v| (v, pos))
    };
    assert_eq!(varint(&[0]), Ok((0, 1)));
    assert_eq!(varint(&[1]), Ok((-1, 1)));
    assert_eq!(varint(&[2]), Ok((1, 1)));
    assert_eq!(varint(&[0x7f]), Ok((-64, 1)));
    assert_eq!(varint(&[0x80, 0x01]), Ok((64, 2)));
    assert_eq!(varint(&[0xfe, 0xff, 0xff, 0xff, 0x0f]), Ok((i32::MAX, 5)));
    assert_eq!(varint(&[0xff, 0xff, 0xff, 0xff, 0x0f]), Ok((i32::MIN, 5)));
    // Non-canonical but within 5 bytes: accepted, as by Kafka.
    assert_eq!(varint(&[0x80, 0x00]), Ok((0, 2)));
    assert_eq!(
        varint(&[0xff, 0xff, 0xff, 0xff, 0x1f]),
        Err(VarintError::Overflow)
    );
    assert_eq!(
        varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
        Err(VarintError::TooLong)
    );
    assert_eq!(varint(&[]), Err(VarintError::Truncated));
    assert_eq!(varint(&[0x80, 0x80]), Err(VarintError::Truncated));

    let varlong = |bytes: &[u8]| {
        let mut pos = 0;
        read_varlong(bytes, &mut pos).map(|v| (v, pos))
    };
    let mut max = [0xff; 10];
    max[0] = 0xfe;
    max[9] = 0x01;
    assert_eq!(varlong(&max), Ok((i64::MAX, 10)));
    let mut min = [0xff; 10];
    min[9] = 0x01;
    assert_eq!(varlong(&min), Ok((i64::MIN, 10)));
    let mut overflow = min;
    overflow[9] = 0x02;
    assert_eq!(varlong(&overflow), Err(VarintError::Overflow));
    let mut too_long = [0x80; 11];
    too_long[10] = 0;
    assert_eq!(varlong(&too_long), Err(VarintError::TooLong));
    // A varlong-sized value is not a varint.
    assert_eq!(
        varint(&[0x80, 0x80, 0x80, 0x80, 0x10]),
        Err(VarintError::Overflow)
    );
}

fn malformed(batch: &[u8]) -> String {
    match decode_all(batch, LIMIT) {
        Err(RecordError::Malformed { reason, .. }) => reason,
        other => panic!("expected a malformed record, got {other:?}"),
    }
}

#[test]
fn a_records_section_cut_short_at_any_byte_is_malformed() {
    let values = values(4);
    let body = encode_records(&sample_records(&values));
    for cut in 0..body.len() {
        let batch = wrap_records(0, (0, 50), (4, 3), 0, &body[..cut]);
        malformed(&batch);
    }
}

#[test]
fn counts_lengths_and_offset_deltas_that_disagree_with_the_bytes_are_malformed() {
    let values = values(3);
    let body = encode_records(&sample_records(&values));
    // More records announced than present; fewer (bytes left over).
    assert!(malformed(&wrap_records(0, (0, 30), (4, 3), 0, &body)).contains("length"));
    assert!(malformed(&wrap_records(0, (0, 30), (2, 1), 0, &body)).contains("follow"));
    // A last offset delta below the records' deltas.
    assert!(malformed(&wrap_records(0, (0, 30), (3, 1), 0, &body)).contains("offset delta"));

    // A record length one longer than its fields: the next record's byte is swallowed.
    let mut long = body.clone();
    long[0] += 2; // zigzag: +1
    assert!(malformed(&wrap_records(0, (0, 30), (3, 2), 0, &long)).contains("before"));

    // Offset deltas repeating.
    let one = encode_records(&sample_records(&values[..1]));
    let mut twice = one.clone();
    twice.extend_from_slice(&one);
    assert!(malformed(&wrap_records(0, (0, 30), (2, 1), 0, &twice)).contains("out of order"));

    // A header with a null key; a negative header count; a negative length other than -1.
    let mut rec = record_with_headers();
    let key_at = rec
        .windows(3)
        .position(|w| w == [4, b'h', b'1'])
        .expect("header key");
    rec[key_at] = 1; // -1: null
    assert!(malformed(&wrap_records(0, (10, 15), (1, 0), 0, &rec)).contains("null key"));
    let mut rec = record_with_headers();
    let count_at = key_at - 1;
    rec[count_at] = 3; // -2 headers
    assert!(malformed(&wrap_records(0, (10, 15), (1, 0), 0, &rec)).contains("header count"));
    let mut rec = record_with_headers();
    let key_len_at = rec.iter().position(|&b| b == b'k').expect("key") - 1;
    rec[key_len_at] = 3; // -2
    assert!(malformed(&wrap_records(0, (10, 15), (1, 0), 0, &rec)).contains("key"));
}

#[test]
fn a_timestamp_delta_that_overflows_is_malformed() {
    let body = encode_records(&[TestRecord::new(b"k", b"v", i64::MAX)]);
    let batch = wrap_records(0, (10, i64::MAX), (1, 0), 0, &body);
    assert!(malformed(&batch).contains("overflows"));
}

#[test]
fn every_codec_refuses_records_that_inflate_past_the_limit() {
    let zeros = vec![0u8; 300_000];
    let records = [TestRecord::new(b"k", &zeros, 0)];
    for codec in Codec::ALL {
        let batch = encode_batch_with(0, 0, &records, codec);
        assert_eq!(
            decode_all(&batch, 400_000),
            Ok(1),
            "{codec:?} under the limit"
        );
        let got = decode_all(&batch, 200_000);
        if codec == Codec::None {
            assert_eq!(got, Ok(1), "uncompressed records are not inflated");
        } else {
            assert_eq!(
                got,
                Err(RecordError::TooLarge { limit: 200_000 }),
                "{codec:?} over the limit"
            );
        }
    }
}

#[test]
fn a_compression_bomb_stops_at_the_limit() {
    // 64 MiB of zeros in about 300 KiB: one gzip member of 1 MiB of zeros, 64 times over
    // (a gzip stream may hold any number of members).
    let member = Codec::Gzip.compress(&vec![0u8; 1 << 20]);
    let bomb = member.repeat(64);
    assert!(bomb.len() < 1 << 19, "{} bytes", bomb.len());
    let batch = wrap_records(0, (0, 0), (1, 0), 1, &bomb);
    assert_eq!(
        decode_all(&batch, 4 << 20),
        Err(RecordError::TooLarge { limit: 4 << 20 })
    );
}

#[test]
fn damaged_compressed_records_are_an_error_in_every_codec() {
    let values = values(20);
    let records = sample_records(&values);
    for codec in Codec::ALL.into_iter().filter(|c| *c != Codec::None) {
        let good = codec.compress(&encode_records(&records));
        // lz4's last 4 bytes are its end mark, which the decoder may do without.
        for cut in [1, good.len() / 2, good.len() - 5] {
            let batch = wrap_records(0, (0, 50), (20, 19), codec.id(), &good[..cut]);
            assert!(decode_all(&batch, LIMIT).is_err(), "{codec:?} cut at {cut}");
        }
    }
}

#[test]
fn xerial_framing_with_a_block_past_the_end_is_an_error() {
    let mut framed = Codec::SnappyXerial.compress(b"some records");
    framed.truncate(framed.len() - 1);
    assert!(matches!(
        compression::decompress(2, &framed, LIMIT),
        Err(RecordError::Decompress {
            codec: "snappy",
            ..
        })
    ));
    assert!(compression::decompress(2, &framed[..10], LIMIT).is_err());
}

fn codec_strategy() -> impl Strategy<Value = Codec> {
    proptest::sample::select(Codec::ALL.to_vec())
}

proptest! {
    #[test]
    fn random_bytes_as_a_records_section_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        codec in 0i16..8,
        count in -2i32..40,
        lad in -2i32..40,
    ) {
        let batch = wrap_records(0, (0, 0), (count, lad), codec, &body);
        let _ = decode_all(&batch, 1 << 16);
    }

    #[test]
    fn random_bytes_as_a_whole_batch_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_all(&bytes, 1 << 16);
    }

    #[test]
    fn damaged_compressed_batches_never_panic(
        codec in codec_strategy(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let values = values(10);
        let records = sample_records(&values);
        let mut body = codec.compress(&encode_records(&records));
        let i = at.index(body.len());
        body[i] ^= xor;
        let batch = wrap_records(0, (0, 50), (10, 9), codec.id(), &body);
        if let Ok(n) = decode_all(&batch, 1 << 16) {
            prop_assert_eq!(n, 10);
        }
    }

    #[test]
    fn varints_round_trip(v in any::<i32>(), l in any::<i64>()) {
        let mut buf = Vec::new();
        put_varlong(&mut buf, i64::from(v));
        put_varlong(&mut buf, l);
        let mut pos = 0;
        prop_assert_eq!(read_varint(&buf, &mut pos), Ok(v));
        prop_assert_eq!(read_varlong(&buf, &mut pos), Ok(l));
        prop_assert_eq!(pos, buf.len());
    }
}
