"""What signing and verifying one JWT access token costs, RS256 against ES256 (decision 21).

"hub" is what accounts.oidc.jwt_tokens.access_token_sign / access_token_verify do now
(PyJWT's PyJWS on the cryptography key objects); "jwcrypto" is what they did before
(jwcrypto's JWS), for comparison. Compact JWS of the RFC 9068 claims, on keys made here:
no database, no Django. Also the one-off cost per process of a key's first use (Fernet
decryption + PEM parse, tenants.key_encryption). Prints medians of --repeats timeit runs,
in microseconds.

    .venv/bin/python bench/oidc/signing_cost.py [--repeats 7] [--number 300]
"""

import argparse
import json
import statistics
import time
import timeit
import uuid

from cryptography.fernet import Fernet
from jwcrypto import jwk, jws
from jwcrypto.common import json_decode
from jwt.api_jws import PyJWS

HUB_JWS = PyJWS()


def claims() -> dict:
    now = int(time.time())
    return {
        "iss": "https://hub.example.org",
        "sub": "backend-client-id",
        "aud": "https://hub.example.org",
        "client_id": "backend-client-id",
        "exp": now + 3600,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "scope": "users:read consents:read",
    }


def sign(key: jwk.JWK, algorithm: str, kid: str) -> str:
    token = jws.JWS(json.dumps(claims(), separators=(",", ":")).encode())
    token.add_signature(key, alg=algorithm, protected={"alg": algorithm, "kid": kid, "typ": "at+jwt"})
    return token.serialize(compact=True)


def verify(token: str, public: jwk.JWK, algorithm: str) -> dict:
    signed = jws.JWS()
    signed.deserialize(token)
    signed.verify(public, alg=algorithm)
    return json_decode(signed.payload)


def hub_sign(key, algorithm: str, kid: str) -> str:
    payload = json.dumps(claims(), separators=(",", ":")).encode()
    return HUB_JWS.encode(payload, key, algorithm=algorithm, headers={"kid": kid, "typ": "at+jwt"})


def hub_verify(token: str, public, algorithm: str) -> dict:
    header = HUB_JWS.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    return json.loads(HUB_JWS.decode_complete(token, public, algorithms=[algorithm])["payload"])


def microseconds(statement, number: int) -> float:
    return timeit.timeit(statement, number=number) / number * 1e6


def operations(algorithm: str, key: jwk.JWK) -> dict:
    """Each measured operation, ready to run; and the token's size."""
    kid = key.thumbprint()
    public = jwk.JWK.from_json(key.export_public())
    private_object, public_object = key.get_op_key("sign"), key.get_op_key("verify")
    token = sign(key, algorithm, kid)
    hub_token = hub_sign(private_object, algorithm, kid)
    verify(hub_token, public, algorithm)  # each library reads the other's tokens
    hub_verify(token, public_object, algorithm)
    fernet = Fernet(Fernet.generate_key())
    encrypted = fernet.encrypt(key.export_to_pem(private_key=True, password=None))
    return {
        "hub sign": lambda: hub_sign(private_object, algorithm, kid),
        "hub verify": lambda: hub_verify(hub_token, public_object, algorithm),
        "jwcrypto sign (before)": lambda: sign(key, algorithm, kid),
        "jwcrypto verify (before)": lambda: verify(token, public, algorithm),
        "first use (decrypt + parse)": lambda: jwk.JWK.from_pem(fernet.decrypt(encrypted)),
    }, len(hub_token)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--number", type=int, default=300)
    options = parser.parse_args()
    rsa, rsa_bytes = operations("RS256", jwk.JWK.generate(kty="RSA", size=2048))
    ec, ec_bytes = operations("ES256", jwk.JWK.generate(kty="EC", crv="P-256"))
    for name in rsa:
        number = options.number if "first use" not in name else max(1, options.number // 30)
        # RS256 and ES256 alternate, so both see the same load; the ratio is taken per pair.
        pairs = [(microseconds(rsa[name], number), microseconds(ec[name], number)) for _ in range(options.repeats)]
        rsa_median = statistics.median(pair[0] for pair in pairs)
        ec_median = statistics.median(pair[1] for pair in pairs)
        ratio = statistics.median(pair[1] / pair[0] for pair in pairs)
        print(f"{name:28} RS256 {rsa_median:9.1f} µs   ES256 {ec_median:9.1f} µs   ES256/RS256 {ratio:5.2f}")
    print(f"{'token bytes':28} RS256 {rsa_bytes:9d}      ES256 {ec_bytes:9d}")


if __name__ == "__main__":
    main()
