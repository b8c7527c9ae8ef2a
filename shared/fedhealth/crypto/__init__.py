"""The one door to `cryptography.hazmat`: a few named primitives over raw bytes.

Nothing else in fedhealth imports `cryptography.hazmat`; see `primitives` for the functions.
"""

from fedhealth.crypto.primitives import (
    aead_decrypt,
    aead_encrypt,
    ed25519_generate,
    ed25519_public,
    ed25519_sign,
    ed25519_verify,
    hkdf_sha256,
    keystream,
    keystream_into,
    random_bytes,
    x25519_agree,
    x25519_agree_many,
    x25519_generate,
    x25519_public,
)

__all__ = [
    "aead_decrypt",
    "aead_encrypt",
    "ed25519_generate",
    "ed25519_public",
    "ed25519_sign",
    "ed25519_verify",
    "hkdf_sha256",
    "keystream",
    "keystream_into",
    "random_bytes",
    "x25519_agree",
    "x25519_agree_many",
    "x25519_generate",
    "x25519_public",
]
