//! Table tests of the security policy: every row of the device-model
//! capability table, every leg kind of the restriction list, the cluster
//! modes and their rules, auto-registration, authenticated media, the
//! generation counter and the `[security]` configuration.

use rampart::policy::{
    decide_leg, AuthenticatedMedia, ClusterMode, Device, DeviceConfig, LegKind, LegSubject, Media,
    Policy, PolicyConfig, PolicyError, SecurityMode, SrtpRequestRule, DEFAULT_KIND_LIMITS,
    DEFAULT_MODELS,
};
use rampart::srtp::Suite;

use SecurityMode::*;

fn mixed() -> PolicyConfig {
    PolicyConfig {
        enforce: true,
        cluster_mode: ClusterMode::Mixed,
        ..PolicyConfig::default()
    }
}

fn dev(name: &str, model: &str, mode: SecurityMode) -> Device {
    Device {
        name: name.into(),
        model: model.into(),
        mode,
        kind: LegKind::Phone,
    }
}

/// The guide's Table 1-2, written out independently of the library.
const GUIDE: [(&str, SecurityMode); 7] = [
    ("7970", Encrypted),
    ("7960", Authenticated),
    ("7940", Authenticated),
    ("7912", Nonsecure),
    ("7910", Nonsecure),
    ("7905G", Nonsecure),
    ("7902", Nonsecure),
];

#[test]
fn default_capability_table_is_the_guides() {
    assert_eq!(DEFAULT_MODELS.len(), GUIDE.len());
    for (model, max) in GUIDE {
        let row = DEFAULT_MODELS.iter().find(|r| r.model == model).unwrap();
        assert_eq!(row.max_mode, max, "{model}");
        assert!(row.image_authentication, "{model}");
        assert_eq!(Policy::default().model_max(model), Some(max), "{model}");
    }
}

#[test]
fn every_model_row_times_every_mode() {
    for (model, max) in GUIDE {
        for mode in SecurityMode::ALL {
            let mut p = Policy::from_config(&mixed()).unwrap();
            let r = p.add_device(dev("d1", model, mode));
            if mode <= max {
                r.unwrap_or_else(|e| panic!("{model} {mode}: {e}"));
                // A device configured at `mode` gets exactly what it asks up
                // to `mode`.
                for req in SecurityMode::ALL {
                    let d = decide_leg(&p, LegSubject::Device("d1"), req, true);
                    if req <= mode {
                        let d = d.unwrap_or_else(|e| panic!("{model} {mode} {req}: {e}"));
                        assert_eq!(d.security, req, "{model} {mode} {req}");
                        assert!(d.warning.is_none());
                    } else {
                        let e = d.unwrap_err();
                        if req > max {
                            assert_eq!(
                                e,
                                PolicyError::ModelCannot {
                                    model: model.into(),
                                    requested: req,
                                    max
                                }
                            );
                        } else {
                            assert!(matches!(e, PolicyError::AboveDeviceMode { .. }), "{e}");
                        }
                    }
                }
            } else {
                let e = r.unwrap_err();
                assert_eq!(
                    e,
                    PolicyError::ModelCannot {
                        model: model.into(),
                        requested: mode,
                        max
                    }
                );
                let msg = e.to_string();
                assert!(msg.contains(model), "{msg}");
                assert!(msg.contains(mode.as_str()), "{msg}");
            }
        }
    }
}

#[test]
fn model_lookup_is_case_insensitive_and_unknown_models_are_refused() {
    let mut p = Policy::from_config(&mixed()).unwrap();
    p.add_device(dev("a", "7905g", Nonsecure)).unwrap();
    let e = p.add_device(dev("b", "9999", Nonsecure)).unwrap_err();
    assert_eq!(
        e,
        PolicyError::UnknownModel {
            model: "9999".into()
        }
    );
    assert!(e.to_string().contains("9999"));
}

