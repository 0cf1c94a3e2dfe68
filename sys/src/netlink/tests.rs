use std::net::Ipv6Addr;

use super::ethtool::set_channels;
use super::wire::*;
use super::*;
use proptest::prelude::*;

// ---- hand-made messages ----

/// One attribute, padded.
fn attr(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut a = Vec::new();
    a.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    a.extend_from_slice(&ty.to_ne_bytes());
    a.extend_from_slice(data);
    a.resize(align4(a.len()), 0);
    a
}

/// One whole message (header + payload), padded.
fn msg(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&4242u32.to_ne_bytes());
    m.extend_from_slice(payload);
    m.resize(align4(m.len()), 0);
    m
}

/// An `rtmsg` of `family` and `rtm_type` followed by `attrs`.
fn route_payload(family: u8, rtm_type: u8, attrs: &[Vec<u8>]) -> Vec<u8> {
    let mut p = rtmsg(family, 32).to_vec();
    p[7] = rtm_type;
    for a in attrs {
        p.extend_from_slice(a);
    }
    p
}

const V4: u8 = libc::AF_INET as u8;
const V6: u8 = libc::AF_INET6 as u8;

/// Collects every data message `process` hands over.
fn run(buf: &[u8], seq: u32) -> (io::Result<Step>, Vec<(u16, Vec<u8>)>) {
    let mut got = Vec::new();
    let r = process(buf, seq, &mut |m| {
        got.push((m.ty, m.payload.to_vec()));
        Ok(())
    });
    (r, got)
}

#[test]
fn request_layout_is_the_kernels() {
    let rtm = rtmsg(V4, 32);
    let mut req = Vec::with_capacity(REQ_BUF);
    build_request(
        &mut req,
        RTM_GETROUTE,
        NLM_F_REQUEST,
        7,
        &rtm,
        &[(RTA_DST, &[198, 51, 100, 2])],
    )
    .unwrap();
    let mut want = Vec::new();
    want.extend_from_slice(&36u32.to_ne_bytes()); // 16 + 12 + 8
    want.extend_from_slice(&RTM_GETROUTE.to_ne_bytes());
    want.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    want.extend_from_slice(&7u32.to_ne_bytes());
    want.extend_from_slice(&0u32.to_ne_bytes());
    want.extend_from_slice(&[V4, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    want.extend_from_slice(&8u16.to_ne_bytes());
    want.extend_from_slice(&RTA_DST.to_ne_bytes());
    want.extend_from_slice(&[198, 51, 100, 2]);
    assert_eq!(req, want);
    // Odd-length data is padded, and the header length counts the pad;
    // the buffer is cleared first (this request is shorter than the last).
    build_request(&mut req, 1, 0, 1, &[1, 2, 3], &[(9, &[5])]).unwrap();
    assert_eq!(req.len(), 16 + 4 + 8);
    assert_eq!(u32_at(&req, 0), Some(28));
    assert_eq!(u16_at(&req, 20), Some(5)); // attribute length excludes the pad
    let big = vec![0u8; 70_000];
    assert!(build_request(&mut req, 1, 0, 1, &[], &[(1, &big)]).is_err());
}

/// Every request the calls build fits the buffer `open` reserves, so
/// building one never reallocates (same pointer, same capacity).
#[test]
fn requests_fit_the_reserved_buffer() {
    let mut req = Vec::with_capacity(REQ_BUF);
    let (ptr, cap) = (req.as_ptr(), req.capacity());
    let v6 = IpBytes::of(&"2001:db8::1".parse().unwrap());
    let mask = RTEXT_FILTER_SKIP_STATS.to_ne_bytes();
    /// Message type, fixed part, attributes.
    type Request<'a> = (u16, &'a [u8], &'a [(u16, &'a [u8])]);
    let requests: [Request<'_>; 5] = [
        (RTM_GETROUTE, &rtmsg(V6, 128), &[(RTA_DST, v6.octets())]),
        (RTM_GETNEIGH, &ndmsg(V6, 1, 0, 0), &[(NDA_DST, v6.octets())]),
        (
            RTM_NEWNEIGH,
            &ndmsg(V6, 1, 0, NTF_USE),
            &[(NDA_DST, v6.octets())],
        ),
        (RTM_GETLINK, &ifinfomsg(1), &[(IFLA_EXT_MASK, &mask)]),
        (RTM_GETADDR, &ifaddrmsg(V6), &[]),
    ];
    for (ty, fixed, attrs) in requests {
        build_request(&mut req, ty, NLM_F_REQUEST, 1, fixed, attrs).unwrap();
        assert!(req.len() <= 52, "{ty}: {} bytes", req.len());
        assert_eq!((req.as_ptr(), req.capacity()), (ptr, cap), "{ty}");
    }
}

