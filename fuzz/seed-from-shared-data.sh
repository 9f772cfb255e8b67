#!/bin/sh
# Copies small real samples from the shared public data sets (../../shared/data, beside the
# repository) into corpus/<target>/, where cargo fuzz reads and grows its corpus. They are not
# committed (the data sets' licences and the data README ask that they stay out of the
# repository); seeds/<target>/ holds the project's own samples.
set -eu
cd "$(dirname "$0")"
data=${PALISADE_DATA:-../../shared/data}
[ -d "$data" ] || { echo "no shared data at $data" >&2; exit 1; }
for t in evtx json syslog zeek flowcsv cef leef sigma_rule sigma_condition; do
    mkdir -p "corpus/$t"
done
# EVTX: the smallest attack samples (a 4 KiB header and one 64 KiB chunk each).
cp "$data/evtx-attack-samples/AutomatedTestingTools/Malware/rundll32_cmd_schtask.evtx" corpus/evtx/
# Syslog: the start of loghub's OpenSSH and Linux logs.
head -c 3000 "$data/loghub/OpenSSH/OpenSSH_2k.log" | sed '$d' > corpus/syslog/loghub-openssh.log
head -c 3000 "$data/loghub/Linux/Linux_2k.log" | sed '$d' > corpus/syslog/loghub-linux.log
# Zeek: headers and first records of a Stratosphere capture.
z="$data/stratosphere-zeek/001-zeek-scenario-malicious"
for f in conn.log dns.log http.log; do
    [ -f "$z/$f" ] && head -n 12 "$z/$f" | cut -c1-500 > "corpus/zeek/stratosphere-$f"
done
# Flow CSV: the first rows of NSL-KDD and the UNSW-NB15 subset.
head -n 6 "$data/nsl-kdd/KDDTest+.txt" > corpus/flowcsv/nsl-kdd.csv
head -n 6 "$data/unsw-nb15/UNSW_NB15_testing-set_subset4528.csv" > corpus/flowcsv/unsw-nb15.csv
# Sigma: a few rules of the public rule set with keywords, windash, base64offset and cidr.
r="$data/sigma/rules"
for f in windows/process_creation/proc_creation_win_lolbin_unregmp2.yml \
         network/zeek/zeek_rdp_public_listener.yml \
         linux/process_creation/proc_creation_lnx_susp_inod_listing.yml \
         windows/process_creation/proc_creation_win_powershell_base64_mppreference.yml \
         linux/builtin/clamav/lnx_clamav_relevant_message.yml; do
    [ -f "$r/$f" ] && cp "$r/$f" corpus/sigma_rule/
done
echo "copied shared-data samples into corpus/"