#[test]
fn capability_table_is_extendable_by_config() {
    let mut c = mixed();
    c.models.insert("7971".into(), Encrypted);
    c.models.insert("7960".into(), Nonsecure); // override a default row
    let mut p = Policy::from_config(&c).unwrap();
    p.add_device(dev("a", "7971", Encrypted)).unwrap();
    let e = p.add_device(dev("b", "7960", Authenticated)).unwrap_err();
    assert!(
        matches!(e, PolicyError::ModelCannot { max: Nonsecure, .. }),
        "{e}"
    );
}

#[test]
fn restriction_list_default_is_the_guides() {
    for kind in LegKind::ALL {
        let expected = if kind == LegKind::Phone {
            Encrypted
        } else {
            Nonsecure
        };
        let row = DEFAULT_KIND_LIMITS
            .iter()
            .find(|(k, _)| *k == kind)
            .unwrap();
        assert_eq!(row.1, expected, "{kind}");
        assert_eq!(Policy::default().kind_max(kind), expected, "{kind}");
    }
}

#[test]
fn every_leg_kind_times_every_mode() {
    let p = Policy::from_config(&mixed()).unwrap();
    for kind in LegKind::ALL {
        let max = p.kind_max(kind);
        for req in SecurityMode::ALL {
            let r = decide_leg(&p, LegSubject::Kind(kind), req, true);
            if req <= max {
                assert_eq!(r.unwrap().security, req, "{kind} {req}");
            } else {
                let e = r.unwrap_err();
                assert_eq!(
                    e,
                    PolicyError::KindCannot {
                        kind,
                        requested: req,
                        max
                    }
                );
                let msg = e.to_string();
                assert!(
                    msg.contains(kind.as_str()) && msg.contains(req.as_str()),
                    "{msg}"
                );
            }
        }
    }
}

