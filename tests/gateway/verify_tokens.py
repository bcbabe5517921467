"""How a gateway verifies the user service's access tokens: from the JWKS
alone, with PyJWT, no shared secret. Copy the `verify` function.

Usage: verify_tokens.py JWKS_URL ISSUER AUDIENCE < cases.json
cases.json maps a case name to a token; prints a JSON object mapping each
case to "ok" or "refused: <reason>".
"""

import json
import sys

import jwt  # PyJWT, with the `cryptography` package for EdDSA


def verify(jwks: jwt.PyJWKClient, token: str, issuer: str, audience: str) -> dict:
    """The claims of a valid access token; raises for anything else."""
    key = jwks.get_signing_key_from_jwt(token)  # by the token's `kid`
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["EdDSA"],  # pinned: never take the algorithm from the token
        issuer=issuer,
        audience=audience,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
    )
    if claims.get("type") != "access":
        raise jwt.InvalidTokenError("not an access token")
    return claims


def main() -> None:
    jwks_url, issuer, audience = sys.argv[1:4]
    jwks = jwt.PyJWKClient(jwks_url, cache_keys=True)
    results = {}
    for case, token in json.load(sys.stdin).items():
        try:
            verify(jwks, token, issuer, audience)
            results[case] = "ok"
        except Exception as error:  # noqa: BLE001 - every failure is a refusal
            results[case] = f"refused: {type(error).__name__}: {error}"
    print(json.dumps(results))


if __name__ == "__main__":
    main()
