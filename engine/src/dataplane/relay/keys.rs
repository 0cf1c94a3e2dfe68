//! Key changes on a leg's contexts: checked whole before any is applied
//! (a batch of leg updates is all or nothing), then applied in order.

use crate::srtp::Context;
use crate::Error;

use super::KeyChange;

/// Checks, without changing anything, that `changes` can be applied in
/// order to `ctx`: what [`apply_key_change`] would refuse is refused here
/// first, so a batch of updates is applied whole or not at all.
pub(super) fn check_key_changes<'a>(
    ctx: Option<&Context>,
    changes: impl Iterator<Item = &'a KeyChange>,
) -> Result<(), Error> {
    const NO_CONTEXT: Error =
        Error::InvalidConfig("the leg has no SRTP context for this direction");
    // (suite, MKI length, MKIs added by earlier steps, context present)
    let mut suite = ctx.map(|c| c.suite());
    let mut mki_len = ctx.map_or(0, |c| c.mki_len());
    let mut added: Vec<&[u8]> = Vec::new();
    let mut fresh = false;
    let fits = |suite: Option<crate::srtp::Suite>, k: &crate::srtp::MasterKey| {
        suite.is_some_and(|s| {
            k.key_len() == s.master_key_len() && k.salt_len() == s.master_salt_len()
        })
    };
    for ch in changes {
        match ch {
            KeyChange::AddKey(k) => {
                let known =
                    |m: &[u8]| added.contains(&m) || (!fresh && ctx.is_some_and(|c| c.has_mki(m)));
                if suite.is_none() {
                    return Err(NO_CONTEXT);
                }
                if !fits(suite, k)
                    || k.mki().is_empty()
                    || k.mki().len() != mki_len
                    || known(k.mki())
                {
                    return Err(Error::InvalidConfig(
                        "the added key does not fit the context",
                    ));
                }
                added.push(k.mki());
            }
            KeyChange::SetActiveMki(m) => {
                let known =
                    added.contains(&m.as_slice()) || (!fresh && ctx.is_some_and(|c| c.has_mki(m)));
                if suite.is_none() {
                    return Err(NO_CONTEXT);
                }
                if !known {
                    return Err(Error::UnknownMki);
                }
            }
            KeyChange::Replace(k) => {
                if suite.is_none() {
                    return Err(NO_CONTEXT);
                }
                if !fits(suite, k) {
                    return Err(Error::InvalidConfig("master key does not match the suite"));
                }
                mki_len = k.mki().len();
                added = vec![k.mki()];
                fresh = true;
            }
            KeyChange::Context(c) => {
                suite = c.as_ref().map(|c| c.suite());
                mki_len = c.as_ref().map_or(0, |c| c.mki_len());
                added.clear();
                fresh = true;
            }
        }
    }
    Ok(())
}

pub(super) fn apply_key_change(ctx: &mut Option<Context>, change: KeyChange) -> Result<(), Error> {
    const NO_CONTEXT: Error =
        Error::InvalidConfig("the leg has no SRTP context for this direction");
    match change {
        KeyChange::AddKey(k) => ctx.as_mut().ok_or(NO_CONTEXT)?.add_key(k),
        KeyChange::SetActiveMki(mki) => ctx.as_mut().ok_or(NO_CONTEXT)?.set_active_mki(&mki),
        KeyChange::Replace(k) => ctx.as_mut().ok_or(NO_CONTEXT)?.replace_key(k),
        KeyChange::Context(c) => {
            *ctx = c;
            Ok(())
        }
    }
}
