"""S3 templates route: SageMaker Studio lists the templates under the S3 location named by the
domain tag `sagemaker:projectS3TemplatesLocation`, shows those tagged
`sagemaker:studio-visibility=true`, and reads them from the browser (hence the bucket CORS rule)."""
import hashlib
from urllib.parse import urlencode

STUDIO_VISIBILITY_TAG = {"Key": "sagemaker:studio-visibility", "Value": "true"}
DOMAIN_TAG_KEY = "sagemaker:projectS3TemplatesLocation"
TEMPLATES_PREFIX = "studio-templates/"
TEMPLATE_KEY = f"{TEMPLATES_PREFIX}loraplane.yaml"


def cors_rule(origin: str) -> dict:
    return {"ID": "SageMakerStudioReadsTemplates", "AllowedHeaders": ["*"], "AllowedMethods": ["GET", "HEAD"],
            "AllowedOrigins": [origin], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000}


def ensure_cors(s3, bucket: str, origin: str) -> bool:
    """Adds the Studio rule, keeping other rules; True if the bucket changed."""
    try:
        rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    except s3.exceptions.ClientError as e:
        if e.response["Error"]["Code"] != "NoSuchCORSConfiguration":
            raise
        rules = []
    wanted = cors_rule(origin)
    if any(r.get("ID") == wanted["ID"] and all(r.get(k) == v for k, v in wanted.items()) for r in rules):
        return False
    rules = [r for r in rules if r.get("ID") != wanted["ID"]] + [wanted]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    return True


def upload(s3, bucket: str, body: bytes) -> str | None:
    """Puts the template (a new object version only when its content changed); returns the version id."""
    digest = hashlib.sha256(body).hexdigest()
    try:
        head = s3.head_object(Bucket=bucket, Key=TEMPLATE_KEY)
        if head.get("Metadata", {}).get("sha256") == digest:
            return head.get("VersionId")
    except s3.exceptions.ClientError as e:
        if e.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
            raise
    put = s3.put_object(Bucket=bucket, Key=TEMPLATE_KEY, Body=body, ContentType="application/x-yaml",
                        Metadata={"sha256": digest},
                        Tagging=urlencode({STUDIO_VISIBILITY_TAG["Key"]: STUDIO_VISIBILITY_TAG["Value"]}))
    return put.get("VersionId")


def location(bucket: str) -> str:
    return f"s3://{bucket}/{TEMPLATES_PREFIX}"


def tag_domain(sm, domain_id: str, bucket: str) -> bool:
    """Sets the domain tag (AddTags); True if it changed."""
    arn = sm.describe_domain(DomainId=domain_id)["DomainArn"]
    tags = sm.list_tags(ResourceArn=arn).get("Tags", [])
    if {"Key": DOMAIN_TAG_KEY, "Value": location(bucket)} in tags:
        return False
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": DOMAIN_TAG_KEY, "Value": location(bucket)}])
    return True
