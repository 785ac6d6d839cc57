#!/bin/bash
# Writes the broker's configuration for this container's address, formats the log directory on the
# first start, and runs the broker in the foreground.
#   KAFKA_CLUSTER_ID      KRaft cluster id (stable per stack: the volume's data belongs to it)
#   KAFKA_NODE_ID         this node's id in the quorum (1, 2, 3)
#   KAFKA_VOTERS          the quorum: id@name:9093,... (every node is broker and controller)
#   KAFKA_REPLICATION     replication factor of the internal topics (and the default of new topics)
#   KAFKA_MIN_ISR         min.insync.replicas: replicas that must have a write before acks=all returns
#   KAFKA_INTERNAL_HOST   the name other containers reach this broker by (advertised on port 19092)
#   KAFKA_EXTERNAL_PORT   the port published on the host's 127.0.0.1 (advertised as 127.0.0.1:<port>)
#   KAFKA_HEAP            JVM heap size
set -euo pipefail
ip=$(container-ip)
# A controller caches its peers' addresses at start: wait until every voter's container exists.
for voter in ${KAFKA_VOTERS//,/ }; do
    peer=${voter#*@}
    until getent hosts "${peer%:*}" >/dev/null; do sleep 0.5; done
done
config=/etc/kafka/server.properties
cat >"$config" <<PROPS
process.roles=broker,controller
node.id=${KAFKA_NODE_ID}
controller.quorum.voters=${KAFKA_VOTERS}
listeners=INTERNAL://${ip}:19092,EXTERNAL://${ip}:9092,CONTROLLER://${ip}:9093
advertised.listeners=INTERNAL://${KAFKA_INTERNAL_HOST}:19092,EXTERNAL://127.0.0.1:${KAFKA_EXTERNAL_PORT}
listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
log.dirs=/var/lib/kafka/data
num.partitions=1
auto.create.topics.enable=false
default.replication.factor=${KAFKA_REPLICATION}
min.insync.replicas=${KAFKA_MIN_ISR}
offsets.topic.replication.factor=${KAFKA_REPLICATION}
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=${KAFKA_REPLICATION}
transaction.state.log.min.isr=${KAFKA_MIN_ISR}
share.coordinator.state.topic.replication.factor=${KAFKA_REPLICATION}
share.coordinator.state.topic.min.isr=${KAFKA_MIN_ISR}
group.initial.rebalance.delay.ms=0
log.flush.interval.ms=1000
PROPS
java_opts=(-Xmx"${KAFKA_HEAP:-512m}" -Xms"${KAFKA_HEAP:-512m}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
           -Djava.awt.headless=true -Dlog4j2.configurationFile=/opt/kafka/log4j2.properties -cp '/opt/kafka/libs/*')
if [ ! -f /var/lib/kafka/data/meta.properties ]; then
    java "${java_opts[@]}" kafka.tools.StorageTool format -t "$KAFKA_CLUSTER_ID" -c "$config"
fi
exec java "${java_opts[@]}" kafka.Kafka "$config"
