#!/bin/bash
# A flapping server starves a LOOKING server's re-notifications, on a real ZooKeeper 3.8.0
# ensemble (Debian's `zookeeper` package; needs root for iptables). Two arms:
#   flapping: server 1's acceptedEpoch write always fails (acceptedEpoch.tmp is a directory),
#             so it cycles LOOKING -> FOLLOWING -> IOException every few ms;
#   control:  server 1 healthy.
# In each arm server 3 is restarted while connections to its election port are dropped for
# 5 s (so its first notifications reach no leader), then watched for WATCH_S seconds.
# Prints, per arm, whether server 3 serves, its "Notification time out" lines and how many
# notifications it got from server 1. See looking-starvation.md.
set -u
WATCH_S=${WATCH_S:-60}
E="$(dirname "$0")/ensemble.sh"
V2=/tmp/zkr/s1/data/version-2
mode() { echo srvr | timeout 1 nc -q1 127.0.0.1 $((2181 + $1)) 2>/dev/null | sed -n 's/^Mode: //p'; }
leader() { for n in 1 2 3 4 5; do [ "$(mode $n)" = leader ] && echo $n; done; }
wait_serving() { for _ in $(seq 60); do [ -n "$(mode $1)" ] && return 0; sleep 1; done; return 1; }

arm() { # $1: flapping | control
  [ "$1" = flapping ] && mkdir -p $V2/acceptedEpoch.tmp || rmdir $V2/acceptedEpoch.tmp 2>/dev/null
  # A new epoch, so that server 1 has an acceptedEpoch to write: restart the leader.
  local l; l=$(leader); $E kill "$l"; sleep 8; $E start "$l"; wait_serving "$l" || { echo "leader $l did not come back"; exit 1; }
  sleep 3
  echo "[$1] leader s$(leader); s1 mode: $(mode 1)"
  local log=/tmp/zkr/s3/server.log from; from=$(($(wc -l < $log) + 1))
  iptables -I INPUT -p tcp --dport 3883 -j DROP
  $E kill 3; sleep 1; $E start 3; sleep 5
  iptables -D INPUT -p tcp --dport 3883 -j DROP
  local t=0
  while [ $t -lt "$WATCH_S" ] && [ -z "$(mode 3)" ]; do sleep 1; t=$((t + 1)); done
  tail -n +$from $log > /tmp/zkr/s3-$1.log
  echo "[$1] s3 after ${t} s past the unblock: $(mode 3 || true) (empty: not serving, LOOKING)"
  echo "[$1] s3's notification time-outs: $(grep -c 'Notification time out' /tmp/zkr/s3-$1.log); notifications from s1: $(grep -c 'n.sid:1,' /tmp/zkr/s3-$1.log)"
  grep -o 'LEADER ELECTION TOOK - [0-9]* MS' /tmp/zkr/s3-$1.log | sed "s/^/[$1] /"
}

command -v iptables >/dev/null || { echo "needs iptables (apt-get install iptables)"; exit 4; }
[ -e /usr/share/java/zookeeper.jar ] || { echo "needs Debian's zookeeper package"; exit 4; }
pkill -9 -f /tmp/zkr/ 2>/dev/null; sleep 1
# Interrupted or not: no dropped port and no server left behind.
trap 'iptables -D INPUT -p tcp --dport 3883 -j DROP 2>/dev/null; pkill -9 -f /tmp/zkr/' EXIT
$E setup && for n in 1 2 3 4 5; do $E start $n; done
for n in 1 2 3 4 5; do wait_serving $n || { echo "s$n did not start"; exit 1; }; done
arm control
arm flapping
echo "[flapping] s1 fixed (acceptedEpoch.tmp removed) at $(date +%T)"
rmdir $V2/acceptedEpoch.tmp
t=0; while [ $t -lt 30 ] && [ -z "$(mode 3)" ]; do sleep 1; t=$((t + 1)); done
echo "[flapping] s3 ${t} s after s1 was fixed: $(mode 3 || true)"
grep -o 'LEADER ELECTION TOOK - [0-9]* MS' /tmp/zkr/s3/server.log | tail -1 | sed 's/^/[flapping] /'
