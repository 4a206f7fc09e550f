#!/bin/bash
# Five real ZooKeeper 3.8.0 servers on 127.0.0.1: client 2181+N, quorum 2880+N, election 3880+N.
# usage: ensemble.sh setup | start N | kill N | stat
B=/tmp/zkr
CP="/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:$(ls /usr/share/java/{slf4j-api,log4j-1.2,slf4j-log4j12,netty-handler,netty-common,netty-buffer,netty-transport,netty-resolver,netty-codec,netty-transport-native-unix-common,netty-transport-native-epoll,commons-cli,metrics-core,snappy-java,jackson-databind,jackson-core,jackson-annotations,commons-io}.jar 2>/dev/null | tr '\n' ':')"
case $1 in
setup)
  rm -rf $B; for n in 1 2 3 4 5; do mkdir -p $B/s$n/data; echo $n > $B/s$n/data/myid
  cat > $B/s$n/zoo.cfg <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$B/s$n/data
clientPort=$((2181+n))
admin.enableServer=false
4lw.commands.whitelist=*
server.1=127.0.0.1:2881:3881
server.2=127.0.0.1:2882:3882
server.3=127.0.0.1:2883:3883
server.4=127.0.0.1:2884:3884
server.5=127.0.0.1:2885:3885
CFG
  cat > $B/s$n/log4j.properties <<L4J
log4j.rootLogger=INFO, F
log4j.appender.F=org.apache.log4j.FileAppender
log4j.appender.F.File=$B/s$n/server.log
log4j.appender.F.layout=org.apache.log4j.PatternLayout
log4j.appender.F.layout.ConversionPattern=%d{HH:mm:ss,SSS} [myid:%X{myid}] %-5p [%t:%C{1}@%L] - %m%n
L4J
  done;;
start) n=$2; cd $B/s$n && nohup java -Xmx256m -Dlog4j.configuration=file:$B/s$n/log4j.properties -Dzookeeper.jmx.log4j.disable=true -cp "$CP" org.apache.zookeeper.server.quorum.QuorumPeerMain $B/s$n/zoo.cfg >$B/s$n/stdout 2>&1 & echo $! > $B/s$n/pid;;
kill) pkill -9 -f "$B/s$2/zoo.cfg";;
stat) for n in 1 2 3 4 5; do printf "s$n: "; (echo srvr | timeout 1 nc -q1 127.0.0.1 $((2181+n)) 2>/dev/null | grep -E 'Mode|Zxid' | tr '\n' ' ') || true; echo; done;;
esac
