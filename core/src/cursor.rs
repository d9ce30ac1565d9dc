//! Pagination cursors for aggregated lists: opaque to clients, tamper-evident, bound to one list and one view.
//!
//! A cursor is base64url (no padding) of `version (1) || payload || HMAC-SHA256(key, version || payload)[..16]`,
//! the payload being `list length (u16 BE) || list || offset || generation || view` (u64 BE each). Signing
//! rather than trusting lets the hub take the offset and generation at face value: a client cannot forge a
//! cursor into another session's view or past a list's end. The key lives only in the hub's memory, so
//! cursors die with the process, as 1MCP's do with its runtime nonce.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// HMAC-SHA256 (RFC 2104) from RustCrypto's `hmac`, over the `sha2` the crate already uses.
type HmacSha256 = Hmac<Sha256>;

/// Longest cursor text accepted; a cursor comes from the client and is decoded before it is verified.
pub const MAX_CURSOR_LEN: usize = 1024;

/// Format version, the first byte; a new layout gets a new number so old cursors read as malformed.
const VERSION: u8 = 1;
/// Bytes of the HMAC kept: 128 bits makes forgery hopeless and keeps cursors short.
const TAG_LEN: usize = 16;
/// Version, list length and the three numbers: the smallest body, with an empty list name.
const MIN_BODY_LEN: usize = 1 + 2 + 3 * 8;

/// The secret that signs cursors; the hub derives it from its seeded RNG.
#[derive(Clone, PartialEq, Eq)]
pub struct CursorKey([u8; 32]);

impl CursorKey {
    /// A key from 32 secret bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        CursorKey(bytes)
    }
}

impl From<[u8; 32]> for CursorKey {
    fn from(bytes: [u8; 32]) -> Self {
        CursorKey(bytes)
    }
}

/// Redacted: a key must not end up in a log through a `{:?}`.
impl fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

/// What a cursor carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorPayload {
    /// The list it pages through, e.g. `tools/list` (a short constant: at most 65535 bytes are kept).
    pub list: String,
    /// Where the next page starts.
    pub offset: u64,
    /// The registry version the offset refers to; the caller compares it and reports `Stale`.
    pub generation: u64,
    /// Fingerprint of the session's view, so a cursor cannot be replayed through another filter.
    pub view: u64,
}

/// Why a cursor was refused; the hub answers `-32602 "Invalid capability pagination cursor"` with
/// [`CursorError::reason`] as `data.reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// Not a cursor this daemon could have issued: empty, too long, not base64url, too short, unknown layout.
    #[error("malformed cursor")]
    Malformed,
    /// Well-formed, but its signature does not match: altered, truncated, or issued by another process.
    #[error("cursor failed its integrity check")]
    Tampered,
    /// Issued for another list (a `tools/list` cursor sent to `prompts/list`).
    #[error("cursor belongs to another list")]
    WrongList,
    /// Issued to a session with another view (filter) of the catalogue.
    #[error("cursor was issued for another view of the catalogue")]
    WrongView,
    /// The list changed since the cursor was issued; the caller detects this from `generation`.
    #[error("stale cursor: the list changed since it was issued")]
    Stale,
}

impl CursorError {
    /// The `data.reason` string, 1MCP's where it has one (`capabilityPagination.ts`).
    pub fn reason(&self) -> &'static str {
        match self {
            CursorError::Malformed => "malformed",
            // 1MCP does not sign its cursors, so it has no word for this one.
            CursorError::Tampered => "tampered",
            CursorError::WrongList => "capability_kind_mismatch",
            CursorError::WrongView => "filter_mismatch",
            CursorError::Stale => "stale_generation",
        }
    }
}

