#!/bin/sh
# bench.sh MODE N WIN  (MODE: udp | drv | skb); server on CPU 1, client on CPU 0
B=/tmp/xdp-target/release/xskspike; N=$2; W=$3
if [ $1 = udp ]; then
  timeout 60 ip netns exec rxs-b taskset -c 1 $B udp-echo 198.51.100.2:4000 $N 30 > /tmp/srv.log 2>&1 &
else
  timeout 60 ip netns exec rxs-b taskset -c 1 $B xsk-echo rxs-vb 4000 $1 copy $N 30 > /tmp/srv.log 2>&1 &
fi
sleep 1.5
timeout 40 ip netns exec rxs-a taskset -c 0 $B client 198.51.100.2:4000 $N $W 30
wait
grep -E "echo:|attach|bind" /tmp/srv.log
