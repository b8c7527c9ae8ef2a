"""Known-answer tests (RFC 5869, 7748, 8032, NIST SP 800-38A) and behaviour of the crypto door."""

from __future__ import annotations

import pytest
from fedhealth.crypto import (
    aead_decrypt,
    aead_encrypt,
    ed25519_generate,
    ed25519_public,
    ed25519_sign,
    ed25519_verify,
    hkdf_sha256,
    keystream,
    keystream_into,
    x25519_agree,
    x25519_generate,
    x25519_public,
)
from fedhealth.errors import KeyVerificationError

h = bytes.fromhex


def test_hkdf_rfc5869_case1() -> None:
    okm = hkdf_sha256(
        h("0b" * 22),
        salt=h("000102030405060708090a0b0c"),
        info=h("f0f1f2f3f4f5f6f7f8f9"),
        length=42,
    )
    assert okm == h(
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_hkdf_requires_a_label() -> None:
    with pytest.raises(ValueError):
        hkdf_sha256(b"k" * 32, info=b"")


def test_x25519_rfc7748() -> None:
    a_sk = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    b_sk = h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    a_pk, b_pk = x25519_public(a_sk), x25519_public(b_sk)
    assert a_pk == h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    assert b_pk == h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    shared = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    assert x25519_agree(a_sk, b_pk) == shared == x25519_agree(b_sk, a_pk)


def test_x25519_refuses_low_order_point() -> None:
    sk, _ = x25519_generate()
    with pytest.raises(KeyVerificationError):
        x25519_agree(sk, bytes(32))


def test_ed25519_rfc8032_test1() -> None:
    sk = h("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    pk = h("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    sig = h(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert ed25519_public(sk) == pk
    assert ed25519_sign(sk, b"") == sig
    assert ed25519_verify(pk, sig, b"")
    assert not ed25519_verify(pk, sig, b"x")
    assert not ed25519_verify(pk, sig[:-1] + bytes([sig[-1] ^ 1]), b"")


def test_ed25519_roundtrip() -> None:
    sk, pk = ed25519_generate()
    assert ed25519_verify(pk, ed25519_sign(sk, b"msg"), b"msg")


def test_aes256_ctr_sp800_38a_f55() -> None:
    # NIST SP 800-38A F.5.5 CTR-AES256.Encrypt, blocks 1-2: keystream = ciphertext ^ plaintext.
    key = h("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
    counter = h("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
    plain = h("6bc1bee22e409f96e93d7e117393172a" "ae2d8a571e03ac9c9eb76fac45af8e51")
    cipher = h("601ec313775789a5b7a7f504bbf3d228" "f443e3ca4d62b59aca84e990cacaf5c5")
    stream = keystream(key, counter, 32)
    assert bytes(a ^ b for a, b in zip(stream, plain)) == cipher


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, (1 << 20) - 1, (1 << 20) + 5, 3 << 20])
def test_keystream_into_matches_keystream_across_chunks(n: int) -> None:
    key, nonce = b"k" * 32, bytes(16)
    buf = bytearray(n)
    keystream_into(key, nonce, buf)
    assert bytes(buf) == keystream(key, nonce, n)
    assert keystream(key, nonce, n + 10)[:n] == bytes(buf)


def test_aead_binds_associated_data() -> None:
    key = b"\x01" * 32
    blob = aead_encrypt(key, b"share", b"run|1|a|b")
    assert aead_decrypt(key, blob, b"run|1|a|b") == b"share"
    with pytest.raises(KeyVerificationError):
        aead_decrypt(key, blob, b"run|2|a|b")
    with pytest.raises(KeyVerificationError):
        aead_decrypt(key, blob[:-1] + bytes([blob[-1] ^ 1]), b"run|1|a|b")
    assert aead_encrypt(key, b"share", b"ad") != aead_encrypt(key, b"share", b"ad")  # random nonce


def test_only_the_crypto_package_imports_hazmat() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[3] / "shared" / "fedhealth"
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "cryptography.hazmat" in p.read_text() and p.parent.name != "crypto"
    ]
    assert offenders == []
