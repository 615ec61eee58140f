from __future__ import annotations

from typing import IO, Any


class ExportStore:
    """Large exports in S3, fetched through a presigned URL (the bucket expires them)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def put(
        self, body: IO[bytes], key: str, media_type: str, filename: str, ttl_seconds: int
    ) -> str:
        self._s3.upload_fileobj(body, self._bucket, key, ExtraArgs={"ContentType": media_type})
        return self._s3.generate_presigned_url(
            "get_object",
            ExpiresIn=ttl_seconds,
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
        )
