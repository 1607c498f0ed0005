//! Checking signatures as ostree's `ostree_sign_ed25519_data_verify` does: the signatures in file order,
//! each against every trusted key; the first that verifies wins; a signature that is not 64 bytes long
//! stops the check with an error.

use super::detached::Detached;
use super::keys::PublicKey;
use super::{key_list, SignError, Signed, SIGNATURE_LEN};

/// Verifies `data` against the signatures in `detached` (an `a{sv}`, `None` when the file is absent) with
/// `keys`. Returns the key that verified.
pub fn verify(
    what: &Signed,
    source_name: &str,
    data: &[u8],
    detached: Option<&[u8]>,
    keys: &[PublicKey],
) -> Result<PublicKey, SignError> {
    let place = match what {
        Signed::Commit(_) => ".commitmeta",
        Signed::Summary(_) => "summary.sig",
    };
    let none = || SignError::NoSignatures {
        what: what.clone(),
        source_name: source_name.to_string(),
        place,
        keys: key_list(keys),
    };
    let Some(detached) = detached else {
        return Err(none());
    };
    let sigs = Detached::parse(detached)
        .and_then(|d| d.signatures())
        .map_err(|reason| SignError::BadMetadata {
            what: what.clone(),
            place: place.to_string(),
            reason,
        })?
        .ok_or_else(none)?;
    if sigs.is_empty() {
        return Err(none());
    }
    for sig in &sigs {
        let sig: &[u8; SIGNATURE_LEN] =
            sig.as_slice()
                .try_into()
                .map_err(|_| SignError::BadSignatureLength {
                    what: what.clone(),
                    source_name: source_name.to_string(),
                    len: sig.len(),
                })?;
        if let Some(k) = keys.iter().find(|k| k.verifies(data, sig)) {
            return Ok(k.clone());
        }
    }
    Err(SignError::Unverified {
        what: what.clone(),
        source_name: source_name.to_string(),
        count: sigs.len(),
        keys: key_list(keys),
    })
}
