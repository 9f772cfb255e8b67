#!/bin/sh
# Writes logs/network/dns.log.gz: one hour of the corporate resolver's Zeek dns log, gzipped the
# way Zeek's log rotation archives it, to show that `palisade hunt` reads .gz input directly.
# The text is kept here so the archive can be rebuilt byte for byte (gzip -n: no name or time).
set -eu
cd "$(dirname "$0")"
gzip -9 -n >logs/network/dns.log.gz <<'EOF'
#separator \x09
#set_separator	,
#empty_field	(empty)
#unset_field	-
#path	dns
#open	2025-03-02-09-00-00
#fields	ts	uid	id.orig_h	id.orig_p	id.resp_h	id.resp_p	proto	trans_id	rtt	query	qclass	qclass_name	qtype	qtype_name	rcode	rcode_name	AA	TC	RD	RA	Z	answers	TTLs	rejected
#types	time	string	addr	port	addr	port	enum	count	interval	string	count	string	count	string	count	string	bool	bool	bool	bool	count	vector[string]	vector[interval]	bool
1740906138.004411	CStsfO6e99xH6YQKIF	10.0.20.15	63021	10.0.0.2	53	udp	50122	0.000912	outlook.office365.com	1	C_INTERNET	1	A	0	NOERROR	F	F	T	T	0	outlook.ha.office365.com,52.97.201.226	262.000000,30.000000	F
1740906340.770312	CVt5zN20O8eAW2FJjZ	10.0.20.22	51248	10.0.0.2	53	udp	41057	0.000912	www.google.com	1	C_INTERNET	1	A	0	NOERROR	F	F	T	T	0	142.250.179.196	198.000000	F
1740906432.112903	CgxErIM764jxYBcoge	10.0.20.15	62103	10.0.0.2	53	udp	39392	0.000912	srv01.corp.example.com	1	C_INTERNET	1	A	0	NOERROR	F	F	T	T	0	10.0.30.10	1200.000000	F
1740906595.601277	C00yjthZkFRUfuxfzf	10.0.20.40	49631	10.0.0.2	53	udp	62955	0.000912	login.microsoftonline.com	1	C_INTERNET	1	A	0	NOERROR	F	F	T	T	0	login.mso.msidentity.com,20.190.159.64	3600.000000,300.000000	F
1740906662.398100	CqJFj31cvUHFq5geGr	10.0.20.15	64309	10.0.0.2	53	udp	24263	0.000912	officeclient.microsoft.com	1	C_INTERNET	1	A	0	NOERROR	F	F	T	T	0	prod.configsvc1.live.com.akadns.net,52.109.20.45	300.000000,60.000000	F
1740906750.028811	Cev2IlJqnHpc0PiLSw	10.0.20.22	50256	10.0.0.2	53	udp	13450	0.000912	teams.microsoft.com	1	C_INTERNET	1	A	0	NOERROR	F	F	T	T	0	teams.office.com,52.113.194.132	3600.000000,30.000000	F
1740906848.351042	CvcjNQcetegMUi6YDv	10.0.20.15	59147	10.0.0.2	53	udp	12276	0.000912	wsus-update.duckdns.org	1	C_INTERNET	1	A	0	NOERROR	F	F	T	T	0	198.51.100.77	60.000000	F
1740907201.660230	CVevqWG3YC9Xp3d1C9	10.0.20.15	55957	10.0.0.2	53	udp	3398	0.000912	srv01.corp.example.com	1	C_INTERNET	1	A	0	NOERROR	F	F	T	T	0	10.0.30.10	1200.000000	F
1740908027.912006	CJ3bpsVJUkK75Xalcb	10.0.20.40	59842	10.0.0.2	53	udp	61334	0.000912	deb.debian.org	1	C_INTERNET	1	A	0	NOERROR	F	F	T	T	0	debian.map.fastlydns.net,151.101.2.132	300.000000,30.000000	F
1740908479.200554	CxLt2jGKoRnlsa605h	10.0.20.22	50475	10.0.0.2	53	udp	23034	0.000912	www.bbc.co.uk	1	C_INTERNET	1	A	0	NOERROR	F	F	T	T	0	www.bbc.net.uk,151.101.0.81	300.000000,60.000000	F
#close	2025-03-02-10-00-00
EOF
