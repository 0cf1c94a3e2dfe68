#!/usr/bin/python3
"""A WebRTC peer nobody here wrote (aiortc: full ICE, DTLS-SRTP, ECDSA),
for engine/tests/webrtc_aiortc.rs.

Prints its offer as one JSON line ({"offer": sdp}), reads the answer as one
JSON line ({"answer": sdp}) from stdin, sends audio (silence from
AudioStreamTrack) and receives for SECONDS, then prints one JSON line:
the connection state reached and the RTP packets it received (decrypted
by aiortc's SRTP) and sent, in all and per kind. With a second argument
`video` it sends video too (VideoStreamTrack, VP8): aiortc offers BUNDLE,
and uses one transport for both when the answer takes the group.
Bounded: at most SECONDS + 20 s.
"""
import asyncio
import json
import sys

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack


async def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    pc = RTCPeerConnection()
    pc.addTrack(AudioStreamTrack())
    if len(sys.argv) > 2 and sys.argv[2] == "video":
        pc.addTrack(VideoStreamTrack())

    @pc.on("track")
    def on_track(track):
        async def drain():
            while True:
                try:
                    await track.recv()
                except Exception:
                    return

        asyncio.ensure_future(drain())

    await pc.setLocalDescription(await pc.createOffer())
    print(json.dumps({"offer": pc.localDescription.sdp}), flush=True)
    loop = asyncio.get_running_loop()
    line = await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), 20)
    await pc.setRemoteDescription(
        RTCSessionDescription(sdp=json.loads(line)["answer"], type="answer")
    )
    for _ in range(150):
        if pc.connectionState in ("connected", "failed"):
            break
        await asyncio.sleep(0.1)
    state = pc.connectionState
    if state == "connected":
        await asyncio.sleep(seconds)
    stats = await pc.getStats()
    inbound = sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp")
    outbound = sum(s.packetsSent for s in stats.values() if s.type == "outbound-rtp")
    by_kind = {}
    for s in stats.values():
        if s.type in ("inbound-rtp", "outbound-rtp"):
            k = by_kind.setdefault(s.kind, {"in": 0, "out": 0})
            if s.type == "inbound-rtp":
                k["in"] += s.packetsReceived
            else:
                k["out"] += s.packetsSent
    transports = len({id(t._transport) for t in pc.getTransceivers()})
    print(
        json.dumps(
            {
                "state": state,
                "inbound_packets": inbound,
                "outbound_packets": outbound,
                "by_kind": by_kind,
                "transports": transports,
            }
        ),
        flush=True,
    )
    await pc.close()


asyncio.run(main())
