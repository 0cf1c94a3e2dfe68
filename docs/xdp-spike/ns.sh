#!/bin/sh
# up | down
if [ "$1" = up ]; then
  ip netns add rxs-a; ip netns add rxs-b
  ip link add rxs-va netns rxs-a type veth peer name rxs-vb netns rxs-b
  ip -n rxs-a addr add 198.51.100.1/24 dev rxs-va
  ip -n rxs-b addr add 198.51.100.2/24 dev rxs-vb
  ip -n rxs-a addr add 2001:db8::1/64 dev rxs-va nodad
  ip -n rxs-b addr add 2001:db8::2/64 dev rxs-vb nodad
  for n in a b; do ip -n rxs-$n link set lo up; ip -n rxs-$n link set rxs-v$n up; done
else
  ip netns del rxs-a 2>/dev/null; ip netns del rxs-b 2>/dev/null; true
fi