/// Sign and encode a cursor; deterministic for a given key and payload.
pub fn encode(key: &CursorKey, payload: &CursorPayload) -> String {
    let list = payload.list.as_bytes();
    let list_len = u16::try_from(list.len()).unwrap_or(u16::MAX);
    let list = list.get(..usize::from(list_len)).unwrap_or(list);
    let mut bytes = Vec::with_capacity(MIN_BODY_LEN + list.len() + TAG_LEN);
    bytes.push(VERSION);
    bytes.extend_from_slice(&list_len.to_be_bytes());
    bytes.extend_from_slice(list);
    for number in [payload.offset, payload.generation, payload.view] {
        bytes.extend_from_slice(&number.to_be_bytes());
    }
    let tag = tag(key, &bytes);
    bytes.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Verify and decode a cursor for `expected_list` in a session whose view fingerprint is `expected_view`.
/// The generation is left to the caller, who knows the current one and reports [`CursorError::Stale`].
pub fn decode(
    key: &CursorKey,
    text: &str,
    expected_list: &str,
    expected_view: u64,
) -> Result<CursorPayload, CursorError> {
    // We never issue an empty cursor, so "" cannot be one of ours.
    if text.is_empty() || text.len() > MAX_CURSOR_LEN {
        return Err(CursorError::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| CursorError::Malformed)?;
    if bytes.len() < MIN_BODY_LEN + TAG_LEN {
        return Err(CursorError::Malformed);
    }
    let (body, tag) = bytes.split_at(bytes.len() - TAG_LEN);
    // Verify before reading anything else, so no unauthenticated byte steers the decoder. The tag is
    // the left TAG_LEN bytes of the MAC; `verify_truncated_left` compares them in constant time
    // (RustCrypto's `ctutils`), so a forger learns nothing from response timing. `tag` is always
    // TAG_LEN bytes (split off above), so a shorter truncation cannot be slipped in.
    if !verify(key, body, tag) {
        return Err(CursorError::Tampered);
    }
    let payload = parse_body(body).ok_or(CursorError::Malformed)?;
    if payload.list != expected_list {
        return Err(CursorError::WrongList);
    }
    if payload.view != expected_view {
        return Err(CursorError::WrongView);
    }
    Ok(payload)
}

/// A stable 64-bit fingerprint of some bytes (e.g. a view's canonical text), the same in every process.
pub fn fingerprint(data: &[u8]) -> u64 {
    let digest = Sha256::digest(data);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

fn parse_body(body: &[u8]) -> Option<CursorPayload> {
    let (&version, rest) = body.split_first()?;
    if version != VERSION {
        return None;
    }
    let (len, rest) = rest.split_first_chunk::<2>()?;
    let (list, rest) = rest.split_at_checked(usize::from(u16::from_be_bytes(*len)))?;
    let (offset, rest) = rest.split_first_chunk::<8>()?;
    let (generation, rest) = rest.split_first_chunk::<8>()?;
    let (view, rest) = rest.split_first_chunk::<8>()?;
    if !rest.is_empty() {
        return None;
    }
    Some(CursorPayload {
        list: String::from_utf8(list.to_vec()).ok()?,
        offset: u64::from_be_bytes(*offset),
        generation: u64::from_be_bytes(*generation),
        view: u64::from_be_bytes(*view),
    })
}

/// The truncated HMAC of `body` under `key`, as cursors carry it (other sealed values, such as
/// a bridged call's `requestState`, reuse it under a key of their own).
pub(crate) fn tag(key: &CursorKey, body: &[u8]) -> [u8; TAG_LEN] {
    let full = mac(key).chain_update(body).finalize().into_bytes();
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&full[..TAG_LEN]);
    tag
}

/// Whether `tag` is [`tag`] of `body` under `key` (compared in constant time).
pub(crate) fn verify(key: &CursorKey, body: &[u8], tag: &[u8]) -> bool {
    tag.len() == TAG_LEN && mac(key).chain_update(body).verify_truncated_left(tag).is_ok()
}

/// A key of its own for another use of signing (`label` names the use), derived from `key`
/// rather than drawn: the hub's random draws, and so a recording's replay, stay as they were.
pub(crate) fn derive_key(key: &CursorKey, label: &[u8]) -> CursorKey {
    CursorKey(mac(key).chain_update(label).finalize().into_bytes().into())
}

/// A MAC keyed with the cursor key, ready for the bytes it signs.
fn mac(key: &CursorKey) -> HmacSha256 {
    // HMAC takes a key of any length (RFC 2104 pads or hashes it), so this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(&key.0).expect("HMAC accepts keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> CursorKey {
        CursorKey::new([7; 32])
    }

    fn payload() -> CursorPayload {
        CursorPayload { list: "tools/list".into(), offset: 40, generation: 3, view: 0xfeed_beef }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn raw(cursor: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(cursor).unwrap()
    }

    fn reencode(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// HMAC-SHA256 of `message` under a key of any length, through the same crate `encode` uses.
    fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
        let mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("any key length");
        mac.chain_update(message).finalize().into_bytes().into()
    }

    /// A correctly signed cursor around any body, to reach the checks behind the signature.
    fn signed(body: &[u8]) -> String {
        let mut bytes = body.to_vec();
        bytes.extend_from_slice(&hmac_sha256(&key().0, body)[..TAG_LEN]);
        reencode(&bytes)
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 1.
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2: a key shorter than the output.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 3: data longer than the key.
        assert_eq!(
            hex(&hmac_sha256(&[0xaa; 20], &[0xdd; 50])),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"
        );
        // Test case 5: truncation to 128 bits, as cursors use.
        assert_eq!(
            hex(&hmac_sha256(&[0x0c; 20], b"Test With Truncation")[..TAG_LEN]),
            "a3b6167473100ee06e0c796c2955552b"
        );
        // Test cases 6 and 7: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        let data = b"This is a test using a larger than block-size key and a larger than block-size data. \
                     The key needs to be hashed before being used by the HMAC algorithm.";
        assert_eq!(
            hex(&hmac_sha256(&[0xaa; 131], data)),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
        );
    }

    #[test]
    fn truncated_verification_matches_rfc_4231() {
        // Test case 5 again, through the check `decode` uses: the left 128 bits verify, in constant time.
        let mac = || <HmacSha256 as KeyInit>::new_from_slice(&[0x0c; 20]).expect("any key length");
        let tag = [0xa3, 0xb6, 0x16, 0x74, 0x73, 0x10, 0x0e, 0xe0, 0x6e, 0x0c, 0x79, 0x6c, 0x29, 0x55, 0x55, 0x2b];
        assert!(mac().chain_update(b"Test With Truncation").verify_truncated_left(&tag).is_ok());
        let mut altered = tag;
        altered[15] ^= 1;
        assert!(mac().chain_update(b"Test With Truncation").verify_truncated_left(&altered).is_err());
        // The right half of the MAC is not the tag.
        let full = hmac_sha256(&[0x0c; 20], b"Test With Truncation");
        assert!(mac().chain_update(b"Test With Truncation").verify_truncated_left(&full[16..]).is_err());
    }

    #[test]
    fn cursors_minted_before_the_hmac_crate_still_verify() {
        // Minted by the hand-written HMAC this module used before (and checked against Python's `hmac`):
        // the construction is the same, so cursors cross the change (and the format is pinned).
        let old = "AQAKdG9vbHMvbGlzdAAAAAAAAAAoAAAAAAAAAAMAAAAA_u2-77zKZquNkuj0dU970ek2y28";
        assert_eq!(encode(&key(), &payload()), old);
        assert_eq!(decode(&key(), old, "tools/list", 0xfeed_beef), Ok(payload()));
    }

    #[test]
    fn round_trip() {
        let cursor = encode(&key(), &payload());
        assert_eq!(decode(&key(), &cursor, "tools/list", 0xfeed_beef), Ok(payload()));
        assert!(cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{cursor}");
        assert_eq!(encode(&key(), &payload()), cursor, "deterministic");
        assert_eq!(raw(&cursor).len(), MIN_BODY_LEN + "tools/list".len() + TAG_LEN);
        assert_eq!(raw(&cursor)[0], VERSION);
    }

    #[test]
    fn flipping_any_byte_is_tampering() {
        let bytes = raw(&encode(&key(), &payload()));
        for i in 0..bytes.len() {
            for bit in [0x01, 0x80, 0xff] {
                let mut altered = bytes.clone();
                altered[i] ^= bit;
                assert_eq!(
                    decode(&key(), &reencode(&altered), "tools/list", 0xfeed_beef),
                    Err(CursorError::Tampered),
                    "byte {i} ^ {bit:#x}"
                );
            }
        }
    }

    #[test]
    fn another_key_is_tampering() {
        let cursor = encode(&CursorKey::new([8; 32]), &payload());
        assert_eq!(decode(&key(), &cursor, "tools/list", 0xfeed_beef), Err(CursorError::Tampered));
    }

    #[test]
    fn truncated_or_extended_cursors_are_refused() {
        let bytes = raw(&encode(&key(), &payload()));
        for len in 0..bytes.len() {
            let want = if len < MIN_BODY_LEN + TAG_LEN { CursorError::Malformed } else { CursorError::Tampered };
            assert_eq!(decode(&key(), &reencode(&bytes[..len]), "tools/list", 0xfeed_beef), Err(want), "{len} bytes");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&key(), &reencode(&longer), "tools/list", 0xfeed_beef), Err(CursorError::Tampered));
        // Truncating the text rather than the bytes can also leave invalid base64.
        let text = encode(&key(), &payload());
        for len in 0..text.len() {
            assert!(decode(&key(), &text[..len], "tools/list", 0xfeed_beef).is_err(), "{len} characters");
        }
    }

    #[test]
    fn bound_to_list_and_view() {
        let cursor = encode(&key(), &payload());
        assert_eq!(decode(&key(), &cursor, "prompts/list", 0xfeed_beef), Err(CursorError::WrongList));
        assert_eq!(decode(&key(), &cursor, "tools/lis", 0xfeed_beef), Err(CursorError::WrongList));
        assert_eq!(decode(&key(), &cursor, "tools/list", 0xfeed_beee), Err(CursorError::WrongView));
    }

    #[test]
    fn malformed_text() {
        let good = encode(&key(), &payload());
        for text in ["", "!!!!", "a", "dG9vbHM=", &format!("{good}="), &format!("{good} "), &format!("/{}", &good[1..])]
        {
            assert_eq!(decode(&key(), text, "tools/list", 0xfeed_beef), Err(CursorError::Malformed), "{text:?}");
        }
        let too_long = "A".repeat(MAX_CURSOR_LEN + 1);
        assert_eq!(decode(&key(), &too_long, "tools/list", 0), Err(CursorError::Malformed));
    }

    #[test]
    fn well_signed_but_unknown_layout_is_malformed() {
        let mut body = raw(&encode(&key(), &payload()));
        body.truncate(body.len() - TAG_LEN);
        let mut next_version = body.clone();
        next_version[0] = VERSION + 1;
        assert_eq!(decode(&key(), &signed(&next_version), "tools/list", 0xfeed_beef), Err(CursorError::Malformed));
        let mut trailing = body.clone();
        trailing.push(0);
        assert_eq!(decode(&key(), &signed(&trailing), "tools/list", 0xfeed_beef), Err(CursorError::Malformed));
        let mut long_name = body.clone();
        long_name[2] += 1;
        assert_eq!(decode(&key(), &signed(&long_name), "tools/list", 0xfeed_beef), Err(CursorError::Malformed));
        let mut not_utf8 = body;
        not_utf8[3] = 0xff;
        assert_eq!(decode(&key(), &signed(&not_utf8), "tools/list", 0xfeed_beef), Err(CursorError::Malformed));
    }

    #[test]
    fn reasons() {
        assert_eq!(CursorError::Malformed.reason(), "malformed");
        assert_eq!(CursorError::Tampered.reason(), "tampered");
        assert_eq!(CursorError::WrongList.reason(), "capability_kind_mismatch");
        assert_eq!(CursorError::WrongView.reason(), "filter_mismatch");
        assert_eq!(CursorError::Stale.reason(), "stale_generation");
    }

    #[test]
    fn key_is_not_printed() {
        assert_eq!(format!("{:?}", key()), "CursorKey(..)");
    }

    #[test]
    fn fingerprint_is_stable() {
        // The first 8 bytes of SHA-256("abc").
        assert_eq!(fingerprint(b"abc"), 0xba78_16bf_8f01_cfea);
        assert_ne!(fingerprint(b"a or b"), fingerprint(b"a and b"));
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(
            list in "[a-zA-Z/_]{0,40}",
            offset: u64,
            generation: u64,
            view: u64,
            seed: [u8; 32],
        ) {
            let key = CursorKey::new(seed);
            let payload = CursorPayload { list: list.clone(), offset, generation, view };
            let cursor = encode(&key, &payload);
            prop_assert!(cursor.len() <= MAX_CURSOR_LEN);
            prop_assert_eq!(decode(&key, &cursor, &list, view), Ok(payload));
        }

        #[test]
        fn arbitrary_text_is_refused_without_panicking(text in "[A-Za-z0-9_=-]{0,200}") {
            prop_assert!(decode(&key(), &text, "tools/list", 0).is_err());
        }
    }
}
