# pysaml2 attribute map for the interop IdP: local names to the ADFS claim
# URIs the gateway reads (the saml package's Claim constants).
ORG_WS_CLAIMS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"

MAP = {
    "identifier": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
    "fro": {
        ORG_WS_CLAIMS + "upn": "upn",
        ORG_WS_CLAIMS + "emailaddress": "emailaddress",
    },
    "to": {
        "upn": ORG_WS_CLAIMS + "upn",
        "emailaddress": ORG_WS_CLAIMS + "emailaddress",
    },
}