#[test]
fn ip_bytes_are_the_address() {
    let v4 = IpBytes::of(&"198.51.100.2".parse().unwrap());
    assert_eq!((v4.family, v4.octets()), (V4, &[198u8, 51, 100, 2][..]));
    let a6: Ipv6Addr = "2001:db8::2".parse().unwrap();
    let v6 = IpBytes::of(&IpAddr::V6(a6));
    assert_eq!((v6.family, v6.octets()), (V6, &a6.octets()[..]));
}

#[test]
fn messages_split_and_reject_bad_lengths() {
    let mut two = msg(100, NLM_F_MULTI, 1, &[1, 2, 3]);
    two.extend(msg(101, NLM_F_MULTI, 1, &[]));
    let (a, rest) = split_msg(&two).unwrap();
    assert_eq!(
        (a.ty, a.flags, a.seq, a.payload),
        (100, NLM_F_MULTI, 1, &[1u8, 2, 3][..])
    );
    let (b, rest) = split_msg(rest).unwrap();
    assert_eq!((b.ty, b.payload.len(), rest.len()), (101, 0, 0));

    assert!(split_msg(&[]).is_err());
    assert!(split_msg(&two[..10]).is_err(), "header cut short");
    let mut short = two.clone();
    short[..4].copy_from_slice(&8u32.to_ne_bytes());
    assert!(split_msg(&short).is_err(), "nlmsg_len below the header");
    let mut long = msg(100, 0, 1, &[0; 8]);
    long[..4].copy_from_slice(&1000u32.to_ne_bytes());
    assert!(split_msg(&long).is_err(), "nlmsg_len past the datagram");
    long[..4].copy_from_slice(&u32::MAX.to_ne_bytes());
    assert!(split_msg(&long).is_err());
}

#[test]
fn attributes_parse_and_reject_bad_lengths() {
    let mut p = vec![0u8; 8]; // a fixed header
    p.extend(attr(1, &[10, 20, 30])); // padded to 8
    p.extend(attr(0x8002, &[7; 4])); // NLA_F_NESTED is masked off
    let got: Vec<_> = attrs(&p, 8).unwrap().map(|a| a.unwrap()).collect();
    assert_eq!(got, vec![(1, &[10u8, 20, 30][..]), (2, &[7u8; 4][..])]);

    assert!(
        attrs(&p[..5], 8).is_err(),
        "payload shorter than its header"
    );
    // Attribute length below its own header: error, then the end.
    let mut bad_len = vec![0u8; 8];
    bad_len.extend_from_slice(&2u16.to_ne_bytes());
    bad_len.extend_from_slice(&1u16.to_ne_bytes());
    let mut it = attrs(&bad_len, 8).unwrap();
    assert!(it.next().unwrap().is_err());
    assert!(it.next().is_none());
    // Attribute length past the payload.
    let mut past = vec![0u8; 8];
    past.extend(attr(1, &[1, 2, 3, 4]));
    past[8..10].copy_from_slice(&200u16.to_ne_bytes());
    assert!(attrs(&past, 8).unwrap().any(|a| a.is_err()));
    // Trailing bytes too few for an attribute header.
    let mut tail = vec![0u8; 8];
    tail.extend(attr(1, &[1, 2, 3, 4]));
    tail.extend_from_slice(&[1, 2]);
    let items: Vec<_> = attrs(&tail, 8).unwrap().collect();
    assert!(items[0].is_ok() && items[1].is_err());
}

