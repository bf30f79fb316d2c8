#!/usr/bin/python3
"""A minimal OpenID Provider built on Debian's python3-authlib and
python3-flask, for the gateway's OIDC interop test (interop_oidc_test.go).

Usage: authlib_op.py PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI CLAIMS_JSON [AUTH_METHODS]

PORT 0 picks a free port. AUTH_METHODS is a comma-separated list of the
token endpoint auth methods advertised and accepted (default
client_secret_basic,client_secret_post). One confidential client and one user, held in
memory; /authorize approves that user without a login page. The RSA
signing key is generated at start, so no key is ever committed. Prints
"READY <port>" once listening, then serves until killed.
"""

import json
import os
import sys
import time

# Plain http, which is all a loopback test has; authlib refuses it
# otherwise. Read at request time, but set before anything can ask.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.jose import JsonWebKey
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, jsonify
from werkzeug.serving import make_server

CODE_TTL = 60

port, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, claims_json = sys.argv[1:6]
AUTH_METHODS = (sys.argv[6] if len(sys.argv) > 6 else "client_secret_basic,client_secret_post").split(",")
USER = json.loads(claims_json)
KEY = JsonWebKey.generate_key("RSA", 2048, is_private=True)
KEY_DICT = KEY.as_dict(is_private=True)
KEY_DICT["kid"] = "authlib-1"
KEY_DICT["use"] = "sig"
KEY_DICT["alg"] = "RS256"
PUBLIC_DICT = KEY.as_dict(is_private=False)
PUBLIC_DICT.update(kid="authlib-1", use="sig", alg="RS256")
ISSUER = ""  # set once the port is known

codes = {}  # code -> AuthCode, single use
used_nonces = set()


class Client:
    """The one registered confidential client."""

    client_id = CLIENT_ID

    def get_client_id(self):
        return CLIENT_ID

    def get_default_redirect_uri(self):
        return REDIRECT_URI

    def get_allowed_scope(self, scope):
        allowed = {"openid", "email", "profile"}
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri == REDIRECT_URI

    def check_client_secret(self, client_secret):
        return client_secret == CLIENT_SECRET

    def check_endpoint_auth_method(self, method, endpoint):
        return endpoint != "token" or method in AUTH_METHODS

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


CLIENT = Client()


class AuthCode:
    def __init__(self, code, request):
        self.code = code
        self.redirect_uri = request.redirect_uri
        self.scope = request.scope
        self.nonce = request.data.get("nonce")
        self.code_challenge = request.data.get("code_challenge")
        self.code_challenge_method = request.data.get("code_challenge_method")
        self.auth_time = int(time.time())
        self.expires = time.time() + CODE_TTL

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time


class S256Only(CodeChallenge):
    """PKCE as the discovery document says: S256, on every request, even
    from this confidential client (authlib's required=True alone only
    binds public clients)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant):
        data = grant.request.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError('PKCE with "S256" is required')
        super().validate_code_challenge(grant)


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code, request):
        codes[code] = AuthCode(code, request)

    def query_authorization_code(self, code, client):
        item = codes.get(code)
        if item and client.get_client_id() == CLIENT_ID and time.time() < item.expires:
            return item
        return None

    def delete_authorization_code(self, authorization_code):
        codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code):
        return USER


class OIDCCode(OpenIDCode):
    def exists_nonce(self, nonce, request):
        if nonce in used_nonces:
            return True
        used_nonces.add(nonce)
        return False

    def get_jwt_config(self, grant):
        # A key set, so authlib puts the kid in the header.
        return {"key": {"keys": [KEY_DICT]}, "alg": "RS256", "iss": ISSUER, "exp": 300}

    def generate_user_info(self, user, scope):
        info = UserInfo(sub=user["sub"])
        if "email" in scope and "email" in user:
            info["email"] = user["email"]
            info["email_verified"] = user.get("email_verified", False)
        if "profile" in scope and "name" in user:
            info["name"] = user["name"]
        return info


app = Flask(__name__)
server = AuthorizationServer(
    app,
    query_client=lambda cid: CLIENT if cid == CLIENT_ID else None,
    save_token=lambda token, request: None,
)
server.register_grant(CodeGrant, [S256Only(required=True), OIDCCode(require_nonce=True)])


@app.route("/.well-known/openid-configuration")
def discovery():
    return jsonify(
        issuer=ISSUER,
        authorization_endpoint=ISSUER + "/authorize",
        token_endpoint=ISSUER + "/token",
        jwks_uri=ISSUER + "/jwks",
        response_types_supported=["code"],
        subject_types_supported=["public"],
        id_token_signing_alg_values_supported=["RS256"],
        code_challenge_methods_supported=["S256"],
        token_endpoint_auth_methods_supported=AUTH_METHODS,
        scopes_supported=["openid", "email", "profile"],
        claims_supported=["sub", "email", "email_verified", "name"],
    )


@app.route("/jwks")
def jwks():
    return jsonify(keys=[PUBLIC_DICT])


@app.route("/authorize")
def authorize():
    return server.create_authorization_response(grant_user=USER)


@app.route("/token", methods=["POST"])
def token():
    return server.create_token_response()


def main():
    global ISSUER
    srv = make_server("127.0.0.1", int(port), app, threaded=True)
    ISSUER = "http://127.0.0.1:%d" % srv.server_port
    print("READY %d" % srv.server_port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
