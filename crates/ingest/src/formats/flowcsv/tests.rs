use super::*;
use proptest::prelude::*;

const NSL_ROW: &str = "0,tcp,private,REJ,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,229,10,0.00,0.00,1.00,1.00,0.04,0.06,0.00,255,10,0.04,0.06,0.00,0.00,0.00,0.00,1.00,1.00,neptune,21";
const UNSW_HEADER: &str = "\u{feff}id,dur,proto,service,state,spkts,dpkts,sbytes,dbytes,rate,sttl,dttl,sload,dload,sloss,dloss,sinpkt,dinpkt,sjit,djit,swin,stcpb,dtcpb,dwin,tcprtt,synack,ackdat,smean,dmean,trans_depth,response_body_len,ct_srv_src,ct_state_ttl,ct_dst_ltm,ct_src_dport_ltm,ct_dst_sport_ltm,ct_dst_src_ltm,is_ftp_login,ct_ftp_cmd,ct_flw_http_mthd,ct_src_ltm,ct_srv_dst,is_sm_ips_ports,attack_cat,label";
const UNSW_ROW: &str = "1,0.000011,udp,-,INT,2,0,496,0,90909.0902,254,0,180363632,0,0,0,0.011,0,0,0,0,0,0,0,0,0,0,248,0,0,0,2,2,1,1,1,2,0,0,0,1,2,0,Normal,0";
const CIC_SNAKE: &str = "src_ip,dst_ip,src_port,dst_port,protocol,timestamp,flow_duration,totlen_fwd_pkts,totlen_bwd_pkts,flow_byts_s,label";

fn parse_all(lines: &[&str]) -> Vec<Result<Option<Event>, ParseError>> {
    let mut p = FlowCsvFormat::default();
    lines
        .iter()
        .map(|l| p.parse_line(l, Origin::default()))
        .collect()
}

fn events(lines: &[&str]) -> Vec<Event> {
    parse_all(lines)
        .into_iter()
        .filter_map(|r| r.unwrap())
        .collect()
}

fn get<'a>(e: &'a Event, name: &str) -> Option<&'a Value> {
    e.get_by_name(name)
}

#[test]
fn nsl_kdd_rows_have_no_header() {
    let e = &events(&[NSL_ROW, NSL_ROW])[0];
    assert_eq!(get(e, "protocol_type"), Some(&"tcp".into()));
    assert_eq!(get(e, "count"), Some(&Value::Int(229)));
    assert_eq!(get(e, "dst_host_srv_rerror_rate"), Some(&Value::Float(1.0)));
    assert_eq!(get(e, "label"), Some(&"neptune".into()));
    assert_eq!(get(e, "difficulty"), Some(&Value::Int(21)));
    assert_eq!(get(e, "network.transport"), Some(&"tcp".into()));
    assert_eq!(get(e, "source.bytes"), Some(&Value::Int(0)));
    assert_eq!(get(e, "event.duration"), Some(&Value::Float(0.0)));
    assert_eq!(e.meta.service.as_deref(), Some("nsl-kdd"));
    assert_eq!(e.meta.product.as_deref(), Some("network"));
    assert_eq!(e.meta.format, "flowcsv");
}

#[test]
fn unsw_nb15_with_header_and_bom() {
    let out = parse_all(&[UNSW_HEADER, UNSW_ROW]);
    assert!(matches!(out[0], Ok(None)));
    let Ok(Some(e)) = &out[1] else {
        panic!("{:?}", out[1])
    };
    assert_eq!(get(e, "id"), Some(&Value::Int(1)));
    assert_eq!(get(e, "service"), Some(&"-".into()));
    assert_eq!(get(e, "attack_cat"), Some(&"Normal".into()));
    assert_eq!(get(e, "label"), Some(&Value::Int(0)));
    assert_eq!(get(e, "network.transport"), Some(&"udp".into()));
    assert_eq!(get(e, "source.bytes"), Some(&Value::Int(496)));
    assert_eq!(get(e, "event.duration"), Some(&Value::Float(0.000011)));
    assert_eq!(e.meta.service.as_deref(), Some("unsw-nb15"));
}