#[test]
fn route_replies_parse() {
    let on_link = route_payload(
        V4,
        RTN_UNICAST,
        &[
            attr(RTA_DST, &[198, 51, 100, 2]),
            attr(RTA_OIF, &3u32.to_ne_bytes()),
            attr(RTA_PREFSRC, &[198, 51, 100, 1]),
            attr(15 /* RTA_TABLE */, &254u32.to_ne_bytes()),
        ],
    );
    assert_eq!(
        parse_route(&on_link).unwrap(),
        Route {
            oif: 3,
            gateway: None,
            prefsrc: Some("198.51.100.1".parse().unwrap()),
            local: false
        }
    );
    let gw6: Ipv6Addr = "2001:db8::2".parse().unwrap();
    let via_gw = route_payload(
        V6,
        RTN_UNICAST,
        &[
            attr(RTA_OIF, &4u32.to_ne_bytes()),
            attr(RTA_GATEWAY, &gw6.octets()),
        ],
    );
    let r = parse_route(&via_gw).unwrap();
    assert_eq!(
        (r.oif, r.gateway, r.local),
        (4, Some(IpAddr::V6(gw6)), false)
    );
    // RTA_VIA: an IPv4 route with an IPv6 next hop (RFC 5549).
    let mut via = (V6 as u16).to_ne_bytes().to_vec();
    via.extend_from_slice(&gw6.octets());
    let p = route_payload(
        V4,
        RTN_UNICAST,
        &[attr(RTA_OIF, &4u32.to_ne_bytes()), attr(RTA_VIA, &via)],
    );
    assert_eq!(parse_route(&p).unwrap().gateway, Some(IpAddr::V6(gw6)));
    // RTN_LOCAL.
    let local = route_payload(V4, RTN_LOCAL, &[attr(RTA_OIF, &1u32.to_ne_bytes())]);
    assert!(parse_route(&local).unwrap().local);

    // Errors, not panics.
    assert!(parse_route(&on_link[..11]).is_err(), "short rtmsg");
    let bad_gw = route_payload(
        V4,
        RTN_UNICAST,
        &[
            attr(RTA_OIF, &3u32.to_ne_bytes()),
            attr(RTA_GATEWAY, &[1, 2, 3]),
        ],
    );
    assert!(parse_route(&bad_gw).is_err(), "3-byte IPv4 gateway");
    let bad_oif = route_payload(V4, RTN_UNICAST, &[attr(RTA_OIF, &[1, 2])]);
    assert!(parse_route(&bad_oif).is_err(), "2-byte RTA_OIF");
    let no_oif = route_payload(V4, RTN_UNICAST, &[]);
    assert!(parse_route(&no_oif).is_err());
    let unreachable = route_payload(V4, 7, &[attr(RTA_OIF, &3u32.to_ne_bytes())]);
    assert!(parse_route(&unreachable).is_err());
    let family = route_payload(99, RTN_UNICAST, &[attr(RTA_OIF, &3u32.to_ne_bytes())]);
    assert!(parse_route(&family).is_err());
    let short_via = route_payload(
        V4,
        RTN_UNICAST,
        &[attr(RTA_OIF, &4u32.to_ne_bytes()), attr(RTA_VIA, &[10])],
    );
    assert!(parse_route(&short_via).is_err());
}

