#!/usr/bin/python3
"""PutObject with x-amz-server-side-encryption: AES256 (SSE-S3) through
botocore, a client independent of ours, and print what the answer says of
the object's encryption ("AES256", or "none" when the header is absent).
tests/s3/test_sse.c uses it to see what radosgw keeps at rest when asked
for SSE-S3, since vtl's own client deletes an object the service did not
encrypt. Usage: sse_s3_put.py ENDPOINT CA_BUNDLE BUCKET KEY BODY_FILE, with
RGW_ACCESS_KEY and RGW_SECRET_KEY in the environment."""
import os
import sys

import botocore.session
from botocore.config import Config

endpoint, ca, bucket, key, body = sys.argv[1:6]
client = botocore.session.get_session().create_client(
    "s3", endpoint_url=endpoint, region_name="us-east-1",
    aws_access_key_id=os.environ["RGW_ACCESS_KEY"],
    aws_secret_access_key=os.environ["RGW_SECRET_KEY"],
    verify=ca, config=Config(s3={"addressing_style": "path"}))
with open(body, "rb") as f:
    r = client.put_object(Bucket=bucket, Key=key, Body=f.read(),
                          ServerSideEncryption="AES256")
print(r.get("ServerSideEncryption", "none"))