#[test]
fn restriction_list_is_configuration() {
    let mut c = mixed();
    c.leg_kinds.insert(LegKind::Trunk, Encrypted);
    c.leg_kinds.insert(LegKind::ConferenceBridge, Authenticated);
    c.leg_kinds.insert(LegKind::Phone, Authenticated);
    let p = Policy::from_config(&c).unwrap();
    let d = decide_leg(&p, LegSubject::Kind(LegKind::Trunk), Encrypted, false).unwrap();
    assert!(matches!(d.media, Media::Srtp(_)));
    let d = decide_leg(
        &p,
        LegSubject::Kind(LegKind::ConferenceBridge),
        Authenticated,
        true,
    )
    .unwrap();
    assert_eq!(d.media, Media::NullCipher);
    // A phone kind limited to authenticated: a 7970 cannot be configured
    // encrypted any more, and the error names the kind.
    let mut p = p;
    let e = p.add_device(dev("x", "7970", Encrypted)).unwrap_err();
    assert!(
        matches!(
            e,
            PolicyError::KindCannot {
                kind: LegKind::Phone,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn device_kind_limits_apply_to_devices() {
    let mut p = Policy::from_config(&mixed()).unwrap();
    let mut d = dev("gw1", "7970", Encrypted);
    d.kind = LegKind::Gateway;
    let e = p.add_device(d.clone()).unwrap_err();
    assert!(
        matches!(
            e,
            PolicyError::KindCannot {
                kind: LegKind::Gateway,
                ..
            }
        ),
        "{e}"
    );
    d.mode = Nonsecure;
    p.add_device(d).unwrap();
}

#[test]
fn nonsecure_cluster_refuses_secure_legs_by_default() {
    let p = Policy::from_config(&PolicyConfig {
        enforce: true,
        ..PolicyConfig::default()
    })
    .unwrap();
    assert_eq!(p.cluster_mode(), ClusterMode::Nonsecure);
    for req in [Authenticated, Encrypted] {
        for subject in [
            LegSubject::Device("anyone"),
            LegSubject::Kind(LegKind::Phone),
        ] {
            let e = decide_leg(&p, subject, req, true).unwrap_err();
            assert_eq!(
                e,
                PolicyError::SecureLegInNonsecureCluster { requested: req }
            );
            assert!(e.to_string().contains("nonsecure"), "{e}");
        }
    }
    // Nonsecure legs: plain RTP, no warning, even for unknown devices.
    let d = decide_leg(&p, LegSubject::Device("unknown"), Nonsecure, true).unwrap();
    assert_eq!(d.media, Media::Rtp);
    assert_eq!(d.security, Nonsecure);
    assert!(d.warning.is_none());
}

#[test]
fn nonsecure_cluster_downgrades_with_a_warning_when_configured() {
    let c = PolicyConfig {
        enforce: true,
        srtp_request: SrtpRequestRule::Downgrade,
        ..PolicyConfig::default()
    };
    let p = Policy::from_config(&c).unwrap();
    for req in [Authenticated, Encrypted] {
        let d = decide_leg(&p, LegSubject::Kind(LegKind::Phone), req, true).unwrap();
        assert_eq!(d.media, Media::Rtp, "{req}");
        assert!(!d.media.needs_keys());
        assert_eq!(d.security, Nonsecure);
        let w = d.warning.expect("a downgrade is never silent");
        assert!(w.contains("downgraded") && w.contains(req.as_str()), "{w}");
    }
}

#[test]
fn nonsecure_cluster_issues_no_keys_even_for_configured_encrypted_devices() {
    let mut c = PolicyConfig {
        enforce: true,
        srtp_request: SrtpRequestRule::Downgrade,
        ..PolicyConfig::default()
    };
    c.devices.push(DeviceConfig {
        name: "sep1".into(),
        model: "7970".into(),
        mode: Encrypted,
        kind: LegKind::Phone,
    });
    let p = Policy::from_config(&c).unwrap();
    let d = decide_leg(&p, LegSubject::Device("sep1"), Encrypted, true).unwrap();
    assert_eq!(d.media, Media::Rtp);
    assert!(d.warning.is_some());
}

#[test]
fn encrypted_legs_get_the_configured_suites() {
    let mut p = Policy::from_config(&mixed()).unwrap();
    p.add_device(dev("sep1", "7970", Encrypted)).unwrap();
    let d = decide_leg(&p, LegSubject::Device("sep1"), Encrypted, false).unwrap();
    assert_eq!(d.security, Encrypted);
    match &d.media {
        Media::Srtp(s) => {
            assert_eq!(s[0], Suite::AesCm128HmacSha1_80);
            assert!(s.iter().all(|s| s.encrypts()));
        }
        m => panic!("{m:?}"),
    }
    assert!(d.media.allows(Suite::AeadAes128Gcm));
    assert!(!d.media.allows(Suite::NullHmacSha1_80));

    let mut c = mixed();
    c.srtp_suites = vec!["AEAD_AES_256_GCM".into()];
    let p = Policy::from_config(&c).unwrap();
    let d = decide_leg(&p, LegSubject::Kind(LegKind::Phone), Encrypted, false).unwrap();
    assert_eq!(d.media, Media::Srtp(vec![Suite::AeadAes256Gcm]));
}

#[test]
fn srtp_suites_must_encrypt() {
    let mut c = mixed();
    c.srtp_suites = vec!["NULL_HMAC_SHA1_80".into()];
    assert!(matches!(
        Policy::from_config(&c),
        Err(PolicyError::BadSuite(_))
    ));
    c.srtp_suites = vec!["ROT13".into()];
    assert!(matches!(
        Policy::from_config(&c),
        Err(PolicyError::BadSuite(_))
    ));
    c.srtp_suites = vec![];
    assert!(matches!(
        Policy::from_config(&c),
        Err(PolicyError::NoSuites)
    ));
}

#[test]
fn authenticated_media_table() {
    // (policy, peer supports NULL) -> (media, security, warning?)
    let rows = [
        (
            AuthenticatedMedia::NullCipher,
            true,
            Media::NullCipher,
            Authenticated,
            false,
        ),
        (
            AuthenticatedMedia::NullCipher,
            false,
            Media::Rtp,
            Nonsecure,
            true,
        ),
        (
            AuthenticatedMedia::Rtp,
            true,
            Media::Rtp,
            Authenticated,
            false,
        ),
        (
            AuthenticatedMedia::Rtp,
            false,
            Media::Rtp,
            Authenticated,
            false,
        ),
    ];
    for (policy, peer, media, security, warn) in rows {
        let mut c = mixed();
        c.authenticated_media = policy;
        let mut p = Policy::from_config(&c).unwrap();
        p.add_device(dev("sep7960", "7960", Authenticated)).unwrap();
        let d = decide_leg(&p, LegSubject::Device("sep7960"), Authenticated, peer).unwrap();
        assert_eq!(d.media, media, "{policy:?} {peer}");
        assert_eq!(d.security, security, "{policy:?} {peer}");
        assert_eq!(d.warning.is_some(), warn, "{policy:?} {peer}");
        if d.media == Media::NullCipher {
            assert!(d.media.allows(Suite::NullHmacSha1_80));
            assert!(!d.media.allows(Suite::AesCm128HmacSha1_80));
        }
    }
}

#[test]
fn unknown_devices_in_mixed_mode() {
    let p = Policy::from_config(&mixed()).unwrap();
    let e = decide_leg(&p, LegSubject::Device("SEPNEW"), Nonsecure, true).unwrap_err();
    assert_eq!(
        e,
        PolicyError::UnknownDevice {
            name: "SEPNEW".into()
        }
    );
    assert!(e.to_string().contains("allow_unknown_devices"), "{e}");

    let mut c = mixed();
    c.allow_unknown_devices = true;
    let p = Policy::from_config(&c).unwrap();
    let d = decide_leg(&p, LegSubject::Device("SEPNEW"), Nonsecure, true).unwrap();
    assert_eq!((d.media, d.security), (Media::Rtp, Nonsecure));
    let e = decide_leg(&p, LegSubject::Device("SEPNEW"), Encrypted, true).unwrap_err();
    assert!(matches!(e, PolicyError::AboveDeviceMode { .. }), "{e}");
}

#[test]
fn device_registry_management() {
    let mut p = Policy::from_config(&mixed()).unwrap();
    p.add_device(dev("a", "7970", Encrypted)).unwrap();
    assert_eq!(
        p.add_device(dev("a", "7970", Nonsecure)).unwrap_err(),
        PolicyError::DeviceExists("a".into())
    );
    assert!(matches!(
        p.add_device(dev("", "7970", Nonsecure)),
        Err(PolicyError::InvalidDeviceName(_))
    ));
    assert_eq!(p.device("a").unwrap().mode, Encrypted);
    assert_eq!(p.devices().count(), 1);
    assert_eq!(
        p.set_device_mode("zz", Nonsecure).unwrap_err(),
        PolicyError::NoSuchDevice("zz".into())
    );
    p.remove_device("a").unwrap();
    assert!(p.device("a").is_none());
    assert!(p.remove_device("a").is_err());
}

#[test]
fn generation_bumps_on_mode_changes_only() {
    let mut p = Policy::from_config(&mixed()).unwrap();
    assert_eq!(p.generation(), 1);
    p.add_device(dev("a", "7970", Authenticated)).unwrap();
    assert_eq!(p.generation(), 1, "adding a device changes no running call");
    assert_eq!(p.set_cluster_mode(ClusterMode::Mixed), 1, "no change");
    assert_eq!(
        p.set_device_mode("a", Authenticated).unwrap(),
        1,
        "no change"
    );
    assert_eq!(p.set_device_mode("a", Encrypted).unwrap(), 2);
    // A refused change does not bump.
    p.add_device(dev("b", "7960", Authenticated)).unwrap();
    assert!(p.set_device_mode("b", Encrypted).is_err());
    assert_eq!(p.generation(), 2);
    assert_eq!(p.set_cluster_mode(ClusterMode::Nonsecure), 3);
    p.remove_device("b").unwrap();
    assert_eq!(p.generation(), 4);

    let calls = [("c1", 1), ("c2", 3), ("c3", 4)];
    assert_eq!(
        p.stale_calls(calls.iter().map(|&(i, g)| (i, g))),
        vec!["c1", "c2"]
    );
}

#[test]
fn security_section_parses_from_toml() {
    let text = r#"
enforce = true
cluster_mode = "mixed"
srtp_request = "downgrade"
authenticated_media = "rtp"
allow_unknown_devices = true
srtp_suites = ["AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80"]
trust_list = "/etc/rampart/ctl.json"

[models]
"7971" = "encrypted"

[leg_kinds]
trunk = "encrypted"
music-on-hold = "authenticated"

[[devices]]
name = "SEP001122334455"
model = "7970"
mode = "encrypted"

[[devices]]
name = "SEP00AABBCCDDEE"
model = "7960"
mode = "authenticated"

[[devices]]
name = "gw-1"
model = "7971"
kind = "gateway"
"#;
    let c: PolicyConfig = toml::from_str(text).unwrap();
    assert_eq!(c.cluster_mode, ClusterMode::Mixed);
    assert_eq!(c.srtp_request, SrtpRequestRule::Downgrade);
    assert_eq!(c.authenticated_media, AuthenticatedMedia::Rtp);
    assert_eq!(c.leg_kinds[&LegKind::MusicOnHold], Authenticated);
    assert_eq!(c.devices[2].kind, LegKind::Gateway);
    assert_eq!(c.devices[2].mode, Nonsecure);
    let p = Policy::from_config(&c).unwrap();
    assert_eq!(p.devices().count(), 3);
    assert_eq!(p.kind_max(LegKind::Trunk), Encrypted);
    // Round trip.
    let back: PolicyConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
    // Defaults round trip too.
    let d = PolicyConfig::default();
    let back: PolicyConfig = toml::from_str(&toml::to_string(&d).unwrap()).unwrap();
    assert_eq!(back, d);
}

#[test]
fn security_section_rejects_unknown_keys_and_values() {
    assert!(toml::from_str::<PolicyConfig>("cluster_mod = \"mixed\"").is_err());
    assert!(toml::from_str::<PolicyConfig>("cluster_mode = \"secure\"").is_err());
    assert!(toml::from_str::<PolicyConfig>("[leg_kinds]\nfax = \"encrypted\"").is_err());
    assert!(toml::from_str::<PolicyConfig>("srtp_request = \"ignore\"").is_err());
    // A configured device above its model's capability is refused at start.
    let c: PolicyConfig = toml::from_str(
        "enforce = true\ncluster_mode = \"mixed\"\n[[devices]]\nname = \"d\"\nmodel = \"7940\"\nmode = \"encrypted\"\n",
    )
    .unwrap();
    let e = Policy::from_config(&c).unwrap_err();
    assert!(
        e.to_string().contains("7940") && e.to_string().contains("encrypted"),
        "{e}"
    );
}

#[test]
fn unenforced_policy_grants_what_is_asked() {
    // The default: the model is off, Rampart relays like rtpengine does.
    let p = Policy::from_config(&PolicyConfig::default()).unwrap();
    assert!(!p.enforced());
    let d = decide_leg(&p, LegSubject::Device("unregistered"), Encrypted, false).unwrap();
    assert!(
        matches!(&d.media, Media::Srtp(s) if s.len() == 8),
        "{:?}",
        d.media
    );
    assert_eq!(d.security, Encrypted);
    assert!(d.warning.is_none());
    let d = decide_leg(
        &p,
        LegSubject::Kind(LegKind::ConferenceBridge),
        Authenticated,
        false,
    )
    .unwrap();
    assert_eq!(d.media, Media::NullCipher);
    assert_eq!(d.security, Authenticated);
    let d = decide_leg(&p, LegSubject::Device(""), Nonsecure, true).unwrap();
    assert_eq!(d.media, Media::Rtp);
    assert_eq!(d.security, Nonsecure);
}
