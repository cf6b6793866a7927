#!/usr/bin/python3
"""Sign one S3 request with botocore's S3SigV4Auth and print the
Authorization header: the independent signer that tests/s3/test_sigv4.c
compares ours with. Reads JSON on stdin:
  {"method", "host", "path" (unencoded), "query": [[name, value], ...],
   "headers": {name: value}, "body", "access", "secret", "token",
   "region", "amz_date"}
The URL is built the way botocore's S3 serializer does it, from the raw
key (quote with safe '/~'), so our encoding is checked too."""
import json
import sys
from urllib.parse import quote

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

r = json.load(sys.stdin)
path = quote(r["path"], safe="/~")
query = "&".join(
    quote(k, safe="-_.~") + ("=" + quote(v, safe="-_.~") if v is not None else "")
    for k, v in r["query"])
url = "http://" + r["host"] + path + ("?" + query if query else "")
req = AWSRequest(method=r["method"], url=url, headers=r["headers"],
                 data=r["body"].encode())
auth = S3SigV4Auth(Credentials(r["access"], r["secret"], r.get("token")), "s3",
                   r["region"])
# add_auth() with a fixed time instead of now.
req.context["timestamp"] = r["amz_date"]
auth._modify_request_before_signing(req)
canonical = auth.canonical_request(req)
signature = auth.signature(auth.string_to_sign(req, canonical), req)
auth._inject_signature_to_request(req, signature)
print(req.headers["Authorization"])