#[test]
fn unsw_nb15_raw_rows() {
    let row = "59.166.0.0,1390,149.171.126.6,53,udp,CON,0.001055,132,164,31,29,0,0,dns,500473.9375,621800.9375,2,2,0,0,0,0,66,82,0,0,0,0,1421927414,1421927414,0.017,0.013,0,0,0,0,0,0,0,0,3,7,1,3,1,1,1,,0";
    let e = &events(&[row])[0];
    assert_eq!(get(e, "source.ip"), Some(&"59.166.0.0".into()));
    assert_eq!(get(e, "source.port"), Some(&Value::Int(1390)));
    assert_eq!(get(e, "destination.port"), Some(&Value::Int(53)));
    assert_eq!(e.timestamp.unwrap().timestamp(), 1_421_927_414);
    assert!(get(e, "attack_cat").is_none());
}

#[test]
fn cicflowmeter_snake_case_and_protocol_numbers() {
    let row = "10.0.0.1,10.0.0.2,5555,443,6,2020-04-29 11:43:15,2500000,100,2000,\"1,2\",Benign";
    let out = events(&[CIC_SNAKE, row]);
    let e = &out[0];
    assert_eq!(get(e, "source.ip"), Some(&"10.0.0.1".into()));
    assert_eq!(get(e, "destination.port"), Some(&Value::Int(443)));
    assert_eq!(get(e, "network.transport"), Some(&"tcp".into()));
    assert_eq!(get(e, "network.iana_number"), Some(&"6".into()));
    assert_eq!(get(e, "event.duration"), Some(&Value::Float(2.5)));
    assert_eq!(get(e, "destination.bytes"), Some(&Value::Int(2000)));
    assert_eq!(get(e, "flow_byts_s"), Some(&"1,2".into()));
    assert_eq!(
        e.timestamp.unwrap().to_rfc3339(),
        "2020-04-29T11:43:15+00:00"
    );
    assert_eq!(e.meta.service.as_deref(), Some("cicflowmeter"));
}

#[test]
fn cicids2017_names_duplicates_and_specials() {
    let header = " Destination Port, Flow Duration, Fwd Header Length, Flow Bytes/s, Fwd Header Length, Label";
    let out = events(&[
        header,
        "80,1000,20,Infinity,20,DDoS",
        header,
        "53,5,1,NaN,1,BENIGN",
    ]);
    assert_eq!(out.len(), 2, "the repeated header row is skipped");
    let e = &out[0];
    assert_eq!(get(e, "Destination Port"), Some(&Value::Int(80)));
    assert_eq!(get(e, "Fwd Header Length.1"), Some(&Value::Int(20)));
    assert_eq!(get(e, "Flow Bytes/s"), Some(&Value::Float(f64::INFINITY)));
    assert_eq!(get(e, "Label"), Some(&"DDoS".into()));
    assert_eq!(get(e, "label"), Some(&"DDoS".into()));
    assert!(
        get(&out[1], "Flow Bytes/s")
            .and_then(Value::as_f64)
            .unwrap()
            .is_nan()
    );
}

#[test]
fn wrong_column_counts_and_unknown_layouts() {
    let out = parse_all(&[UNSW_HEADER, "1,2,3"]);
    let Err(e) = &out[1] else { panic!() };
    assert_eq!(e.0, "expected 45 columns (unsw-nb15), found 3");
    let out = parse_all(&[NSL_ROW, "0,tcp,http"]);
    assert!(
        out[1]
            .as_ref()
            .unwrap_err()
            .0
            .contains("expected 43 columns (nsl-kdd), found 3")
    );
    let out = parse_all(&["name,age", "bob,3"]);
    assert!(
        out[0]
            .as_ref()
            .unwrap_err()
            .0
            .contains("not a known flow CSV layout")
    );
    assert!(out[1].is_err());
    let out = parse_all(&[CIC_SNAKE, "\"unterminated,1"]);
    assert!(out[1].as_ref().unwrap_err().0.contains("unterminated"));
}

