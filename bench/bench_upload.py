#!/usr/bin/python3
"""bench_upload.py - the boto3 peer of bench/bench_upload.c.

    bench_upload.py upload FILE ENDPOINT BUCKET KEY [CHUNK_BYTES CONCURRENCY]
        One boto3 transfer-manager upload (S3Client.upload_file) of FILE to
        s3://BUCKET/KEY on ENDPOINT, path-style, credentials from
        AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Without CHUNK_BYTES and
        CONCURRENCY, TransferConfig's defaults. Prints "CHUNK CONCURRENCY"
        as used, then uploads; bench_upload.c times the whole process.
    bench_upload.py aws-defaults
        Prints "CHUNK CONCURRENCY" of Debian's AWS CLI `s3 cp` when its
        configuration sets neither, read from awscli itself, so that the
        report says what the peer really ran with.

Run with Debian's /usr/bin/python3 (python3-boto3, awscli), not a pyenv.
"""
import sys


def upload(path, endpoint, bucket, key, chunk=None, concurrency=None):
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    kw = {}
    if chunk is not None:
        kw = {"multipart_chunksize": chunk, "max_concurrency": concurrency}
    tc = TransferConfig(**kw)
    print(tc.multipart_chunksize, tc.max_concurrency, flush=True)
    # botocore's connection pool must not be smaller than the concurrency
    # (its default, 10, equals TransferConfig's default concurrency).
    pool = max(10, tc.max_concurrency)
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=pool),
    )
    s3.upload_file(path, bucket, key, Config=tc)


def aws_defaults():
    from awscli.customizations.s3.transferconfig import DEFAULTS

    print(DEFAULTS["multipart_chunksize"], DEFAULTS["max_concurrent_requests"])


def main(argv):
    if len(argv) == 2 and argv[1] == "aws-defaults":
        aws_defaults()
        return 0
    if argv[1:2] == ["upload"] and len(argv) in (6, 8):
        if len(argv) == 8:
            upload(*argv[2:6], int(argv[6]), int(argv[7]))
        else:
            upload(*argv[2:6])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