#[test]
fn neighbour_replies_parse_and_usable_follows_state() {
    let mac = [2, 0, 0, 0, 0, 2];
    let mut p = ndmsg(V4, 5, NUD_REACHABLE, 0).to_vec();
    p.extend(attr(NDA_DST, &[198, 51, 100, 2]));
    p.extend(attr(NDA_LLADDR, &mac));
    let n = parse_neigh(&p).unwrap();
    assert_eq!(n.ifindex, 5);
    assert_eq!(n.dst, Some("198.51.100.2".parse().unwrap()));
    assert_eq!(
        n.neigh,
        Neigh {
            mac,
            state: NUD_REACHABLE
        }
    );
    assert!(n.neigh.usable());

    for (state, usable) in [
        (NUD_INCOMPLETE, false),
        (NUD_FAILED, false),
        (0, false),
        (NUD_REACHABLE, true),
        (NUD_STALE, true),
        (NUD_DELAY, true),
        (NUD_PROBE, true),
        (NUD_PERMANENT, true),
        (NUD_NOARP, true),
    ] {
        assert_eq!(Neigh { mac, state }.usable(), usable, "state {state:#x}");
        assert!(
            !Neigh { mac: [0; 6], state }.usable(),
            "zero mac, state {state:#x}"
        );
    }

    // INCOMPLETE entries come without NDA_LLADDR.
    let mut inc = ndmsg(V4, 5, NUD_INCOMPLETE, 0).to_vec();
    inc.extend(attr(NDA_DST, &[198, 51, 100, 2]));
    assert_eq!(parse_neigh(&inc).unwrap().neigh.mac, [0; 6]);
    let mut odd = ndmsg(V4, 5, NUD_REACHABLE, 0).to_vec();
    odd.extend(attr(NDA_LLADDR, &[1, 2, 3, 4, 5]));
    assert!(parse_neigh(&odd).is_err(), "5-byte lladdr");
    assert!(parse_neigh(&p[..8]).is_err(), "short ndmsg");
}

#[test]
fn link_and_address_replies_parse() {
    let mut p = ifinfomsg(7).to_vec();
    p[8..12].copy_from_slice(&(IFF_UP | 0x40).to_ne_bytes());
    p.extend(attr(IFLA_IFNAME, b"veth0\0"));
    p.extend(attr(IFLA_ADDRESS, &[2, 1, 2, 3, 4, 5]));
    p.extend(attr(IFLA_MTU, &1500u32.to_ne_bytes()));
    let (index, link) = parse_link(&p).unwrap();
    assert_eq!(index, 7);
    assert_eq!(
        link,
        Link {
            name: "veth0".into(),
            mac: [2, 1, 2, 3, 4, 5],
            mtu: 1500,
            loopback: false,
            up: true
        }
    );
    let mut lo = ifinfomsg(1).to_vec();
    lo[8..12].copy_from_slice(&IFF_LOOPBACK.to_ne_bytes());
    lo.extend(attr(IFLA_IFNAME, b"lo\0"));
    let (_, l) = parse_link(&lo).unwrap();
    assert!(l.loopback && !l.up && l.mac == [0; 6]);
    assert!(parse_link(&ifinfomsg(1)).is_err(), "no name");
    let mut bad_mtu = ifinfomsg(1).to_vec();
    bad_mtu.extend(attr(IFLA_IFNAME, b"x\0"));
    bad_mtu.extend(attr(IFLA_MTU, &[1]));
    assert!(parse_link(&bad_mtu).is_err());

    // IPv4: IFA_LOCAL wins over IFA_ADDRESS (the peer on point-to-point).
    let mut a = ifaddrmsg(V4).to_vec();
    a[4..8].copy_from_slice(&9u32.to_ne_bytes());
    a.extend(attr(IFA_ADDRESS, &[10, 0, 0, 2]));
    a.extend(attr(IFA_LOCAL, &[10, 0, 0, 1]));
    assert_eq!(
        parse_addr(&a).unwrap(),
        (9, Some("10.0.0.1".parse().unwrap()))
    );
    let mut a6 = ifaddrmsg(V6).to_vec();
    a6[4..8].copy_from_slice(&3u32.to_ne_bytes());
    a6.extend(attr(
        IFA_ADDRESS,
        &"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets(),
    ));
    assert_eq!(
        parse_addr(&a6).unwrap(),
        (3, Some("2001:db8::1".parse().unwrap()))
    );
    let mut wrong = ifaddrmsg(V6).to_vec();
    wrong.extend(attr(IFA_ADDRESS, &[1, 2, 3, 4]));
    assert!(
        parse_addr(&wrong).is_err(),
        "IPv4-sized address in an IPv6 message"
    );
}

