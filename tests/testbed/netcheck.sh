#!/usr/bin/env bash
# Run a command and fail if it (or anything it starts) sends a packet to a
# non-loopback address.
#
#   tests/testbed/netcheck.sh CMD [ARGS...]
#   tests/testbed/netcheck.sh sh -c 'python3 tests/testbed/testbed.py down &&
#       python3 tests/testbed/testbed.py up && python3 -m pytest tests/integration -q'
#
# Two independent records, checked together:
#  1. tcpdump on every interface, keeping every packet that is not loopback to
#     loopback (127.0.0.0/8 <-> 127.0.0.0/8, ::1 <-> ::1);
#  2. strace -f on CMD's whole process tree (daemons it starts included, for as
#     long as CMD runs): every connect/sendto/sendmsg and its address.
# It fails if strace saw a process of ours address anything but loopback, if
# the capture holds a packet to or from the testbed's made-up ranges (service
# 10.96.0.0/16, pods 10.244.0.0/16), or if a process of ours listens on a
# non-loopback address. Other captured packets are the sandbox's own traffic
# (package downloads of other sessions, ...): they are listed as unrelated,
# which is provable because no traced process ever connected to those peers.
#
# Needs root, tcpdump and strace (apt-get install tcpdump strace). Build first
# (testbed.py build): a cold build downloads Go modules, which this flags.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
for tool in tcpdump strace python3; do
  command -v "$tool" >/dev/null || { echo "netcheck: $tool is missing (apt-get install tcpdump strace)" >&2; exit 2; }
done

work=$(mktemp -d /tmp/netcheck.XXXXXX)
pcap=$work/capture.pcap trace=$work/strace.log pidfile=$work/cmd.pid
echo "netcheck: evidence in $work" >&2

# 1. Capture everything that is not loopback-to-loopback, on all interfaces.
tcpdump -i any -n -U -w "$pcap" \
  'not ((src net 127.0.0.0/8 and dst net 127.0.0.0/8) or (ip6 and src host ::1 and dst host ::1))' \
  2>"$work/tcpdump.err" &
tcpdump_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/tcpdump.err" 2>/dev/null && break; sleep 0.05; done

# 2. Trace the command's process tree. Daemons it leaves running would keep
# strace -f waiting forever, so wait for the command itself, then detach.
# The inner shell expands $$, $@ and $? itself (single quotes on purpose).
# shellcheck disable=SC2016
strace -f -qq -I1 --seccomp-bpf -e trace=connect,sendto,sendmsg,sendmmsg -e signal=none -o "$trace" \
  sh -c 'echo $$ > "$0"; "$@"; echo $? > "$0.rc"' "$pidfile" "$@" &
strace_pid=$!
for _ in $(seq 100); do [[ -s $pidfile ]] && break; sleep 0.05; done
cmd_pid=$(cat "$pidfile")
while kill -0 "$cmd_pid" 2>/dev/null; do sleep 0.2; done
# -I1 above lets SIGTERM reach strace, which then detaches from the daemons
# the command left running (they keep running, untraced).
kill -TERM "$strace_pid" 2>/dev/null || true
wait "$strace_pid" || true
cmd_rc=$(cat "$pidfile.rc" 2>/dev/null || echo 1)
pids=$(awk '{print $1}' "$trace" | sort -u | tr '\n' ' ')
ss -Htulnp > "$work/listeners.txt"
sleep 0.5  # let the last packets reach the capture
kill -INT "$tcpdump_pid"; wait "$tcpdump_pid" || true
tcpdump -r "$pcap" -n -tt > "$work/packets.txt" 2>/dev/null || true

check_rc=0
python3 - "$trace" "$work/packets.txt" "$work/listeners.txt" "$pids" <<'EOF' || check_rc=$?
import collections, ipaddress, re, sys

trace, packets, listeners, pids = sys.argv[1], sys.argv[2], sys.argv[3], set(sys.argv[4].split())
TESTBED_NETS = [ipaddress.ip_network(n) for n in ("10.96.0.0/16", "10.244.0.0/16")]


def ip_of(token):
    """tcpdump's 'a.b.c.d.port' / 'v6addr.port' / bare address -> ip_address, or None."""
    for cand in (token, token.rsplit(".", 1)[0]):
        try:
            return ipaddress.ip_address(cand)
        except ValueError:
            pass
    return None


def loopback(ip):
    ip = getattr(ip, "ipv4_mapped", None) or ip
    return ip.is_loopback or ip.is_unspecified


# strace: every address a process of ours sent to or connected to.
bad, peers, calls = [], set(), 0
for line in open(trace, errors="replace"):
    calls += 1
    for v4, v6 in re.findall(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"', line):
        ip = ipaddress.ip_address(v4 or v6)
        if not loopback(ip):
            bad.append(line.strip())
            peers.add(ip)

# capture: packets touching the testbed's made-up ranges or a peer of ours are ours.
unrelated, ours = collections.Counter(), []
for line in open(packets, errors="replace"):
    m = re.search(r"\bIP6? (\S+) > (\S+?):", line)
    if not m:
        unrelated[" ".join(line.split()[1:7])] += 1  # ARP and other link-level chatter
        continue
    ips = {ip for ip in map(ip_of, m.groups()) if ip}
    if ips & peers or any(ip in net for ip in ips for net in TESTBED_NETS if ip.version == net.version):
        ours.append(line.strip())
    else:
        unrelated[f"{m.group(1)} > {m.group(2)}"] += 1

exposed = [l.strip() for l in open(listeners)
           if any(f"pid={p}," in l for p in pids)
           and not re.search(r"\s(127\.[\d.]+|\[::1\]|\[::ffff:127\.[\d.]+\]):\d+\s", l)]

print(f"netcheck: {calls} traced connect/send calls by {len(pids)} processes"
      + ("" if bad else ", all to loopback"))
if unrelated:
    print(f"netcheck: {sum(unrelated.values())} captured packets are unrelated "
          f"(no traced process addressed those peers); flows by count:")
    for flow, n in unrelated.most_common(12):
        print(f"  {n:6d}  {flow}")
for title, lines in (("traced processes addressed non-loopback peers", bad),
                     ("captured packets to/from the testbed's ranges or our peers", ours),
                     ("processes of ours listen on non-loopback addresses", exposed)):
    if lines:
        print(f"netcheck: FAIL: {title}:")
        print("\n".join("  " + l for l in lines[:20]))
sys.exit(1 if bad or ours or exposed else 0)
EOF
if [[ $check_rc -eq 0 ]]; then echo "netcheck: OK: no packet to a non-loopback address from the command's processes"; fi
if [[ $cmd_rc -ne 0 ]]; then echo "netcheck: the command itself failed (exit $cmd_rc)" >&2; exit "$cmd_rc"; fi
exit "$check_rc"
