//! The column layouts of the flow data sets, and which columns carry an ECS meaning.

/// Which data set a file follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Variant {
    NslKdd,
    UnswNb15,
    CicFlowMeter,
}

impl Variant {
    /// `meta.service`.
    pub fn service(self) -> &'static str {
        match self {
            Variant::NslKdd => "nsl-kdd",
            Variant::UnswNb15 => "unsw-nb15",
            Variant::CicFlowMeter => "cicflowmeter",
        }
    }
}

/// The 41 NSL-KDD (KDD Cup 99) features, then the class label and NSL-KDD's difficulty level.
pub(super) const NSL_KDD: [&str; 43] = [
    "duration",
    "protocol_type",
    "service",
    "flag",
    "src_bytes",
    "dst_bytes",
    "land",
    "wrong_fragment",
    "urgent",
    "hot",
    "num_failed_logins",
    "logged_in",
    "num_compromised",
    "root_shell",
    "su_attempted",
    "num_root",
    "num_file_creations",
    "num_shells",
    "num_access_files",
    "num_outbound_cmds",
    "is_host_login",
    "is_guest_login",
    "count",
    "srv_count",
    "serror_rate",
    "srv_serror_rate",
    "rerror_rate",
    "srv_rerror_rate",
    "same_srv_rate",
    "diff_srv_rate",
    "srv_diff_host_rate",
    "dst_host_count",
    "dst_host_srv_count",
    "dst_host_same_srv_rate",
    "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate",
    "dst_host_srv_diff_host_rate",
    "dst_host_serror_rate",
    "dst_host_srv_serror_rate",
    "dst_host_rerror_rate",
    "dst_host_srv_rerror_rate",
    "label",
    "difficulty",
];

/// The 49 columns of the original UNSW-NB15 CSV files (`UNSW-NB15_1.csv` …), which have no
/// header row; names as in `NUSW-NB15_features.csv`, lower-cased.
pub(super) const UNSW_NB15_RAW: [&str; 49] = [
    "srcip",
    "sport",
    "dstip",
    "dsport",
    "proto",
    "state",
    "dur",
    "sbytes",
    "dbytes",
    "sttl",
    "dttl",
    "sloss",
    "dloss",
    "service",
    "sload",
    "dload",
    "spkts",
    "dpkts",
    "swin",
    "dwin",
    "stcpb",
    "dtcpb",
    "smeansz",
    "dmeansz",
    "trans_depth",
    "res_bdy_len",
    "sjit",
    "djit",
    "stime",
    "ltime",
    "sintpkt",
    "dintpkt",
    "tcprtt",
    "synack",
    "ackdat",
    "is_sm_ips_ports",
    "ct_state_ttl",
    "ct_flw_http_mthd",
    "is_ftp_login",
    "ct_ftp_cmd",
    "ct_srv_src",
    "ct_srv_dst",
    "ct_dst_ltm",
    "ct_src_ltm",
    "ct_src_dport_ltm",
    "ct_dst_sport_ltm",
    "ct_dst_src_ltm",
    "attack_cat",
    "label",
];

/// What a column means in ECS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    SourceIp,
    SourcePort,
    DestinationIp,
    DestinationPort,
    /// A transport name (`tcp`).
    Transport,
    /// An IANA protocol number (`6`).
    ProtocolNumber,
    SourceBytes,
    DestinationBytes,
    DurationSeconds,
    DurationMicros,
    /// Date/time text (CICFlowMeter `Timestamp`).
    TimeText,
    /// Epoch seconds (UNSW-NB15 `stime`).
    EpochSeconds,
    /// The class label; also stored as `label` when the column is named otherwise.
    Label,
}

/// A column name reduced to lower-case letters and digits, so `Tot Len Fwd Pkts`,
/// ` Total Length of Fwd Packets` and `totlen_fwd_pkts` compare by content.
pub(super) fn normalize(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The ECS role of a column, by its normalised name, across all three data sets' spellings.
pub(super) fn role(normalized: &str) -> Option<Role> {
    Some(match normalized {
        "srcip" | "sourceip" => Role::SourceIp,
        "srcport" | "sourceport" | "sport" => Role::SourcePort,
        "dstip" | "destinationip" => Role::DestinationIp,
        "dstport" | "destinationport" | "dsport" => Role::DestinationPort,
        "protocoltype" | "proto" => Role::Transport,
        "protocol" => Role::ProtocolNumber,
        "srcbytes"
        | "sbytes"
        | "totlenfwdpkts"
        | "totallengthoffwdpackets"
        | "totallengthoffwdpacket" => Role::SourceBytes,
        "dstbytes"
        | "dbytes"
        | "totlenbwdpkts"
        | "totallengthofbwdpackets"
        | "totallengthofbwdpacket" => Role::DestinationBytes,
        "duration" | "dur" => Role::DurationSeconds,
        "flowduration" => Role::DurationMicros,
        "timestamp" => Role::TimeText,
        "stime" => Role::EpochSeconds,
        "label" => Role::Label,
        _ => return None,
    })
}

/// The data set a header row belongs to, from its normalised names.
pub(super) fn header_variant(names: &[String]) -> Option<Variant> {
    let has = |n: &str| names.iter().any(|x| x == n);
    if has("flowduration") && (has("dstport") || has("destinationport")) {
        return Some(Variant::CicFlowMeter);
    }
    if has("attackcat") || (has("sbytes") && has("dbytes")) {
        return Some(Variant::UnswNb15);
    }
    if has("protocoltype") && has("srcbytes") {
        return Some(Variant::NslKdd);
    }
    None
}

/// The IANA transport name of a protocol number, for the ones flows carry.
pub(super) fn transport_name(number: i64) -> Option<&'static str> {
    Some(match number {
        1 => "icmp",
        2 => "igmp",
        6 => "tcp",
        17 => "udp",
        47 => "gre",
        50 => "esp",
        58 => "ipv6-icmp",
        132 => "sctp",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_across_spellings() {
        for n in [
            " Total Length of Fwd Packets",
            "TotLen Fwd Pkts",
            "totlen_fwd_pkts",
        ] {
            assert_eq!(role(&normalize(n)), Some(Role::SourceBytes), "{n}");
        }
        assert_eq!(
            role(&normalize(" Destination Port")),
            Some(Role::DestinationPort)
        );
        assert_eq!(role(&normalize("Label")), Some(Role::Label));
        assert_eq!(role(&normalize("Flow Bytes/s")), None);
    }
}