#[test]
fn replies_skip_stale_sequence_numbers_and_end_correctly() {
    // A stale reply (seq 4) ahead of ours (seq 5): only ours is seen.
    let mut d = msg(RTM_NEWROUTE, 0, 4, &[1; 12]);
    d.extend(msg(RTM_NEWROUTE, 0, 5, &[2; 12]));
    let (r, got) = run(&d, 5);
    assert_eq!(r.unwrap(), Step::Done);
    assert_eq!(got, vec![(RTM_NEWROUTE, vec![2; 12])]);
    // Only stale messages: the reply is still to come.
    let (r, got) = run(&msg(RTM_NEWROUTE, 0, 4, &[]), 5);
    assert_eq!((r.unwrap(), got.len()), (Step::More, 0));
    // A dump: NLM_F_MULTI parts, then NLMSG_DONE.
    let (r, got) = run(&msg(RTM_NEWADDR, NLM_F_MULTI, 5, &[0; 8]), 5);
    assert_eq!((r.unwrap(), got.len()), (Step::More, 1));
    let mut d = msg(RTM_NEWADDR, NLM_F_MULTI, 5, &[0; 8]);
    d.extend(msg(NLMSG_DONE, NLM_F_MULTI, 5, &0i32.to_ne_bytes()));
    assert_eq!(run(&d, 5).0.unwrap(), Step::Done);
    // A dump that failed: NLMSG_DONE carries the error.
    let e = run(
        &msg(NLMSG_DONE, NLM_F_MULTI, 5, &(-libc::EINTR).to_ne_bytes()),
        5,
    )
    .0;
    assert_eq!(e.unwrap_err().raw_os_error(), Some(libc::EINTR));
    // NLMSG_ERROR: 0 is an ack, a negative errno an error.
    let mut ack = 0i32.to_ne_bytes().to_vec();
    ack.extend(&[0u8; 16]); // the echoed request header
    assert_eq!(run(&msg(NLMSG_ERROR, 0, 5, &ack), 5).0.unwrap(), Step::Done);
    let mut err = (-libc::ENETUNREACH).to_ne_bytes().to_vec();
    err.extend(&[0u8; 16]);
    let e = run(&msg(NLMSG_ERROR, 0, 5, &err), 5).0.unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENETUNREACH));
    // A stale error is not ours.
    assert_eq!(run(&msg(NLMSG_ERROR, 0, 4, &err), 5).0.unwrap(), Step::More);
    // Truncated NLMSG_ERROR and a broken datagram are errors.
    assert!(run(&msg(NLMSG_ERROR, 0, 5, &[1, 2]), 5).0.is_err());
    let mut broken = msg(RTM_NEWROUTE, 0, 5, &[0; 12]);
    broken.truncate(20);
    assert!(run(&broken, 5).0.is_err());
    assert!(errno_error(i32::MIN).raw_os_error().is_some());
}

/// Runs every parser over every message of `buf`, as the live code would.
fn parse_everything(buf: &[u8], seq: u32) {
    let _ = process(buf, seq, &mut |m| {
        let _ = parse_route(m.payload);
        let _ = parse_neigh(m.payload);
        let _ = parse_link(m.payload);
        let _ = parse_addr(m.payload);
        let _ = parse_error(m.payload);
        let _ = attrs(m.payload, 0).map(|it| it.count());
        Ok(())
    });
}

proptest! {
    #[test]
    fn random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..512), seq in 0u32..4) {
        parse_everything(&buf, seq);
    }

    #[test]
    fn well_framed_random_messages_never_panic(
        parts in proptest::collection::vec(
            (prop_oneof![Just(NLMSG_ERROR), Just(NLMSG_DONE), Just(RTM_NEWROUTE),
                         Just(RTM_NEWNEIGH), Just(RTM_NEWLINK), Just(RTM_NEWADDR), any::<u16>()],
             any::<u16>(),
             proptest::collection::vec(any::<u8>(), 0..24),
             proptest::collection::vec((0u16..20, proptest::collection::vec(any::<u8>(), 0..20)), 0..6)),
            0..5)
    ) {
        let mut d = Vec::new();
        for (ty, flags, fixed, attrs_in) in &parts {
            let mut p = fixed.clone();
            for (t, data) in attrs_in {
                p.extend(attr(*t, data));
            }
            d.extend(msg(*ty, *flags, 1, &p));
        }
        parse_everything(&d, 1);
    }
}

