"""The pure core: S3 requests in, PFS plans out, S3 responses back. No I/O happens here."""
