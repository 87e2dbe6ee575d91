"""`loraplane doctor`: a pre-flight against a real account. Each check is a small function that
returns a `Check` (ok / warn / fail, what it found, the fix); the pure decisions (image URIs,
runtime dates, quota arithmetic) are apart from the AWS calls so that they are tested without AWS."""