// ---- live tests in a pair of network namespaces ----

use std::process::Command;

/// Runs `ip` with `args`: stdout, or a message with stderr.
fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Two namespaces `rxs-<pid>-<tag>-a` / `-b` joined by a veth pair
/// (`nlv0` in a: 198.51.100.1/24, 2001:db8::1/64; `nlv1` in b: .2, ::2;
/// 4 rx/tx queues each); both are deleted on drop.
struct NsPair {
    /// Namespace of `nlv0`.
    a: String,
    /// Namespace of `nlv1`.
    b: String,
}

impl NsPair {
    /// Builds the pair; `None` (after a note) only when it cannot be
    /// built and `RAMPART_XDP_ALLOW_SKIP=1`, else a failing panic.
    fn new(tag: &str) -> Option<NsPair> {
        let base = format!("rxs-{}-{tag}", std::process::id());
        let pair = NsPair {
            a: format!("{base}-a"),
            b: format!("{base}-b"),
        };
        match pair.build() {
            Ok(()) => Some(pair),
            Err(e) if std::env::var("RAMPART_XDP_ALLOW_SKIP").as_deref() == Ok("1") => {
                eprintln!("SKIPPED (RAMPART_XDP_ALLOW_SKIP=1): {e}");
                None
            }
            Err(e) => panic!(
                "cannot build the test namespaces: {e}\n\
                 these tests need root and iproute2 (`ip`); \
                 set RAMPART_XDP_ALLOW_SKIP=1 to skip them"
            ),
        }
    }

