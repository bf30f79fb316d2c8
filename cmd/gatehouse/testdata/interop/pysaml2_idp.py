"""A SAML identity provider built on pysaml2, for the gateway's interop test.

It listens on a free 127.0.0.1 port, prints "READY <base URL>" and serves:
  GET /metadata  the IdP's metadata (signing certificate, SSO endpoint)
  GET /sso       an AuthnRequest on the HTTP-Redirect binding in, the
                 signed Response on the HTTP-POST binding (an auto-submit
                 form) out, for one fixed user.
The SP's metadata is read from --sp-metadata on every /sso request: the
test can only fetch it from the gateway after the gateway has read this
IdP's metadata. Errors are printed to stderr and answered with a 500.
"""

import argparse
import os
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256

# --alg picks the signature and digest algorithms; pysaml2 7's default is SHA-1.
ALGS = {"sha1": (SIG_RSA_SHA1, DIGEST_SHA1), "sha256": (SIG_RSA_SHA256, DIGEST_SHA256)}

HERE = os.path.dirname(os.path.abspath(__file__))


def config(args, base, with_sp):
    """The pysaml2 IdP configuration; with_sp adds the SP's metadata."""
    c = {
        "entityid": base + "/idp/metadata",
        "key_file": args.key,
        "cert_file": args.cert,
        "xmlsec_binary": args.xmlsec,
        "attribute_map_dir": os.path.join(HERE, "saml", "attributemaps"),
        "service": {
            "idp": {
                "name": "pysaml2 interop IdP",
                "endpoints": {
                    "single_sign_on_service": [(base + "/sso", BINDING_HTTP_REDIRECT)],
                },
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                "sign_assertion": True,
                "sign_response": args.sign_response,
                "want_authn_requests_signed": False,
                "policy": {
                    "default": {
                        "lifetime": {"minutes": 5},
                        "name_form": NAME_FORMAT_URI,
                        "attribute_restrictions": None,
                    },
                },
            },
        },
        "metadata": {"local": [args.sp_metadata]} if with_sp else {},
    }
    cfg = IdPConfig()
    cfg.load(c)
    return cfg


def handler(args, base):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            sys.stderr.write("pysaml2 idp: " + (fmt % a) + "\n")

        def send(self, status, ctype, body, headers=()):
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers:
                if k.lower() not in ("content-type", "content-length"):
                    self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            u = urlparse(self.path)
            try:
                if u.path in ("/metadata", "/idp/metadata"):
                    md = create_metadata_string(None, config(args, base, False), valid=24)
                    self.send(200, "application/samlmetadata+xml", md.decode("utf-8"))
                elif u.path == "/sso":
                    self.sso(parse_qs(u.query))
                else:
                    self.send(404, "text/plain", "not found")
            except Exception:
                traceback.print_exc()
                self.send(500, "text/plain", traceback.format_exc())

        def sso(self, q):
            server = Server(config=config(args, base, True))
            req = server.parse_authn_request(q["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
            msg = req.message
            sp = msg.issuer.text
            acs = msg.assertion_consumer_service_url
            if not acs:
                acs, _ = server.pick_binding("assertion_consumer_service", bindings=[BINDING_HTTP_POST], entity_id=sp)
            identity = {"upn": [args.user], "emailaddress": [args.user]}
            name_id = NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=args.user)
            resp = server.create_authn_response(
                identity, in_response_to=msg.id, destination=acs, sp_entity_id=sp,
                name_id=name_id, userid=args.user,
                authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
                sign_assertion=True, sign_response=args.sign_response,
                sign_alg=ALGS[args.alg][0], digest_alg=ALGS[args.alg][1])
            relay = q.get("RelayState", [""])[0]
            http = server.apply_binding(BINDING_HTTP_POST, str(resp), acs, relay, response=True)
            self.send(http.get("status", 200), "text/html; charset=utf-8", http["data"], http["headers"])

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--key", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--sp-metadata", required=True)
    p.add_argument("--xmlsec", default="/usr/bin/xmlsec1")
    p.add_argument("--user", default="alice@corp.example")
    p.add_argument("--sign-response", action="store_true")
    p.add_argument("--alg", choices=sorted(ALGS), default="sha1")
    args = p.parse_args()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), None)
    base = "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.RequestHandlerClass = handler(args, base)
    print("READY " + base, flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