#[test]
fn sniffing() {
    assert!(sniff(NSL_ROW));
    assert!(sniff(UNSW_HEADER));
    assert!(sniff(CIC_SNAKE));
    assert!(!sniff("a,b,c"));
    assert!(!sniff("Dec 10 06:55:46 LabSZ sshd[24200]: x"));
    assert!(!sniff("{\"a\":1}"));
}

#[test]
fn typing() {
    assert_eq!(typed("42"), Value::Int(42));
    assert_eq!(typed("-7"), Value::Int(-7));
    assert_eq!(typed("0.5"), Value::Float(0.5));
    assert_eq!(typed("99999999999999999999"), Value::Float(1e20));
    assert_eq!(typed("-"), Value::from("-"));
    assert_eq!(typed("inf"), Value::from("inf"));
    assert_eq!(typed("Infinity"), Value::Float(f64::INFINITY));
    assert_eq!(typed("tcp"), Value::from("tcp"));
}

proptest! {
    #[test]
    fn never_panics_on_text(lines in proptest::collection::vec("\\PC*", 1..4)) {
        for first in [NSL_ROW, UNSW_HEADER, CIC_SNAKE] {
            let mut p = FlowCsvFormat::default();
            let _ = p.parse_line(first, Origin::default());
            for l in &lines {
                let _ = p.parse_line(l, Origin::default());
            }
        }
        let _ = FlowCsvFormat::default().parse_line(&lines[0], Origin::default());
        let _ = sniff(&lines[0]);
    }

    #[test]
    fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let line = String::from_utf8_lossy(&bytes);
        let _ = FlowCsvFormat::default().parse_line(&line, Origin::default());
        let mut p = FlowCsvFormat::default();
        let _ = p.parse_line(CIC_SNAKE, Origin::default());
        let _ = p.parse_line(&line, Origin::default());
    }

    #[test]
    fn never_panics_on_mutated_rows(
        base in prop::sample::select(vec![NSL_ROW, UNSW_ROW, UNSW_HEADER, CIC_SNAKE]),
        cut in 0usize..300,
        insert in "[,\"a-z0-9. -]{0,5}",
    ) {
        let mut s = base.to_string();
        let at = (0..=cut.min(s.len())).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        s.insert_str(at, &insert);
        let mut p = FlowCsvFormat::default();
        let _ = p.parse_line(&s, Origin::default());
        let _ = p.parse_line(&s, Origin::default());
    }

    #[test]
    fn cic_rows_round_trip(
        ip in "[0-9]{1,3}(\\.[0-9]{1,3}){3}",
        port in any::<u16>(),
        proto in prop::sample::select(vec![6i64, 17, 1]),
        micros in 0i64..1_000_000_000,
        bytes in 0i64..1_000_000,
        label in "[A-Za-z][A-Za-z ,\"-]{0,20}",
    ) {
        let cells: Vec<String> = vec![
            ip.clone(), "10.0.0.2".into(), port.to_string(), "80".into(), proto.to_string(),
            "2020-04-29 11:43:15".into(), micros.to_string(), bytes.to_string(), "0".into(),
            "1.5".into(), label.clone(),
        ];
        let out = events(&[CIC_SNAKE, &split::join(&cells)]);
        let e = &out[0];
        prop_assert_eq!(get(e, "source.ip"), Some(&Value::from(ip.as_str())));
        prop_assert_eq!(get(e, "source.port"), Some(&Value::Int(i64::from(port))));
        prop_assert_eq!(get(e, "network.transport"), Some(&Value::from(schema::transport_name(proto).unwrap())));
        prop_assert_eq!(get(e, "event.duration").and_then(Value::as_f64), Some(micros as f64 / 1e6));
        prop_assert_eq!(get(e, "source.bytes"), Some(&Value::Int(bytes)));
        let trimmed = label.trim();
        prop_assert_eq!(get(e, "label"), Some(&Value::from(trimmed)));
    }
}