    /// The `ip` commands that make the topology.
    fn build(&self) -> Result<(), String> {
        let (a, b) = (self.a.as_str(), self.b.as_str());
        for ns in [a, b] {
            ip(&["netns", "add", ns])?;
            // No DAD: IPv6 neighbour solicitations come from the
            // link-local address, and none go out while it is tentative.
            in_ns(ns, || {
                for conf in ["all", "default"] {
                    let knob = format!("/proc/sys/net/ipv6/conf/{conf}/accept_dad");
                    std::fs::write(&knob, "0").map_err(|e| format!("{knob}: {e}"))?;
                }
                Ok::<(), String>(())
            })?;
        }
        #[rustfmt::skip]
        ip(&["-n", a, "link", "add", "nlv0", "numtxqueues", "4", "numrxqueues", "4",
             "type", "veth", "peer", "name", "nlv1", "netns", b,
             "numtxqueues", "4", "numrxqueues", "4"])?;
        for (ns, dev, v4, v6) in [
            (a, "nlv0", "198.51.100.1/24", "2001:db8::1/64"),
            (b, "nlv1", "198.51.100.2/24", "2001:db8::2/64"),
        ] {
            ip(&["-n", ns, "addr", "add", v4, "dev", dev])?;
            ip(&["-n", ns, "addr", "add", v6, "dev", dev, "nodad"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        // The carrier comes up asynchronously (linkwatch, up to ~1 s);
        // until then IPv6 neighbour discovery sends nothing useful.
        let deadline = Instant::now() + Duration::from_secs(5);
        for (ns, dev) in [(a, "nlv0"), (b, "nlv1")] {
            loop {
                let out = ip(&["-n", ns, "-br", "link", "show", "dev", dev])?;
                if out.split_whitespace().nth(1) == Some("UP") {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!("{dev} in {ns} not UP within 5 s: {out}"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }
}

impl Drop for NsPair {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}

/// Runs `f` on a fresh thread that has entered namespace `ns`, so the
/// test harness's thread keeps its own namespace.
fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(format!("/var/run/netns/{ns}"))
                .unwrap_or_else(|e| panic!("open netns {ns}: {e}"));
            // SAFETY: setns takes an fd we hold open and a flag; it
            // changes only this (spawned, short-lived) thread.
            let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns {ns}: {}", io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// The MAC of `dev` in `ns` as `ip -br link` prints it.
fn mac_of(ns: &str, dev: &str) -> [u8; 6] {
    let out = ip(&["-n", ns, "-br", "link", "show", "dev", dev]).unwrap();
    let text = out
        .split_whitespace()
        .nth(2)
        .expect("ip -br link: no mac column");
    let mut mac = [0u8; 6];
    let mut n = 0;
    for (m, part) in mac.iter_mut().zip(text.split(':')) {
        *m = u8::from_str_radix(part, 16).expect("mac byte");
        n += 1;
    }
    assert_eq!(n, 6, "mac {text}");
    mac
}

/// Polls `neigh_get` until the entry is usable (at most 2 s).
fn wait_usable(nl: &mut Netlink, ifindex: u32, ip: IpAddr) -> Option<Neigh> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if let Some(n) = nl.neigh_get(ifindex, ip).unwrap() {
            if n.usable() {
                return Some(n);
            }
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Parses an address literal.
fn a(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn live_link_and_addr_owner() {
    let Some(ns) = NsPair::new("nlk") else { return };
    let want_mac = mac_of(&ns.a, "nlv0");
    in_ns(&ns.a, || {
        let mut nl = Netlink::open().unwrap();
        let idx = if_index("nlv0").unwrap();
        let link = nl.link_get(idx).unwrap();
        assert_eq!(link.name, "nlv0");
        assert_eq!(link.mac, want_mac);
        assert_ne!(link.mac, [0; 6]);
        assert_eq!(link.mtu, 1500);
        assert!(link.up && !link.loopback, "{link:?}");
        let lo = nl.link_get(if_index("lo").unwrap()).unwrap();
        assert!(lo.loopback && lo.up && lo.name == "lo", "{lo:?}");

        assert_eq!(nl.addr_owner(a("198.51.100.1")).unwrap(), Some(idx));
        assert_eq!(nl.addr_owner(a("2001:db8::1")).unwrap(), Some(idx));
        assert_eq!(nl.addr_owner(a("127.0.0.1")).unwrap(), Some(lo_index()));
        assert_eq!(nl.addr_owner(a("203.0.113.9")).unwrap(), None);
        assert_eq!(
            nl.addr_owner(a("198.51.100.2")).unwrap(),
            None,
            "the peer's"
        );
        assert_eq!(nl.addr_owner(a("2001:db8::9")).unwrap(), None);
    });
}

/// Index of `lo` in the calling thread's namespace.
fn lo_index() -> u32 {
    if_index("lo").unwrap()
}

#[test]
fn live_route_get_v4_v6() {
    let Some(ns) = NsPair::new("nrt") else { return };
    ip(&[
        "-n",
        &ns.a,
        "route",
        "add",
        "203.0.113.0/24",
        "via",
        "198.51.100.2",
    ])
    .unwrap();
    ip(&[
        "-n",
        &ns.a,
        "-6",
        "route",
        "add",
        "2001:db8:5::/64",
        "via",
        "2001:db8::2",
    ])
    .unwrap();
    in_ns(&ns.a, || {
        let mut nl = Netlink::open().unwrap();
        let idx = if_index("nlv0").unwrap();
        let r = nl.route_get(a("198.51.100.2")).unwrap();
        assert_eq!(
            r,
            Route {
                oif: idx,
                gateway: None,
                prefsrc: Some(a("198.51.100.1")),
                local: false
            }
        );
        let r = nl.route_get(a("198.51.100.1")).unwrap();
        assert!(r.local, "own address: {r:?}");
        assert_eq!(r.oif, lo_index());
        let r = nl.route_get(a("203.0.113.9")).unwrap();
        assert_eq!(
            (r.oif, r.gateway, r.local),
            (idx, Some(a("198.51.100.2")), false)
        );

        let r = nl.route_get(a("2001:db8::2")).unwrap();
        assert_eq!((r.oif, r.gateway, r.local), (idx, None, false), "{r:?}");
        let r = nl.route_get(a("2001:db8::1")).unwrap();
        assert!(r.local, "own address: {r:?}");
        let r = nl.route_get(a("2001:db8:5::9")).unwrap();
        assert_eq!(
            (r.oif, r.gateway, r.local),
            (idx, Some(a("2001:db8::2")), false)
        );
    });
}

#[test]
fn live_neigh_permanent_entry() {
    let Some(ns) = NsPair::new("nnp") else { return };
    let peer = a("198.51.100.2");
    let idx = in_ns(&ns.a, || {
        let mut nl = Netlink::open().unwrap();
        let idx = if_index("nlv0").unwrap();
        let before = nl.neigh_get(idx, peer).unwrap();
        assert!(!matches!(before, Some(n) if n.usable()), "{before:?}");
        idx
    });
    #[rustfmt::skip]
    ip(&["-n", &ns.a, "neigh", "replace", "198.51.100.2", "lladdr", "02:00:00:00:00:02",
         "dev", "nlv0", "nud", "permanent"]).unwrap();
    in_ns(&ns.a, || {
        let mut nl = Netlink::open().unwrap();
        let n = nl
            .neigh_get(idx, peer)
            .unwrap()
            .expect("entry after ip neigh replace");
        assert_eq!(
            n,
            Neigh {
                mac: [2, 0, 0, 0, 0, 2],
                state: NUD_PERMANENT
            }
        );
        assert!(n.usable());
        // Resolving a permanent entry leaves it alone.
        nl.neigh_resolve(idx, peer).unwrap();
        assert_eq!(nl.neigh_get(idx, peer).unwrap(), Some(n));
    });
}

#[test]
fn live_neigh_resolve_v4_v6() {
    let Some(ns) = NsPair::new("nnr") else { return };
    let peer_mac = mac_of(&ns.b, "nlv1");
    in_ns(&ns.a, || {
        let mut nl = Netlink::open().unwrap();
        let idx = if_index("nlv0").unwrap();
        for peer in [a("198.51.100.2"), a("2001:db8::2")] {
            let before = nl.neigh_get(idx, peer).unwrap();
            assert!(
                !matches!(before, Some(n) if n.usable()),
                "{peer}: {before:?}"
            );
            nl.neigh_resolve(idx, peer).unwrap();
            let n = wait_usable(&mut nl, idx, peer).unwrap_or_else(|| {
                let now = nl.neigh_get(idx, peer);
                panic!("{peer} not resolved within 2 s (entry now {now:?})")
            });
            assert_eq!(n.mac, peer_mac, "{peer}: {n:?}");
        }
    });
}

#[test]
fn live_channels_get_set() {
    let Some(ns) = NsPair::new("nch") else { return };
    in_ns(&ns.a, || {
        let ch = get_channels("nlv0").unwrap();
        assert!(ch.rx >= 1 && ch.tx >= 1, "{ch:?}");
        assert_eq!((ch.max_rx, ch.max_tx), (4, 4), "{ch:?}");
        set_channels("nlv0", 2, 2).unwrap();
        let ch = get_channels("nlv0").unwrap();
        assert_eq!((ch.rx, ch.tx), (2, 2), "{ch:?}");
        assert!(set_channels("nlv0", 64, 64).is_err(), "above the maximum");
    });
    in_ns(&ns.b, || {
        set_channels("nlv1", 2, 2).unwrap();
        let ch = get_channels("nlv1").unwrap();
        assert_eq!((ch.rx, ch.tx), (2, 2), "{ch:?}");
    });
}

#[test]
fn live_errors_are_errors() {
    let Some(ns) = NsPair::new("ner") else { return };
    in_ns(&ns.a, || {
        let mut nl = Netlink::open().unwrap();
        let e = nl.route_get(a("203.0.113.9")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENETUNREACH), "{e}");
        assert!(nl.link_get(9999).is_err());
        assert!(nl.neigh_get(9999, a("198.51.100.2")).is_err());
        assert!(nl.neigh_resolve(9999, a("198.51.100.2")).is_err());
        assert!(nl.link_get(u32::MAX).is_err());
        assert!(if_index("nope0").is_err());
        assert_eq!(
            if_index("a\0b").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(get_channels("nope0").is_err());
        assert!(get_channels("").is_err());
        assert!(get_channels("a-name-far-too-long").is_err());
        // The socket still works after errors (no stale reply confuses it).
        let idx = if_index("nlv0").unwrap();
        assert_eq!(nl.route_get(a("198.51.100.2")).unwrap().oif, idx);
    });
}
